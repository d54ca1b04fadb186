"""The link over a real pty, against a scripted module written in the test."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from pty_module import PtyPair, Responder

from device_io.errors import (
    LinkError,
    LinkNoise,
    LinkTimeout,
    ModuleBusy,
    ModuleError,
    ModuleReset,
    PortGone,
    PvErrorCode,
)
from device_io.link import Link, LinkSettings
from device_io.pv import InfoLine
from device_io.serial_port import SerialPort

Start = Callable[[Callable[[str], bytes]], Responder]
FAST = LinkSettings(
    sync_timeout=0.3, sync_attempts=3, drain_quiet=0.02, drain_limit=0.3, busy_poll=0.05
)


@pytest.fixture
def link(pty_pair: PtyPair) -> Iterator[Link]:
    with SerialPort.open(pty_pair.path, slot="A1") as port:
        yield Link(port, FAST)


def scripted(script: dict[str, bytes]) -> Callable[[str], bytes]:
    """Answer each known command with fixed bytes; sync echoes its token."""

    def answer(line: str) -> bytes:
        if line.startswith("AT+PVSYNC="):
            return f"+PVSYNC:{line.split('=')[1]}\r\nOK\r\n".encode()
        return script.get(line, b"")

    return answer


def test_a_reply_returns_its_info_lines(link: Link, respond: Start) -> None:
    respond(scripted({"AT+PVCAP?": b"+PVCAP:1,120,4096\r\nOK\r\n"}))

    assert link.command("AT+PVCAP?", timeout=2) == [
        InfoLine("PVCAP", ("1", "120", "4096"))
    ]


def test_echo_blank_and_unsolicited_lines_are_dropped(
    link: Link, respond: Start
) -> None:
    reply = (
        b"AT+PVWSTAT?\r\n[$] wifi: scan done\r\n\r\n"
        b"+PVWSTAT:NONE\r\n[$] ble: adv\r\nOK\r\n"
    )
    respond(scripted({"AT+PVWSTAT?": reply}))

    assert link.command("AT+PVWSTAT?", timeout=2) == [InfoLine("PVWSTAT", ("NONE",))]


def test_an_echo_after_reply_lines_is_noise(link: Link, respond: Start) -> None:
    respond(scripted({"AT+PVWSTAT?": b"+PVWSTAT:NONE\r\nAT+PVWSTAT?\r\nOK\r\n"}))

    with pytest.raises(LinkNoise, match="unexpected line"):
        link.command("AT+PVWSTAT?", timeout=2)


def test_an_error_line_raises_module_error_with_its_code(
    link: Link, respond: Start
) -> None:
    respond(scripted({"AT+PVLOCK": b"ERROR: 3\r\n"}))

    with pytest.raises(ModuleError, match=r"ERROR: 3 \(wrong state\)") as caught:
        link.command("AT+PVLOCK", timeout=2)

    assert caught.value.code is PvErrorCode.WRONG_STATE
    assert (caught.value.port, caught.value.slot) == (link.port.path, "A1")


def test_the_boot_banner_mid_command_is_a_module_reset(
    link: Link, respond: Start
) -> None:
    respond(scripted({'AT+PVW=0,352441c2,"YWJj"': b"ATCMD READY\r\n"}))

    with pytest.raises(ModuleReset, match="module reset during AT\\+PVW"):
        link.command('AT+PVW=0,352441c2,"YWJj"', timeout=2)


@pytest.mark.parametrize(
    "garbage",
    [b"\xff\xfe\x00\r\nOK\r\n", b'+PVID:"A\r\nOK\r\n', b"busy p...\r\nOK\r\n"],
)
def test_garbage_in_a_reply_is_link_noise(
    link: Link, respond: Start, garbage: bytes
) -> None:
    respond(scripted({"AT+PVID?": garbage}))

    with pytest.raises(LinkNoise):
        link.command("AT+PVID?", timeout=2)


def test_noise_names_the_command_whose_reply_it_damaged_but_not_its_bytes(
    link: Link, respond: Start
) -> None:
    respond(scripted({"AT+PVREAD=CSR,0,60": b"+PVREAD:CSR,0\xb8,ZQXJ\r\nOK\r\n"}))

    with pytest.raises(LinkNoise) as caught:
        link.command("AT+PVREAD=CSR,0,60", timeout=2)

    assert caught.value.message == (
        "line of 19 bytes with 1 non-printable or non-ASCII byte, "
        "in the reply to AT+PVREAD"
    )


def test_no_final_line_is_a_timeout_naming_the_unfinished_bytes(
    link: Link, respond: Start
) -> None:
    respond(scripted({"AT+PVHASH=CSR": b"+PVHASH:CSR,236,"}))

    with pytest.raises(LinkTimeout, match="16 bytes of an unfinished line") as caught:
        link.command("AT+PVHASH=CSR", timeout=0.2)

    assert caught.value.port == link.port.path


def test_no_reply_from_a_port_whose_node_vanished_is_port_gone(
    pty_pair: PtyPair, respond: Start, tmp_path: Path
) -> None:
    link_name = tmp_path / "slot-A1"
    link_name.symlink_to(pty_pair.path)
    respond(scripted({}))

    with SerialPort.open(str(link_name), slot="A1") as port:
        link_name.unlink()
        with pytest.raises(PortGone, match="is gone") as caught:
            Link(port, FAST).command("AT+PVID?", timeout=0.1)

    assert (caught.value.port, caught.value.slot) == (str(link_name), "A1")


def test_resync_drains_noise_and_waits_for_its_own_token(
    link: Link, respond: Start
) -> None:
    tokens: list[str] = []

    def module(line: str) -> bytes:
        if not line:
            return b"\xde\xad garbage still streaming \xbe\xef\r\n" * 20
        token = line.split("=")[1]
        tokens.append(token)
        # The first answer carries a stale token, as after a lost exchange.
        echoed = "00000000" if len(tokens) == 1 else token
        return f"+PVSYNC:{echoed}\r\nOK\r\n".encode()

    respond(module)

    link.resync()

    assert len(tokens) == 2
    assert tokens[0] != tokens[1]
    assert all(len(token) == 8 for token in tokens)


def test_a_command_works_again_after_noise_and_a_resync(
    link: Link, respond: Start
) -> None:
    replies = iter([b"\x00\x01 line noise\r\n+PVCAP:1,120,4096\r\nOK\r\n"])

    def module(line: str) -> bytes:
        if line.startswith("AT+PVSYNC="):
            return f"+PVSYNC:{line.split('=')[1]}\r\nOK\r\n".encode()
        if line == "AT+PVCAP?":
            return next(replies, b"+PVCAP:1,120,4096\r\nOK\r\n")
        return b""

    respond(module)

    with pytest.raises(LinkNoise):
        link.command("AT+PVCAP?", timeout=2)
    link.resync()
    assert link.command("AT+PVCAP?", timeout=2)[0].fields == ("1", "120", "4096")


def test_resync_gives_up_on_a_mute_module(link: Link, respond: Start) -> None:
    responder = respond(lambda line: b"")

    with pytest.raises(LinkError, match="did not echo AT\\+PVSYNC in 3 attempts"):
        link.resync()

    assert responder.received.count(b"AT+PVSYNC=") == 3


class BusyModule:
    """Generates a key for ``busy_for`` seconds; answers sync with ERROR: 2
    until then. ``noise`` sends a damaged line as soon as the key generation
    starts, as bit errors on a stray line would."""

    def __init__(self, busy_for: float, *, noise: bool = False) -> None:
        self.busy_for = busy_for
        self.noise = noise
        self.busy_until: float | None = None
        self.busy_answers = 0

    def __call__(self, line: str) -> bytes:
        if line.startswith("AT+PVKEYGEN="):
            self.busy_until = time.monotonic() + self.busy_for
            return b"[$]wlan\xf3 scan done\r\n" if self.noise else b""
        if line.startswith("AT+PVSYNC="):
            if self.busy_until is not None and time.monotonic() < self.busy_until:
                self.busy_answers += 1
                return b"ERROR: 2\r\n"
            return f"+PVSYNC:{line.split('=')[1]}\r\nOK\r\n".encode()
        return b""


def test_resync_waits_for_a_module_busy_with_a_command_cut_short_by_noise(
    link: Link, respond: Start
) -> None:
    module = BusyModule(0.3, noise=True)
    respond(module)

    with pytest.raises(LinkNoise):
        link.command("AT+PVKEYGEN=0,P256", timeout=5)
    link.resync()

    assert module.busy_answers > FAST.sync_attempts


def test_resync_after_a_timeout_reports_the_unfinished_command_as_busy(
    link: Link, respond: Start
) -> None:
    respond(BusyModule(60))

    with pytest.raises(LinkTimeout):
        link.command("AT+PVKEYGEN=0,P256", timeout=0.1)
    with pytest.raises(ModuleBusy) as caught:
        link.resync()

    assert caught.value.message == (
        "key generation (AT+PVKEYGEN) did not finish within 0.1 s: the module "
        "is still busy (it answers ERROR: 2 to AT+PVSYNC)"
    )
    assert caught.value.code is PvErrorCode.BUSY
    assert (caught.value.port, caught.value.slot) == (link.port.path, "A1")


def test_resync_waits_a_bounded_time_for_a_module_busy_with_another_command(
    pty_pair: PtyPair, respond: Start
) -> None:
    module = BusyModule(60)
    module.busy_until = time.monotonic() + 60
    respond(module)

    with SerialPort.open(pty_pair.path, slot="A1") as port:
        link = Link(port, replace(FAST, busy_wait=0.3))
        with pytest.raises(
            ModuleBusy, match=r"busy for 0\.3 s with a command this station"
        ):
            link.resync()

    assert module.busy_answers > FAST.sync_attempts


def test_raw_frames_are_logged_at_debug_only(
    link: Link, respond: Start, caplog: pytest.LogCaptureFixture
) -> None:
    respond(scripted({"AT+PVCAP?": b"+PVCAP:1,120,4096\r\nOK\r\n"}))

    with caplog.at_level(logging.INFO, logger="device_io"):
        link.command("AT+PVCAP?", timeout=2)
    assert not any("PVCAP" in record.getMessage() for record in caplog.records)

    with caplog.at_level(logging.DEBUG, logger="device_io"):
        link.command("AT+PVCAP?", timeout=2)
    frames = [r for r in caplog.records if "PVCAP" in r.getMessage()]
    assert frames
    assert all(record.levelno == logging.DEBUG for record in frames)
