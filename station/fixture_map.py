"""The fixture map: which physical USB port of the fixture is which slot.

A USB-serial adapter gets whatever ``ttyUSB`` number is free when it is
plugged in, so ``ttyUSB3`` can come back as ``ttyUSB4`` after a replug. The
port of the hub it is plugged into does not change: the kernel names it by its
USB path, the bus and the chain of hub ports (``1-1.2``), and for one
interface of a multi-port adapter the configuration and interface numbers too
(``1-1.2:1.0``). The fixture map names each slot by that path; udev rules made
from it (:mod:`station.udev_rules`) give each slot a stable link such as
``/dev/provision/slot-1``.

One schema serves both places a fixture map is written: its own TOML file
(``[[slots]]`` tables, see ``fixtures/fixture-map.example.toml``) and the
``[fixture]`` section of the station configuration (``[[fixture.slots]]``).
``load_fixture_map`` reads either file, so ``station udev-rules --fixture``
and ``station ports --fixture`` take the station configuration as well.
Every value that ends up in a udev rule is checked against a strict pattern
here, so nothing in a fixture map can carry quotes, commas or line breaks into
the rules.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from device_io.discovery import STABLE_LINK_DIR, UsbAttachment
from station.errors import ConfigError

# <bus>-<port>[.<port>...][:<config>.<interface>]; USB allows five hubs between
# the root hub and a device, so at most six ports in the chain.
USB_PATH = re.compile(r"[1-9][0-9]{0,2}-[1-9][0-9]{0,2}(\.[1-9][0-9]{0,2}){0,5}")
USB_INTERFACE_PATH = re.compile(USB_PATH.pattern + r"(:[1-9][0-9]{0,2}\.[0-9]{1,3})?")
# A slot name is a file name under /dev/provision: it never starts with a dot,
# so "." and ".." cannot climb out of the folder.
SLOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
USB_ID = re.compile(r"[0-9a-fA-F]{4}")
# Top-level tables that only a station configuration has (``station.config``);
# a file with one of them and no [fixture] is a configuration without a map.
STATION_SECTIONS = frozenset(
    {"station", "product_line", "publication", "trust", "issuer", "link"}
)


class FixtureMapError(ConfigError):
    """A fixture map cannot be read or breaks a rule; names file, key and line."""


def _slot_name(value: object) -> object:
    if isinstance(value, str) and not SLOT_NAME.fullmatch(value):
        raise PydanticCustomError(
            "slot_name",
            f"slot name {value!r} breaks the rule: 1 to 32 of [A-Za-z0-9._-], "
            "starting with a letter or digit",
        )
    return value


def _usb_path(value: object) -> object:
    if isinstance(value, str) and not USB_INTERFACE_PATH.fullmatch(value):
        raise PydanticCustomError(
            "usb_path",
            f"{value!r} is not a USB path: write the kernel's "
            "<bus>-<port>[.<port>...] with an optional :<config>.<interface>, "
            "such as 1-1.2 or 1-1.2:1.0 (station ports shows them)",
        )
    return value


def _usb_id(value: object) -> object:
    if isinstance(value, str) and USB_ID.fullmatch(value):
        return value.lower()
    # An integer would be ambiguous: vid = 6001 reads as decimal in TOML.
    raise PydanticCustomError(
        "usb_id",
        f'{value!r} is not a USB id: write 4 hex digits in quotes, such as "10c4"',
    )


SlotName = Annotated[str, BeforeValidator(_slot_name)]
UsbPath = Annotated[str, BeforeValidator(_usb_path)]
UsbId = Annotated[str, BeforeValidator(_usb_id)]


def stable_link(slot: str) -> str:
    """The stable device path udev rules give ``slot``: ``/dev/provision/<slot>``."""
    return f"/dev/{STABLE_LINK_DIR}/{slot}"


def _contains(outer: str, inner: str) -> bool:
    """Whether a device at ``inner`` sits below (or is) the USB path ``outer``."""
    return inner == outer or inner.startswith((f"{outer}.", f"{outer}:"))


class FixtureSlot(BaseModel):
    """One fixture slot: its name and the USB port its adapter is plugged into.

    Attributes:
        name: The slot name the station uses (journal, console, records).
        usb_path: Where the adapter sits, as the kernel names it: ``1-1.2``
            for a whole adapter, ``1-1.2:1.0`` for one interface of it.
        vid: Optional USB vendor id (4 lowercase hex digits) the adapter must
            have, so a stray device plugged into the slot gets no link.
        pid: Optional USB product id; only together with ``vid``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: SlotName
    usb_path: UsbPath
    vid: UsbId | None = None
    pid: UsbId | None = None

    @model_validator(mode="after")
    def _vendor_with_product(self) -> FixtureSlot:
        if self.pid is not None and self.vid is None:
            raise PydanticCustomError(
                "pid_without_vid",
                "pid needs vid too: a product id means nothing without its vendor",
            )
        return self

    @property
    def link(self) -> str:
        """The slot's stable device path, ``/dev/provision/<name>``."""
        return stable_link(self.name)

    def matches(self, usb: UsbAttachment) -> bool:
        """Whether a port attached at ``usb`` belongs to this slot.

        A slot's USB path matches the port's interface, its USB device or any
        hub above them, the same parents a udev ``KERNELS`` match walks.
        """
        if self.usb_path not in usb.ancestry:
            return False
        if self.vid is not None and usb.vid != int(self.vid, 16):
            return False
        return self.pid is None or usb.pid == int(self.pid, 16)


class FixtureMap(BaseModel):
    """The fixture slots of a station, each named by its USB path.

    No two slots share a name or a USB path, and no slot's USB path lies
    below another's (a rule for ``1-1`` would also claim the port at
    ``1-1.3``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    slots: Annotated[list[FixtureSlot], Field(min_length=1)]

    @field_validator("slots")
    @classmethod
    def _no_clashes(cls, slots: list[FixtureSlot]) -> list[FixtureSlot]:
        for later, slot in enumerate(slots):
            for earlier in range(later):
                _refuse_clash(slots[earlier], slot, earlier, later)
        return slots

    def slot_named(self, name: str) -> FixtureSlot | None:
        """The slot called ``name``, if the map has one."""
        return next((slot for slot in self.slots if slot.name == name), None)

    def slot_for(self, usb: UsbAttachment | None) -> FixtureSlot | None:
        """The slot a port attached at ``usb`` is in, if any."""
        if usb is None:
            return None
        return next((slot for slot in self.slots if slot.matches(usb)), None)


def _refuse_clash(first: FixtureSlot, second: FixtureSlot, i: int, j: int) -> None:
    """Raise when two slots share a name or one's USB path holds the other's."""
    where = {"first": i, "second": j}
    if first.name == second.name:
        raise PydanticCustomError(
            "duplicate_slot",
            f"slots.{i} and slots.{j} are both named {first.name!r}",
            where,
        )
    if first.usb_path == second.usb_path:
        raise PydanticCustomError(
            "duplicate_usb_path",
            f"slots {first.name!r} and {second.name!r} both use USB path "
            f"{first.usb_path}",
            where,
        )
    outer, inner = (first, second)
    if _contains(second.usb_path, first.usb_path):
        outer, inner = second, first
    if _contains(outer.usb_path, inner.usb_path):
        raise PydanticCustomError(
            "overlapping_usb_path",
            f"USB path {outer.usb_path} of slot {outer.name!r} contains "
            f"{inner.usb_path} of slot {inner.name!r}: the rule for "
            f"{outer.name!r} would also claim the port of {inner.name!r}",
            where,
        )


def load_fixture_map(path: Path) -> FixtureMap:
    """Read and validate a fixture map file, or a station configuration's map.

    Args:
        path: A TOML file of ``[[slots]]`` tables, or a station configuration
            whose ``[fixture]`` table is the map.

    Raises:
        FixtureMapError: The file cannot be read, is not TOML, is a station
            configuration without a ``[fixture]`` table, or breaks a rule;
            the message names the file, the line and the key.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise FixtureMapError(f"cannot read fixture map {path}: {reason}") from exc
    return parse_fixture_map(text, source=str(path))


def parse_fixture_map(text: str, *, source: str) -> FixtureMap:
    """Validate fixture map TOML text, standalone or a station configuration.

    Args:
        text: The TOML text.
        source: Where the text came from, for error messages.

    Raises:
        FixtureMapError: The text is not TOML, is a station configuration
            without a ``[fixture]`` table, or breaks a rule.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FixtureMapError(f"{source}: not valid TOML: {exc}") from exc
    table, prefix = _map_table(data, source)
    try:
        return FixtureMap.model_validate(table)
    except ValidationError as exc:
        problems = [_describe(error, text, table, prefix) for error in exc.errors()]
        raise FixtureMapError(f"{source}: " + "; ".join(problems)) from None


def _map_table(data: dict[str, object], source: str) -> tuple[object, tuple[str, ...]]:
    """The table holding the map, and its keys' prefix in the document."""
    if "fixture" in data:
        return data["fixture"], ("fixture",)
    if STATION_SECTIONS & data.keys():
        raise FixtureMapError(
            f"{source}: a station configuration with no [fixture] table: add the "
            "map as [[fixture.slots]] tables, or name a fixture map file"
        )
    return data, ()


def _describe(
    error: ErrorDetails, text: str, table: object, prefix: tuple[str, ...]
) -> str:
    """One problem: ``line N: key (slot name): message``."""
    loc = (*prefix, *error["loc"])
    key = ".".join(str(part) for part in loc) or "(top level)"
    lines = _lines_of(error, text, prefix)
    plural = "s" if " and " in lines else ""
    where = f"line{plural} {lines}: " if lines else ""
    return f"{where}{key}{_slot_label(error['loc'], table)}: {error['msg']}"


def _lines_of(error: ErrorDetails, text: str, prefix: tuple[str, ...]) -> str:
    """The line (or, for a clash, both lines) an error points at."""
    context = error.get("ctx") or {}
    if "first" in context and "second" in context:
        found = [
            _line_of(text, (*prefix, "slots", context[which]))
            for which in ("first", "second")
        ]
        return " and ".join(str(line) for line in found if line is not None)
    line = _line_of(text, (*prefix, *error["loc"]))
    return "" if line is None else str(line)


def _slot_label(loc: tuple[int | str, ...], table: object) -> str:
    """`` (slot 'name')`` for an error inside a slot that has a usable name."""
    if len(loc) < 2 or loc[0] != "slots" or not isinstance(loc[1], int):
        return ""
    slots = table.get("slots") if isinstance(table, dict) else None
    if not isinstance(slots, list) or loc[1] >= len(slots):
        return ""
    entry = slots[loc[1]]
    name = entry.get("name") if isinstance(entry, dict) else None
    if not isinstance(name, str) or not SLOT_NAME.fullmatch(name):
        return ""
    return f" (slot {name!r})"


_HEADER = re.compile(r"\s*(\[\[?)\s*([^\[\]]+?)\s*\]\]?\s*(#.*)?")


def _line_of(text: str, loc: Sequence[int | str]) -> int | None:
    """The 1-based line where the value at ``loc`` is written, if it is found.

    tomllib keeps no positions, so this follows the shapes a fixture map is
    written in: ``[[table]]`` headers counted to the index in ``loc``, then
    ``key =`` inside that table. A value it cannot place (an inline table,
    say) gets the nearest line it can, or none.
    """
    lines = text.splitlines()
    index_at = next((n for n, part in enumerate(loc) if isinstance(part, int)), None)
    if index_at is None:
        table, keys = "", [str(part) for part in loc]
        start = 0
    else:
        table = ".".join(str(part) for part in loc[:index_at])
        header = _nth_header(lines, table, int(loc[index_at]))
        if header is None:
            return _key_line(lines, 0, table.split(".")[-1])
        start, keys = header + 1, [str(part) for part in loc[index_at + 1 :]]
    if not keys:
        return start or None
    return _key_line(lines, start, keys[0]) or (start or None)


def _nth_header(lines: list[str], table: str, index: int) -> int | None:
    """Index of the line holding the ``index``-th ``[[table]]`` header."""
    seen = 0
    for number, line in enumerate(lines):
        header = _HEADER.fullmatch(line)
        if header is None or header.group(1) != "[[":
            continue
        if re.sub(r"\s*\.\s*", ".", header.group(2)) != table:
            continue
        if seen == index:
            return number
        seen += 1
    return None


def _key_line(lines: list[str], start: int, key: str) -> int | None:
    """1-based line of ``key = ...`` in the table that begins at ``start``."""
    assignment = re.compile(rf"\s*(\"{re.escape(key)}\"|{re.escape(key)})\s*=")
    for number in range(start, len(lines)):
        if _HEADER.fullmatch(lines[number]):
            return None
        if assignment.match(lines[number]):
            return number + 1
    return None


def default_slot_ports(config: object) -> object:
    """Station configuration data with fixture ports filled in, before validation.

    When the configuration has a ``[fixture]`` map, a ``[[slots]]`` entry
    without a ``port`` uses its slot's stable link, and a configuration with
    no ``[[slots]]`` at all runs one slot per fixture slot. Anything this
    cannot make sense of is returned as it is, for validation to report.

    Args:
        config: The configuration as read from TOML.
    """
    if not isinstance(config, dict) or not isinstance(config.get("fixture"), dict):
        return config
    fixture_slots = config["fixture"].get("slots")
    if not isinstance(fixture_slots, list):
        return config

    names = [
        slot["name"]
        for slot in fixture_slots
        if isinstance(slot, dict)
        and isinstance(slot.get("name"), str)
        and SLOT_NAME.fullmatch(slot["name"])
    ]
    slots = config.get("slots", [{"name": name} for name in names])
    if not isinstance(slots, list):
        return config
    return {**config, "slots": [_with_port(slot, names) for slot in slots]}


def _with_port(slot: object, fixture_names: list[str]) -> object:
    if not isinstance(slot, dict) or "port" in slot:
        return slot
    name = slot.get("name")
    if name not in fixture_names:
        return slot
    return {**slot, "port": stable_link(str(name))}
