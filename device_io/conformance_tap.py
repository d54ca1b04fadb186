"""The bytes a conformance run exchanges with the module, kept for its report.

A firmware engineer reading a failed check needs the command that was sent and
the reply lines exactly as the module sent them: the echo, ``[$]`` lines, a
stray byte. ``RecordingPort`` is the station's own serial port with a tap on
both directions, so the run goes through the same link layer as production
and still sees the raw frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from device_io.serial_port import PortSettings, SerialPort

CRLF = b"\r\n"


@dataclass
class Exchange:
    """One write to the module and every byte read until the next write.

    Attributes:
        sent: The bytes written (a command line with its CRLF).
        received: The bytes read afterwards, as they arrived.
    """

    sent: bytes
    received: bytearray = field(default_factory=bytearray)

    @property
    def command(self) -> str:
        """The line sent, without its line end, printable."""
        return printable(self.sent.removesuffix(CRLF))

    def reply_lines(self) -> list[bytes]:
        """The received bytes cut at CRLF; an unfinished tail is kept as is."""
        lines = bytes(self.received).split(CRLF)
        if lines and not lines[-1]:
            lines.pop()
        return lines


class Recorder:
    """The exchanges since the last ``clear``, oldest first."""

    def __init__(self) -> None:
        """Start with nothing recorded."""
        self.exchanges: list[Exchange] = []

    def sent(self, data: bytes) -> None:
        """A write opens a new exchange."""
        self.exchanges.append(Exchange(data))

    def received(self, data: bytes) -> None:
        """Bytes read belong to the exchange of the last write."""
        if not data:
            return
        if not self.exchanges:
            # Bytes that were waiting before the first write (a boot banner).
            self.exchanges.append(Exchange(b""))
        self.exchanges[-1].received += data

    def clear(self) -> None:
        """Forget every exchange (a new check starts)."""
        self.exchanges.clear()

    def last(self) -> Exchange | None:
        """The exchange of the last write, if any."""
        return self.exchanges[-1] if self.exchanges else None


class RecordingPort(SerialPort):
    """A serial port that records every byte it carries.

    Open it with ``RecordingPort.open`` like any ``SerialPort``.
    """

    _recorder: Recorder | None = None

    @classmethod
    def open(
        cls,
        path: str,
        *,
        slot: str | None = None,
        settings: PortSettings | None = None,
    ) -> RecordingPort:
        """Open ``path`` as ``SerialPort.open`` does, with the tap on it."""
        port = super().open(path, slot=slot, settings=settings)
        if not isinstance(port, RecordingPort):
            raise TypeError(f"SerialPort.open made a {type(port).__name__}")
        return port

    @property
    def recorder(self) -> Recorder:
        """The exchanges this port has carried since the recorder was cleared."""
        if self._recorder is None:
            self._recorder = Recorder()
        return self._recorder

    def write(self, data: bytes) -> None:
        """Record, then write, all of ``data`` (see ``SerialPort.write``)."""
        self.recorder.sent(data)
        super().write(data)

    def read(self, deadline: float) -> bytes:
        """Read as ``SerialPort.read`` does, and record what arrived."""
        data = super().read(deadline)
        self.recorder.received(data)
        return data


def printable(data: bytes) -> str:
    """Bytes as printable text: CR, LF and other non-printables as escapes."""
    return repr(data)[2:-1]
