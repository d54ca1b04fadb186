"""The recording tap and how a failure's bytes are printed."""

from __future__ import annotations

from device_io.conformance import CheckResult, Evidence, Verdict
from device_io.conformance_check import Check
from device_io.conformance_report import format_result
from device_io.conformance_tap import Exchange, Recorder, printable


def _check(project_rule: bool = False) -> Check:
    return Check("pvx.demo", "a demonstration", lambda probe: None, (), project_rule)


def test_bytes_read_belong_to_the_last_write() -> None:
    recorder = Recorder()

    recorder.received(b"ATCMD READY\r\n")
    recorder.sent(b"AT+PVCAP?\r\n")
    recorder.received(b"+PVCAP:1,120,")
    recorder.received(b"4096\r\nOK\r\n")

    before, cap = recorder.exchanges
    assert (before.sent, before.reply_lines()) == (b"", [b"ATCMD READY"])
    assert cap.command == "AT+PVCAP?"
    assert cap.reply_lines() == [b"+PVCAP:1,120,4096", b"OK"]
    assert recorder.last() is cap


def test_an_unfinished_line_is_kept_as_received() -> None:
    exchange = Exchange(b"AT+PVID?\r\n", bytearray(b'+PVID:"AMB\r\nOK\r\n+PV'))

    assert exchange.reply_lines() == [b'+PVID:"AMB', b"OK", b"+PV"]


def test_non_printable_bytes_are_shown_as_escapes() -> None:
    assert printable(b"OK\x00\xff\r") == "OK\\x00\\xff\\r"


def test_failure_prints_each_line_sent_and_received() -> None:
    exchange = Exchange(b"AT+PVHASH=KEY\r\n", bytearray(b"[$]heap\r\nOK\r\n"))
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
