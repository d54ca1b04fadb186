"""One command, one reply: the PV link over a serial port.

A reply is zero or more ``+NAME:`` lines ended by ``OK`` or ``ERROR: <code>``
(DESIGN section 3). Around them the link drops what the firmware may add: the
echo of the command just sent, blank lines and whole ``[$]`` lines. Anything
else is noise, and the boot banner means the module reset mid-command. After
either, ``resync`` brings the stream back to a known boundary. A reply that
never comes from a port whose device node has gone is ``PortGone``, not a
timeout: the module was unplugged.

Raw frames are logged at DEBUG only.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass

from device_io.errors import (
    DeviceError,
    LinkError,
    LinkTimeout,
    ModuleError,
    ModuleReset,
    PortGone,
    describe_code,
)
from device_io.lines import MAX_LINE_BYTES, LineAssembler
from device_io.pv import BANNER, Final, InfoLine, cmd_sync, parse_line
from device_io.serial_port import SerialPort

logger = logging.getLogger(__name__)

UNSOLICITED_PREFIX = "[$]"


@dataclass(frozen=True, kw_only=True)
class LinkSettings:
    """Timing of resynchronisation.

    Attributes:
        sync_timeout: Seconds to wait for the reply to one ``AT+PVSYNC``.
        sync_attempts: ``AT+PVSYNC`` rounds before the module counts as mute.
        drain_quiet: Seconds of silence that mark the line as drained.
        drain_limit: Most seconds spent draining before a sync round goes on
            regardless (a module streaming garbage never falls quiet).
        line_limit: Longest line accepted from the module, in bytes.
    """

    sync_timeout: float = 2.0
    sync_attempts: int = 5
    drain_quiet: float = 0.1
    drain_limit: float = 2.0
    line_limit: int = MAX_LINE_BYTES


class Link:
    """Sends PV commands over an open port and collects their replies."""

    def __init__(self, port: SerialPort, settings: LinkSettings | None = None) -> None:
        """Use ``port``, which stays owned by the caller."""
        self.port = port
        self._settings = settings or LinkSettings()
        self._lines = LineAssembler(limit=self._settings.line_limit)

    def command(self, line: str, *, timeout: float) -> list[InfoLine]:
        """Send one command line and return the ``+NAME:`` lines of its reply.

        Args:
            line: The command, without CRLF.
            timeout: Seconds to wait for the final ``OK`` or ``ERROR``.

        Raises:
            ModuleError: The module answered ``ERROR: <code>``.
            ModuleReset: The boot banner arrived before the reply ended.
            LinkNoise: A line that belongs to no reply arrived.
            LinkTimeout: No final line arrived within ``timeout``.
            PortGone: The port failed, or no final line arrived and the
                port's device node is gone.
        """
        try:
            return self._exchange(line, timeout)
        except DeviceError as exc:
            exc.with_context(port=self.port.path, slot=self.port.slot)
            raise

    def resync(self) -> None:
        """Bring the stream back to a line boundary the module agrees on.

        Sends CRLF to end any half-received command, drains what the module
        is still sending, then sends ``AT+PVSYNC`` with a fresh value until the
        module echoes that same value.

        Raises:
            LinkError: The module did not echo the value within the attempts.
            PortError: The port failed.
        """
        last: DeviceError | None = None
        why = ""
        for attempt in range(1, self._settings.sync_attempts + 1):
            self.port.write(b"\r\n")
            self.drain()
            token = secrets.token_hex(4)
            try:
                infos = self.command(
                    cmd_sync(token), timeout=self._settings.sync_timeout
                )
            except (LinkError, ModuleError) as exc:
                logger.debug(
                    "%s: sync attempt %d failed: %s", self.port.path, attempt, exc
                )
                last, why = exc, exc.message
                continue
            if any(info.name == "PVSYNC" and info.fields == (token,) for info in infos):
                logger.info("%s: resynchronised on attempt %d", self.port.path, attempt)
                return
            why = "the reply did not carry the value sent"
        raise LinkError(
            f"module did not echo AT+PVSYNC in {self._settings.sync_attempts} "
            f"attempts (last: {why})",
            port=self.port.path,
            slot=self.port.slot,
        ) from last

    def drain(self) -> int:
        """Discard input until the line falls quiet; return the bytes dropped."""
        self._lines.clear()
        dropped = 0
        limit = time.monotonic() + self._settings.drain_limit
        while time.monotonic() < limit:
            quiet_until = min(time.monotonic() + self._settings.drain_quiet, limit)
            data = self.port.read(quiet_until)
            if not data:
                break
            logger.debug("%s < (drained) %r", self.port.path, data)
            dropped += len(data)
        return dropped

    def _exchange(self, line: str, timeout: float) -> list[InfoLine]:
        self._send(line)
        deadline = time.monotonic() + timeout
        infos: list[InfoLine] = []
        echo_expected = True
        while (text := self._next_line(deadline)) is not None:
            if _ignored(text):
                continue
            if echo_expected and not infos and text == line:
                echo_expected = False
                continue
            if text == BANNER:
                raise ModuleReset(f"module reset during {_verb(line)}")
            reply = parse_line(text)
            if isinstance(reply, Final):
                return _finish(reply, infos, line)
            infos.append(reply)
        raise self._timeout(line, timeout)

    def _send(self, line: str) -> None:
        logger.debug("%s > %s", self.port.path, line)
        self.port.write(line.encode("ascii") + b"\r\n")

    def _next_line(self, deadline: float) -> str | None:
        """The next complete line, or None once the deadline has passed."""
        while True:
            text = self._lines.pop()
            if text is not None:
                logger.debug("%s < %s", self.port.path, text)
                return text
            data = self.port.read(deadline)
            if not data:
                return None
            self._lines.feed(data)

    def _timeout(self, line: str, timeout: float) -> LinkTimeout | PortGone:
        if not self.port.present():
            # A USB adapter pulled out can leave the open handle silent rather
            # than failing: the missing device node is what tells.
            return PortGone(
                f"no reply to {_verb(line)} within {timeout} s and "
                f"{self.port.path} is gone"
            )
        unfinished = self._lines.pending
        tail = f"; {unfinished} bytes of an unfinished line" if unfinished else ""
        return LinkTimeout(
            f"no complete reply to {_verb(line)} within {timeout} s{tail}"
        )


def _ignored(text: str) -> bool:
    """Blank lines and unsolicited ``[$]`` lines carry nothing for a reply."""
    return not text or text.startswith(UNSOLICITED_PREFIX)


def _finish(final: Final, infos: list[InfoLine], line: str) -> list[InfoLine]:
    if final.ok:
        return infos
    raise ModuleError(
        f"module answered ERROR: {final.code}{describe_code(final.code)} "
        f"to {_verb(line)}",
        final.code,
    )


def _verb(line: str) -> str:
    """The command name of a command line, for messages (no payloads)."""
    return line.split("=", 1)[0]
