"""The simulator end to end: real ptys, driven with raw pyserial."""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import serial
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sim_bench import TestCa, Wire

from device_io.simulator.errors import FlashError
from device_io.simulator.pacing import UartPacer
from device_io.simulator.simulator import Simulator

Simulate = Callable[..., Simulator]
OpenWire = Callable[..., Wire]
CHALLENGE = bytes(range(100, 132))


def _wait_for_new_link(link: str, old_target: str) -> str:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            target = os.readlink(link)
        except FileNotFoundError:
            target = old_target
        if target != old_target:
            return target
        time.sleep(0.01)
    raise AssertionError(f"{link} did not come back")


def test_module_answers_on_its_stable_link(
    simulate: Simulate, open_wire: OpenWire
) -> None:
    simulator = simulate()
    port = simulator.port(1)

    wire = open_wire(port.link)

    assert os.readlink(port.link) == port.port
    assert wire.command("AT") == ["OK"]
    assert wire.ok("AT+PVID?") == [
        '+PVID:"AMB82D001001","00:e0:4c:87:00:01","AMB82","LOT-2026-0042","1.4.2",EMPTY'
    ]


def test_pty_is_raw_so_the_banner_keeps_its_crlf_and_is_not_echoed(
    simulate: Simulate, open_wire: OpenWire
) -> None:
    simulator = simulate()
    wire = open_wire(simulator.port(1).link)

    simulator.reset(1)
    banner = wire.port.read(len(b"ATCMD READY\r\n"))
    wire.send("AT")

    assert banner == b"ATCMD READY\r\n"
    assert wire.port.read(4) == b"OK\r\n"


def test_module_is_provisioned_over_the_pty(
    simulate: Simulate, open_wire: OpenWire, ca: TestCa
) -> None:
    wire = open_wire(simulate().port(1).link)

    assert wire.ok("AT+PVKEYGEN=0,P256") == ["+PVKEYGEN:0,1"]
    csr = x509.load_der_x509_csr(wire.read_object("CSR"))
    wire.write_object("CHAIN", ca.chain_for(wire.read_object("PUB")))
    (signed,) = wire.ok(f"AT+PVSIGN=0,{CHALLENGE.hex()}")
    wire.ok("AT+PVLOCK")

    public_key = csr.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(
        base64.b64decode(signed.split('"')[1]),
        b"PV-CHALLENGE-V1\x00" + CHALLENGE,
        ec.ECDSA(hashes.SHA256()),
    )
    assert wire.ok("AT+PVID?")[0].endswith(",LOCKED")


def test_provisioning_state_survives_a_simulator_restart(
    simulate: Simulate, open_wire: OpenWire, ca: TestCa, tmp_path: Path
) -> None:
    first = simulate(state_dir=tmp_path / "state")
    wire = open_wire(first.port(1).link)
    wire.ok("AT+PVKEYGEN=0,P256")
    chain = ca.chain_for(wire.read_object("PUB"))
    wire.write_object("CHAIN", chain)
    wire.ok("AT+PVLOCK")
    csr = wire.read_object("CSR")
    wire.close()
    first.stop()

    second = simulate(state_dir=tmp_path / "state")
    wire = open_wire(second.port(1).link)

    assert wire.ok("AT+PVID?")[0].endswith(",LOCKED")
    assert wire.read_object("CSR") == csr
    assert wire.read_object("CHAIN") == chain
    assert wire.ok("AT+PVKEYGEN=0,P256") == ["+PVKEYGEN:0,0"]


def test_reset_loses_the_staged_write_and_prints_the_banner(
    simulate: Simulate, open_wire: OpenWire
) -> None:
    simulator = simulate()
    wire = open_wire(simulator.port(1).link)
    wire.ok("AT+PVKEYGEN=0,P256")
    wire.ok(f"AT+PVWBEGIN=CHAIN,500,{'ab' * 32}")

    simulator.reset(1)

    assert wire.read_line() == b"ATCMD READY"
    assert wire.ok("AT+PVWSTAT?") == ["+PVWSTAT:NONE"]
    assert wire.ok("AT+PVID?")[0].endswith(",KEY")


def test_reset_fault_fires_mid_write_instead_of_the_reply(
    simulate: Simulate, open_wire: OpenWire
) -> None:
    simulator = simulate(misbehave=("1=reset-mid-command:PVW#2",))
    wire = open_wire(simulator.port(1).link)
    wire.ok("AT+PVKEYGEN=0,P256")
    wire.ok(f"AT+PVWBEGIN=CHAIN,500,{'ab' * 32}")
    wire.ok('AT+PVW=0,352441c2,"YWJj"')

    wire.send('AT+PVW=3,352441c2,"YWJj"')

    assert wire.read_line() == b"ATCMD READY"
    assert wire.ok("AT+PVWSTAT?") == ["+PVWSTAT:NONE"]


def test_unplug_closes_the_port_and_a_new_pty_appears_under_the_link(
    simulate: Simulate, open_wire: OpenWire
) -> None:
    simulator = simulate()
    port = simulator.port(1)
    wire = open_wire(port.link)
    wire.ok("AT+PVKEYGEN=0,P256")

    simulator.unplug(1, replug_after=0.05)

    with pytest.raises(serial.SerialException):
        wire.port.read(1)
    new_target = _wait_for_new_link(port.link, port.port)
    again = open_wire(port.link)
    assert again.ok("AT+PVID?")[0].endswith(",KEY")
    assert simulator.port(1).port == new_target


def test_unplug_fault_fires_on_its_command(
    simulate: Simulate, open_wire: OpenWire
) -> None:
    simulator = simulate(misbehave=("1=unplug:PVCAP#1",))
    port = simulator.port(1)
    wire = open_wire(port.link)

    wire.send("AT+PVCAP?")

    with pytest.raises(serial.SerialException):
        wire.port.read(1)
    _wait_for_new_link(port.link, port.port)
    assert open_wire(port.link).ok("AT+PVCAP?") == ["+PVCAP:1,120,4096"]


def test_module_is_busy_while_it_generates_a_key(
    simulate: Simulate, open_wire: OpenWire
) -> None:
    wire = open_wire(simulate(keygen_delay=0.5).port(1).link)

    wire.send("AT+PVKEYGEN=0,P256")
    wire.send("AT+PVID?")

    assert wire.reply() == ["ERROR: 2"]
    assert wire.reply() == ["+PVKEYGEN:0,1", "OK"]
    assert wire.ok("AT+PVID?")[0].endswith(",KEY")


def test_overlong_line_is_refused_and_the_module_keeps_serving(
    simulate: Simulate, open_wire: OpenWire
) -> None:
    wire = open_wire(simulate().port(1).link)

    wire.send(b"AT+PVSYNC=" + b"7" * 5000)

    assert wire.reply() == ["ERROR: 1"]
    assert wire.command("AT") == ["OK"]


def test_output_takes_at_least_its_time_on_the_wire(
    simulate: Simulate, open_wire: OpenWire
) -> None:
    # A lower bound cannot flake: the simulator releases the last byte no
    # earlier than (bytes x 10 bits / baud) after it read the command, which
    # is after this test started its clock.
    wire = open_wire(simulate(baud=1200).port(1).link)
    expected = b"+PVCAP:1,120,4096\r\nOK\r\n"

    started = time.monotonic()
    wire.send("AT+PVCAP?")
    received = wire.port.read(len(expected))
    elapsed = time.monotonic() - started

    assert received == expected
    assert elapsed >= UartPacer(1200).duration(len(expected)) * (1 - 1e-6)


def test_echo_and_stray_lines_arrive_as_whole_lines(
    simulate: Simulate, open_wire: OpenWire
) -> None:
    simulator = simulate(misbehave=("1=echo", "1=stray-lines:0.5"))
    wire = open_wire(simulator.port(1).link, sync=False)
    wire.drain()

    replies = [wire.command("AT+PVCAP?") for _ in range(20)]

    stray = [line for reply in replies for line in reply if line.startswith("[$]")]
    assert stray
    for reply in replies:
        others = [line for line in reply if not line.startswith("[$]")]
        assert others == ["AT+PVCAP?", "+PVCAP:1,120,4096", "OK"]


def test_bit_errors_flip_bits_in_what_the_module_sends(
    simulate: Simulate, open_wire: OpenWire
) -> None:
    simulator = simulate(misbehave=("1=bit-errors:1",))
    wire = open_wire(simulator.port(1).link, sync=False)
    wire.drain()

    simulator.reset(1)
    banner = wire.port.read(13)

    clean = b"ATCMD READY\r\n"
    flips = [bin(a ^ b).count("1") for a, b in zip(banner, clean, strict=True)]
    assert flips == [1] * 13


def test_identity_faults_report_a_clone_and_a_neighbour(
    simulate: Simulate, open_wire: OpenWire, tmp_path: Path
) -> None:
    simulator = simulate(3, misbehave=("2=clone-of:1", "3=wrong-identity"))
    wires = [open_wire(port.link) for port in simulator.ports]

    ids = [wire.ok("AT+PVID?")[0] for wire in wires]
    for wire in wires:
        wire.ok("AT+PVKEYGEN=0,P256")
    pubs = {wire.read_object("PUB") for wire in wires}

    assert ids[0] == ids[1]
    assert ids[2].startswith('+PVID:"AMB82D001004","00:e0:4c:87:00:03"')
    assert len(pubs) == 3
    assert sorted(p.name for p in (tmp_path / "state" / "flash").iterdir()) == [
        "AMB82D001001.json",
        "AMB82D001002.json",
        "AMB82D001003.json",
    ]


def test_thirty_two_modules_are_served_at_once(
    simulate: Simulate, open_wire: OpenWire
) -> None:
    simulator = simulate(32)
    wires = [open_wire(port.link) for port in simulator.ports]

    for wire in wires:
        wire.send("AT+PVKEYGEN=0,P256")
    keygens = [wire.reply() for wire in wires]
    for wire in wires:
        wire.send("AT+PVID?")
    identities = [wire.reply()[0] for wire in wires]

    assert keygens == [["+PVKEYGEN:0,1", "OK"]] * 32
    assert [line.split('"')[1] for line in identities] == [
        f"AMB82D0010{n:02d}" for n in range(1, 33)
    ]
    assert all(line.endswith(",KEY") for line in identities)


def test_stop_removes_links_and_keeps_flash(
    simulate: Simulate, open_wire: OpenWire, tmp_path: Path
) -> None:
    simulator = simulate(2)
    open_wire(simulator.port(1).link).ok("AT+PVKEYGEN=0,P256")
    links = [port.link for port in simulator.ports]

    simulator.stop()

    assert not any(os.path.lexists(link) for link in links)
    assert (tmp_path / "state" / "flash" / "AMB82D001001.json").exists()


def test_no_private_key_reaches_the_logs(
    simulate: Simulate,
    open_wire: OpenWire,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="device_io.simulator")
    wire = open_wire(simulate().port(1).link)

    wire.ok("AT+PVKEYGEN=0,P256")
    wire.ok(f"AT+PVSIGN=0,{CHALLENGE.hex()}")

    flash = (tmp_path / "state" / "flash" / "AMB82D001001.json").read_text()
    key_b64 = flash.split('"key": "')[1].split('"')[0]
    assert "tx b'+PVKEYGEN" in caplog.text
    assert key_b64[20:60] not in caplog.text


def test_failed_start_stops_the_modules_already_started(
    simulate: Simulate, tmp_path: Path
) -> None:
    flash_dir = tmp_path / "state" / "flash"
    flash_dir.mkdir(parents=True)
    (flash_dir / "AMB82D001002.json").write_text("{not json")

    with pytest.raises(FlashError, match=r"AMB82D001002\.json"):
        simulate(3)

    assert list((tmp_path / "state" / "ports").iterdir()) == []
