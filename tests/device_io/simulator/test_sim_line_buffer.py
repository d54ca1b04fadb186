"""The console receive buffer: lines from bytes in any split."""

from __future__ import annotations

from device_io.simulator.line_buffer import LineBuffer


def test_lines_are_assembled_across_reads_byte_by_byte() -> None:
    buffer = LineBuffer(max_line=120)
    stream = b"AT+PVID?\r\nAT\r\n"

    lines = [line for byte in stream for line in buffer.feed(bytes([byte]))]

    assert lines == [b"AT+PVID?", b"AT"]


def test_cr_alone_or_lf_alone_ends_a_line_and_empty_lines_vanish() -> None:
    buffer = LineBuffer(max_line=120)

    assert buffer.feed(b"AT\rAT+PVCAP?\n\r\n\r\nAT+PV") == [b"AT", b"AT+PVCAP?"]
    assert buffer.feed(b"LOCK\r\n") == [b"AT+PVLOCK"]


def test_overlong_line_keeps_one_byte_past_the_limit() -> None:
    buffer = LineBuffer(max_line=10)

    first = buffer.feed(b"A" * 8)
    second = buffer.feed(b"B" * 5000 + b"\r\nAT\r\n")

    assert first == []
    assert second == [b"AAAAAAAABBB", b"AT"]


def test_clear_forgets_a_partial_line() -> None:
    buffer = LineBuffer(max_line=120)
    buffer.feed(b"AT+PVW=0,")

    buffer.clear()

    assert buffer.feed(b"AT\r\n") == [b"AT"]
