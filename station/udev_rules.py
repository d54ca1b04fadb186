"""udev rules that give each fixture slot a stable device link.

The rules match a serial port by the USB path of the hub port its adapter is
plugged into, and give it ``/dev/provision/<slot>`` with the group and mode
the station user needs. Each rule is::

    SUBSYSTEM=="tty", KERNELS=="1-1.4:1.0", ENV{ID_VENDOR_ID}=="0403", ...

``KERNELS`` walks up from the tty to every parent device, so one exact name
matches a single-port adapter by its device (``1-1.2``) and one port of a
multi-port adapter by its interface (``1-1.4:1.0``), for usb-serial drivers
(``ttyUSB``) and CDC-ACM (``ttyACM``) alike, and it is the name
``station ports`` prints. The USB ids narrowing a slot come from ``ENV``,
filled by udev's own ``usb_id`` builtin, not from ``ATTRS``: all ``ATTRS`` and
``KERNELS`` keys of one rule must match the same parent device, and the ids
sit on the USB device while a multi-port slot is matched on its interface.
``ENV{ID_PATH}`` is not used: its text carries the host controller's PCI or
platform address and its format has changed between systemd versions.

Every value written into a rule was checked by :mod:`station.fixture_map`,
and is checked against the same patterns again here, so nothing can close a
quote, add a key, start a new rule or lead a link out of ``/dev/provision``.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path

from device_io.discovery import natural_key
from station.errors import StationError
from station.fixture_map import SLOT_NAME, USB_INTERFACE_PATH, FixtureMap, FixtureSlot

logger = logging.getLogger(__name__)

RULES_FILE = "70-provision-slots.rules"
DEFAULT_GROUP = "dialout"
DEFAULT_MODE = "0660"

_GROUP = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,31}")
# Permission bits only: no setuid, setgid or sticky bit on a device node.
_MODE = re.compile(r"0?[0-7]{3}")
_LOWER_USB_ID = re.compile(r"[0-9a-f]{4}")
_END_LABEL = "provision_slots_end"


class UdevRuleError(StationError):
    """The rules cannot be made or written: a bad option, value or file."""


def check_group(group: str) -> str:
    """``group`` if it is a plain group name.

    Raises:
        UdevRuleError: It is not one.
    """
    if not _GROUP.fullmatch(group):
        raise UdevRuleError(
            f"group {group!r} is not a group name: 1 to 32 of [A-Za-z0-9_-], "
            "not starting with a digit or -"
        )
    return group


def check_mode(mode: str) -> str:
    """``mode`` as four octal digits (``660`` becomes ``0660``).

    Raises:
        UdevRuleError: It is not three octal permission digits.
    """
    if not _MODE.fullmatch(mode):
        raise UdevRuleError(
            f"mode {mode!r} is not a device mode: three octal digits such as 0660"
        )
    return mode.rjust(4, "0")


def render_rules(
    fixture: FixtureMap,
    *,
    source: str,
    group: str = DEFAULT_GROUP,
    mode: str = DEFAULT_MODE,
) -> str:
    """The rules file for ``fixture``, the same text for the same input.

    Args:
        fixture: The fixture map.
        source: Where the map came from, named in the header.
        group: Group of each slot's device node (the station user's group).
        mode: Mode of each slot's device node.

    Raises:
        UdevRuleError: The group, mode or source cannot go into a rules file,
            or a slot holds a value outside the safe set.
    """
    group, mode = check_group(group), check_mode(mode)
    if not source.isprintable():
        raise UdevRuleError(f"fixture map name {source!r} holds control characters")

    slots = sorted(fixture.slots, key=lambda slot: natural_key(slot.name))
    lines = _header(source, group, mode)
    if any(slot.vid is not None for slot in slots):
        lines += _USB_IDS
    for slot in slots:
        lines += ["", *_slot_rule(slot, group, mode)]
    lines += ["", f'LABEL="{_END_LABEL}"']
    return "\n".join(lines) + "\n"


def write_rules(path: Path, text: str) -> None:
    """Write a rules file whole, so udev never reads half of one.

    Raises:
        UdevRuleError: The file cannot be written.
    """
    folder = path.parent
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as exc:
        raise UdevRuleError(f"cannot write rules to {path}: {exc.strerror}") from exc
    logger.info("wrote udev rules to %s", path)


def _header(source: str, group: str, mode: str) -> list[str]:
    return [
        "# Stable device links for the provisioning station's fixture slots: the",
        "# serial port of each slot gets /dev/provision/<slot>, matched by the USB",
        "# path of the hub port its adapter is plugged into.",
        "#",
        f"# Made by `station udev-rules` from {source}",
        f"# with group {group} and mode {mode}. Do not edit: change the fixture map",
        "# and make the rules again. Installing them: udev/README.md.",
        "",
        f'ACTION=="remove", GOTO="{_END_LABEL}"',
    ]


_USB_IDS = [
    "",
    "# The adapter's USB ids, for slots narrowed by VID/PID. ATTRS cannot do it:",
    "# a rule's ATTRS and KERNELS must match one parent device, and the ids sit",
    "# on the USB device while a multi-port slot is matched on its interface.",
    'SUBSYSTEM=="tty", SUBSYSTEMS=="usb", IMPORT{builtin}="usb_id"',
]


def _slot_rule(slot: FixtureSlot, group: str, mode: str) -> list[str]:
    """A comment naming the slot, then its one-line rule."""
    ids = f", {slot.vid}:{slot.pid or '*'}" if slot.vid else ""
    usb_path = _checked(slot.usb_path, USB_INTERFACE_PATH, slot)
    keys = ['SUBSYSTEM=="tty"', f'KERNELS=="{usb_path}"']
    if slot.vid is not None:
        vid = _checked(slot.vid, _LOWER_USB_ID, slot)
        keys.append(f'ENV{{ID_VENDOR_ID}}=="{vid}"')
    if slot.pid is not None:
        pid = _checked(slot.pid, _LOWER_USB_ID, slot)
        keys.append(f'ENV{{ID_MODEL_ID}}=="{pid}"')
    link = f"provision/{_checked(slot.name, SLOT_NAME, slot)}"
    keys += [f'SYMLINK+="{link}"', f'GROUP="{group}"', f'MODE="{mode}"']
    return [f"# {slot.name}: USB path {slot.usb_path}{ids}", ", ".join(keys)]


def _checked(value: str, pattern: re.Pattern[str], slot: FixtureSlot) -> str:
    """``value`` if it still fits the fixture map's rule for its field.

    The map validated it already; this guards against a map built without
    validation, since a quote, comma or line break here would rewrite a rule.
    """
    if not pattern.fullmatch(value):
        raise UdevRuleError(
            f"slot {slot.name!r}: {value!r} cannot go into a udev rule: it breaks "
            "the fixture map's rules"
        )
    return value
