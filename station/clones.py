"""Clone detection: one key per serial and per MAC (DESIGN section 7).

A module whose serial or MAC is already bound to a different key by an issued
certificate, on this station or in records imported from others, is refused
and flagged for QA. The refusal shows both records, so QA can tell a clone
from a rework that needs a supervisor's authorisation.
"""

from __future__ import annotations

from collections.abc import Sequence

from station.audit import AuditLog
from station.audit_entry import AuditEntry
from station.errors import CloneRefused
from station.journal import Binding, Journal, QaFlagKind

# How much of a key or certificate hash to show an operator: enough to tell
# two apart at a glance, short enough for a console tile.
_SHOWN = 16


def check_bindings(
    bindings: Sequence[Binding], *, serial: str, mac: str, spki_sha256: str, slot: str
) -> None:
    """Refuse a module whose serial or MAC is bound to another key.

    Args:
        bindings: Every binding of ``serial`` or ``mac`` known to the station.
        serial: The module's serial.
        mac: The module's MAC.
        spki_sha256: SHA-256 of the key the module presents now.
        slot: The slot the module is seated in.

    Raises:
        CloneRefused: A binding names a different key; the message shows the
            existing record and this module, and ``in_work`` names the run
            of a module in work now that holds the binding.
    """
    # TODO(campaigns): an authorised rework or rotation campaign covering the
    # module lets it take a new key; campaigns are a PKI officer's tool that
    # does not exist yet, so every conflict is refused.
    for binding in bindings:
        if binding.spki_sha256 == spki_sha256:
            continue
        field = "serial" if binding.serial == serial else "MAC"
        value = serial if field == "serial" else mac
        raise CloneRefused(
            f"clone suspected: {field} {value} is already bound to another key "
            f"({_describe(binding)}); this module: serial {serial}, MAC {mac}, "
            f"key {spki_sha256[:_SHOWN]}, {slot}; flagged for QA",
            in_work=binding.in_work,
        )


def _describe(binding: Binding) -> str:
    certificate = (
        "in work now, no certificate yet"
        if binding.cert_serial is None
        else f"certificate {binding.cert_serial[:_SHOWN]}"
    )
    return (
        f"{binding.record} on station {binding.station} {binding.slot} at "
        f"{binding.at:%Y-%m-%d %H:%M} UTC: serial {binding.serial}, MAC "
        f"{binding.mac}, key {binding.spki_sha256[:_SHOWN]}, {certificate}"
    )


def flag_clone(
    journal: Journal, audit: AuditLog, run_id: int, reason: str
) -> AuditEntry:
    """Flag run ``run_id``'s module for QA as a clone suspect, and audit it.

    Raises:
        AuditError: The audit log refuses the entry (the flag is kept).
    """
    run = journal.run(run_id)
    journal.flag_for_qa(
        run_id,
        serial=run.serial or "",
        mac=run.mac or "",
        reason=reason,
        kind=QaFlagKind.CLONE,
    )
    return audit.clone_flagged(run, reason=reason)
