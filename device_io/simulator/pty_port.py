"""One simulated module on a pseudo-terminal, served by its own thread.

The station opens the pty's slave side as it would a USB-serial port; the
module sits on the master side. The slave is made raw as soon as the pty
exists, or a banner written before the station opens the port would be echoed
back and CR would arrive as LF. A stable link name (a symlink) points at the
current slave, so that after an unplug the new pty appears under the same name.

The thread waits in ``select`` on the master and a wake pipe, so an idle module
costs nothing; while it transmits it wakes once per burst of the UART pacer.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import selectors
import threading
import time
import tty
from enum import Enum
from pathlib import Path

from device_io.errors import PvErrorCode
from device_io.simulator.command import command_name
from device_io.simulator.errors import PortSetupError
from device_io.simulator.firmware import Firmware, Reply
from device_io.simulator.line_buffer import LineBuffer
from device_io.simulator.link_faults import LinkEvent, LinkFaults
from device_io.simulator.pacing import UartPacer

logger = logging.getLogger(__name__)

CRLF = b"\r\n"
READ_SIZE = 4096
DEFAULT_REPLUG_DELAY = 0.5


class _Request(Enum):
    STOP = "stop"
    RESET = "reset"
    UNPLUG = "unplug"
    REPLUG = "replug"


class PtyPort:
    """A module's UART: a pty, its link name, pacing, faults and firmware."""

    def __init__(
        self,
        *,
        slot: int,
        firmware: Firmware,
        link: Path,
        baud: int,
        faults: LinkFaults,
    ) -> None:
        """Prepare the port; nothing is opened until ``start``.

        Args:
            slot: The fixture slot, 1-based, for logs.
            firmware: The module behind the port.
            link: The stable name to point at the pty (a symlink).
            baud: Line rate used to pace the module's output.
            faults: The module's link faults.
        """
        self.slot = slot
        self.firmware = firmware
        self.link = link
        self._faults = faults
        self._pacer = UartPacer(baud)
        self._rx = LineBuffer(firmware.limits.max_line)
        self._tx = bytearray()
        self._held: bytes | None = None
        self._held_until = 0.0
        self._replug_at: float | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._path: str | None = None
        self._requests: queue.SimpleQueue[tuple[_Request, float | None]] = (
            queue.SimpleQueue()
        )
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_read, selectors.EVENT_READ)
        self._stopped = False
        self._thread = threading.Thread(
            target=self._serve, name=f"module-slot-{slot}", daemon=True
        )

    @property
    def path(self) -> str | None:
        """The pty slave the station opens, or None while unplugged."""
        return self._path

    def start(self) -> None:
        """Plug the module in: make its pty and link, boot, and serve.

        Raises:
            PortSetupError: The pty or the link cannot be made.
        """
        self._plug(time.monotonic())
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close the pty and remove the link; waits for the thread.

        Safe to call more than once, and after a failed ``start``.
        """
        if self._stopped:
            return
        self._stopped = True
        if self._thread.is_alive():
            self._request(_Request.STOP)
            self._thread.join()
        self._unplug_now()
        self._selector.close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def reset(self) -> None:
        """Press the module's reset button: staged data is lost, banner printed."""
        self._request(_Request.RESET)

    def unplug(self, replug_after: float | None = DEFAULT_REPLUG_DELAY) -> None:
        """Pull the module out; plug it back after ``replug_after`` seconds.

        Args:
            replug_after: Seconds until a new pty appears under the same link
                name, or None to leave it unplugged until stopped.
        """
        self._request(_Request.UNPLUG, replug_after)

    def replug(self) -> None:
        """Plug an unplugged module back in now; a plugged one is left alone."""
        self._request(_Request.REPLUG)

    def _request(self, request: _Request, argument: float | None = None) -> None:
        self._requests.put((request, argument))
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_write, b"!")

    # --- the serving thread ------------------------------------------------

    def _serve(self) -> None:
        try:
            while self._serve_once():
                pass
        except Exception:
            logger.exception("slot %d: module thread failed", self.slot)

    def _serve_once(self) -> bool:
        now = time.monotonic()
        self._run_timers(now)
        self._transmit(now)
        for key, events in self._selector.select(self._timeout(time.monotonic())):
            if key.fd == self._wake_read and not self._take_requests():
                return False
            if key.fd == self._master and events & selectors.EVENT_READ:
                self._receive()
            if key.fd == self._master and events & selectors.EVENT_WRITE:
                self._transmit(time.monotonic())
        return True

    def _take_requests(self) -> bool:
        """Handle requests from other threads; False when told to stop."""
        with contextlib.suppress(BlockingIOError):
            os.read(self._wake_read, READ_SIZE)
        while not self._requests.empty():
            request, argument = self._requests.get()
            if request is _Request.STOP:
                return False
            if request is _Request.RESET:
                self._reboot()
            elif request is _Request.UNPLUG:
                self._unplug_for(argument)
            elif request is _Request.REPLUG and self._master is None:
                self._replug_at = None
                self._plug(time.monotonic())
        return True

    def _run_timers(self, now: float) -> None:
        if self._held is not None and now >= self._held_until:
            held, self._held = self._held, None
            self._queue(held, now)
        if self._replug_at is not None and now >= self._replug_at:
            self._replug_at = None
            self._plug(now)

    def _timeout(self, now: float) -> float | None:
        deadlines = [
            deadline
            for deadline in (
                self._held_until if self._held is not None else None,
                self._replug_at,
                self._next_release(),
            )
            if deadline is not None
        ]
        return max(0.0, min(deadlines) - now) if deadlines else None

    def _next_release(self) -> float | None:
        if not self._tx or self._master is None or self._write_blocked():
            return None
        return self._pacer.next_release(len(self._tx))

    # --- receiving ---------------------------------------------------------

    def _receive(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            logger.warning("slot %d: read from the pty failed: %s", self.slot, exc)
            return
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("slot %d rx %r", self.slot, data)
        for line in self._rx.feed(self._faults.inbound(data)):
            if not self._on_line(line, time.monotonic()):
                break

    def _on_line(self, line: bytes, now: float) -> bool:
        """Run one line; False when the module went away doing it."""
        name = command_name(line)
        event = self._faults.trigger(name)
        if event is LinkEvent.RESET:
            logger.info("slot %d: fault: reset on AT+%s", self.slot, name)
            self._reboot()
            return False
        if event is LinkEvent.UNPLUG:
            logger.info("slot %d: fault: unplugged on AT+%s", self.slot, name)
            self._unplug_for(DEFAULT_REPLUG_DELAY)
            return False

        self._queue(self._lines(self._faults.echo(line)), now)
        if self._held is not None:
            self._queue(self._reply(Reply.error(PvErrorCode.BUSY)), now)
            return True
        reply = self.firmware.handle(line)
        if reply.delay > 0:
            self._held, self._held_until = self._reply(reply), now + reply.delay
        else:
            self._queue(self._reply(reply), now)
        return True

    def _reply(self, reply: Reply) -> bytes:
        lines = [line.encode("ascii") for line in reply.lines]
        return self._lines(self._faults.shape(lines))

    @staticmethod
    def _lines(lines: list[bytes]) -> bytes:
        return b"".join(line + CRLF for line in lines)

    # --- transmitting ------------------------------------------------------

    def _queue(self, data: bytes, now: float) -> None:
        if not data or self._master is None:
            return
        if not self._tx:
            self._pacer.start(now)
        self._tx += self._faults.outbound(data)

    def _transmit(self, now: float) -> None:
        if not self._tx or self._master is None:
            return
        count = min(self._pacer.due(now), len(self._tx))
        if count == 0:
            return
        try:
            written = os.write(self._master, self._tx[:count])
        except BlockingIOError:
            written = 0
        except OSError as exc:
            logger.warning("slot %d: write to the pty failed: %s", self.slot, exc)
            written = len(self._tx)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("slot %d tx %r", self.slot, bytes(self._tx[:written]))
        self._pacer.released(written)
        del self._tx[:written]
        self._watch_writable(written < count)

    def _watch_writable(self, blocked: bool) -> None:
        """Wait for the station to read before sending more, when it lags."""
        assert self._master is not None
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if blocked else 0)
        if self._selector.get_key(self._master).events != events:
            self._selector.modify(self._master, events)

    def _write_blocked(self) -> bool:
        assert self._master is not None
        return bool(self._selector.get_key(self._master).events & selectors.EVENT_WRITE)

    # --- power and plugging ------------------------------------------------

    def _reboot(self) -> None:
        # The reset cuts the transmitter off mid-reply and clears RAM.
        self._tx.clear()
        self._held = None
        self._rx.clear()
        self._queue(self._reply(self.firmware.boot()), time.monotonic())

    def _unplug_for(self, replug_after: float | None) -> None:
        self._unplug_now()
        self._held = None
        self._tx.clear()
        self._rx.clear()
        if replug_after is not None:
            self._replug_at = time.monotonic() + replug_after

    def _plug(self, now: float) -> None:
        try:
            master, slave = os.openpty()
        except OSError as exc:
            raise PortSetupError(f"slot {self.slot}: cannot open a pty: {exc}") from exc
        try:
            tty.setraw(slave)
            path = os.ttyname(slave)
            _point_link(self.link, path)
        except (OSError, PortSetupError) as exc:
            os.close(master)
            os.close(slave)
            raise PortSetupError(f"slot {self.slot}: {exc}") from exc
        os.set_blocking(master, False)
        self._master, self._slave, self._path = master, slave, path
        self._selector.register(master, selectors.EVENT_READ)
        logger.info("slot %d: module on %s (link %s)", self.slot, self._path, self.link)
        self._reboot()

    def _unplug_now(self) -> None:
        if self._master is None:
            return
        self._selector.unregister(self._master)
        # Leave the link alone if another process has taken the name over.
        with contextlib.suppress(OSError):
            if os.readlink(self.link) == self._path:
                self.link.unlink()
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = self._path = None
        logger.info("slot %d: module unplugged", self.slot)


def _point_link(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` atomically, replacing a stale link."""
    temporary = link.with_name(f".{link.name}.new")
    try:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        os.symlink(target, temporary)
        os.replace(temporary, link)
    except OSError as exc:
        raise PortSetupError(f"cannot point {link} at {target}: {exc}") from exc
