"""The format of an audit log entry: canonical JSON, hash-chained.

One entry is one line, a JSON object in canonical form (keys sorted, no
spaces, ASCII only) with six keys::

    seq     1, 2, 3, ... with no gap
    time    UTC, 2026-12-01T08:00:01.000000Z
    event   issued, provisioned, lot-imported, clone-flagged, log-repaired, ...
    fields  the record the event is about: flat, never a PIN or key
    prev    the hash of entry seq - 1; for entry 1, GENESIS
    hash    SHA-256 of the canonical entry without "hash"

The writer is :mod:`station.audit`; the checker :mod:`station.audit_verify`.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

GENESIS = hashlib.sha256(b"provisioning-station audit log, format 1").hexdigest()
"""The ``prev`` of entry 1: names the kind of log and its format."""

# An entry is a few hundred bytes; the bound keeps reading the tail cheap.
MAX_LINE = 16 * 1024
MAX_TEXT = 1024
# UTC with microseconds and a Z, as 2026-12-01T08:00:01.000000Z.
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")

_KEYS = frozenset({"seq", "time", "event", "fields", "prev", "hash"})
_HASH = re.compile(r"[0-9a-f]{64}")
_EVENT = re.compile(r"[a-z][a-z0-9-]{0,31}")
_FIELD = re.compile(r"[a-z][a-z0-9_]{0,31}")
# A field named after any of these words could carry a secret; none may.
_SECRET_WORDS = frozenset({"pin", "password", "passphrase", "secret", "private", "key"})

AuditScalar: TypeAlias = str | int | bool | None
AuditValue: TypeAlias = AuditScalar | list[str] | list[int] | tuple[str, ...]


class AuditEvent(StrEnum):
    """The event types the station writes.

    The set is open: ``append`` takes any name of lowercase letters, digits
    and hyphens, so ``revoked``, ``campaign`` or ``ceremony`` entries need no
    change to the log or to its verification. Those listed here have required
    fields (see :data:`REQUIRED_FIELDS`).
    """

    ISSUED = "issued"
    PROVISIONED = "provisioned"
    LOT_IMPORTED = "lot-imported"
    CLONE_FLAGGED = "clone-flagged"
    UNDELIVERED = "undelivered"
    LOG_REPAIRED = "log-repaired"
    RECORDS_IMPORTED = "records-imported"
    QA_FLAGS_CLEARED = "qa-flags-cleared"


_MANUFACTURING = frozenset({"station", "slot", "operator", "lot", "firmware"})
REQUIRED_FIELDS: Mapping[str, frozenset[str]] = {
    AuditEvent.ISSUED: _MANUFACTURING
    | {"run_id", "cert_serial", "cert_sha256", "serial", "mac", "model"}
    | {"spki_sha256"},
    AuditEvent.PROVISIONED: _MANUFACTURING
    | {"run_id", "serial", "mac", "cert_serial", "result"},
    AuditEvent.LOT_IMPORTED: frozenset(
        {"station", "operator", "lot", "plan_sha256", "modules", "outcome"}
    ),
    AuditEvent.CLONE_FLAGGED: _MANUFACTURING
    | {"run_id", "serial", "mac", "spki_sha256", "reason"},
    AuditEvent.UNDELIVERED: _MANUFACTURING
    | {"run_id", "serial", "mac", "cert_serial", "step", "reason"},
    AuditEvent.LOG_REPAIRED: frozenset(
        {"station", "operator", "removed_bytes", "removed_sha256", "saved_as"}
    ),
    AuditEvent.QA_FLAGS_CLEARED: frozenset(
        {"station", "operator", "serial", "runs", "note"}
    ),
    AuditEvent.RECORDS_IMPORTED: frozenset(
        {"station", "operator", "source", "file_sha256", "from_station", "lot"}
        | {"bindings", "new", "conflicts"}
    ),
}
"""Fields every entry of a known event type must carry."""


@dataclass(frozen=True)
class AuditAnchor:
    """Where a log ended: the sequence number and hash of its last entry.

    Written ``<seq>:<hash>`` (see :meth:`parse`); ``0:GENESIS`` is an empty log.
    """

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> AuditAnchor:
        """Read an anchor written as ``<seq>:<hash>``.

        Raises:
            ValueError: The text is not an anchor.
        """
        seq, _, digest = text.strip().partition(":")
        if not seq.isdigit() or not _HASH.fullmatch(digest):
            raise ValueError(f"not an audit anchor (<seq>:<64 hex>): {text!r}")
        return cls(int(seq), digest)


EMPTY_ANCHOR = AuditAnchor(0, GENESIS)


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the log.

    Attributes:
        seq: Sequence number, from 1.
        time: When it was appended (UTC).
        event: Event type (an :class:`AuditEvent` value or a newer one).
        fields: The record the event is about.
        prev: Hash of the previous entry, or :data:`GENESIS`.
        hash: SHA-256 of this entry without its hash.
    """

    seq: int
    time: datetime.datetime
    event: str
    fields: Mapping[str, AuditValue] = field(hash=False)
    prev: str
    hash: str

    @property
    def anchor(self) -> AuditAnchor:
        """The anchor naming this entry as the last one."""
        return AuditAnchor(self.seq, self.hash)

    def content_hash(self) -> str:
        """The hash this entry's content calls for (equal to ``hash`` if intact)."""
        return _digest(self._body())

    def to_line(self) -> bytes:
        """The entry as the log stores it: canonical JSON and a line end."""
        return canonical_json({**self._body(), "hash": self.hash}) + b"\n"

    def _body(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": _time_text(self.time),
            "event": self.event,
            "fields": dict(self.fields),
            "prev": self.prev,
        }


def canonical_json(value: object) -> bytes:
    """The one serialisation entries are hashed and stored in."""
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    return text.encode("ascii")


def _digest(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(body)).hexdigest()


def parse_entry(line: bytes) -> AuditEntry:
    """Read one log line (without its line end) as an entry.

    This checks the entry's shape only; whether its hash and chain hold is
    for :func:`station.audit_verify.verify`.

    Raises:
        ValueError: The line is not an audit entry; the message says why.
    """
    try:
        data = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(data, dict) or set(data) != _KEYS:
        raise ValueError(f"not an object with exactly the keys {sorted(_KEYS)}")

    return AuditEntry(
        seq=_sequence(data["seq"]),
        time=_time(data["time"]),
        event=_name(data["event"], _EVENT, "event"),
        fields=_fields(data["fields"]),
        prev=_name(data["prev"], _HASH, "prev"),
        hash=_name(data["hash"], _HASH, "hash"),
    )


def _sequence(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"seq {value!r} is not a positive integer")
    return value


def _time_text(moment: datetime.datetime) -> str:
    utc = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


def _time(value: object) -> datetime.datetime:
    text = _name(value, _TIME, "time")
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"time {value!r} is not a date and time") from None


def _name(value: object, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"{what} {value!r} does not match {pattern.pattern}")
    return value


def _fields(value: object) -> dict[str, AuditValue]:
    if not isinstance(value, dict):
        raise ValueError("fields is not an object")
    for name, item in value.items():
        _name(name, _FIELD, "field name")
        _check_value(name, item)
    return value


def _check_value(name: str, value: object) -> None:
    items = value if isinstance(value, list | tuple) else [value]
    for item in items:
        if not isinstance(item, str | int | None):
            raise ValueError(f"field {name} holds a {type(item).__name__}")
        if isinstance(item, str) and len(item) > MAX_TEXT:
            raise ValueError(f"field {name} is longer than {MAX_TEXT} characters")


def check_new_fields(event: str, fields: Mapping[str, object]) -> None:
    """Refuse fields that are malformed, missing, or could carry a secret.

    Raises:
        ValueError: The event name or a field is refused; the message says why.
    """
    _name(event, _EVENT, "event")
    for name, value in fields.items():
        _name(name, _FIELD, "field name")
        _check_value(name, value)
        if _SECRET_WORDS & set(name.split("_")):
            raise ValueError(f"field {name} may hold a secret; none is ever audited")
        texts = value if isinstance(value, list | tuple) else [value]
        if any(isinstance(text, str) and "-----BEGIN" in text for text in texts):
            raise ValueError(f"field {name} holds PEM data; audit a fingerprint")

    missing = REQUIRED_FIELDS.get(event, frozenset()) - set(fields)
    if missing:
        raise ValueError(f"{event} entries need {', '.join(sorted(missing))}")
