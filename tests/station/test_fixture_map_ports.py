"""``station ports``: ports named by fixture slot, run as a separate process.

The sysfs and /dev trees are built in tmp_path the way the kernel and udev lay
them out (this machine has no USB serial adapters), and handed to the command
through ``--sys-root`` and ``--dev-root``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
STATION_EXAMPLE = ROOT / "fixtures" / "station.example.toml"
HUB = "devices/pci0000:00/0000:00:14.0/usb1/1-1"
FIXTURE = """
[[slots]]
name = "slot-1"
usb_path = "1-1.1"

[[slots]]
name = "slot-2"
usb_path = "1-1.2"
vid = "10c4"
pid = "ea60"

[[slots]]
name = "slot-3"
usb_path = "1-1.3"
"""


def _station(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "STATION_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "station", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
        check=False,
    )


def _adapter(root: Path, hub_port: int, tty: str, **attributes: str) -> None:
    """A CP210x-style adapter on hub port ``hub_port``, as sysfs shows it."""
    device = root / "sys" / HUB / f"1-1.{hub_port}"
    port = device / f"1-1.{hub_port}:1.0" / tty
    (port / "tty" / tty).mkdir(parents=True)
    for name, value in attributes.items():
        (device / name).write_text(f"{value}\n")
    (port / "driver").symlink_to(
        "../../../../../../../../bus/usb-serial/drivers/cp210x"
    )
    (port / "tty" / tty / "device").symlink_to(f"../../../{tty}")
    tty_class = root / "sys" / "class" / "tty"
    tty_class.mkdir(parents=True, exist_ok=True)
    (tty_class / tty).symlink_to(os.path.relpath(port / "tty" / tty, tty_class))
    (root / "dev").mkdir(exist_ok=True)
    (root / "dev" / tty).write_text("")


def _link(root: Path, folder: str, name: str, tty: str) -> None:
    where = root / "dev" / folder
    where.mkdir(parents=True, exist_ok=True)
    (where / name).symlink_to("../" * len(Path(folder).parts) + tty)


@pytest.fixture
def machine(tmp_path: Path) -> Path:
    """Two adapters, in slot-1 (any adapter) and slot-2 (a CP2102N only)."""
    root = tmp_path / "machine"
    _adapter(root, 1, "ttyUSB1", idVendor="0403", idProduct="6001", serial="A10K")
    _adapter(
        root,
        2,
        "ttyUSB0",
        idVendor="10c4",
        idProduct="ea60",
        serial="7a1c0b2e",
        manufacturer="Silicon Labs",
        product="CP2102N USB to UART Bridge Controller",
    )
    _link(
        root, "serial/by-id", "usb-Silicon_Labs_CP2102N_7a1c0b2e-if00-port0", "ttyUSB0"
    )
    _link(root, "serial/by-path", "pci-0000:00:14.0-usb-0:1.2:1.0-port0", "ttyUSB0")
    _link(root, "provision", "slot-2", "ttyUSB0")
    _link(root, "provision", "slot-3", "ttyUSB5")
    return root


def _roots(machine: Path) -> tuple[str, ...]:
    return ("--sys-root", str(machine / "sys"), "--dev-root", str(machine / "dev"))


def test_ports_are_listed_with_usb_details_links_and_slots(
    machine: Path, tmp_path: Path
) -> None:
    fixture = tmp_path / "fixture.toml"
    fixture.write_text(FIXTURE)
    dev = machine / "dev"

    run = _station("ports", "--fixture", str(fixture), *_roots(machine), cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    assert run.stdout == (
        f"{dev}/ttyUSB0  slot slot-2\n"
        "  usb id    10c4:ea60  Silicon Labs CP2102N USB to UART Bridge Controller\n"
        "  serial    7a1c0b2e\n"
        "  usb path  1-1.2:1.0  (adapter 1-1.2)\n"
        "  driver    cp210x\n"
        f"  by-id     {dev}/serial/by-id/usb-Silicon_Labs_CP2102N_7a1c0b2e-if00-port0\n"
        f"  by-path   {dev}/serial/by-path/pci-0000:00:14.0-usb-0:1.2:1.0-port0\n"
        f"  link      {dev}/provision/slot-2\n"
        "\n"
        f"{dev}/ttyUSB1  slot slot-1\n"
        "  usb id    0403:6001\n"
        "  serial    A10K\n"
        "  usb path  1-1.1:1.0  (adapter 1-1.1)\n"
        "  driver    cp210x\n"
        "\n"
        f"station links in {dev}/provision\n"
        f"  slot-2     -> {dev.resolve()}/ttyUSB0\n"
        f"  slot-3     -> {dev.resolve()}/ttyUSB5 (no such port)\n"
        "\n"
        f"fixture slots from {fixture}\n"
        f"  slot-1     1-1.1          {dev}/ttyUSB1\n"
        f"  slot-2     1-1.2          {dev}/ttyUSB0\n"
        "  slot-3     1-1.3          no port\n"
    )


def test_a_port_with_other_usb_ids_is_in_no_slot_and_says_why(
    machine: Path, tmp_path: Path
) -> None:
    fixture = tmp_path / "fixture.toml"
    fixture.write_text(FIXTURE.replace('pid = "ea60"', 'pid = "ea70"'))

    run = _station("ports", "--fixture", str(fixture), *_roots(machine), cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    assert (
        f"{machine / 'dev'}/ttyUSB0  (at the USB path of slot-2, which takes only "
        "10c4:ea70)\n"
    ) in run.stdout
    assert "  slot-2     1-1.2          no port\n" in run.stdout


def test_escape_sequences_in_usb_strings_and_links_never_reach_the_terminal(
    tmp_path: Path,
) -> None:
    root = tmp_path / "machine"
    _adapter(root, 1, "ttyUSB0", serial="\x1b[2JA1", product="\x1b]0;title\x07")
    _link(root, "serial/by-id", "usb-\x1b[31mred-if00", "ttyUSB0")

    run = _station("ports", *_roots(root), cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    assert "\x1b" not in run.stdout
    assert "\x07" not in run.stdout
    assert "  serial    \\x1b[2JA1\n" in run.stdout
    assert "\\x1b]0;title\\x07\n" in run.stdout
    assert "/serial/by-id/usb-\\x1b[31mred-if00\n" in run.stdout


def test_slots_come_from_the_configurations_fixture_map(
    machine: Path, tmp_path: Path
) -> None:
    head, _, _ = STATION_EXAMPLE.read_text().partition("# The fixture: which")
    config = tmp_path / "station.toml"
    config.write_text(head + FIXTURE.replace("[[slots]]", "[[fixture.slots]]"))

    run = _station("ports", *_roots(machine), cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    assert f"{machine / 'dev'}/ttyUSB0  slot slot-2\n" in run.stdout
    assert "fixture slots from station.toml [fixture]\n" in run.stdout


def test_without_a_configuration_ports_are_listed_without_slots(
    machine: Path, tmp_path: Path
) -> None:
    run = _station("ports", *_roots(machine), cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"{machine / 'dev'}/ttyUSB0\n  usb id    10c4:ea60")
    assert "slot slot-" not in run.stdout
    assert "fixture slots" not in run.stdout


def test_this_machine_is_listed_without_a_configuration(tmp_path: Path) -> None:
    run = _station("ports", "--all", cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip()
    assert run.stderr == ""


def test_empty_tree_says_nothing_was_found(tmp_path: Path) -> None:
    run = _station(
        "ports", "--sys-root", str(tmp_path), "--dev-root", str(tmp_path), cwd=tmp_path
    )

    assert run.returncode == 0, run.stderr
    assert run.stdout == f"no USB serial ports found in {tmp_path}/class/tty\n"


def test_a_sys_root_that_does_not_exist_exits_2_naming_it(tmp_path: Path) -> None:
    run = _station("ports", "--sys-root", str(tmp_path / "nonexist"), cwd=tmp_path)

    assert run.returncode == 2
    assert f"--sys-root: no such folder: {tmp_path}/nonexist" in run.stderr


def test_bad_fixture_map_exits_2_with_the_reason(tmp_path: Path) -> None:
    fixture = tmp_path / "fixture.toml"
    fixture.write_text(FIXTURE.replace('name = "slot-3"', 'name = "slot-1"'))

    run = _station("ports", "--fixture", str(fixture), cwd=tmp_path)

    assert run.returncode == 2
    assert run.stderr == (
        f"station: {fixture}: lines 2 and 12: slots: slots.0 and slots.2 are both "
        "named 'slot-1'\n"
    )


def test_a_named_configuration_that_is_missing_exits_2(tmp_path: Path) -> None:
    run = _station("--config", str(tmp_path / "none.toml"), "ports", cwd=tmp_path)

    assert run.returncode == 2
    assert "no configuration file" in run.stderr


def test_a_port_outside_every_slot_says_so(machine: Path, tmp_path: Path) -> None:
    fixture = tmp_path / "fixture.toml"
    fixture.write_text('[[slots]]\nname = "slot-9"\nusb_path = "1-1.9"\n')

    run = _station("ports", "--fixture", str(fixture), *_roots(machine), cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    assert run.stdout.count("  (in no fixture slot)\n") == 2
    assert "  slot-9     1-1.9          no port\n" in run.stdout


def test_a_reader_that_stops_early_is_no_error(tmp_path: Path) -> None:
    station = subprocess.Popen(
        [sys.executable, "-m", "station", "ports", "--sys-root", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert station.stdout is not None
    station.stdout.close()  # like `| head` that has read all it wants

    _, stderr = station.communicate(timeout=60)

    assert (station.returncode, stderr) == (0, b"")
