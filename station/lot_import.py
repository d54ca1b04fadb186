"""Importing a lot plan on a station: store it, and audit who imported it."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from station.audit import open_audit_log
from station.audit_entry import AuditEvent
from station.badges import check_badge
from station.config import StationConfig
from station.errors import LotPlanError
from station.journal import Journal
from station.lot_plan import LotPlan
from station.lot_store import ImportOutcome, LotStore
from station.state_lock import StateLock, StationBusy


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
            not set; a model is not in the product line; a serial or MAC
            is planned in another lot already; the new plan contradicts an
            issued certificate; or a replacement is asked for while a station
            runs on this state.
        AuditError: The audit log refuses the entry.
    """
    # TODO(roles): DESIGN section 7 has supervisors authorise lot plan imports
    # with their role's credential; roles and credentials are not built yet, so
    # the badge is recorded but not checked.
    check_badge(supervisor, role="supervisor")
    check_models(config, plan, source)
    with (
        _line_stopped(config, replace),
        Journal(config.journal_path, station=config.station.name) as journal,
        # Opened, and checked against the journal, before anything changes:
        # an import must not land where its audit entry cannot.
        open_audit_log(config, operator=supervisor, journal=journal) as audit,
        LotStore(config.lots_path) as lots,
    ):
        _check_unplanned_elsewhere(lots, plan, source)
        _check_certified_kept(journal, plan, source)
        outcome = lots.import_plan(
            plan, imported_by=supervisor, source=source, replace=replace
        )
        if outcome is not ImportOutcome.UNCHANGED:
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


def _check_certified_kept(journal: Journal, plan: LotPlan, source: str) -> None:
    """A new plan may not drop or alter a module a certificate already names.

    Its serial, MAC and model are in an issued certificate; a plan that says
    otherwise would refuse the module it was issued to, or pass another.
    """
    changed: dict[str, str] = {}
    for run in journal.certified(lot=plan.lot):
        planned = plan.modules.get(run.serial or "")
        if planned is None:
            changed[run.serial or "?"] = "left out"
        elif (planned.mac, planned.model) != (run.mac, run.model):
            changed[run.serial or "?"] = (
                f"certified as {run.mac} {run.model}, "
                f"planned as {planned.mac} {planned.model}"
            )
    if changed:
        shown = "; ".join(
            f"{serial} {why}" for serial, why in list(changed.items())[:5]
        )
        more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        raise LotPlanError(
            f"{source}: the new plan of lot {plan.lot} contradicts the "
            f"certificates already issued to {_modules(len(changed))}: "
            f"{shown}{more}; keep them in the plan as certified"
        )


def _modules(count: int) -> str:
    return "1 module" if count == 1 else f"{count} modules"


def _line_stopped(
    config: StationConfig, replace: bool
) -> AbstractContextManager[object]:
    """Hold the station's state lock while a plan is replaced.

    A running station checks modules against the plan it loaded and issues
    certificates as it goes; a replacement checked against the certificates
    of the moment could be contradicted by the next one. A new lot's plan
    cannot be, so it may be imported while the line runs.
    """
    if not replace:
        return nullcontext()
    try:
        return StateLock(config.station.state_dir)
    except StationBusy as exc:
        raise LotPlanError(
            f"a lot plan is replaced only with the line stopped: {exc}"
        ) from exc


def check_models(config: StationConfig, plan: LotPlan, source: str) -> None:
    """Refuse a plan with a model the product line does not certify.

    Raises:
        LotPlanError: Naming ``source``, the models and the product line.
    """
    models = sorted({m.model for m in plan.modules.values()})
    unknown = [model for model in models if model not in config.product_line.models]
    if unknown:
        known = ", ".join(sorted(config.product_line.models))
        raise LotPlanError(
            f"{source}: model {', '.join(unknown)} is not in product line "
            f"{config.product_line.name} ({known}); no certificate could be issued"
        )


def _check_unplanned_elsewhere(lots: LotStore, plan: LotPlan, source: str) -> None:
    clashes = lots.planned_elsewhere(plan)
    if clashes:
        shown = "; ".join(
            f"{what} {value} in lot {lot}" for what, value, lot in clashes[:5]
        )
        more = f" and {len(clashes) - 5} more" if len(clashes) > 5 else ""
        raise LotPlanError(
            f"{source}: {len(clashes)} serials or MACs are planned in another lot "
            f"already: {shown}{more}"
        )
