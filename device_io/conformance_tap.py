"""The lines a conformance run exchanges with the module, kept for its report.

A firmware engineer reading a failed check needs the command that was sent and
the reply lines exactly as the module sent them: the echo, ``[$]`` lines, a
stray byte. The ``Recorder`` is the tap of the run's ``Link`` (the station's
own link layer, as in production): it hears every line in the order the link
takes it, so each command's exchange holds the very lines the link read as
its reply, and the exchange a check failed on is the last one it recorded.
Lines read only to be discarded (a drain after noise) are kept apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CRLF = b"\r\n"


@dataclass
class Exchange:
    """One write to the module and the lines the link read after it.

    Attributes:
        sent: The bytes written (a command line with its CRLF, or a CRLF).
        reply: The lines the link read as the reply, as received, line ends
            included.
        drained: Lines read afterwards only to be discarded, as received.
    """

    sent: bytes
    reply: list[bytes] = field(default_factory=list)
    drained: list[bytes] = field(default_factory=list)

    @property
    def command(self) -> str:
        """The line sent, without its line end, printable."""
        return printable(self.sent.removesuffix(CRLF))

    def reply_lines(self) -> list[bytes]:
        """Every line read, reply then drained, each without its CRLF."""
        return [line.removesuffix(CRLF) for line in (*self.reply, *self.drained)]


class Recorder:
    """The exchanges since the last ``clear``, oldest first; a ``LinkTap``."""

    def __init__(self) -> None:
        """Start with nothing recorded."""
        self.exchanges: list[Exchange] = []

    def sent(self, data: bytes) -> None:
        """A write opens a new exchange."""
        self.exchanges.append(Exchange(data))

    def heard(self, frame: bytes, *, drained: bool) -> None:
        """A line the link read belongs to the exchange of the last write."""
        if not self.exchanges:
            # Lines that were waiting before the first write (a boot banner).
            self.exchanges.append(Exchange(b""))
        exchange = self.exchanges[-1]
        (exchange.drained if drained else exchange.reply).append(frame)

    def clear(self) -> None:
        """Forget every exchange (a new check starts)."""
        self.exchanges.clear()

    def last(self) -> Exchange | None:
        """The exchange of the last write, if any."""
        return self.exchanges[-1] if self.exchanges else None


def printable(data: bytes) -> str:
    """Bytes as printable text: CR, LF and other non-printables as escapes."""
    return repr(data)[2:-1]
