"""Serial ports over real pseudo-terminals: open, read, write, failures."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import serial
from pty_module import PtyPair

from device_io.errors import LinkTimeout, PortBusy, PortError, PortGone, PortNotFound
from device_io.serial_port import PortSettings, SerialPort, _configured


def test_bytes_cross_the_port_both_ways(pty_pair: PtyPair) -> None:
    with SerialPort.open(pty_pair.path, slot="A1") as port:
        port.write(b"AT+PVCAP?\r\n")
        os.write(pty_pair.master, b"+PVCAP:1,120,4096\r\nOK\r\n")

        assert os.read(pty_pair.master, 64) == b"AT+PVCAP?\r\n"
        assert port.read(time.monotonic() + 5) == b"+PVCAP:1,120,4096\r\nOK\r\n"


def test_a_read_returns_nothing_once_the_deadline_passes(pty_pair: PtyPair) -> None:
    with SerialPort.open(pty_pair.path) as port:
        assert port.read(time.monotonic() + 0.05) == b""


def test_bytes_written_before_the_port_opens_are_dropped(pty_pair: PtyPair) -> None:
    os.write(pty_pair.master, b"stale boot chatter\r\n")

    with SerialPort.open(pty_pair.path) as port:
        os.write(pty_pair.master, b"OK\r\n")
        assert port.read(time.monotonic() + 5) == b"OK\r\n"


def test_the_port_is_configured_before_it_opens() -> None:
    handle = _configured("/dev/null", PortSettings(dtr=False, rts=False))

    assert not handle.is_open
    assert (handle.baudrate, handle.bytesize, handle.parity, handle.stopbits) == (
        115200,
        serial.EIGHTBITS,
        serial.PARITY_NONE,
        serial.STOPBITS_ONE,
    )
    assert (handle.xonxoff, handle.rtscts, handle.dsrdtr) == (False, False, False)
    assert handle.exclusive is True
    assert (handle.dtr, handle.rts) == (False, False)
    assert handle.write_timeout == 2.0


def test_a_missing_port_is_port_not_found_naming_port_and_slot() -> None:
    with pytest.raises(PortNotFound) as caught:
        SerialPort.open("/dev/ttyUSB-no-such-port", slot="B3")

    assert caught.value.port == "/dev/ttyUSB-no-such-port"
    assert "slot B3" in str(caught.value)


def test_a_port_held_by_another_session_is_port_busy(pty_pair: PtyPair) -> None:
    with (
        SerialPort.open(pty_pair.path, slot="A1"),
        pytest.raises(PortBusy, match="held by another process") as caught,
    ):
        SerialPort.open(pty_pair.path, slot="A1")

    assert caught.value.slot == "A1"


def test_closing_a_port_releases_it(pty_pair: PtyPair) -> None:
    SerialPort.open(pty_pair.path).close()

    with SerialPort.open(pty_pair.path) as port:
        assert port.path == pty_pair.path


def test_a_file_that_is_not_a_serial_port_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "not-a-tty"
    plain.write_bytes(b"")

    with pytest.raises(PortError, match="cannot open"):
        SerialPort.open(str(plain))


def test_reading_after_the_other_side_hangs_up_is_port_gone(pty_pair: PtyPair) -> None:
    with SerialPort.open(pty_pair.path, slot="A1") as port:
        pty_pair.hang_up()

        with pytest.raises(PortGone, match="during read") as caught:
            port.read(time.monotonic() + 5)

    assert caught.value.port == pty_pair.path


def test_writing_after_the_other_side_hangs_up_is_port_gone(pty_pair: PtyPair) -> None:
    with SerialPort.open(pty_pair.path) as port:
        pty_pair.close()

        with pytest.raises(PortGone, match="during write"):
            port.write(b"AT+PVID?\r\n")


def test_a_write_that_cannot_drain_is_a_link_timeout(pty_pair: PtyPair) -> None:
    settings = PortSettings(write_timeout=0.1)

    # Nobody reads the module's end: the pty buffer fills and stays full.
    with (
        SerialPort.open(pty_pair.path, settings=settings) as port,
        pytest.raises(LinkTimeout, match="did not finish"),
    ):
        port.write(b"x" * (1 << 20))


# --- a port that goes away and comes back -----------------------------------------


def test_reopen_waits_until_the_stable_name_leads_to_a_port(
    pty_pair: PtyPair, tmp_path: Path
) -> None:
    link = tmp_path / "slot-A1"
    # The module is seated again a moment after the station starts waiting.
    seated = threading.Timer(0.1, lambda: link.symlink_to(pty_pair.path))
    seated.start()
    try:
        port = SerialPort.reopen(str(link), slot="A1", wait=5)
    finally:
        seated.join()

    with port:
        port.write(b"AT\r\n")
        assert os.read(pty_pair.master, 64) == b"AT\r\n"
        assert (port.path, port.slot) == (str(link), "A1")


def test_reopen_gives_up_after_the_wait_naming_port_and_slot(tmp_path: Path) -> None:
    link = tmp_path / "slot-A1"

    with pytest.raises(PortGone) as caught:
        SerialPort.reopen(str(link), slot="A1", wait=0.1)

    assert caught.value.message == "module unplugged and not back within 0.1 s"
    assert (caught.value.port, caught.value.slot) == (str(link), "A1")
    assert isinstance(caught.value.__cause__, PortNotFound)


def test_reopen_without_a_wait_opens_a_port_that_is_there(pty_pair: PtyPair) -> None:
    with SerialPort.reopen(pty_pair.path, wait=0) as port:
        assert port.present()


def test_reopen_leaves_a_port_another_process_holds(pty_pair: PtyPair) -> None:
    with SerialPort.open(pty_pair.path), pytest.raises(PortBusy):
        SerialPort.reopen(pty_pair.path, slot="A1", wait=0.1)


def test_a_name_leading_elsewhere_or_nowhere_is_not_present(
    pty_pair: PtyPair, tmp_path: Path
) -> None:
    link = tmp_path / "slot-A1"
    link.symlink_to(pty_pair.path)
    other = PtyPair()
    try:
        with SerialPort.open(str(link)) as port:
            assert port.present()

            link.unlink()
            link.symlink_to(other.path)
            assert not port.present()

            link.unlink()
            assert not port.present()
    finally:
        other.close()
