"""The PV command service of a simulated module, without any I/O.

``Firmware.handle`` takes one input line and returns the reply lines, with the
time the module works before it starts answering (key generation). The rules
are those of DESIGN section 3, read as the module's firmware engineer reads
them:

- syntax is checked first (``ERROR: 1``), then the state of the slot or of the
  staged write, then the values against the object and the limits;
- every change of slots or lock is stored in flash before it is reported, and
  a change that cannot be stored is not made (``ERROR: 6``);
- a staged write lives in RAM only: ``boot`` drops it.

Where DESIGN is silent the firmware makes a choice, and docs/pv-commands.md
states each as the contract: a SHA-256 mismatch at commit is ``ERROR: 4``, a
total of 0 is ``ERROR: 5``, reading an uncommitted chain is ``ERROR: 3``,
``AT+PVKEYGEN NEW`` on a locked slot 0 is ``ERROR: 10``, ``AT+PVRESET`` checks
the serial before the lock, and a read at the end of an object returns an
empty chunk. A module built with ``ContractBreaks`` departs from the contract
on purpose, one seam each, for the conformance runner's tests.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from device_io.chain import ChainFormatError, decode_chain
from device_io.errors import PvErrorCode
from device_io.pv import BANNER, PV_VERSION, chunk_size, crc32_hex, sha256_hex
from device_io.simulator.command import (
    AtCommand,
    CommandError,
    Form,
    Param,
    bad_parameter,
    decimal,
    hex_digits,
    param_count,
    parse_command,
    quoted,
    word,
)
from device_io.simulator.credential import Credential
from device_io.simulator.crypto_engine import CryptoEngine
from device_io.simulator.errors import FlashError, FlashFull
from device_io.simulator.faults import ContractBreaks, Misbehaviour
from device_io.simulator.flash import Flash, FlashImage
from device_io.simulator.nameplate import Nameplate

logger = logging.getLogger(__name__)

DEFAULT_MAX_LINE = 120
DEFAULT_MAX_OBJECT = 4096
DEFAULT_KEYGEN_DELAY = 1.0
# Object name -> (credential slot, part of the credential).
OBJECTS: dict[str, tuple[int, str]] = {
    "CSR": (0, "CSR"),
    "PUB": (0, "PUB"),
    "CHAIN": (0, "CHAIN"),
    "CSR1": (1, "CSR"),
    "PUB1": (1, "PUB"),
    "CHAIN1": (1, "CHAIN"),
}
WRITABLE = ("CHAIN", "CHAIN1")


@dataclass(frozen=True)
class FirmwareLimits:
    """The module's capabilities and timing.

    Attributes:
        max_line: Longest input line without CRLF; also bounds read chunks.
        max_object: Largest object a staged write accepts, in bytes.
        keygen_delay: Seconds key generation takes before the reply.
    """

    max_line: int = DEFAULT_MAX_LINE
    max_object: int = DEFAULT_MAX_OBJECT
    keygen_delay: float = DEFAULT_KEYGEN_DELAY

    def __post_init__(self) -> None:
        if self.max_object < 1:
            raise ValueError(f"max object must be positive, got {self.max_object}")
        if not 0 <= self.keygen_delay < math.inf:
            raise ValueError(
                f"keygen delay must be a finite number >= 0, got {self.keygen_delay}"
            )
        needed = longest_command(self.max_object)
        if self.max_line < needed:
            raise ValueError(
                f"max line {self.max_line} is too short: AT+PVWBEGIN needs {needed}"
            )


def longest_command(max_object: int) -> int:
    """Length of the longest fixed-size command, ``AT+PVWBEGIN`` on CHAIN1."""
    return len(f"AT+PVWBEGIN=CHAIN1,{max_object},") + 64


@dataclass(frozen=True)
class Reply:
    """What the module sends back for one line.

    Attributes:
        lines: The reply lines without CRLF, the final ``OK``/``ERROR`` last.
        delay: Seconds the module works before the first line goes out.
    """

    lines: tuple[str, ...]
    delay: float = 0.0

    @classmethod
    def ok(cls, *info: str, delay: float = 0.0) -> Reply:
        """Zero or more ``+NAME:`` lines and ``OK``."""
        return cls((*info, "OK"), delay)

    @classmethod
    def error(cls, code: PvErrorCode) -> Reply:
        """``ERROR: <code>``."""
        return cls((f"ERROR: {code.value}",))


@dataclass
class StagedWrite:
    """An open staged write of CHAIN or CHAIN1, held in RAM."""

    obj: str
    total: int
    sha256: str
    data: bytearray = field(default_factory=bytearray)

    @property
    def next_offset(self) -> int:
        """The offset the next ``AT+PVW`` must carry."""
        return len(self.data)


_Handler = Callable[[AtCommand], Reply]
_T = TypeVar("_T")


class Firmware:
    """The PV command set of one module, over its nameplate and flash."""

    def __init__(
        self,
        *,
        nameplate: Nameplate,
        flash: Flash,
        limits: FirmwareLimits | None = None,
        engine: CryptoEngine | None = None,
        breaks: ContractBreaks | None = None,
    ) -> None:
        """Power the module on with whatever its flash holds.

        Args:
            nameplate: The identity the module reports.
            flash: Its flash file.
            limits: Capabilities and timing; the stock console by default.
            engine: Its crypto; a well-behaved module by default.
            breaks: Where it departs from the PV contract; nowhere by default.

        Raises:
            FlashError: The flash file is damaged or unreadable.
        """
        self.nameplate = nameplate
        self.limits = limits or FirmwareLimits()
        self._flash = flash
        self._engine = engine or CryptoEngine()
        self._breaks = breaks or ContractBreaks()
        self._image = flash.load()
        self._staged: StagedWrite | None = None
        self._table: dict[str, tuple[Form, _Handler]] = self._command_table()

    @property
    def commands(self) -> frozenset[str]:
        """The names of the PV commands this firmware answers, without AT+."""
        return frozenset(name for name in self._table if name)

    @property
    def image(self) -> FlashImage:
        """What the module's flash holds now."""
        return self._image

    @property
    def staged(self) -> StagedWrite | None:
        """The open staged write, if any."""
        return self._staged

    @property
    def state(self) -> str:
        """State of slot 0 as ``AT+PVID?`` reports it."""
        identity = self._image.slot(0)
        if self._image.locked:
            return "LOCKED"
        if identity is None:
            return "EMPTY"
        return "KEY" if identity.chain is None else "CERT"

    def boot(self) -> Reply:
        """Start (or restart) the firmware: RAM is cleared, the banner printed."""
        self._staged = None
        return Reply((BANNER,))

    def handle(self, line: bytes) -> Reply:
        """Run one command line (without its line end) and return the reply."""
        try:
            if len(line) > self.limits.max_line:
                raise bad_parameter(f"line longer than {self.limits.max_line}")
            return self._dispatch(parse_command(line))
        except CommandError as refusal:
            logger.debug(
                "module %s refused %r: %s (error %d)",
                self.nameplate.serial,
                line[:40],
                refusal.reason,
                refusal.code,
            )
            return Reply.error(self._breaks.error_code(refusal.code))

    def _dispatch(self, command: AtCommand) -> Reply:
        form, handler = self._table.get(command.name, (None, None))
        if handler is None:
            raise bad_parameter(f"unknown command {command.name!r}")
        if command.form is not form:
            raise bad_parameter(f"{command.name} is not a {command.form.value}")
        return handler(command)

    def _command_table(self) -> dict[str, tuple[Form, _Handler]]:
        return {
            "": (Form.EXECUTE, lambda _: Reply.ok()),
            "PVCAP": (Form.QUERY, self._capabilities),
            "PVSYNC": (Form.SET, self._sync),
            "PVID": (Form.QUERY, self._identity),
            "PVKEYGEN": (Form.SET, self._keygen),
            "PVHASH": (Form.SET, self._hash),
            "PVREAD": (Form.SET, self._read),
            "PVWBEGIN": (Form.SET, self._write_begin),
            "PVW": (Form.SET, self._write),
            "PVWSTAT": (Form.QUERY, self._write_status),
            "PVWCOMMIT": (Form.EXECUTE, self._write_commit),
            "PVWABORT": (Form.EXECUTE, self._write_abort),
            "PVSIGN": (Form.SET, self._sign),
            "PVPROMOTE": (Form.EXECUTE, self._promote),
            "PVLOCK": (Form.EXECUTE, self._lock),
            "PVRESET": (Form.SET, self._factory_reset),
        }

    # --- identity and link -------------------------------------------------

    def _capabilities(self, command: AtCommand) -> Reply:
        limits = self.limits
        return Reply.ok(f"+PVCAP:{PV_VERSION},{limits.max_line},{limits.max_object}")

    def _sync(self, command: AtCommand) -> Reply:
        param_count(command, 1)
        token = hex_digits(command.params[0], 8, "sync token")
        return Reply.ok(f"+PVSYNC:{token}")

    def _identity(self, command: AtCommand) -> Reply:
        plate = self.nameplate
        fields = (plate.serial, plate.mac, plate.model, plate.lot, plate.firmware)
        quoted_fields = ",".join(f'"{value}"' for value in fields)
        return Reply.ok(f"+PVID:{quoted_fields},{self.state}")

    # --- keys --------------------------------------------------------------

    def _keygen(self, command: AtCommand) -> Reply:
        param_count(command, 2, 3)
        slot = _slot_number(command)
        word(command.params[1], ("P256",), "key type")
        new = _new_flag(command)

        current = self._image.slot(slot)
        if current is not None and not new:
            return Reply.ok(f"+PVKEYGEN:{slot},0")
        self._check_rekey(slot, current)

        credential = self._crypto(lambda: self._engine.generate(self.nameplate.serial))
        self._store(self._image.with_slot(slot, credential))
        self._drop_staged_for(slot)
        logger.info("module %s: new key in slot %d", self.nameplate.serial, slot)
        return Reply.ok(f"+PVKEYGEN:{slot},1", delay=self.limits.keygen_delay)

    def _check_rekey(self, slot: int, current: Credential | None) -> None:
        if slot == 0 and self._image.locked:
            raise CommandError(PvErrorCode.LOCKED, "slot 0 is locked")
        if current is None or Misbehaviour.REKEY_OVER_CHAIN in self._breaks:
            return
        if current.chain is not None:
            raise CommandError(PvErrorCode.KEY_EXISTS, f"slot {slot} has a chain")

    def _sign(self, command: AtCommand) -> Reply:
        param_count(command, 2)
        slot = _slot_number(command)
        challenge = bytes.fromhex(hex_digits(command.params[1], 64, "challenge"))

        credential = self._credential(slot)
        signature = self._crypto(
            lambda: self._engine.sign_challenge(credential.key, challenge)
        )
        return Reply.ok(f'+PVSIGN:"{_b64(signature)}"')

    # --- reading objects ---------------------------------------------------

    def _hash(self, command: AtCommand) -> Reply:
        param_count(command, 1)
        obj = word(command.params[0], tuple(OBJECTS), "object")

        data = self._object(obj)
        return Reply.ok(f"+PVHASH:{obj},{len(data)},{sha256_hex(data)}")

    def _read(self, command: AtCommand) -> Reply:
        param_count(command, 3)
        obj = word(command.params[0], tuple(OBJECTS), "object")
        offset = decimal(command.params[1], "offset")
        length = decimal(command.params[2], "length")

        data = self._object(obj)
        if not 1 <= length <= chunk_size(self.limits.max_line):
            raise CommandError(PvErrorCode.OFFSET, f"read length {length}")
        if offset > len(data):
            raise CommandError(PvErrorCode.OFFSET, f"offset {offset} past the end")

        chunk = data[offset : offset + length]
        if Misbehaviour.LONG_LAST_CHUNK in self._breaks:
            chunk = chunk.ljust(length, b"\x00")
        crc = crc32_hex(chunk)
        if Misbehaviour.BAD_READ_CRC in self._breaks:
            crc = crc32_hex(chunk + b"\x00")
        return Reply.ok(f'+PVREAD:{obj},{offset},{len(data)},{crc},"{_b64(chunk)}"')

    def _object(self, obj: str) -> bytes:
        slot, part = OBJECTS[obj]
        credential = self._credential(slot)
        if part == "CSR":
            return credential.csr
        if part == "PUB":
            return credential.public_der
        if credential.chain is None:
            raise CommandError(PvErrorCode.WRONG_STATE, f"no {obj} committed")
        return credential.chain

    # --- staged writes -----------------------------------------------------

    def _write_begin(self, command: AtCommand) -> Reply:
        param_count(command, 3)
        obj = word(command.params[0], WRITABLE, "object")
        total = decimal(command.params[1], "total")
        digest = hex_digits(command.params[2], 64, "sha256").lower()

        self._writable_credential(obj)
        if total == 0:
            raise CommandError(PvErrorCode.OFFSET, "empty object")
        if total > self.limits.max_object:
            raise CommandError(PvErrorCode.STORAGE, f"{total} bytes is too large")

        self._staged = StagedWrite(obj, total, digest)
        return Reply.ok()

    def _write(self, command: AtCommand) -> Reply:
        param_count(command, 3)
        offset = decimal(command.params[0], "offset")
        crc = hex_digits(command.params[1], 8, "crc32").lower()
        chunk = _unb64(quoted(command.params[2], "chunk"))

        staged = self._staged_write()
        if crc32_hex(chunk) != crc:
            raise CommandError(PvErrorCode.CRC_MISMATCH, f"chunk at {offset}")
        if offset != staged.next_offset or not chunk:
            raise CommandError(PvErrorCode.OFFSET, f"offset {offset}")
        if offset + len(chunk) > staged.total:
            raise CommandError(PvErrorCode.OFFSET, "chunk runs past the total")

        staged.data += chunk
        return Reply.ok(f"+PVW:{staged.next_offset}")

    def _write_status(self, command: AtCommand) -> Reply:
        staged = self._staged
        if staged is None:
            return Reply.ok("+PVWSTAT:NONE")
        next_offset = staged.next_offset
        if Misbehaviour.LYING_WRITE_STATUS in self._breaks:
            next_offset = 0
        return Reply.ok(
            f"+PVWSTAT:{staged.obj},{staged.total},{staged.sha256},{next_offset}"
        )

    def _write_commit(self, command: AtCommand) -> Reply:
        staged = self._staged_write()
        if staged.next_offset != staged.total:
            raise CommandError(PvErrorCode.OFFSET, "staged write is incomplete")
        data = bytes(staged.data)
        checks_hash = Misbehaviour.COMMIT_SKIPS_HASH not in self._breaks
        if checks_hash and sha256_hex(data) != staged.sha256:
            raise CommandError(PvErrorCode.CRC_MISMATCH, "SHA-256 does not match")

        slot, credential = self._writable_credential(staged.obj)
        _check_chain(
            data,
            credential,
            key_check=Misbehaviour.COMMIT_SKIPS_KEY_CHECK not in self._breaks,
        )
        self._store(self._image.with_slot(slot, credential.with_chain(data)))
        self._staged = None
        logger.info(
            "module %s: committed %s (%d bytes)",
            self.nameplate.serial,
            staged.obj,
            len(data),
        )
        return Reply.ok(f"+PVWCOMMIT:{staged.sha256}")

    def _write_abort(self, command: AtCommand) -> Reply:
        self._staged = None
        return Reply.ok()

    def _staged_write(self) -> StagedWrite:
        if self._staged is None:
            raise CommandError(PvErrorCode.WRONG_STATE, "no staged write")
        return self._staged

    def _writable_credential(self, obj: str) -> tuple[int, Credential]:
        slot = OBJECTS[obj][0]
        if slot == 0 and self._image.locked:
            raise CommandError(PvErrorCode.LOCKED, "CHAIN is sealed")
        return slot, self._credential(slot)

    def _drop_staged_for(self, slot: int) -> None:
        if self._staged is not None and OBJECTS[self._staged.obj][0] == slot:
            self._staged = None

    # --- life cycle --------------------------------------------------------

    def _promote(self, command: AtCommand) -> Reply:
        successor = self._credential(1)
        if successor.chain is None:
            raise CommandError(PvErrorCode.WRONG_STATE, "slot 1 has no CHAIN1")

        self._store(replace(self._image, slots=(successor, None)))
        self._staged = None
        logger.info("module %s: slot 1 promoted to slot 0", self.nameplate.serial)
        return Reply.ok()

    def _lock(self, command: AtCommand) -> Reply:
        identity = self._image.slot(0)
        if identity is None or identity.chain is None:
            raise CommandError(PvErrorCode.WRONG_STATE, "CHAIN is not committed")

        if not self._image.locked:
            self._store(replace(self._image, locked=True))
            logger.info("module %s: locked", self.nameplate.serial)
        return Reply.ok()

    def _factory_reset(self, command: AtCommand) -> Reply:
        param_count(command, 1)
        if command.params[0] != Param(self.nameplate.serial):
            raise bad_parameter("serial does not name this module")
        if self._image.locked:
            raise CommandError(PvErrorCode.LOCKED, "module is locked")

        self._store(FlashImage())
        self._staged = None
        logger.info("module %s: factory reset", self.nameplate.serial)
        return Reply.ok()

    # --- shared steps ------------------------------------------------------

    def _credential(self, slot: int) -> Credential:
        credential = self._image.slot(slot)
        if credential is None:
            raise CommandError(PvErrorCode.NO_KEY, f"slot {slot} has no key")
        return credential

    def _store(self, image: FlashImage) -> None:
        try:
            self._flash.store(image)
        except FlashFull as exc:
            raise CommandError(PvErrorCode.STORAGE, str(exc)) from exc
        except FlashError as exc:
            logger.warning("module %s: %s", self.nameplate.serial, exc)
            raise CommandError(PvErrorCode.STORAGE, str(exc)) from exc
        self._image = image

    def _crypto(self, operation: Callable[[], _T]) -> _T:
        try:
            return operation()
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise CommandError(PvErrorCode.CRYPTO, str(exc)) from exc


def _slot_number(command: AtCommand) -> int:
    return int(word(command.params[0], ("0", "1"), "slot"))


def _new_flag(command: AtCommand) -> bool:
    if len(command.params) < 3:
        return False
    word(command.params[2], ("NEW",), "option")
    return True


def _check_chain(data: bytes, credential: Credential, *, key_check: bool) -> None:
    try:
        leaf = decode_chain(data)[0]
    except ChainFormatError as exc:
        raise CommandError(PvErrorCode.CHAIN_INVALID, str(exc)) from exc
    if not key_check:
        return
    leaf_key = leaf.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )
    if leaf_key != credential.public_der:
        raise CommandError(PvErrorCode.CHAIN_INVALID, "leaf key is not the slot key")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise bad_parameter("chunk is not base64") from exc
