"""Per-lot exports of manufacturing records: one CSV and one JSON file.

Each provisioning run of the lot gives one record: the module's identity, its
certificate (serial, SHA-256 fingerprint, validity, issuer), where, by whom
and when it ran, and how it ended. The SPKI hash is there so that another
station can import the records with :func:`read_export` and refuse clones of
modules provisioned here.

Records are read from the journal's SQLite file opened read-only, so an export
runs beside a working line without taking its write lock. Both files are
written atomically. Nothing secret is in the journal's columns read here, and
nothing else is read.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from cryptography import x509
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from device_io.errors import IdentityError
from device_io.identity import check_field
from station.atomic_file import write_atomic
from station.config import StationConfig
from station.csv_safety import csv_bytes
from station.errors import StationError
from station.journal import Clock, utc_now

logger = logging.getLogger(__name__)

FORMAT: Final = "station-manufacturing-records"
FORMAT_VERSION = 1
EXPORTS_DIR = "exports"


class ExportError(StationError):
    """An export cannot be written or read; names the file, lot or record."""


def _utc(moment: datetime.datetime) -> datetime.datetime:
    return moment.astimezone(datetime.UTC)


UtcTime = Annotated[AwareDatetime, AfterValidator(_utc)]
Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,32}$")]
Serial = Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,24}$")]
Mac = Annotated[str, Field(pattern=r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")]
Model = Annotated[str, Field(pattern=r"^[A-Za-z0-9.]{1,16}$")]
LotName = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,20}$")]


class ExportRecord(BaseModel):
    """One provisioning run, as exported; the CSV columns, in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    serial: Serial
    mac: Mac
    model: Model
    lot: LotName
    firmware: LotName
    cert_serial: Annotated[str, Field(pattern=r"^[0-9a-f]{1,40}$")] | None
    cert_sha256: Hex64 | None
    not_before: UtcTime | None
    not_after: UtcTime | None
    issuer: Annotated[str, Field(min_length=1, max_length=1024)] | None
    station: Name
    slot: Name
    operator: Annotated[str, Field(min_length=1, max_length=64)]
    started_at: UtcTime
    ended_at: UtcTime | None
    outcome: Annotated[str, Field(pattern=r"^[A-Z_]{1,32}$")]
    failure_step: Annotated[str, Field(max_length=64)] | None
    failure_reason: Annotated[str, Field(max_length=4096)] | None
    spki_sha256: Hex64 | None
    run_id: Annotated[int, Field(ge=1)]

    @model_validator(mode="after")
    def _certificate_whole(self) -> ExportRecord:
        parts = (
            self.cert_serial,
            self.cert_sha256,
            self.not_before,
            self.not_after,
            self.issuer,
        )
        if any(part is None for part in parts) and any(parts):
            raise ValueError(
                "cert_serial, cert_sha256, not_before, not_after and issuer "
                "come together or not at all"
            )
        if self.outcome == "PASS" and (
            self.cert_serial is None or not self.spki_sha256
        ):
            raise ValueError("a PASS record needs its certificate and spki_sha256")
        return self


class ExportHeader(BaseModel):
    """What the JSON export says about itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["station-manufacturing-records"]
    version: int
    station: Name
    lot: LotName
    exported_at: UtcTime
    count: Annotated[int, Field(ge=0)]


@dataclass(frozen=True)
class ExportFiles:
    """What :func:`export_lot` wrote."""

    csv: Path
    json: Path
    count: int


def exports_dir(config: StationConfig) -> Path:
    """Where exports go by default: ``<state_dir>/exports``."""
    return config.station.state_dir / EXPORTS_DIR


def export_lot(
    journal: Path,
    lot: str,
    *,
    station: str,
    out: Path,
    clock: Clock = utc_now,
) -> ExportFiles:
    """Write ``<out>/<lot>-records.csv`` and ``.json`` from the journal.

    Args:
        journal: The station journal (SQLite), read but never written.
        lot: The lot whose runs are exported.
        station: The exporting station, for the JSON header.
        out: The folder to write into; made when missing.
        clock: Source of the export time.

    Raises:
        ExportError: The lot name breaks its rule, the journal cannot be read
            or holds no run of the lot, a run cannot be exported, or the files
            cannot be written.
    """
    _check_lot(lot)
    records = lot_records(journal, lot)
    if not records:
        raise ExportError(f"no provisioning run of lot {lot} in journal {journal}")
    header = ExportHeader(
        format=FORMAT,
        version=FORMAT_VERSION,
        station=station,
        lot=lot,
        exported_at=clock(),
        count=len(records),
    )

    files = ExportFiles(
        csv=out / f"{lot}-records.csv",
        json=out / f"{lot}-records.json",
        count=len(records),
    )
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(files.csv, _csv(records))
        write_atomic(files.json, _json(header, records))
    except OSError as exc:
        raise ExportError(f"cannot write the export of lot {lot}: {exc}") from exc

    logger.info("exported %d records of lot %s to %s", files.count, lot, out)
    return files


def _check_lot(lot: str) -> None:
    try:
        check_field("lot", lot)
    except IdentityError:
        raise ExportError(
            f"lot name {lot!r} breaks the rule 1 to 20 of A-Z a-z 0-9 . _ -"
        ) from None


def _csv(records: Sequence[ExportRecord]) -> bytes:
    columns = list(ExportRecord.model_fields)
    rows = (
        ["" if value is None else str(value) for value in _dumped(record).values()]
        for record in records
    )
    return csv_bytes(columns, rows)


def _json(header: ExportHeader, records: Sequence[ExportRecord]) -> bytes:
    document = {
        "header": header.model_dump(mode="json"),
        "records": [_dumped(record) for record in records],
    }
    return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"


def _dumped(record: ExportRecord) -> dict[str, Any]:
    return record.model_dump(mode="json")


_RUN_COLUMNS = (
    "id, station, operator, slot, serial, mac, model, lot, firmware, spki_sha256,"
    " cert_serial, cert_der, status, failure_step, failure_reason, started_at,"
    " ended_at"
)


def lot_records(journal: Path, lot: str) -> list[ExportRecord]:
    """The provisioning runs of ``lot`` in the journal, oldest first.

    Raises:
        ExportError: The journal cannot be read, or a run cannot be exported.
    """
    if not journal.is_file():
        raise ExportError(f"no journal at {journal}")
    try:
        db = sqlite3.connect(f"{journal.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = db.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs"  # noqa: S608 - fixed columns
                " WHERE lot = ? AND kind = 'provision' ORDER BY id",
                (lot,),
            ).fetchall()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise ExportError(f"cannot read journal {journal}: {exc}") from exc
    return [_record(row) for row in rows]


def _record(row: tuple[Any, ...]) -> ExportRecord:
    (run_id, station, operator, slot, serial, mac, model, lot, firmware) = row[:9]
    (spki, cert_serial, cert_der, status, failure_step, failure_reason) = row[9:15]
    started_at, ended_at = row[15:]
    try:
        return ExportRecord(
            serial=serial,
            mac=mac,
            model=model,
            lot=lot,
            firmware=firmware,
            **_certificate(cert_serial, cert_der),
            station=station,
            slot=slot,
            operator=operator,
            started_at=started_at,
            ended_at=ended_at,
            outcome=status,
            failure_step=failure_step,
            failure_reason=failure_reason,
            spki_sha256=spki,
            run_id=run_id,
        )
    except (ValueError, ValidationError) as exc:
        raise ExportError(f"run {run_id} cannot be exported: {_reason(exc)}") from None


def _certificate(cert_serial: str | None, der: bytes | None) -> dict[str, Any]:
    if der is None:
        return dict.fromkeys(
            ("cert_serial", "cert_sha256", "not_before", "not_after", "issuer")
        )
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        # The parser's words (a Rust ParseError) go to the log, not the message.
        logger.debug("record certificate parse error: %s", exc)
        raise ValueError(
            f"its certificate is not DER X.509 ({len(der)} bytes, "
            f"starting {der[:4].hex() or 'empty'})"
        ) from None
    return {
        "cert_serial": cert_serial,
        "cert_sha256": hashlib.sha256(der).hexdigest(),
        "not_before": certificate.not_valid_before_utc,
        "not_after": certificate.not_valid_after_utc,
        "issuer": certificate.issuer.rfc4514_string(),
    }


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'record'}: "
            f"{error['msg']}"
            for error in exc.errors()
        )
    return str(exc)


def read_export(path: Path) -> list[ExportRecord]:
    """Read back a JSON export's records (see :func:`read_export_document`)."""
    return read_export_document(path).records


@dataclass(frozen=True)
class ExportDocument:
    """A JSON export read back: what it says of itself, and its records."""

    header: ExportHeader
    records: list[ExportRecord]


def read_export_document(path: Path) -> ExportDocument:
    """Read back a JSON export, checking its format version and every record.

    Raises:
        ExportError: The file cannot be read, is not an export of a version
            this station reads, or a record is invalid; the message names the
            file and the record's index in ``records``.
    """
    try:
        document = json.loads(path.read_bytes())
    except OSError as exc:
        raise ExportError(f"cannot read export {path}: {exc.strerror}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{path}: not JSON ({exc})") from None

    header, items = _parts(path, document)
    records = [
        _read_record(path, index, item, header) for index, item in enumerate(items)
    ]
    return ExportDocument(header, records)


def _parts(path: Path, document: object) -> tuple[ExportHeader, list[object]]:
    if not isinstance(document, dict) or set(document) != {"header", "records"}:
        raise ExportError(f"{path}: not an export (expected header and records)")
    raw_header, items = document["header"], document["records"]
    if not isinstance(raw_header, dict) or raw_header.get("format") != FORMAT:
        raise ExportError(f"{path}: header: format is not {FORMAT}")
    if raw_header.get("version") != FORMAT_VERSION:
        raise ExportError(
            f"{path}: header: format version {raw_header.get('version')!r} is not "
            f"supported (this station reads version {FORMAT_VERSION})"
        )
    try:
        header = ExportHeader.model_validate(raw_header)
    except ValidationError as exc:
        raise ExportError(f"{path}: header: {_reason(exc)}") from None
    if not isinstance(items, list):
        raise ExportError(f"{path}: records is not a list")
    if len(items) != header.count:
        raise ExportError(
            f"{path}: the header counts {header.count} records, "
            f"the file holds {len(items)}"
        )
    return header, items


def _read_record(
    path: Path, index: int, item: object, header: ExportHeader
) -> ExportRecord:
    try:
        record = ExportRecord.model_validate(item)
    except ValidationError as exc:
        raise ExportError(f"{path}: records[{index}]: {_reason(exc)}") from None
    if record.lot != header.lot:
        raise ExportError(
            f"{path}: records[{index}]: lot {record.lot} is not the export's "
            f"lot {header.lot}"
        )
    return record
