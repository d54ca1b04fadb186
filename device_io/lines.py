"""Byte-level line assembly for the module link.

The module speaks printable ASCII lines ending in CRLF. The assembler turns the
raw byte stream into those lines and nothing else:

- only a complete CRLF-terminated line is ever handed out, so a read that stops
  short leaves its bytes waiting here instead of becoming a partial line;
- a line holding anything but printable ASCII, or ending in a bare LF, is noise;
- memory is bounded: a line that grows past the limit is reported as noise once
  and its bytes are dropped up to the next line end, however long it runs.

Noise says what was wrong with a line and how long it was; the bytes
themselves are logged at DEBUG only, like every other raw frame, and kept on
the noise (``LinkNoise.frame``) for a transcript such as the conformance
runner's.
"""

from __future__ import annotations

import logging
from collections import deque

from device_io.errors import LinkNoise

logger = logging.getLogger(__name__)

MAX_LINE_BYTES = 4096
_PRINTABLE = bytes(range(0x20, 0x7F))
# How much of a noisy line the debug log quotes.
_QUOTE_BYTES = 60


class LineAssembler:
    """Assembles CRLF-terminated ASCII lines from bytes as they arrive.

    Feed it whatever the port returned, then pop lines until it has none.
    Noise is raised from ``pop`` at the place in the stream where it occurred;
    the lines after it are still returned by later calls.
    """

    def __init__(self, *, limit: int = MAX_LINE_BYTES) -> None:
        """Create an empty assembler.

        Args:
            limit: Longest line accepted, in bytes without the CRLF.
        """
        if limit < 1:
            raise ValueError("line limit must be positive")
        self._limit = limit
        self._partial = bytearray()
        self._dropping = False
        self._ready: deque[str | LinkNoise] = deque()

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held back, waiting for its CRLF."""
        return len(self._partial)

    def feed(self, data: bytes) -> None:
        """Take in bytes read from the port."""
        *complete, rest = data.split(b"\n")
        for segment in complete:
            self._finish(segment)
        self._hold(rest)

    def pop(self) -> str | None:
        """The next complete line without its CRLF, or None when there is none.

        Raises:
            LinkNoise: The next thing in the stream is not a well-formed line.
        """
        if not self._ready:
            return None
        item = self._ready.popleft()
        if isinstance(item, LinkNoise):
            raise item
        return item

    def clear(self) -> list[bytes]:
        """Forget every byte and line received so far.

        Returns:
            What was forgotten, as received: each complete line with its line
            end, then the bytes of an unfinished line, if any.
        """
        forgotten = [_frame(item) for item in self._ready]
        if self._partial:
            forgotten.append(bytes(self._partial))
        self._partial.clear()
        self._dropping = False
        self._ready.clear()
        return forgotten

    def _finish(self, segment: bytes) -> None:
        if self._dropping:
            # The overlong line was reported when it crossed the limit.
            self._dropping = False
            return
        raw = bytes(self._partial) + segment
        self._partial.clear()
        self._ready.append(_decode(raw + b"\n", self._limit))

    def _hold(self, rest: bytes) -> None:
        if self._dropping:
            return
        if len(self._partial) + len(rest) > self._limit + 1:
            head = (bytes(self._partial) + rest)[: self._limit + 1]
            self._partial.clear()
            self._dropping = True
            self._ready.append(
                _noise(
                    f"line longer than {self._limit} bytes, dropped to its end", head
                )
            )
            return
        self._partial += rest


def frame_of(line: str) -> bytes:
    """A well-formed line as it arrived: its bytes and CRLF."""
    return line.encode("ascii") + b"\r\n"


def _frame(item: str | LinkNoise) -> bytes:
    return item.frame if isinstance(item, LinkNoise) else frame_of(item)


def _decode(raw: bytes, limit: int) -> str | LinkNoise:
    """One line, LF included: its text without CRLF, or the noise it is."""
    if not raw.endswith(b"\r\n"):
        return _noise(f"line of {len(raw) - 1} bytes not ended by CRLF", raw)
    body = raw[:-2]
    if len(body) > limit:
        return _noise(f"line of {len(body)} bytes, longer than {limit} bytes", raw)
    if strange := len(body.translate(None, _PRINTABLE)):
        return _noise(
            f"line of {len(body)} bytes with {strange} non-printable or non-ASCII "
            f"byte{'s' if strange > 1 else ''}",
            raw,
        )
    return body.decode("ascii")


def _noise(what: str, raw: bytes) -> LinkNoise:
    """Noise that says ``what``; the bytes go to the debug log and the frame."""
    logger.debug("noise, %s: %r", what, raw[:_QUOTE_BYTES])
    return LinkNoise(what, frame=raw)
