"""One command, one reply: the PV link over a serial port.

A reply is zero or more ``+NAME:`` lines ended by ``OK`` or ``ERROR: <code>``
(DESIGN section 3). Around them the link drops what the firmware may add: the
echo of the command just sent, blank lines and whole ``[$]`` lines. Anything
else is noise, and the boot banner means the module reset mid-command. After
either, ``resync`` brings the stream back to a known boundary. A reply that
never comes from a port whose device node has gone is ``PortGone``, not a
timeout: the module was unplugged.

A command whose reply was cut short by a timeout or by noise may still be
running in the module, which then answers ``ERROR: 2`` (busy) to the resync.
That is not a failed sync: the resync waits for the module to finish, up to
the end of that command's own timeout, and then reports the command as not
finished in time (``ModuleBusy``).

Raw frames are logged at DEBUG only; errors say what was wrong with a reply
and which command it answered, never its bytes. A ``LinkTap`` given to the
link sees every byte it writes and every line it reads, in the order the link
takes them, so a transcript shows each command with the very lines the link
read as its reply (the conformance runner's report is made this way).
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Protocol

from device_io.errors import (
    DeviceError,
    LinkError,
    LinkNoise,
    LinkTimeout,
    ModuleBusy,
    ModuleError,
    ModuleReset,
    PortGone,
    PvErrorCode,
    describe_code,
)
from device_io.lines import MAX_LINE_BYTES, LineAssembler, frame_of
from device_io.pv import (
    BANNER,
    Final,
    InfoLine,
    cmd_sync,
    command_verb,
    describe_command,
    parse_line,
)
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
        busy_wait: Most seconds a resync waits for a module busy with a
            command this link did not leave unfinished (one a previous
            station started before it stopped).
        busy_poll: Seconds between two ``AT+PVSYNC`` to a busy module.
    """

    sync_timeout: float = 2.0
    sync_attempts: int = 5
    drain_quiet: float = 0.1
    drain_limit: float = 2.0
    line_limit: int = MAX_LINE_BYTES
    busy_wait: float = 2.0
    busy_poll: float = 0.25


class LinkTap(Protocol):
    """Sees the link's traffic as the link takes it, for a transcript."""

    def sent(self, data: bytes) -> None:
        """Bytes written to the module: a command line and CRLF, or a CRLF."""

    def heard(self, frame: bytes, *, drained: bool) -> None:
        """One line as received, with whatever line end it had.

        Args:
            frame: The line's bytes; an unfinished line has no line end.
            drained: True when the link read it only to discard it (a drain
                after noise, or a busy module's output), not as a reply.
        """


@dataclass(frozen=True)
class _Unfinished:
    """A command whose reply was cut short; the module may still run it."""

    verb: str
    timeout: float
    deadline: float


class Link:
    """Sends PV commands over an open port and collects their replies."""

    def __init__(
        self,
        port: SerialPort,
        settings: LinkSettings | None = None,
        *,
        tap: LinkTap | None = None,
    ) -> None:
        """Use ``port``, which stays owned by the caller.

        Args:
            port: The open port to the module.
            settings: Resynchronisation timing; the defaults by default.
            tap: Told of every byte written and line read, if given.
        """
        self.port = port
        self._settings = settings or LinkSettings()
        self._lines = LineAssembler(limit=self._settings.line_limit)
        self._tap = tap
        self._unfinished: _Unfinished | None = None

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
        deadline = time.monotonic() + timeout
        try:
            infos = self._exchange(line, deadline, timeout)
        except LinkNoise as exc:
            self._unfinished = _Unfinished(command_verb(line), timeout, deadline)
            raise LinkNoise(
                f"{exc.message}, in the reply to {command_verb(line)}",
                frame=exc.frame,
                port=self.port.path,
                slot=self.port.slot,
            ) from exc
        except DeviceError as exc:
            exc.with_context(port=self.port.path, slot=self.port.slot)
            self._unfinished = self._left_running(exc, line, deadline, timeout)
            raise
        self._unfinished = None
        return infos

    def resync(self) -> None:
        """Bring the stream back to a line boundary the module agrees on.

        Sends CRLF to end any half-received command, drains what the module
        is still sending, then sends ``AT+PVSYNC`` with a fresh value until the
        module echoes that same value. A module that answers busy is waited
        for (see the module docstring) without using up sync attempts.

        Raises:
            ModuleBusy: The module stayed busy past the wait.
            LinkError: The module did not echo the value within the attempts.
            PortError: The port failed.
        """
        unfinished = self._unfinished
        busy_until = self._busy_deadline(unfinished)
        last: DeviceError | None = None
        attempt = 0
        while attempt < self._settings.sync_attempts:
            try:
                self._sync_round()
            except ModuleBusy as exc:
                self._wait_for_busy(exc, busy_until, unfinished)
                continue
            except (LinkError, ModuleError) as exc:
                attempt += 1
                logger.debug(
                    "%s: sync attempt %d failed: %s", self.port.path, attempt, exc
                )
                last = exc
                continue
            self._unfinished = None
            logger.info("%s: resynchronised on attempt %d", self.port.path, attempt + 1)
            return
        raise LinkError(
            f"module did not echo AT+PVSYNC in {self._settings.sync_attempts} "
            f"attempts (last: {last.message if last else 'none'})",
            port=self.port.path,
            slot=self.port.slot,
        ) from last

    def drain(self) -> int:
        """Discard input until the line falls quiet; return the bytes dropped."""
        self._forget_held()
        dropped = 0
        limit = time.monotonic() + self._settings.drain_limit
        while time.monotonic() < limit:
            quiet_until = min(time.monotonic() + self._settings.drain_quiet, limit)
            data = self.port.read(quiet_until)
            if not data:
                break
            logger.debug("%s < (drained) %r", self.port.path, data)
            self._lines.feed(data)
            dropped += len(data)
        self._forget_held()
        return dropped

    def _left_running(
        self, exc: DeviceError, line: str, deadline: float, timeout: float
    ) -> _Unfinished | None:
        """The command the module may still be running after ``exc``."""
        if isinstance(exc, LinkTimeout):
            return _Unfinished(command_verb(line), timeout, deadline)
        if isinstance(exc, ModuleError) and exc.code is PvErrorCode.BUSY:
            # Refused because an earlier command is still running.
            return self._unfinished
        return None

    def _sync_round(self) -> None:
        """One CRLF, drain and ``AT+PVSYNC``.

        Raises:
            ModuleBusy: The module answered ``ERROR: 2``.
            LinkError: The reply was missing, damaged or did not carry the
                value sent.
            ModuleError: The module refused the sync otherwise.
        """
        self._write(b"\r\n")
        self.drain()
        token = secrets.token_hex(4)
        try:
            infos = self.command(cmd_sync(token), timeout=self._settings.sync_timeout)
        except ModuleError as exc:
            if exc.code is PvErrorCode.BUSY:
                raise ModuleBusy(exc.message) from exc
            raise
        if not any(info.name == "PVSYNC" and info.fields == (token,) for info in infos):
            raise LinkError("the reply did not carry the value sent")

    def _busy_deadline(self, unfinished: _Unfinished | None) -> float:
        """Until when a busy module is waited for in this resync."""
        if unfinished is not None:
            return unfinished.deadline
        return time.monotonic() + self._settings.busy_wait

    def _wait_for_busy(
        self, busy: ModuleBusy, until: float, unfinished: _Unfinished | None
    ) -> None:
        """Let a busy module work until the next sync round, or give up.

        Raises:
            ModuleBusy: ``until`` has passed; names the unfinished command.
        """
        now = time.monotonic()
        if now >= until:
            raise self._still_busy(unfinished) from busy
        logger.debug(
            "%s: module busy; waiting %.1f s more", self.port.path, until - now
        )
        self._discard_until(min(now + self._settings.busy_poll, until))

    def _still_busy(self, unfinished: _Unfinished | None) -> ModuleBusy:
        if unfinished is None:
            what = (
                f"the module stayed busy for {self._settings.busy_wait:g} s "
                "with a command this station did not send"
            )
        else:
            what = (
                f"{describe_command(unfinished.verb)} did not finish within "
                f"{unfinished.timeout:g} s: the module is still busy"
            )
        return ModuleBusy(
            f"{what} (it answers ERROR: 2 to AT+PVSYNC)",
            port=self.port.path,
            slot=self.port.slot,
        )

    def _discard_until(self, until: float) -> None:
        """Read and drop whatever arrives until ``until``."""
        while data := self.port.read(until):
            logger.debug("%s < (while busy) %r", self.port.path, data)
            self._lines.feed(data)
            if time.monotonic() >= until:
                break
        self._forget_held()

    def _forget_held(self) -> None:
        """Drop every byte held for a line; the tap hears them as drained."""
        for frame in self._lines.clear():
            if self._tap is not None:
                self._tap.heard(frame, drained=True)

    def _write(self, data: bytes) -> None:
        if self._tap is not None:
            self._tap.sent(data)
        self.port.write(data)

    def _exchange(self, line: str, deadline: float, timeout: float) -> list[InfoLine]:
        self._send(line)
        infos: list[InfoLine] = []
        echo_expected = True
        while (text := self._next_line(deadline)) is not None:
            if _ignored(text):
                continue
            if echo_expected and not infos and text == line:
                echo_expected = False
                continue
            if text == BANNER:
                raise ModuleReset(f"module reset during {command_verb(line)}")
            reply = parse_line(text)
            if isinstance(reply, Final):
                return _finish(reply, infos, line)
            infos.append(reply)
        raise self._timeout(line, timeout)

    def _send(self, line: str) -> None:
        logger.debug("%s > %s", self.port.path, line)
        self._write(line.encode("ascii") + b"\r\n")

    def _next_line(self, deadline: float) -> str | None:
        """The next complete line, or None once the deadline has passed."""
        while True:
            text = self._pop()
            if text is not None:
                logger.debug("%s < %s", self.port.path, text)
                return text
            data = self.port.read(deadline)
            if not data:
                return None
            self._lines.feed(data)

    def _pop(self) -> str | None:
        """The assembler's next line, which the tap hears as a reply line."""
        try:
            text = self._lines.pop()
        except LinkNoise as noise:
            if self._tap is not None:
                self._tap.heard(noise.frame, drained=False)
            raise
        if text is not None and self._tap is not None:
            self._tap.heard(frame_of(text), drained=False)
        return text

    def _timeout(self, line: str, timeout: float) -> LinkTimeout | PortGone:
        if not self.port.present():
            # A USB adapter pulled out can leave the open handle silent rather
            # than failing: the missing device node is what tells.
            return PortGone(
                f"no reply to {command_verb(line)} within {timeout} s and "
                f"{self.port.path} is gone"
            )
        unfinished = self._lines.pending
        tail = f"; {unfinished} bytes of an unfinished line" if unfinished else ""
        return LinkTimeout(
            f"no complete reply to {command_verb(line)} within {timeout} s{tail}",
            unfinished=unfinished,
        )


def _ignored(text: str) -> bool:
    """Blank lines and unsolicited ``[$]`` lines carry nothing for a reply."""
    return not text or text.startswith(UNSOLICITED_PREFIX)


def _finish(final: Final, infos: list[InfoLine], line: str) -> list[InfoLine]:
    if final.ok:
        return infos
    raise ModuleError(
        f"module answered ERROR: {final.code}{describe_code(final.code)} "
        f"to {command_verb(line)}",
        final.code,
    )
