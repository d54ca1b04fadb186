"""Finding the serial ports on this machine and where each one is plugged in.

A station names its fixture slots by USB path (the hub port an adapter is
plugged into), never by ``ttyUSB`` number, which changes on a replug. This
module reads what the kernel and udev publish about each serial port: sysfs
for the USB device behind it (ids, serial number, names, the USB path and
every parent a udev ``KERNELS`` match can see) and ``/dev`` for the links udev
made to it (``/dev/serial/by-id``, ``/dev/serial/by-path`` and the station's
own ``/dev/provision/<slot>``).

Strings a USB device supplies (serial number, manufacturer, product,
interface name) are whatever its firmware says, escape sequences included;
they are kept with every non-printable character escaped (``printable``), so
listing ports never drives the terminal they are shown on.

Both roots are parameters, so the same code reads a station's real tree and a
tree built for a test. It only reads: no port is opened, and a file it cannot
read is treated as absent rather than as an error, since sysfs attributes
come and go with the hardware.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

SYS_ROOT = Path("/sys")
DEV_ROOT = Path("/dev")
# The folder under /dev where the station's udev rules put each slot's link.
STABLE_LINK_DIR = "provision"
# A USB device (1-1.2) or interface (1-1.2:1.0) as sysfs names it. Root hubs
# are "usb<bus>" and controllers are PCI or platform names: neither matches.
_USB_NAME = re.compile(r"[1-9][0-9]*-[0-9]+(\.[0-9]+)*(:[0-9]+\.[0-9]+)?")


@dataclass(frozen=True, kw_only=True)
class UsbAttachment:
    """Where a serial port's USB adapter is plugged in, and what it says it is.

    Attributes:
        path: USB path of the interface the port belongs to (``1-1.2:1.0``),
            or of the device when no interface shows in sysfs.
        device_path: USB path of the adapter itself (``1-1.2``).
        ancestry: Every USB device and interface above the port, outermost
            first (``1-1``, ``1-1.2``, ``1-1.2:1.0``): the names a udev
            ``KERNELS`` match can see.
        vid: USB vendor id, when the device reports one.
        pid: USB product id, when the device reports one.
        serial_number: The adapter's USB serial number, when it has one.
        manufacturer: The adapter's manufacturer string, when it has one.
        product: The adapter's product string, when it has one.
        interface: The interface's own name, when it has one.
    """

    path: str
    device_path: str
    ancestry: tuple[str, ...]
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None
    manufacturer: str | None = None
    product: str | None = None
    interface: str | None = None


@dataclass(frozen=True, kw_only=True)
class DiscoveredPort:
    """A serial port found on this machine.

    Attributes:
        name: Kernel name of the tty (``ttyUSB0``).
        device: Its device node (``/dev/ttyUSB0`` under the dev root).
        driver: The kernel driver serving it (``cp210x``, ``cdc_acm``), if known.
        usb: Where its USB adapter is plugged in; None for a port not on USB.
        by_id: Links in ``/dev/serial/by-id`` that lead to it.
        by_path: Links in ``/dev/serial/by-path`` that lead to it.
        stable_links: The station's own links (``/dev/provision/<slot>``)
            that lead to it.
    """

    name: str
    device: Path
    driver: str | None
    usb: UsbAttachment | None
    by_id: tuple[Path, ...] = ()
    by_path: tuple[Path, ...] = ()
    stable_links: tuple[Path, ...] = ()


@dataclass(frozen=True, kw_only=True)
class StableLink:
    """One of the station's own links in ``/dev/provision``.

    Attributes:
        path: The link itself (``/dev/provision/slot-1``).
        target: Where it points, resolved; it may not exist.
        port: Kernel name of the discovered port it leads to, if any.
    """

    path: Path
    target: Path
    port: str | None


@dataclass(frozen=True, kw_only=True)
class PortInventory:
    """What one look at the machine found.

    Attributes:
        ports: Serial ports, sorted by kernel name in natural order.
        stable_links: The station's links, sorted by name.
        sys_root: The sysfs root that was read.
        dev_root: The /dev root that was read.
    """

    ports: tuple[DiscoveredPort, ...]
    stable_links: tuple[StableLink, ...]
    sys_root: Path
    dev_root: Path


def discover_ports(
    *,
    sys_root: Path = SYS_ROOT,
    dev_root: Path = DEV_ROOT,
    include_all: bool = False,
) -> PortInventory:
    """Find the serial ports and the links that lead to them.

    Args:
        sys_root: Where sysfs is mounted.
        dev_root: Where device nodes and udev links live.
        include_all: Also list ports not on USB (built-in UARTs). The legacy
            8250 driver registers ports whether or not the hardware exists,
            so these may not all be real.

    Returns:
        The ports (USB ones only unless ``include_all``) and every link in
        ``<dev_root>/provision``.
    """
    links = _LinkIndex(dev_root)
    ports = []
    for entry in _tty_entries(sys_root):
        port = _port(entry, dev_root, links)
        if port.usb is not None or include_all:
            ports.append(port)

    stable = _stable_links(dev_root, ports)
    logger.info(
        "found %d serial ports and %d station links under %s and %s",
        len(ports),
        len(stable),
        sys_root,
        dev_root,
    )
    return PortInventory(
        ports=tuple(ports), stable_links=stable, sys_root=sys_root, dev_root=dev_root
    )


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key for names with numbers: ``ttyUSB2`` before ``ttyUSB10``."""
    parts = re.split(r"([0-9]+)", name)
    return tuple((1, int(part)) if part.isdigit() else (0, part) for part in parts)


def printable(text: str) -> str:
    """``text`` with backslashes and non-printable characters escaped.

    Control characters (ESC, BEL, C1 controls such as CSI), format characters
    (bidirectional overrides) and other non-printables become ``\\x1b``,
    ``\\u202e`` and the like, so the result shows what was there and cannot
    act on a terminal.
    """
    return "".join(_escaped(char) for char in text)


def _escaped(char: str) -> str:
    if char == "\\":
        return "\\\\"
    if char.isprintable():
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _tty_entries(sys_root: Path) -> list[Path]:
    """``/sys/class/tty`` entries backed by a device (not virtual consoles)."""
    folder = sys_root / "class" / "tty"
    try:
        entries = [entry for entry in folder.iterdir() if (entry / "device").exists()]
    except OSError as exc:
        logger.debug("cannot list %s: %s", folder, exc)
        return []
    return sorted(entries, key=lambda entry: natural_key(entry.name))


def _port(entry: Path, dev_root: Path, links: _LinkIndex) -> DiscoveredPort:
    device = dev_root / entry.name
    return DiscoveredPort(
        name=entry.name,
        device=device,
        driver=_link_name(entry / "device" / "driver"),
        usb=_usb_attachment(_resolved(entry)),
        by_id=links.by_id(device),
        by_path=links.by_path(device),
        stable_links=links.stable(device),
    )


def _usb_attachment(tty: Path) -> UsbAttachment | None:
    """The USB adapter above the tty at sysfs path ``tty``, if it is on USB."""
    usb_parents = [parent for parent in tty.parents if _USB_NAME.fullmatch(parent.name)]
    if not usb_parents:
        return None

    nearest = usb_parents[0]
    device = nearest.parent if ":" in nearest.name else nearest
    interface = nearest if ":" in nearest.name else None
    return UsbAttachment(
        path=nearest.name,
        device_path=device.name,
        ancestry=tuple(parent.name for parent in reversed(usb_parents)),
        vid=_hex_attribute(device / "idVendor"),
        pid=_hex_attribute(device / "idProduct"),
        serial_number=_attribute(device / "serial"),
        manufacturer=_attribute(device / "manufacturer"),
        product=_attribute(device / "product"),
        interface=_attribute(interface / "interface") if interface else None,
    )


def _attribute(path: Path) -> str | None:
    """A sysfs attribute's first line, escaped (``printable``), or None when
    absent, unreadable or empty."""
    try:
        with path.open(encoding="utf-8", errors="replace", newline="\n") as handle:
            value = handle.readline().strip()
    except OSError:
        return None
    return printable(value) or None


def _hex_attribute(path: Path) -> int | None:
    value = _attribute(path)
    if value is None:
        return None
    try:
        return int(value, 16)
    except ValueError:
        logger.debug("%s holds %r, not a hex number", path, value)
        return None


def _link_name(path: Path) -> str | None:
    """Last part of a symlink's target (a driver's name), escaped, or None."""
    try:
        return printable(Path(os.readlink(path)).name)
    except OSError:
        return None


class _LinkIndex:
    """The udev links under a /dev root, indexed by the node they resolve to."""

    def __init__(self, dev_root: Path) -> None:
        self._by_id = _links_in(dev_root / "serial" / "by-id")
        self._by_path = _links_in(dev_root / "serial" / "by-path")
        self._stable = _links_in(dev_root / STABLE_LINK_DIR)

    def by_id(self, device: Path) -> tuple[Path, ...]:
        return self._by_id.get(_resolved(device), ())

    def by_path(self, device: Path) -> tuple[Path, ...]:
        return self._by_path.get(_resolved(device), ())

    def stable(self, device: Path) -> tuple[Path, ...]:
        return self._stable.get(_resolved(device), ())


def _links_in(folder: Path) -> dict[Path, tuple[Path, ...]]:
    """Symlinks in ``folder``, grouped by the path each one resolves to."""
    targets: dict[Path, list[Path]] = {}
    for link in _symlinks(folder):
        targets.setdefault(_resolved(link), []).append(link)
    return {target: tuple(found) for target, found in targets.items()}


def _symlinks(folder: Path) -> list[Path]:
    try:
        found = [entry for entry in folder.iterdir() if entry.is_symlink()]
    except OSError:
        # No such folder is the common case: no adapter, or no rules installed.
        return []
    return sorted(found, key=lambda link: natural_key(link.name))


def _stable_links(
    dev_root: Path, ports: list[DiscoveredPort]
) -> tuple[StableLink, ...]:
    by_node = {_resolved(port.device): port.name for port in ports}
    return tuple(
        StableLink(path=link, target=_resolved(link), port=by_node.get(_resolved(link)))
        for link in _symlinks(dev_root / STABLE_LINK_DIR)
    )


def _resolved(path: Path) -> Path:
    """``path`` with every symlink followed; a loop leaves it as it is."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path
