"""Importing a lot plan on a station: store it, and audit who imported it."""

from __future__ import annotations

from station.audit import AuditLog, audit_log_path
from station.audit_entry import AuditEvent
from station.badges import check_badge
from station.config import StationConfig
from station.journal import Journal
from station.lot_plan import LotPlan
from station.lot_store import ImportOutcome, LotStore


def import_lot(
    config: StationConfig,
    plan: LotPlan,
    *,
    supervisor: str,
    source: str,
    replace: bool = False,
) -> ImportOutcome:
    """Store ``plan`` in the station's lot store and record the import.

    Args:
        config: The station's configuration.
        plan: A validated lot plan.
        supervisor: Badge id of whoever authorises the import.
        source: The file the plan came from.
        replace: Allow a different plan to replace the lot's current one.

    Raises:
        BadgeError: ``supervisor`` is not a badge id.
        LotPlanError: The lot already has a different plan and ``replace`` is
            not set.
        AuditError: The audit log refuses the entry.
    """
    # TODO(roles): DESIGN section 7 has supervisors authorise lot plan imports
    # with their role's credential; roles and credentials are not built yet, so
    # the badge is recorded but not checked.
    check_badge(supervisor, role="supervisor")
    with LotStore(config.lots_path) as lots:
        outcome = lots.import_plan(
            plan, imported_by=supervisor, source=source, replace=replace
        )
    if outcome is not ImportOutcome.UNCHANGED:
        with (
            Journal(config.journal_path, station=config.station.name) as journal,
            AuditLog(
                audit_log_path(config), keep_head=journal.keep_audit_head
            ) as audit,
        ):
            audit.append(
                AuditEvent.LOT_IMPORTED,
                station=config.station.name,
                operator=supervisor,
                lot=plan.lot,
                plan_sha256=plan.sha256,
                modules=len(plan.modules),
                outcome=outcome.value,
            )
    return outcome
