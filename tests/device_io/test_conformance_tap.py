"""The recording tap and how a failure's bytes are printed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pty_module import PtyPair, Responder

from device_io.conformance import CheckResult, Evidence, Verdict
from device_io.conformance_check import Check
from device_io.conformance_report import format_result
from device_io.conformance_tap import Exchange, Recorder, printable
from device_io.errors import ModuleError
from device_io.link import Link, LinkSettings
from device_io.serial_port import SerialPort


def _check(project_rule: bool = False) -> Check:
    return Check("pvx.demo", "a demonstration", lambda probe: None, (), project_rule)


def _shown(exchange: Exchange) -> list[str]:
    """The transcript lines of a failure whose only exchange is ``exchange``."""
    result = CheckResult(_check(), Verdict.FAIL, "", (exchange,))
    return [line.strip() for line in format_result(result).splitlines()[1:]]


def test_lines_heard_belong_to_the_last_write() -> None:
    recorder = Recorder()

    recorder.heard(b"ATCMD READY\r\n", drained=False)
    recorder.sent(b"AT+PVCAP?\r\n")
    recorder.heard(b"+PVCAP:1,120,4096\r\n", drained=False)
    recorder.heard(b"OK\r\n", drained=False)
    recorder.heard(b"[$]late\r\n", drained=True)

    before, cap = recorder.exchanges
    assert (before.sent, before.reply_lines()) == (b"", [b"ATCMD READY"])
    assert cap.command == "AT+PVCAP?"
    assert cap.reply == [b"+PVCAP:1,120,4096\r\n", b"OK\r\n"]
    assert cap.drained == [b"[$]late\r\n"]
    assert cap.reply_lines() == [b"+PVCAP:1,120,4096", b"OK", b"[$]late"]
    assert recorder.last() is cap


def test_a_stale_reply_is_shown_under_the_command_the_link_judged_by_it(
    pty_pair: PtyPair, respond: Callable[[Callable[[str], bytes]], Responder]
) -> None:
    # A command split in two on its way in is answered twice; the second
    # answer is still waiting when the next command is sent.
    replies = {
        "AT+PVHASH=CSR": b"ERROR: 1\r\nERROR: 1\r\n",
        "AT+PVREAD=CSR,999,60": b"ERROR: 5\r\n",
    }
    respond(lambda line: replies.get(line, b""))
    recorder = Recorder()

    with SerialPort.open(pty_pair.path) as port:
        link = Link(port, LinkSettings(drain_quiet=0.05), tap=recorder)
        with pytest.raises(ModuleError):
            link.command("AT+PVHASH=CSR", timeout=2)
        with pytest.raises(ModuleError) as stale:
            link.command("AT+PVREAD=CSR,999,60", timeout=2)
        link.drain()

    hashed, read = recorder.exchanges
    assert stale.value.code == 1
    assert hashed.reply == [b"ERROR: 1\r\n"]
    assert (read.sent, read.reply) == (b"AT+PVREAD=CSR,999,60\r\n", [b"ERROR: 1\r\n"])
    assert read.drained == [b"ERROR: 5\r\n"]
    assert _shown(read) == [
        "> AT+PVREAD=CSR,999,60",
        "< ERROR: 1",
        "< ERROR: 5  (read after the reply, discarded)",
    ]


def test_noise_and_an_unfinished_line_are_shown_as_received() -> None:
    exchange = Exchange(b"AT+PVID?\r\n", [b'+PVID:"A\xffB"\r\n', b"OK\n"], [b"+PV"])

    assert _shown(exchange) == [
        "> AT+PVID?",
        '< +PVID:"A\\xffB"',
        "< OK\\n",
        "< +PV  (unfinished line)  (read after the reply, discarded)",
    ]


def test_non_printable_bytes_are_shown_as_escapes() -> None:
    assert printable(b"OK\x00\xff\r") == "OK\\x00\\xff\\r"


def test_failure_prints_each_line_sent_and_received() -> None:
    exchange = Exchange(b"AT+PVHASH=KEY\r\n", [b"[$]heap\r\n", b"OK\r\n"])
    result = CheckResult(
        _check(project_rule=True),
        Verdict.FAIL,
        "expected ERROR: 1 (bad parameter), got OK",
        (exchange,),
    )

    lines = format_result(result).splitlines()

    assert lines[0].startswith("FAIL  pvx.demo ")
    assert lines[0].endswith("a demonstration [project rule]")
    assert [line.strip() for line in lines[1:]] == [
        "expected ERROR: 1 (bad parameter), got OK",
        "> AT+PVHASH=KEY",
        "< [$]heap",
        "< OK",
    ]


def test_silence_and_long_transcripts_are_shown_briefly() -> None:
    exchanges = tuple(Exchange(f"AT+PVW={n}\r\n".encode()) for n in range(8))
    result = CheckResult(_check(), Verdict.FAIL, "no reply", exchanges)

    lines = [line.strip() for line in format_result(result).splitlines()]

    assert lines[2] == "(2 earlier exchanges not shown)"
    assert lines[3:5] == ["> AT+PVW=2", "< (nothing)"]
    assert len(lines) == 3 + 2 * 6


def test_evidence_is_printed_as_base64_lines() -> None:
    result = CheckResult(
        _check(), Verdict.FAIL, "bad", evidence=Evidence("CSR as read", bytes(60))
    )

    lines = [line.strip() for line in format_result(result).splitlines()]

    assert lines[2] == "CSR as read (60 bytes, base64):"
    assert lines[3:] == ["A" * 64, "A" * 16]
