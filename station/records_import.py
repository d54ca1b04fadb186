"""Importing another station's records: its certificate bindings, audited.

A station refuses a module whose serial or MAC is already bound to another key
on this station or in records imported from others. Importing another
station's JSON lot export (``station export --lot``) brings its bindings in.
The import changes which modules this station refuses, so a supervisor orders
it and the audit log records the file, its hash and what it added.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from station.audit import AuditLog, open_audit_log
from station.audit_entry import AuditEvent
from station.badges import check_badge
from station.clones import flag_clone
from station.config import StationConfig
from station.export import ExportError, ExportRecord, read_export_document
from station.journal import Binding, Journal


@dataclass(frozen=True)
class RecordsImported:
    """What an import of another station's records did.

    Attributes:
        bindings: Certificate bindings the file holds.
        new: How many of them this station did not hold yet.
        without_certificate: Records with no certificate (failed attempts).
        conflicts: Each binding that contradicts one held here, in words.
    """

    bindings: int
    new: int
    without_certificate: int
    conflicts: tuple[str, ...] = ()


def import_records(
    config: StationConfig, path: Path, *, supervisor: str
) -> RecordsImported:
    """Import the certificate bindings of another station's JSON lot export.

    Args:
        config: This station's configuration.
        path: The JSON export.
        supervisor: Badge id of whoever orders the import.

    Raises:
        BadgeError: ``supervisor`` is not a badge id.
        ExportError: The file is not a valid export, or it is this station's own.
        AuditError: The audit log refuses the entry.
    """
    # TODO(roles): DESIGN section 7 has supervisors authorise imports with
    # their role's credential; roles are not built yet, so the badge is
    # recorded but not checked.
    check_badge(supervisor, role="supervisor")
    document = read_export_document(path)
    if document.header.station == config.station.name:
        raise ExportError(
            f"{path}: an export of this station ({config.station.name}); its "
            "records are in this station's journal already"
        )

    bindings = [_binding(record) for record in document.records if _bound(record)]
    with (
        Journal(config.journal_path, station=config.station.name) as journal,
        open_audit_log(config, operator=supervisor, journal=journal) as audit,
    ):
        conflicts = _flag_conflicts(journal, audit, bindings, path.name)
        new = journal.import_bindings(bindings, source=path.name)
        if new or conflicts:
            audit.append(
                AuditEvent.RECORDS_IMPORTED,
                station=config.station.name,
                operator=supervisor,
                source=path.name,
                file_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                from_station=document.header.station,
                lot=document.header.lot,
                bindings=len(bindings),
                new=new,
                conflicts=len(conflicts),
            )
    return RecordsImported(
        bindings=len(bindings),
        new=new,
        without_certificate=len(document.records) - len(bindings),
        conflicts=tuple(conflicts),
    )


def _flag_conflicts(
    journal: Journal, audit: AuditLog, bindings: list[Binding], source: str
) -> list[str]:
    """Find the imported bindings that bind a serial or MAC to another key
    than a record here does; flag this station's runs among them for QA."""
    conflicts: list[str] = []
    for incoming in bindings:
        held_here = journal.bindings(serial=incoming.serial, mac=incoming.mac)
        if any(_same_import(held, incoming) for held in held_here):
            continue  # imported before: its conflicts were reported then
        for held in held_here:
            if held.spki_sha256 == incoming.spki_sha256:
                continue
            reason = (
                f"clone suspected: station {incoming.station} certified serial "
                f"{incoming.serial}, MAC {incoming.mac} with another key "
                f"(key {incoming.spki_sha256[:16]}, certificate "
                f"{(incoming.cert_serial or '')[:16]}, in {source}); here, "
                f"{held.record} on station {held.station}: serial {held.serial}, "
                f"MAC {held.mac}, key {held.spki_sha256[:16]}; "
            )
            if held.run_id is None:
                # Two other stations disagree: no module of this one to stop.
                conflicts.append(reason + "not a module of this station")
                continue
            reason += "flagged for QA"
            conflicts.append(reason)
            flag_clone(journal, audit, held.run_id, reason)
    return conflicts


def _same_import(held: Binding, incoming: Binding) -> bool:
    return (
        held.run_id is None
        and held.cert_serial == incoming.cert_serial
        and held.spki_sha256 == incoming.spki_sha256
    )


def _bound(record: ExportRecord) -> bool:
    return record.cert_serial is not None and record.spki_sha256 is not None


def _binding(record: ExportRecord) -> Binding:
    assert record.cert_serial is not None
    assert record.spki_sha256 is not None
    return Binding(
        record=f"run {record.run_id}",
        station=record.station,
        slot=record.slot,
        serial=record.serial,
        mac=record.mac.lower(),
        spki_sha256=record.spki_sha256,
        cert_serial=record.cert_serial,
        at=record.started_at,
    )
