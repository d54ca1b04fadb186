"""Port discovery against sysfs and /dev trees built the way the kernel lays them out.

This machine has no USB serial adapters, so the trees are made in tmp_path:
sysfs folders with the attributes a real adapter publishes, class symlinks
into /sys/devices, and udev's relative links in /dev. One test also reads the
real tree of this machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from device_io.discovery import (
    DiscoveredPort,
    UsbAttachment,
    discover_ports,
    natural_key,
)

CONTROLLER = "devices/pci0000:00/0000:00:14.0"


class FakeMachine:
    """A sysfs and /dev tree with USB-serial adapters, UARTs and udev links."""

    def __init__(self, root: Path) -> None:
        self.sys = root / "sys"
        self.dev = root / "dev"
        (self.sys / "class" / "tty").mkdir(parents=True)
        self.dev.mkdir()

    def usb_device(self, usb_path: str, **attributes: str) -> Path:
        """The device folder at ``usb_path`` (``1-1.2``), hubs above it made."""
        bus, ports = usb_path.split("-")
        folder = self.sys / CONTROLLER / f"usb{bus}"
        chain = ports.split(".")
        for depth in range(1, len(chain) + 1):
            folder = folder / f"{bus}-{'.'.join(chain[:depth])}"
        folder.mkdir(parents=True, exist_ok=True)
        for name, value in attributes.items():
            (folder / name).write_text(f"{value}\n")
        return folder

    def usb_serial(
        self, interface: str, tty: str, *, driver: str = "cp210x", **device: str
    ) -> None:
        """A usb-serial port (FTDI, CP210x): tty below a port device."""
        port = self._interface(interface, **device) / tty
        self._driver(port, f"usb-serial/drivers/{driver}")
        self._tty(port / "tty" / tty, device_link=f"../../../{tty}")

    def cdc_acm(self, interface: str, tty: str, **device: str) -> None:
        """A CDC-ACM port: the tty sits right below the interface."""
        folder = self._interface(interface, **device)
        self._driver(folder, "usb/drivers/cdc_acm")
        self._tty(folder / "tty" / tty, device_link=f"../../../{interface}")

    def uart(self, tty: str) -> None:
        """A built-in UART, not on USB."""
        port = self.sys / "devices/pnp0/00:00/00:00:0/00:00:0.0"
        port.mkdir(parents=True)
        self._tty(port / "tty" / tty, device_link="../../../00:00:0.0")

    def virtual_tty(self, tty: str) -> None:
        """A virtual console: no device behind it."""
        self._tty(self.sys / "devices/virtual/tty" / tty, device_link=None)

    def link(self, folder: str, name: str, tty: str) -> Path:
        """A udev link ``/dev/<folder>/<name>``, relative as udev makes it."""
        where = self.dev / folder
        where.mkdir(parents=True, exist_ok=True)
        up = "../" * len(Path(folder).parts)
        (where / name).symlink_to(f"{up}{tty}")
        return where / name

    def _interface(self, interface: str, **device: str) -> Path:
        folder = self.usb_device(interface.split(":")[0], **device) / interface
        folder.mkdir()
        (folder / "bInterfaceNumber").write_text(interface.split(".")[-1] + "\n")
        return folder

    def _driver(self, folder: Path, driver: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        up = "../" * (len(folder.relative_to(self.sys).parts))
        (folder / "driver").symlink_to(f"{up}bus/{driver}")

    def _tty(self, folder: Path, *, device_link: str | None) -> None:
        folder.mkdir(parents=True)
        (folder / "dev").write_text("188:0\n")
        if device_link is not None:
            (folder / "device").symlink_to(device_link)
        up = os.path.relpath(folder, self.sys / "class" / "tty")
        (self.sys / "class" / "tty" / folder.name).symlink_to(up)
        (self.dev / folder.name).write_text("")


CP2102N = {
    "idVendor": "10c4",
    "idProduct": "ea60",
    "serial": "7a1c0b2e",
    "manufacturer": "Silicon Labs",
    "product": "CP2102N USB to UART Bridge Controller",
}


@pytest.fixture
def machine(tmp_path: Path) -> FakeMachine:
    return FakeMachine(tmp_path)


def _scan(machine: FakeMachine, **options: bool) -> list[DiscoveredPort]:
    found = discover_ports(sys_root=machine.sys, dev_root=machine.dev, **options)
    return list(found.ports)


def test_usb_serial_adapter_is_described_from_sysfs(machine: FakeMachine) -> None:
    machine.usb_serial("1-1.2:1.0", "ttyUSB0", **CP2102N)

    (port,) = _scan(machine)

    assert port.name == "ttyUSB0"
    assert port.device == machine.dev / "ttyUSB0"
    assert port.driver == "cp210x"
    assert port.usb == UsbAttachment(
        path="1-1.2:1.0",
        device_path="1-1.2",
        ancestry=("1-1", "1-1.2", "1-1.2:1.0"),
        vid=0x10C4,
        pid=0xEA60,
        serial_number="7a1c0b2e",
        manufacturer="Silicon Labs",
        product="CP2102N USB to UART Bridge Controller",
    )


def test_cdc_acm_port_is_found_below_its_interface(machine: FakeMachine) -> None:
    machine.cdc_acm("1-1.3:1.0", "ttyACM0", idVendor="2e8a", idProduct="000a")

    (port,) = _scan(machine)

    assert port.driver == "cdc_acm"
    assert port.usb is not None
    assert port.usb.path == "1-1.3:1.0"
    assert port.usb.ancestry == ("1-1", "1-1.3", "1-1.3:1.0")
    assert (port.usb.vid, port.usb.pid) == (0x2E8A, 0x000A)
    assert port.usb.serial_number is None


def test_each_interface_of_a_multi_port_adapter_has_its_own_path(
    machine: FakeMachine,
) -> None:
    for interface in range(4):
        machine.usb_serial(
            f"1-1.4:1.{interface}",
            f"ttyUSB{interface}",
            driver="ftdi_sio",
            idVendor="0403",
            idProduct="6011",
        )

    ports = _scan(machine)

    assert [port.usb.path for port in ports if port.usb] == [
        "1-1.4:1.0",
        "1-1.4:1.1",
        "1-1.4:1.2",
        "1-1.4:1.3",
    ]
    assert {port.usb.device_path for port in ports if port.usb} == {"1-1.4"}


def test_udev_links_are_matched_to_the_port_they_lead_to(
    machine: FakeMachine,
) -> None:
    machine.usb_serial("1-1.1:1.0", "ttyUSB0", **CP2102N)
    machine.usb_serial("1-1.2:1.0", "ttyUSB1", **CP2102N)
    by_id = machine.link(
        "serial/by-id", "usb-Silicon_Labs_CP2102N-if00-port0", "ttyUSB1"
    )
    by_path = machine.link(
        "serial/by-path", "pci-0000:00:14.0-usb-0:1.2:1.0-port0", "ttyUSB1"
    )
    stable = machine.link("provision", "slot-2", "ttyUSB1")

    first, second = _scan(machine)

    assert (first.by_id, first.by_path, first.stable_links) == ((), (), ())
    assert second.by_id == (by_id,)
    assert second.by_path == (by_path,)
    assert second.stable_links == (stable,)


def test_station_links_are_listed_even_when_their_port_is_gone(
    machine: FakeMachine,
) -> None:
    machine.usb_serial("1-1.1:1.0", "ttyUSB0", **CP2102N)
    machine.link("provision", "slot-1", "ttyUSB0")
    machine.link("provision", "slot-2", "ttyUSB7")

    found = discover_ports(sys_root=machine.sys, dev_root=machine.dev)

    assert [(link.path.name, link.port) for link in found.stable_links] == [
        ("slot-1", "ttyUSB0"),
        ("slot-2", None),
    ]
    assert found.stable_links[1].target == (machine.dev / "ttyUSB7").resolve()


def test_ports_not_on_usb_are_listed_only_when_asked(machine: FakeMachine) -> None:
    machine.usb_serial("1-1.1:1.0", "ttyUSB0", **CP2102N)
    machine.uart("ttyS0")
    machine.virtual_tty("tty0")

    usb_only = _scan(machine)
    everything = _scan(machine, include_all=True)

    assert [port.name for port in usb_only] == ["ttyUSB0"]
    assert [(port.name, port.usb is None) for port in everything] == [
        ("ttyS0", True),
        ("ttyUSB0", False),
    ]


def test_ports_come_in_natural_order(machine: FakeMachine) -> None:
    for number in (10, 2, 1):
        machine.usb_serial(f"1-{number}:1.0", f"ttyUSB{number}", **CP2102N)

    assert [port.name for port in _scan(machine)] == ["ttyUSB1", "ttyUSB2", "ttyUSB10"]


def test_missing_or_garbled_attributes_leave_fields_empty(
    machine: FakeMachine,
) -> None:
    machine.usb_serial(
        "1-1.1:1.0", "ttyUSB0", idVendor="zz10", idProduct="", serial="  "
    )

    (port,) = _scan(machine)

    assert port.usb is not None
    assert (port.usb.vid, port.usb.pid, port.usb.serial_number) == (None, None, None)


def test_control_characters_in_usb_strings_are_escaped(machine: FakeMachine) -> None:
    machine.usb_serial(
        "1-1.2:1.0",
        "ttyUSB0",
        **{
            **CP2102N,
            "serial": "\x1b[2J\x1b]0;owned\x07A1",
            "product": "UART\u009b31m bridge\x7f",
            "manufacturer": "Acme\u202e",
        },
    )

    (port,) = _scan(machine)

    assert port.usb is not None
    assert port.usb.serial_number == "\\x1b[2J\\x1b]0;owned\\x07A1"
    assert port.usb.product == "UART\\x9b31m bridge\\x7f"
    assert port.usb.manufacturer == "Acme\\u202e"


def test_deep_hub_chains_keep_every_parent_a_rule_can_match(
    machine: FakeMachine,
) -> None:
    machine.usb_serial("3-2.4.1.3:1.0", "ttyUSB0", **CP2102N)

    (port,) = _scan(machine)

    assert port.usb is not None
    assert port.usb.ancestry == (
        "3-2",
        "3-2.4",
        "3-2.4.1",
        "3-2.4.1.3",
        "3-2.4.1.3:1.0",
    )


def test_empty_or_missing_roots_find_nothing(tmp_path: Path) -> None:
    found = discover_ports(sys_root=tmp_path / "no-sys", dev_root=tmp_path / "no-dev")

    assert found.ports == ()
    assert found.stable_links == ()


def test_this_machine_can_be_scanned_without_error() -> None:
    found = discover_ports(include_all=True)

    # This machine may have no serial port at all; whatever is found must be
    # a device-backed tty, with a USB path only when it sits on USB.
    for port in found.ports:
        assert port.device.parent == Path("/dev")
        assert port.usb is None or port.usb.path == port.usb.ancestry[-1]


def test_natural_key_orders_numbers_by_value() -> None:
    names = ["slot-10", "slot-2", "bench", "slot-1", "ttyUSB10", "ttyUSB9"]

    assert sorted(names, key=natural_key) == [
        "bench",
        "slot-1",
        "slot-2",
        "slot-10",
        "ttyUSB9",
        "ttyUSB10",
    ]
