"""``station ports``: the serial ports on this machine and their fixture slots.

This is how a line engineer finds the USB path of each hub port while cabling
a fixture, and checks afterwards that every slot has its adapter and its
stable link. It works without a configuration; with one (or ``--fixture``),
each port is named by the fixture slot it is in.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from device_io.discovery import (
    DEV_ROOT,
    STABLE_LINK_DIR,
    SYS_ROOT,
    DiscoveredPort,
    PortInventory,
    UsbAttachment,
    discover_ports,
    printable,
)
from station.commands import EXIT_OK, Subcommands
from station.config import CONFIG_ENV, find_config, load_config
from station.errors import ConfigError
from station.fixture_map import FixtureMap, load_fixture_map


def register(commands: Subcommands) -> None:
    """Add ``station ports``."""
    ports = commands.add_parser(
        "ports",
        help="list serial ports with their USB paths, links and fixture slots",
        description=(
            "List the USB serial ports on this machine: USB ids, serial number, "
            "USB path, the /dev/serial links to each, and the fixture slot each "
            "is in (from --fixture, else the configuration's [fixture] map). "
            "Also lists the station's own links in /dev/provision."
        ),
    )
    ports.add_argument(
        "--fixture",
        type=Path,
        metavar="FILE",
        help="fixture map or station configuration naming the slots "
        "(default: the configuration's [fixture])",
    )
    ports.add_argument(
        "--all", action="store_true", help="also list serial ports not on USB"
    )
    ports.add_argument(
        "--sys-root",
        type=_folder,
        default=SYS_ROOT,
        metavar="DIR",
        help="read sysfs from DIR (default: %(default)s)",
    )
    ports.add_argument(
        "--dev-root",
        type=_folder,
        default=DEV_ROOT,
        metavar="DIR",
        help="read device nodes and links from DIR (default: %(default)s)",
    )
    ports.set_defaults(command=_ports)


def _folder(text: str) -> Path:
    """A folder that exists: a mistyped root would list no ports, not fail."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"no such folder: {text}")
    return path


def _ports(args: argparse.Namespace) -> int:
    fixture = _fixture_map(args)

    found = discover_ports(
        sys_root=args.sys_root, dev_root=args.dev_root, include_all=args.all
    )

    print("\n\n".join(_sections(found, fixture, include_all=args.all)))
    return EXIT_OK


def _fixture_map(args: argparse.Namespace) -> tuple[FixtureMap, str] | None:
    """The fixture map to name slots by, and where it came from, if any."""
    if args.fixture is not None:
        return load_fixture_map(args.fixture), str(args.fixture)
    try:
        path = find_config(args.config)
    except ConfigError:
        # No configuration is fine unless one was named.
        if args.config is not None or os.environ.get(CONFIG_ENV):
            raise
        return None
    config = load_config(path)
    return None if config.fixture is None else (config.fixture, f"{path} [fixture]")


def _sections(
    found: PortInventory,
    fixture: tuple[FixtureMap, str] | None,
    *,
    include_all: bool,
) -> list[str]:
    fixture_map = None if fixture is None else fixture[0]
    sections = [_port_block(port, fixture_map) for port in found.ports]
    if not sections:
        kind = "serial ports" if include_all else "USB serial ports"
        sections.append(f"no {kind} found in {found.sys_root / 'class' / 'tty'}")
    if found.stable_links:
        sections.append(_stable_links(found))
    if fixture is not None:
        sections.append(_fixture_slots(found, *fixture))
    return sections


def _port_block(port: DiscoveredPort, fixture: FixtureMap | None) -> str:
    """One port: a title line, then one line per fact that is known."""
    title = _shown(port.device)
    if fixture is not None:
        title += f"  {_slot_of(port, fixture)}"

    facts: list[tuple[str, str | None]] = [("bus", "not on USB")]
    if port.usb is not None:
        facts = _usb_facts(port.usb)
    facts.append(("driver", port.driver))
    facts += [("by-id", _shown(link)) for link in port.by_id]
    facts += [("by-path", _shown(link)) for link in port.by_path]
    facts += [("link", _shown(link)) for link in port.stable_links]
    rows = [f"  {label:<9} {value}" for label, value in facts if value]
    return "\n".join([title, *rows])


def _slot_of(port: DiscoveredPort, fixture: FixtureMap) -> str:
    """The port's slot, or why it is in none."""
    slot = fixture.slot_for(port.usb)
    if slot is not None:
        return f"slot {slot.name}"
    usb = port.usb
    # Plugged into a slot's hub port but refused by its USB ids: say so, since
    # that is a wrong adapter in the fixture, not a port outside it.
    wanted = next(
        (slot for slot in fixture.slots if usb and slot.usb_path in usb.ancestry),
        None,
    )
    if wanted is None:
        return "(in no fixture slot)"
    ids = f"{wanted.vid}:{wanted.pid or '*'}"
    return f"(at the USB path of {wanted.name}, which takes only {ids})"


def _usb_facts(usb: UsbAttachment) -> list[tuple[str, str | None]]:
    ids = f"{_hex(usb.vid)}:{_hex(usb.pid)}"
    names = " ".join(name for name in (usb.manufacturer, usb.product) if name)
    path = usb.path
    if usb.path != usb.device_path:
        path += f"  (adapter {usb.device_path})"
    return [
        ("usb id", f"{ids}  {names}".rstrip()),
        ("serial", usb.serial_number),
        ("usb path", path),
        ("interface", usb.interface),
    ]


def _shown(path: Path) -> str:
    """A path as printed: link names come from USB strings, so escaped."""
    return printable(str(path))


def _hex(value: int | None) -> str:
    return "????" if value is None else f"{value:04x}"


def _stable_links(found: PortInventory) -> str:
    rows = [f"station links in {found.dev_root / STABLE_LINK_DIR}"]
    for link in found.stable_links:
        target = _shown(link.target)
        where = target if link.port else f"{target} (no such port)"
        rows.append(f"  {printable(link.path.name):<10} -> {where}")
    return "\n".join(rows)


def _fixture_slots(found: PortInventory, fixture: FixtureMap, source: str) -> str:
    rows = [f"fixture slots from {source}"]
    for slot in fixture.slots:
        ports = [
            _shown(port.device)
            for port in found.ports
            if port.usb is not None and slot.matches(port.usb)
        ]
        rows.append(
            f"  {slot.name:<10} {slot.usb_path:<14} {', '.join(ports) or 'no port'}"
        )
    return "\n".join(rows)
