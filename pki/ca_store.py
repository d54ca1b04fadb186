"""The CA store: every certificate the issuing CA has issued.

It answers the two questions issuance depends on: has this identity already
got a certificate for this key (then return it, never a second one), and is
this serial, MAC or key already bound elsewhere (a clone).

SQLite is the default. The code speaks DB-API with portable SQL so that
PostgreSQL can serve a plant with the same code: statements are written with
``:name`` parameters and :class:`SqlDialect` turns them into the driver's
parameter style in one place, along with the few words that differ (how to
begin a write transaction, the binary column type, the driver's errors).
"""

from __future__ import annotations

import datetime
import logging
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509

from pki.errors import StoreError

logger = logging.getLogger(__name__)


class DbApiConnection(Protocol):
    """The part of a DB-API 2.0 connection the store uses."""

    def cursor(self) -> Any:
        """A new cursor."""

    def close(self) -> None:
        """Close the connection."""


@dataclass(frozen=True)
class SqlDialect:
    """What differs between database drivers, kept in one place.

    Attributes:
        name: Short name for messages.
        paramstyle: The driver's DB-API parameter style, ``named`` or
            ``pyformat``.
        begin_write: Statement opening a transaction that serialises writers,
            so a lookup and the insert it allows cannot interleave with
            another CA replica's.
        binary_type: Column type for DER bytes.
        errors: The driver's base exception types.
    """

    name: str
    paramstyle: str
    begin_write: str
    binary_type: str
    errors: tuple[type[Exception], ...]

    def statement(self, sql: str) -> str:
        """``sql`` with its ``:name`` parameters in the driver's style."""
        if self.paramstyle == "named":
            return sql
        if self.paramstyle == "pyformat":
            return _NAMED_PARAMETER.sub(r"%(\1)s", sql)
        raise ValueError(f"unsupported DB-API paramstyle {self.paramstyle!r}")


_NAMED_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")

# TODO(postgresql): add the PostgreSQL dialect (pyformat, BYTEA, BEGIN
# ISOLATION LEVEL SERIALIZABLE) with tests against a real server; the driver
# and the server are not part of the project's dependencies yet.
SQLITE = SqlDialect(
    name="sqlite",
    paramstyle="named",
    begin_write="BEGIN IMMEDIATE",
    binary_type="BLOB",
    errors=(sqlite3.Error,),
)


@dataclass(frozen=True)
class IssuedRecord:
    """One issued certificate, as the store keeps it.

    Attributes:
        cert_serial: Certificate serial number, lowercase hex.
        device_serial: Module serial number.
        mac: MAC address, 12 lowercase hex digits.
        model: Model name.
        lot: Manufacturing lot.
        spki_sha256: SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex.
        not_after: The certificate's notAfter.
        issued_at: When it was issued.
        der: The DER certificate.
        clamped_from: The notAfter first asked for, when it was clamped.
        revoked_at: When it was revoked, or None.
        revocation_reason: Why it was revoked, or None.
    """

    cert_serial: str
    device_serial: str
    mac: str
    model: str
    lot: str
    spki_sha256: str
    not_after: datetime.datetime
    issued_at: datetime.datetime
    der: bytes
    clamped_from: datetime.datetime | None = None
    revoked_at: datetime.datetime | None = None
    revocation_reason: str | None = None

    @property
    def certificate(self) -> x509.Certificate:
        """The certificate itself."""
        return x509.load_der_x509_certificate(self.der)

    @property
    def revoked(self) -> bool:
        """True once the certificate is revoked."""
        return self.revoked_at is not None

    def summary(self) -> str:
        """One line naming the record, for refusals and QA flags."""
        return (
            f"certificate {self.cert_serial} for module {self.device_serial} "
            f"(MAC {self.mac}, model {self.model}, lot {self.lot}, "
            f"key sha256 {self.spki_sha256[:16]}..., "
            f"issued {_text(self.issued_at)})"
        )


# Statements are literal text: values only ever travel as parameters.
_SELECT_ISSUED = (
    "SELECT cert_serial, device_serial, mac, model, lot, spki_sha256, not_after, "
    "issued_at, der, clamped_from, revoked_at, revocation_reason "
    "FROM issued_certificates "
    "WHERE device_serial = :serial AND spki_sha256 = :spki"
)
_SELECT_BINDINGS = (
    "SELECT cert_serial, device_serial, mac, model, lot, spki_sha256, not_after, "
    "issued_at, der, clamped_from, revoked_at, revocation_reason "
    "FROM issued_certificates "
    "WHERE revoked_at IS NULL "
    "AND (device_serial = :serial OR mac = :mac OR spki_sha256 = :spki) "
    "ORDER BY issued_at, cert_serial"
)
_SELECT_BY_SERIAL = (
    "SELECT cert_serial, device_serial, mac, model, lot, spki_sha256, not_after, "
    "issued_at, der, clamped_from, revoked_at, revocation_reason "
    "FROM issued_certificates "
    "WHERE cert_serial = :cert_serial"
)
_SELECT_BY_DEVICE = (
    "SELECT cert_serial, device_serial, mac, model, lot, spki_sha256, not_after, "
    "issued_at, der, clamped_from, revoked_at, revocation_reason "
    "FROM issued_certificates "
    "WHERE device_serial = :serial ORDER BY issued_at, cert_serial"
)
_INSERT = (
    "INSERT INTO issued_certificates (cert_serial, device_serial, mac, model, lot, "
    "spki_sha256, not_after, issued_at, der, clamped_from, revoked_at, "
    "revocation_reason) VALUES (:cert_serial, :device_serial, :mac, :model, :lot, "
    ":spki_sha256, :not_after, :issued_at, :der, :clamped_from, :revoked_at, "
    ":revocation_reason)"
)
_REVOKE = (
    "UPDATE issued_certificates SET revoked_at = :when, revocation_reason = :reason "
    "WHERE cert_serial = :cert_serial AND revoked_at IS NULL"
)


class StoreTransaction:
    """Reads and writes inside one write transaction of a :class:`CaStore`."""

    def __init__(self, cursor: Any, dialect: SqlDialect) -> None:
        self._cursor = cursor
        self._dialect = dialect

    def find_issued(self, device_serial: str, spki_sha256: str) -> IssuedRecord | None:
        """The certificate issued for this module and key, revoked or not."""
        rows = self._query(
            _SELECT_ISSUED,
            {"serial": device_serial, "spki": spki_sha256},
        )
        return rows[0] if rows else None

    def bindings(
        self, *, device_serial: str, mac: str, spki_sha256: str
    ) -> list[IssuedRecord]:
        """Unrevoked records sharing the serial, the MAC or the key."""
        return self._query(
            _SELECT_BINDINGS,
            {"serial": device_serial, "mac": mac, "spki": spki_sha256},
        )

    def insert(self, record: IssuedRecord) -> None:
        """Add ``record``; the serial and the (module, key) pair are unique."""
        self.execute(
            _INSERT,
            _parameters(record),
        )

    def mark_revoked(
        self, cert_serial: str, *, when: datetime.datetime, reason: str
    ) -> None:
        """Set the revocation of ``cert_serial`` unless it is already revoked."""
        self.execute(
            _REVOKE,
            {"when": _text(when), "reason": reason, "cert_serial": cert_serial},
        )

    def execute(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        """Run one statement written with ``:name`` parameters."""
        self._cursor.execute(self._dialect.statement(sql), parameters or {})

    def _query(self, sql: str, parameters: Mapping[str, Any]) -> list[IssuedRecord]:
        self._cursor.execute(self._dialect.statement(sql), parameters)
        return [_record(row) for row in self._cursor.fetchall()]


class CaStore:
    """Issued certificates in a DB-API database; safe to share between threads.

    Args:
        connection: An open DB-API connection in autocommit mode: the store
            opens and ends its own transactions.
        dialect: What the connection's driver needs.
        description: Where the store lives, for messages.
    """

    def __init__(
        self, connection: DbApiConnection, dialect: SqlDialect, description: str
    ) -> None:
        self._connection = connection
        self._dialect = dialect
        self._description = description
        self._lock = threading.RLock()
        self._create_schema()

    @classmethod
    def open_sqlite(cls, path: Path) -> CaStore:
        """Open (creating when needed) a SQLite store at ``path``.

        Raises:
            StoreError: The database cannot be opened.
        """
        try:
            connection = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=10.0
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open CA store {path}: {exc}") from exc
        return cls(connection, SQLITE, str(path))

    @property
    def description(self) -> str:
        """Where the store lives."""
        return self._description

    @contextmanager
    def transaction(self) -> Iterator[StoreTransaction]:
        """A write transaction: committed on success, rolled back on error.

        Raises:
            StoreError: The database failed.
        """
        with self._lock, self._translated("transaction"):
            cursor = self._connection.cursor()
            cursor.execute(self._dialect.begin_write)
            try:
                yield StoreTransaction(cursor, self._dialect)
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")

    def find(self, cert_serial: str) -> IssuedRecord | None:
        """The record of certificate ``cert_serial`` (hex), if any."""
        rows = self._read(
            _SELECT_BY_SERIAL,
            {"cert_serial": cert_serial.lower()},
        )
        return rows[0] if rows else None

    def records_for_device(self, device_serial: str) -> list[IssuedRecord]:
        """Every certificate issued to a module, oldest first."""
        return self._read(
            _SELECT_BY_DEVICE,
            {"serial": device_serial},
        )

    def revoke(
        self, cert_serial: str, *, when: datetime.datetime, reason: str
    ) -> IssuedRecord:
        """Mark a certificate revoked; revoking it again changes nothing.

        Raises:
            StoreError: No such certificate, or the database failed.
        """
        with self.transaction() as transaction:
            transaction.mark_revoked(cert_serial.lower(), when=when, reason=reason)

        record = self.find(cert_serial)
        if record is None:
            raise StoreError(f"no certificate {cert_serial} in {self._description}")
        logger.info("recorded revocation of certificate %s: %s", cert_serial, reason)
        return record

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._connection.close()

    def _read(self, sql: str, parameters: Mapping[str, Any]) -> list[IssuedRecord]:
        with self._lock, self._translated("read"):
            cursor = self._connection.cursor()
            cursor.execute(self._dialect.statement(sql), parameters)
            return [_record(row) for row in cursor.fetchall()]

    def _create_schema(self) -> None:
        with self.transaction() as transaction:
            for statement in self._schema():
                transaction.execute(statement)

    def _schema(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS issued_certificates ("
            " cert_serial TEXT PRIMARY KEY,"
            " device_serial TEXT NOT NULL,"
            " mac TEXT NOT NULL,"
            " model TEXT NOT NULL,"
            " lot TEXT NOT NULL,"
            " spki_sha256 TEXT NOT NULL,"
            " not_after TEXT NOT NULL,"
            " issued_at TEXT NOT NULL,"
            f" der {self._dialect.binary_type} NOT NULL,"
            " clamped_from TEXT,"
            " revoked_at TEXT,"
            " revocation_reason TEXT,"
            " UNIQUE (device_serial, spki_sha256))",
            "CREATE INDEX IF NOT EXISTS issued_by_mac ON issued_certificates (mac)",
            "CREATE INDEX IF NOT EXISTS issued_by_key "
            "ON issued_certificates (spki_sha256)",
        ]

    @contextmanager
    def _translated(self, operation: str) -> Iterator[None]:
        try:
            yield
        except self._dialect.errors as exc:
            raise StoreError(
                f"CA store {self._description} failed: {exc}", operation=operation
            ) from exc


def _parameters(record: IssuedRecord) -> dict[str, Any]:
    return {
        "cert_serial": record.cert_serial,
        "device_serial": record.device_serial,
        "mac": record.mac,
        "model": record.model,
        "lot": record.lot,
        "spki_sha256": record.spki_sha256,
        "not_after": _text(record.not_after),
        "issued_at": _text(record.issued_at),
        "der": record.der,
        "clamped_from": _optional_text(record.clamped_from),
        "revoked_at": _optional_text(record.revoked_at),
        "revocation_reason": record.revocation_reason,
    }


def _record(row: Sequence[Any]) -> IssuedRecord:
    return IssuedRecord(
        cert_serial=row[0],
        device_serial=row[1],
        mac=row[2],
        model=row[3],
        lot=row[4],
        spki_sha256=row[5],
        not_after=_time(row[6]),
        issued_at=_time(row[7]),
        der=bytes(row[8]),
        clamped_from=_optional_time(row[9]),
        revoked_at=_optional_time(row[10]),
        revocation_reason=row[11],
    )


# Times are stored as ISO 8601 UTC text: portable across databases and in
# chronological order when sorted as text.
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _text(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime(_TIME_FORMAT)


def _optional_text(moment: datetime.datetime | None) -> str | None:
    return None if moment is None else _text(moment)


def _time(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=datetime.UTC)


def _optional_time(text: str | None) -> datetime.datetime | None:
    return None if text is None else _time(text)
