"""Serial ports to modules: open, read, write and discovery.

This is the one module that talks to pyserial. Its exceptions become the
package's own here, each naming the port and the fixture slot:

- ``PortNotFound``: no such device node (or the node has no device behind it);
- ``PortBusy``: another process holds the port (the exclusive lock is taken);
- ``PortGone``: the port failed while in use, typically an unplugged adapter,
  or it did not come back within the wait after one;
- ``LinkTimeout``: a write could not finish within the write timeout.

A module that is unplugged and seated again comes back on a new device node
(``ttyUSB3`` may return as ``ttyUSB4``), so a port is reopened by its stable
name, a udev link such as ``/dev/provision/slot-3``: ``SerialPort.reopen``
waits for that name to lead to a port again.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import time
from dataclasses import dataclass
from types import TracebackType

import serial

from device_io.errors import LinkTimeout, PortBusy, PortError, PortGone, PortNotFound

logger = logging.getLogger(__name__)

BAUDRATE = 115200
# Most bytes taken from the driver in one read; a full line is far shorter.
READ_SIZE = 4096
_NOT_FOUND = {errno.ENOENT, errno.ENODEV, errno.ENXIO}
_BUSY = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EBUSY}
# How often a port that went away is looked for again. Re-enumeration after a
# replug takes tenths of a second; polling faster would only burn CPU.
REOPEN_POLL = 0.05


@dataclass(frozen=True, kw_only=True)
class PortSettings:
    """How a module's port is opened.

    Attributes:
        baudrate: Line speed; the module console runs 8N1 without flow control.
        write_timeout: Seconds a write may take before it counts as stuck.
        dtr: DTR level, applied before the port opens.
        rts: RTS level, applied before the port opens.
    """

    baudrate: int = BAUDRATE
    write_timeout: float = 2.0
    # Many USB-serial adapters wire DTR and RTS to the module's reset and boot
    # pins: both stay released so that opening the port does not reset it.
    dtr: bool = False
    rts: bool = False


class SerialPort:
    """An open, exclusively held serial port to one module.

    Use ``SerialPort.open``; close it with ``close`` or a ``with`` block.
    """

    def __init__(self, handle: serial.Serial, *, path: str, slot: str | None) -> None:
        """Wrap a pyserial handle that is already open; see ``open``."""
        self._handle = handle
        self.path = path
        self.slot = slot
        # The device the name led to when opened: a replugged module appears
        # as another device under the same stable name.
        self._device = os.fstat(handle.fileno()).st_rdev

    @classmethod
    def open(
        cls,
        path: str,
        *,
        slot: str | None = None,
        settings: PortSettings | None = None,
    ) -> SerialPort:
        """Open ``path`` exclusively, 8N1 without flow control.

        Args:
            path: Device path of the port.
            slot: Fixture slot name, carried into every error.
            settings: Line speed, write timeout and modem lines.

        Raises:
            PortNotFound: There is no such device.
            PortBusy: Another process holds the port.
            PortError: The port exists but cannot be opened as a serial port.
        """
        settings = settings or PortSettings()
        handle = _configured(path, settings)
        try:
            handle.open()
        except OSError as exc:
            raise _open_error(exc, path=path, slot=slot) from exc
        logger.info("opened %s for slot %s", path, slot)
        return cls(handle, path=path, slot=slot)

    @classmethod
    def reopen(
        cls,
        path: str,
        *,
        slot: str | None = None,
        settings: PortSettings | None = None,
        wait: float,
    ) -> SerialPort:
        """Open ``path`` once it leads to a port again, waiting up to ``wait`` s.

        For a port that went away (an unplugged module): its stable name
        disappears, or leads nowhere, until the module is seated again.

        Args:
            path: The port's stable name.
            slot: Fixture slot name, carried into every error.
            settings: Line speed, write timeout and modem lines.
            wait: Seconds to wait for the port; 0 tries once.

        Raises:
            PortGone: Nothing could be opened at ``path`` within ``wait``.
            PortBusy: The port came back but another process holds it.
        """
        deadline = time.monotonic() + wait
        while True:
            try:
                return cls.open(path, slot=slot, settings=settings)
            except PortBusy:
                # Another process holds the port that came back; it may let go
                # within the wait.
                if time.monotonic() >= deadline:
                    raise
            except PortError as exc:
                # No node yet, or a node whose device is not ready yet.
                if time.monotonic() >= deadline:
                    raise _not_back(exc, wait) from exc
                logger.debug("%s not back yet: %s", path, exc.message)
            time.sleep(max(0.0, min(REOPEN_POLL, deadline - time.monotonic())))

    def write(self, data: bytes) -> None:
        """Write all of ``data``.

        Raises:
            LinkTimeout: The bytes could not be sent within the write timeout.
            PortGone: The port failed (unplugged, or the other side closed).
        """
        try:
            written = self._handle.write(data)
        except serial.SerialTimeoutException as exc:
            raise self._write_timeout(len(data)) from exc
        except OSError as exc:
            raise self._gone("write", exc) from exc
        if written != len(data):
            raise self._write_timeout(len(data))

    def read(self, deadline: float) -> bytes:
        """Wait for bytes until ``deadline`` and return what has arrived.

        Args:
            deadline: A ``time.monotonic()`` instant.

        Returns:
            At least one byte, or ``b""`` once the deadline has passed with
            nothing received.

        Raises:
            PortGone: The port failed (unplugged, or the other side closed).
        """
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            try:
                ready, _, _ = select.select([self._handle.fileno()], [], [], remaining)
                data = self._handle.read(READ_SIZE) if ready else b""
            except OSError as exc:
                raise self._gone("read", exc) from exc
            if data or time.monotonic() >= deadline:
                return bytes(data)

    def present(self) -> bool:
        """True while the port's name still leads to the device opened.

        False once the name is gone or leads to another device: the module
        was unplugged, even if the open handle has not failed yet.
        """
        try:
            return os.stat(self.path).st_rdev == self._device
        except OSError:
            return False

    def close(self) -> None:
        """Close the port and release its lock; closing twice is harmless."""
        try:
            self._handle.close()
        except OSError as exc:
            # The device is already gone; there is nothing left to release.
            logger.debug("closing %s: %s", self.path, exc)

    def __enter__(self) -> SerialPort:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _gone(self, action: str, exc: OSError) -> PortGone:
        return PortGone(
            f"serial port failed during {action}: {exc}", port=self.path, slot=self.slot
        )

    def _write_timeout(self, size: int) -> LinkTimeout:
        return LinkTimeout(
            f"a write of {size} bytes did not finish within "
            f"{self._handle.write_timeout} s",
            port=self.path,
            slot=self.slot,
        )


def _configured(path: str, settings: PortSettings) -> serial.Serial:
    """A closed pyserial handle with every setting applied before open."""
    handle = serial.Serial()
    handle.port = path
    handle.baudrate = settings.baudrate
    handle.bytesize = serial.EIGHTBITS
    handle.parity = serial.PARITY_NONE
    handle.stopbits = serial.STOPBITS_ONE
    handle.xonxoff = False
    handle.rtscts = False
    handle.dsrdtr = False
    handle.exclusive = True
    # Reads never block inside pyserial: ``SerialPort.read`` waits in select.
    handle.timeout = 0
    handle.write_timeout = settings.write_timeout
    handle.dtr = settings.dtr
    handle.rts = settings.rts
    return handle


def _open_error(exc: OSError, *, path: str, slot: str | None) -> PortError:
    if exc.errno in _NOT_FOUND:
        return PortNotFound(f"no serial port at {path}", port=path, slot=slot)
    if exc.errno in _BUSY:
        return PortBusy(
            f"serial port {path} is held by another process", port=path, slot=slot
        )
    if exc.errno == errno.EACCES:
        return PortError(
            f"no permission to open {path} (is the user in the dialout group?)",
            port=path,
            slot=slot,
        )
    return PortError(
        f"cannot open {path} as a serial port: {exc}", port=path, slot=slot
    )


def _not_back(exc: PortError, wait: float) -> PortGone:
    """The error for a port still missing when the wait has run out."""
    if isinstance(exc, PortNotFound):
        message = f"module unplugged and not back within {wait:g} s"
    else:
        message = (
            f"module unplugged and its port not usable within {wait:g} s: {exc.message}"
        )
    return PortGone(message, port=exc.port, slot=exc.slot)
