"""Errors raised by the device I/O layer.

Every error carries the context an operator or a firmware engineer needs to act
on it: the port, the fixture slot, the module serial when it is known, and the
step of the provisioning flow that was running.

    DeviceError
    ├── PortError               the serial port cannot be opened or used
    │   ├── PortNotFound        no such device node
    │   ├── PortBusy            another process holds the port
    │   └── PortGone            the port vanished while in use (unplugged)
    ├── LinkError               the byte stream does not carry a valid reply, or
    │   │                       the module does not answer a resync
    │   ├── LinkTimeout         no complete reply within the step's timeout
    │   ├── LinkNoise           bytes that are not a well-formed line or reply
    │   └── ModuleReset         the module printed its boot banner mid-command
    ├── ModuleError             the module answered ``ERROR: <code>``
    │   └── ModuleBusy          it still answers ``ERROR: 2`` (busy) once the
    │                           command it runs should have finished
    ├── IntegrityError          a CRC-32 or SHA-256 check failed on an object
    ├── IdentityError           an identity field breaks its rule
    └── CapabilityError         the module's PV version or limits cannot work
"""

from __future__ import annotations

from enum import IntEnum
from typing import Self


class PvErrorCode(IntEnum):
    """Error codes of the PV command set (DESIGN section 3)."""

    BAD_PARAMETER = 1
    BUSY = 2
    WRONG_STATE = 3
    CRC_MISMATCH = 4
    OFFSET = 5
    STORAGE = 6
    KEY_EXISTS = 7
    NO_KEY = 8
    CHAIN_INVALID = 9
    LOCKED = 10
    CRYPTO = 11


class DeviceError(Exception):
    """Base of every device I/O error.

    Attributes:
        port: Serial port path, when known.
        slot: Fixture slot name, when known.
        serial: Module serial number, when known.
        step: The provisioning step or PV command that was running.
    """

    def __init__(
        self,
        message: str,
        *,
        port: str | None = None,
        slot: str | None = None,
        serial: str | None = None,
        step: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.port = port
        self.slot = slot
        self.serial = serial
        self.step = step

    def with_context(
        self,
        *,
        port: str | None = None,
        slot: str | None = None,
        serial: str | None = None,
        step: str | None = None,
    ) -> Self:
        """Fill in context fields that are still unknown and return self."""
        self.port = self.port or port
        self.slot = self.slot or slot
        self.serial = self.serial or serial
        self.step = self.step or step
        return self

    def __str__(self) -> str:
        where = [
            f"{name} {value}"
            for name, value in (
                ("slot", self.slot),
                ("module", self.serial),
                ("step", self.step),
                ("port", self.port),
            )
            if value
        ]
        return f"{self.message} ({', '.join(where)})" if where else self.message


class PortError(DeviceError):
    """The serial port cannot be opened or used."""


class PortNotFound(PortError):
    """The serial port does not exist."""


class PortBusy(PortError):
    """Another process holds the serial port."""


class PortGone(PortError):
    """The serial port disappeared while in use."""


class LinkError(DeviceError):
    """The byte stream from the module does not carry a valid reply."""


class LinkTimeout(LinkError):
    """No complete reply arrived within the timeout.

    Attributes:
        unfinished: Bytes of a line that had begun but not ended by then.
    """

    def __init__(
        self, message: str, *, unfinished: int = 0, **context: str | None
    ) -> None:
        super().__init__(message, **context)
        self.unfinished = unfinished


class LinkNoise(LinkError):
    """Bytes arrived that are not a well-formed line or reply.

    Attributes:
        frame: The bytes of the noisy line as received, when the line
            assembler found it, for a transcript; never part of the message.
    """

    def __init__(
        self, message: str, *, frame: bytes = b"", **context: str | None
    ) -> None:
        super().__init__(message, **context)
        self.frame = frame


class ModuleReset(LinkError):
    """The module printed its boot banner: it reset and lost staged data."""


class ModuleError(DeviceError):
    """The module answered a command with ``ERROR: <code>``.

    Attributes:
        code: The PV error code; unknown codes are kept as plain ints.
    """

    def __init__(self, message: str, code: int, **context: str | None) -> None:
        super().__init__(message, **context)
        # Both arguments in args, so that copy and pickle can rebuild the error.
        self.args = (message, code)
        self.code: PvErrorCode | int = _known_code(code)


class ModuleBusy(ModuleError):
    """The module stays busy (``ERROR: 2``) with a command past its timeout."""

    def __init__(self, message: str, **context: str | None) -> None:
        super().__init__(message, PvErrorCode.BUSY, **context)
        self.args = (message,)


def _known_code(code: int) -> PvErrorCode | int:
    try:
        return PvErrorCode(code)
    except ValueError:
        return code


def describe_code(code: int) -> str:
    """`` (<meaning>)`` for a known PV error code, else an empty string."""
    known = _known_code(code)
    if isinstance(known, PvErrorCode):
        return f" ({known.name.lower().replace('_', ' ')})"
    return ""


class IntegrityError(DeviceError):
    """A CRC-32 or SHA-256 check over transferred data failed."""


class SignatureMismatch(IntegrityError):
    """A challenge signature did not verify with the expected key.

    A bit error in the challenge on its way makes the module sign other
    bytes, so a mismatch is retried; but the challenge line is short, and a
    module whose signatures keep failing holds another key.
    """


class IdentityError(DeviceError):
    """An identity field reported by the module breaks its rule."""


class CapabilityError(DeviceError):
    """The module's PV version or limits do not allow the operation."""
