"""Clearing QA flags: QA's decision on a flagged module, audited.

A module flagged as a clone is refused until QA has looked at it: the
station cannot tell the genuine module from the clone, people can (the
housing, the lot's traveller, the other module). Clearing the flags on a
serial records who decided, what they found and which flags it closes.
"""

from __future__ import annotations

from station.audit import open_audit_log
from station.audit_entry import AuditEvent
from station.badges import check_badge
from station.config import StationConfig
from station.errors import StationError
from station.journal import Journal, QaFlag


class NothingToClear(StationError):
    """The serial has no open QA flag."""


def clear_flags(
    config: StationConfig, serial: str, *, supervisor: str, note: str
) -> list[QaFlag]:
    """Clear every open QA flag on module ``serial``, and audit it.

    Args:
        config: The station's configuration.
        serial: The module serial whose flags QA has resolved.
        supervisor: Badge id of whoever decides.
        note: What QA found, in its own words (kept in the journal and audit).

    Returns:
        The flags cleared.

    Raises:
        BadgeError: ``supervisor`` is not a badge id.
        NothingToClear: The serial has no open flag; the note is required.
        AuditError: The audit log refuses the entry.
    """
    # TODO(roles): clearing a clone flag is a supervisor's decision; the badge
    # is recorded but its role is not checked until roles exist.
    check_badge(supervisor, role="supervisor")
    if not note.strip():
        raise NothingToClear("say what QA found (--note)")
    with (
        Journal(config.journal_path, station=config.station.name) as journal,
        open_audit_log(config, operator=supervisor, journal=journal) as log,
    ):
        flagged = [flag for flag in journal.qa_flags(serial=serial) if flag.open]
        if not flagged:
            raise NothingToClear(f"module {serial} has no open QA flag")
        # The decision is audited before it takes effect: a flag is never
        # cleared without its entry.
        log.append(
            AuditEvent.QA_FLAGS_CLEARED,
            station=config.station.name,
            operator=supervisor,
            serial=serial,
            runs=",".join(str(flag.run_id) for flag in flagged),
            note=note,
        )
        return journal.clear_qa_flags(serial=serial, by=supervisor, note=note)


def open_flags(config: StationConfig) -> list[QaFlag]:
    """Every QA flag not cleared yet, oldest first."""
    with Journal(config.journal_path, station=config.station.name) as journal:
        return [flag for flag in journal.qa_flags() if flag.open]
