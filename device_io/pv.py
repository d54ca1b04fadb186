"""The PV (provisioning) command set: command lines and reply parsing.

This module is the station side of DESIGN section 3, kept free of I/O so that it
can be tested byte for byte and fuzzed. It builds command lines, splits reply
lines into fields, and turns ``+NAME:`` lines into typed replies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import zlib
from dataclasses import dataclass
from enum import StrEnum

from device_io.errors import IntegrityError, LinkNoise

PV_VERSION = 1
BANNER = "ATCMD READY"
CHALLENGE_PREFIX = b"PV-CHALLENGE-V1\x00"
CHALLENGE_BYTES = 32
# Bytes of a +PVREAD reply line that are not base64 payload, rounded up so the
# chunk rule of DESIGN section 3 keeps the longest line within the limit.
LINE_OVERHEAD = 40


class PvObject(StrEnum):
    """Objects a module exposes for reading or staged writing."""

    CSR = "CSR"
    PUB = "PUB"
    CHAIN = "CHAIN"
    CSR1 = "CSR1"
    PUB1 = "PUB1"
    CHAIN1 = "CHAIN1"


class SlotState(StrEnum):
    """State of credential slot 0 as reported by ``AT+PVID?``."""

    EMPTY = "EMPTY"
    KEY = "KEY"
    CERT = "CERT"
    LOCKED = "LOCKED"


def chunk_size(max_line: int) -> int:
    """Raw bytes per chunk for a module whose line limit is ``max_line``.

    Args:
        max_line: The module's line limit without CRLF, from ``AT+PVCAP?``.

    Returns:
        ``3 * floor((max_line - 40) / 4)``: 60 at 120, 354 at 512.

    Raises:
        ValueError: The limit leaves no room for a single base64 quantum.
    """
    size = 3 * ((max_line - LINE_OVERHEAD) // 4)
    if size < 3:
        raise ValueError(f"a line limit of {max_line} leaves no room for a chunk")
    return size


def read_reply_overhead(total: int) -> int:
    """Length of a ``+PVREAD`` reply line for an object of ``total`` bytes,
    without its base64 payload.

    The chunk rule holds only while this stays within ``LINE_OVERHEAD``, which
    bounds the size of an object the rule can move.
    """
    return len(f'+PVREAD:{PvObject.CHAIN1.value},{total},{total},{"0" * 8},""')


def longest_command(max_object: int) -> int:
    """Length of the longest command line the station sends, chunks aside."""
    return len(cmd_wbegin(PvObject.CHAIN1, max_object, "0" * 64))


def crc32_hex(data: bytes) -> str:
    """CRC-32 (IEEE 802.3, as zlib) of ``data`` as 8 lowercase hex digits."""
    return f"{zlib.crc32(data) & 0xFFFFFFFF:08x}"


def sha256_hex(data: bytes) -> str:
    """SHA-256 of ``data`` as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


def b64encode(data: bytes) -> str:
    """Standard base64 with padding and no whitespace."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Decode strict standard base64; anything else is line noise.

    Only the one canonical encoding of the data is accepted: padding bits that
    are not zero mean the payload was damaged on the way.
    """
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise LinkNoise(f"invalid base64 payload: {exc}") from exc
    if b64encode(data) != text:
        raise LinkNoise("base64 payload is not in canonical form")
    return data


def challenge_message(challenge: bytes) -> bytes:
    """The 48-byte message a module signs for ``AT+PVSIGN``."""
    if len(challenge) != CHALLENGE_BYTES:
        raise ValueError(f"challenge must be {CHALLENGE_BYTES} bytes")
    return CHALLENGE_PREFIX + challenge


# --- commands -------------------------------------------------------------
#
# Builders refuse arguments that would break the command line or its field
# list (a CR, a comma, a quote): a value from elsewhere must never smuggle a
# second command onto the link.

KEY_SLOTS = (0, 1)
WRITABLE_OBJECTS = (PvObject.CHAIN, PvObject.CHAIN1)
_HEX8 = re.compile(r"[0-9a-f]{8}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_ARGUMENT = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _key_slot(slot: int) -> int:
    if slot not in KEY_SLOTS:
        raise ValueError(f"credential slot must be 0 or 1, not {slot!r}")
    return slot


def _count(value: int, what: str, *, minimum: int = 0) -> int:
    if value < minimum:
        raise ValueError(f"{what} must be at least {minimum}, not {value}")
    return value


def cmd_cap() -> str:
    return "AT+PVCAP?"


def cmd_sync(token: str) -> str:
    if not _HEX8.fullmatch(token):
        raise ValueError(f"sync token must be 8 lowercase hex digits, not {token!r}")
    return f"AT+PVSYNC={token}"


def cmd_id() -> str:
    return "AT+PVID?"


def cmd_keygen(slot: int, *, new: bool = False) -> str:
    return f"AT+PVKEYGEN={_key_slot(slot)},P256" + (",NEW" if new else "")


def cmd_hash(obj: PvObject) -> str:
    return f"AT+PVHASH={obj.value}"


def cmd_read(obj: PvObject, offset: int, length: int) -> str:
    offset = _count(offset, "offset")
    length = _count(length, "length", minimum=1)
    return f"AT+PVREAD={obj.value},{offset},{length}"


def cmd_wbegin(obj: PvObject, total: int, sha256: str) -> str:
    if obj not in WRITABLE_OBJECTS:
        raise ValueError(f"{obj.value} cannot be written")
    if not _HEX64.fullmatch(sha256):
        raise ValueError("sha256 must be 64 lowercase hex digits")
    return f"AT+PVWBEGIN={obj.value},{_count(total, 'total', minimum=1)},{sha256}"


def cmd_write(offset: int, chunk: bytes) -> str:
    offset = _count(offset, "offset")
    _count(len(chunk), "chunk length", minimum=1)
    return f'AT+PVW={offset},{crc32_hex(chunk)},"{b64encode(chunk)}"'


def cmd_wstat() -> str:
    return "AT+PVWSTAT?"


def cmd_wcommit() -> str:
    return "AT+PVWCOMMIT"


def cmd_wabort() -> str:
    return "AT+PVWABORT"


def cmd_sign(slot: int, challenge: bytes) -> str:
    if len(challenge) != CHALLENGE_BYTES:
        raise ValueError(f"challenge must be {CHALLENGE_BYTES} bytes")
    return f"AT+PVSIGN={_key_slot(slot)},{challenge.hex()}"


def cmd_promote() -> str:
    return "AT+PVPROMOTE"


def cmd_lock() -> str:
    return "AT+PVLOCK"


def cmd_reset(serial: str) -> str:
    if not _ARGUMENT.fullmatch(serial):
        raise ValueError(f"serial {serial!r} cannot be sent in a command")
    return f"AT+PVRESET={serial}"


# What a long-running command does, for messages about it.
_PURPOSES = {
    "AT+PVKEYGEN": "key generation",
    "AT+PVWCOMMIT": "the chain commit",
    "AT+PVLOCK": "the lock",
    "AT+PVPROMOTE": "the promotion",
    "AT+PVRESET": "the factory reset",
}


def command_verb(line: str) -> str:
    """The command name of a command line, for messages (no payloads)."""
    return line.split("=", 1)[0]


def describe_command(verb: str) -> str:
    """A command named for a message: ``key generation (AT+PVKEYGEN)``.

    Args:
        verb: The command line up to its ``=``, such as ``AT+PVKEYGEN``.
    """
    purpose = _PURPOSES.get(verb)
    return f"{purpose} ({verb})" if purpose else verb


# --- reply lines -----------------------------------------------------------

# [0-9] rather than \d, which also matches non-ASCII digits.
_ERROR_RE = re.compile(r"ERROR: ?([0-9]{1,3})")
_INFO_RE = re.compile(r"\+([A-Z0-9]+):(.*)")


@dataclass(frozen=True)
class InfoLine:
    """A ``+NAME:field,field,...`` line; quoted fields are unquoted."""

    name: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Final:
    """The ``OK`` or ``ERROR: <code>`` line that ends a reply."""

    ok: bool
    code: int = 0


def split_fields(text: str) -> tuple[str, ...]:
    """Split comma-separated fields, honouring double-quoted fields.

    A quoted field may not contain a double quote, and a quote may only open a
    field and close it right before a comma or the end of the line.

    Raises:
        LinkNoise: The text is not a well-formed field list (the message says
            where, not what: frames are for the debug log).
    """
    fields: list[str] = []
    pos = 0
    while True:
        if text.startswith('"', pos):
            end = text.find('"', pos + 1)
            if end < 0:
                raise LinkNoise(f"unterminated quoted field {len(fields) + 1}")
            fields.append(text[pos + 1 : end])
            pos = end + 1
        else:
            end = text.find(",", pos)
            end = len(text) if end < 0 else end
            field = text[pos:end]
            if '"' in field:
                raise LinkNoise(f"stray quote in field {len(fields) + 1}")
            fields.append(field)
            pos = end
        if pos == len(text):
            return tuple(fields)
        if text[pos] != ",":
            raise LinkNoise(f"expected a comma after field {len(fields)}")
        pos += 1


def parse_line(line: str) -> InfoLine | Final:
    """Classify one reply line (without CRLF) as an info or final line.

    Raises:
        LinkNoise: The line is neither.
    """
    if line == "OK":
        return Final(ok=True)
    if match := _ERROR_RE.fullmatch(line):
        return Final(ok=False, code=int(match.group(1)))
    if match := _INFO_RE.fullmatch(line):
        return InfoLine(match.group(1), split_fields(match.group(2)))
    raise LinkNoise(
        f"unexpected line of {len(line)} characters (not +NAME:, OK or ERROR)"
    )


# --- typed replies ---------------------------------------------------------


def _expect(info: InfoLine, name: str, count: int) -> tuple[str, ...]:
    if info.name != name or len(info.fields) != count:
        raise LinkNoise(
            f"expected +{name} with {count} fields, got +{info.name} "
            f"with {len(info.fields)}"
        )
    return info.fields


def _decimal(text: str, what: str) -> int:
    if not text.isdigit() or not text.isascii() or len(text) > 10:
        raise LinkNoise(f"{what} is not a decimal number ({len(text)} characters)")
    return int(text)


def _hex(text: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.fullmatch(text):
        raise LinkNoise(
            f"{what} is not lowercase hex of the right length ({len(text)} characters)"
        )
    return text


@dataclass(frozen=True)
class Capabilities:
    """Reply to ``AT+PVCAP?``."""

    version: int
    max_line: int
    max_object: int

    @classmethod
    def parse(cls, info: InfoLine) -> Capabilities:
        version, max_line, max_object = _expect(info, "PVCAP", 3)
        return cls(
            _decimal(version, "version"),
            _decimal(max_line, "max line"),
            _decimal(max_object, "max object"),
        )


@dataclass(frozen=True)
class RawIdentity:
    """Reply to ``AT+PVID?`` before the identity rules are applied."""

    serial: str
    mac: str
    model: str
    lot: str
    firmware: str
    state: str

    @classmethod
    def parse(cls, info: InfoLine) -> RawIdentity:
        return cls(*_expect(info, "PVID", 6))

    def __str__(self) -> str:
        return (
            f"serial {self.serial}, MAC {self.mac}, model {self.model}, "
            f"lot {self.lot}, firmware {self.firmware}, {self.state}"
        )


@dataclass(frozen=True)
class KeyGenResult:
    """Reply to ``AT+PVKEYGEN``."""

    slot: int
    new: bool

    @classmethod
    def parse(cls, info: InfoLine) -> KeyGenResult:
        slot, new = _expect(info, "PVKEYGEN", 2)
        if new not in ("0", "1"):
            raise LinkNoise("PVKEYGEN new flag is neither 0 nor 1")
        return cls(_decimal(slot, "slot"), new == "1")


@dataclass(frozen=True)
class ObjectHash:
    """Reply to ``AT+PVHASH``: size and SHA-256 of a whole object."""

    obj: str
    total: int
    sha256: str

    @classmethod
    def parse(cls, info: InfoLine) -> ObjectHash:
        obj, total, digest = _expect(info, "PVHASH", 3)
        return cls(obj, _decimal(total, "total"), _hex(digest, _HEX64, "sha256"))


@dataclass(frozen=True)
class ReadChunk:
    """Reply to ``AT+PVREAD``, with the chunk's CRC-32 already checked."""

    obj: str
    offset: int
    total: int
    data: bytes

    @classmethod
    def parse(cls, info: InfoLine) -> ReadChunk:
        obj, offset, total, crc, payload = _expect(info, "PVREAD", 5)
        data = b64decode(payload)
        if crc32_hex(data) != _hex(crc, _HEX8, "crc32"):
            raise IntegrityError(
                f"CRC-32 mismatch on {obj} chunk at offset {offset}: "
                f"module said {crc}, data gives {crc32_hex(data)}"
            )
        return cls(obj, _decimal(offset, "offset"), _decimal(total, "total"), data)


@dataclass(frozen=True)
class WriteProgress:
    """Reply to ``AT+PVW``: the offset the module expects next."""

    next_offset: int

    @classmethod
    def parse(cls, info: InfoLine) -> WriteProgress:
        (next_offset,) = _expect(info, "PVW", 1)
        return cls(_decimal(next_offset, "next offset"))


@dataclass(frozen=True)
class WriteStatus:
    """Reply to ``AT+PVWSTAT?``; ``obj`` is None when nothing is staged."""

    obj: str | None
    total: int = 0
    sha256: str = ""
    next_offset: int = 0

    @classmethod
    def parse(cls, info: InfoLine) -> WriteStatus:
        if info.name == "PVWSTAT" and info.fields == ("NONE",):
            return cls(None)
        obj, total, digest, next_offset = _expect(info, "PVWSTAT", 4)
        return cls(
            obj,
            _decimal(total, "total"),
            _hex(digest, _HEX64, "sha256"),
            _decimal(next_offset, "next offset"),
        )


def parse_commit(info: InfoLine) -> str:
    """Reply to ``AT+PVWCOMMIT``: the SHA-256 of the stored object."""
    (digest,) = _expect(info, "PVWCOMMIT", 1)
    return _hex(digest, _HEX64, "sha256")


def parse_sign(info: InfoLine) -> bytes:
    """Reply to ``AT+PVSIGN``: the DER ECDSA signature."""
    (payload,) = _expect(info, "PVSIGN", 1)
    return b64decode(payload)


def parse_sync(info: InfoLine) -> str:
    """Reply to ``AT+PVSYNC``: the echoed token."""
    (token,) = _expect(info, "PVSYNC", 1)
    return token
