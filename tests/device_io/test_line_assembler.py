"""Line assembly: whole CRLF lines only, noise named, memory bounded."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_io.errors import LinkNoise
from device_io.lines import MAX_LINE_BYTES, LineAssembler

line_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200)


def pop_all(assembler: LineAssembler) -> list[str | LinkNoise]:
    """Every line and noise event the assembler holds, in stream order."""
    events: list[str | LinkNoise] = []
    while True:
        try:
            line = assembler.pop()
        except LinkNoise as noise:
            events.append(noise)
            continue
        if line is None:
            return events
        events.append(line)


def feed_in_pieces(
    assembler: LineAssembler, data: bytes, cuts: list[int]
) -> list[str | LinkNoise]:
    events: list[str | LinkNoise] = []
    start = 0
    for cut in sorted(cut % (len(data) + 1) for cut in cuts):
        assembler.feed(data[start:cut])
        events += pop_all(assembler)
        start = max(start, cut)
    assembler.feed(data[start:])
    return events + pop_all(assembler)


@given(st.lists(line_text), st.lists(st.integers(min_value=0)))
def test_lines_come_back_whole_however_the_bytes_are_split(
    lines: list[str], cuts: list[int]
) -> None:
    data = "".join(f"{line}\r\n" for line in lines).encode("ascii")

    assert feed_in_pieces(LineAssembler(), data, cuts) == lines


@given(st.binary(), st.lists(st.integers(min_value=0), max_size=20))
def test_arbitrary_bytes_yield_only_lines_or_link_noise(
    data: bytes, cuts: list[int]
) -> None:
    assembler = LineAssembler(limit=64)

    events = feed_in_pieces(assembler, data, cuts)

    assert all(isinstance(event, str | LinkNoise) for event in events)
    assert all(
        len(event) <= 64 and event.isascii() and event.isprintable()
        for event in events
        if isinstance(event, str)
    )
    assert assembler.pending <= 65


def test_an_unfinished_line_is_held_back_not_returned() -> None:
    assembler = LineAssembler()

    assembler.feed(b"+PVW:6")

    assert assembler.pop() is None
    assert assembler.pending == 6
    assembler.feed(b"0\r\n")
    assert assembler.pop() == "+PVW:60"


def test_an_endless_line_is_reported_once_and_memory_stays_bounded() -> None:
    assembler = LineAssembler()
    block = b"A" * 4096
    noise: list[LinkNoise] = []

    for _ in range(1024):  # 4 MiB without a line end
        assembler.feed(block)
        noise += [event for event in pop_all(assembler) if isinstance(event, LinkNoise)]
        assert assembler.pending <= MAX_LINE_BYTES + 1

    assembler.feed(b"tail of the endless line\r\nOK\r\n")
    assert pop_all(assembler) == ["OK"]
    assert len(noise) == 1
    assert "longer than 4096 bytes" in str(noise[0])


def test_a_line_of_exactly_the_limit_is_accepted_and_one_more_byte_is_noise() -> None:
    assembler = LineAssembler(limit=10)

    assembler.feed(b"0123456789\r\n01234567890\r\nOK\r\n")

    events = pop_all(assembler)
    assert events[0] == "0123456789"
    assert isinstance(events[1], LinkNoise)
    assert events[2:] == ["OK"]


@pytest.mark.parametrize(
    ("stream", "why"),
    [
        (b"+PVID:\xff\xfe\r\n", "non-printable or non-ASCII"),
        (b"OK\x00\r\n", "non-printable or non-ASCII"),
        (b"O\rK\r\n", "non-printable or non-ASCII"),
        (b"OK\n", "not ended by CRLF"),
    ],
)
def test_a_malformed_line_is_noise_and_the_next_line_still_arrives(
    stream: bytes, why: str
) -> None:
    assembler = LineAssembler()

    assembler.feed(stream + b"OK\r\n")

    with pytest.raises(LinkNoise, match=why):
        assembler.pop()
    assert assembler.pop() == "OK"


def test_clear_forgets_held_bytes_and_lines_and_returns_them_as_received() -> None:
    assembler = LineAssembler()
    assembler.feed(b"OK\r\nERR\xffOR\r\nbare\nhalf a li")

    forgotten = assembler.clear()

    assert forgotten == [b"OK\r\n", b"ERR\xffOR\r\n", b"bare\n", b"half a li"]
    assert assembler.pop() is None
    assert assembler.pending == 0


@pytest.mark.parametrize(
    ("stream", "why"),
    [
        (b"+PVREAD:CSR,1\xb80,ZQXJ\r\n", "line of 20 bytes with 1 non-printable"),
        (b"+PVREAD:CSR,10,ZQXJ\n", "line of 19 bytes not ended by CRLF"),
        (b"+PVREAD:CSR,10,ZQXJ" + b"A" * 100 + b"\r\n", "longer than 64 bytes"),
    ],
)
def test_noise_says_what_was_wrong_and_leaves_the_bytes_to_debug_logging(
    stream: bytes, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    assembler = LineAssembler(limit=64)

    with caplog.at_level(logging.DEBUG, logger="device_io"):
        assembler.feed(stream)
        with pytest.raises(LinkNoise) as caught:
            assembler.pop()

    assert why in caught.value.message
    assert "ZQXJ" not in caught.value.message
    frames = [r for r in caplog.records if "ZQXJ" in r.getMessage()]
    assert frames
    assert all(record.levelno == logging.DEBUG for record in frames)
