"""The console's receive buffer: bytes in, command lines out.

Like the Ameba console, the buffer has a fixed size. A line that outgrows it
keeps only its first ``max_line + 1`` bytes, enough for the firmware to see it
was too long and refuse it, and the rest is dropped up to the next line end.
Either CR or LF ends a line and empty lines are skipped, so the station's CRLF
and an operator's terminal sending a bare CR both work.
"""

from __future__ import annotations

import re

_LINE_END = re.compile(rb"[\r\n]")


class LineBuffer:
    """Assembles input lines from bytes as they arrive, in any split."""

    def __init__(self, max_line: int) -> None:
        """Create an empty buffer.

        Args:
            max_line: The console's line limit without the line end.
        """
        self._keep = max_line + 1
        self._partial = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Take in received bytes; return the lines they complete, in order."""
        *complete, rest = _LINE_END.split(data)
        lines: list[bytes] = []
        for piece in complete:
            line = bytes(self._partial) + piece
            self._partial.clear()
            if line:
                lines.append(line[: self._keep])
        self._hold(rest)
        return lines

    def clear(self) -> None:
        """Forget a partial line (the module rebooted)."""
        self._partial.clear()

    def _hold(self, rest: bytes) -> None:
        room = self._keep - len(self._partial)
        if room > 0:
            self._partial += rest[:room]
