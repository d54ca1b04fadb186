"""What a line operator sees when the station refuses a module.

Each refusal runs the real workflow over a real pty against a simulated module
that is wrong in that one way, and checks the exact message, the step, and that
the module was stopped before its key was generated (plan refusals) or before
anything was issued (clones).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from station_bench import Line

from device_io.pv import SlotState
from device_io.session import open_session
from station.assembly import open_station
from station.audit import audit_log_path
from station.errors import LotPlanError
from station.events import EventKind, SlotEvent
from station.journal import QaFlagKind, RunStatus
from station.lot_import import import_lot
from station.lot_plan import read_lot_plan
from station.lot_store import LotStore
from station.steps import Step
from station.workflow import ModuleResult

MakeLine = Callable[..., Line]
FIXTURE_PLAN = Path(__file__).parents[2] / "fixtures" / "lots" / "LOT-2026-0042.csv"


def _modules(tmp_path: Path, row: str) -> Path:
    """A simulator plan whose first module is ``row``."""
    path = tmp_path / "modules.csv"
    path.write_text(f"serial,mac,model,lot\n{row}\n")
    return path


@pytest.mark.parametrize(
    ("row", "firmware", "message"),
    [
        (
            "AMB82D009999,00:e0:4c:87:09:99,AMB82,LOT-2026-0042",
            "1.4.2",
            "module AMB82D009999 is not in the plan of lot LOT-2026-0042",
        ),
        (
            "AMB82D001001,00:e0:4c:87:00:01,BW16,LOT-2026-0042",
            "1.4.2",
            "module AMB82D001001 reports model BW16; "
            "the plan of lot LOT-2026-0042 says AMB82",
        ),
        (
            "AMB82D001001,00:e0:4c:87:00:77,AMB82,LOT-2026-0042",
            "1.4.2",
            "module AMB82D001001 reports MAC 00:e0:4c:87:00:77; "
            "the plan of lot LOT-2026-0042 gives it 00:e0:4c:87:00:01",
        ),
        (
            "AMB82D001001,00:e0:4c:87:00:01,AMB82,LOT-2026-0042",
            "1.3.9",
            "module AMB82D001001 runs firmware 1.3.9; lot LOT-2026-0042 allows 1.4.2",
        ),
    ],
    ids=["not in plan", "wrong model", "wrong MAC", "firmware not allowed"],
)
def test_module_the_plan_does_not_allow_is_refused_before_key_generation(
    make_line: MakeLine, tmp_path: Path, row: str, firmware: str, message: str
) -> None:
    line = make_line(modules=_modules(tmp_path, row), firmware=firmware)

    result = line.station.provisioner.provision(line.slots[0])

    assert (result.status, result.failure_step, result.reason) == (
        RunStatus.FAIL,
        Step.PLAN_CHECK,
        message,
    )
    steps = {s.step for s in line.station.journal.steps(result.run_id)}
    assert Step.KEYGEN.value not in steps
    with open_session(line.slots[0].port, slot="check") as session:
        assert session.identify().state is SlotState.EMPTY


def test_misread_serial_naming_a_neighbour_is_refused_by_the_plan(
    make_line: MakeLine,
) -> None:
    line = make_line(misbehave=("1=wrong-identity",))

    result = line.station.provisioner.provision(line.slots[0])

    assert result.failure_step is Step.PLAN_CHECK
    assert result.reason.startswith("module AMB82D00100")
    assert "reports MAC 00:e0:4c:87:00:01; the plan of lot" in result.reason


def test_clone_of_a_provisioned_module_is_refused_showing_both_records(
    make_line: MakeLine,
) -> None:
    line = make_line(slots=2, misbehave=("2=clone-of:1",))
    original = line.station.provisioner.provision(line.slots[0])
    first = line.station.journal.run(original.run_id)

    clone = line.station.provisioner.provision(line.slots[1])

    clone_run = line.station.journal.run(clone.run_id)
    assert original.passed
    assert clone.failure_step is Step.CLONE_CHECK
    assert first.spki_sha256 is not None
    assert clone_run.spki_sha256 is not None
    at = first.started_at.strftime("%Y-%m-%d %H:%M")
    assert clone.reason == (
        "clone suspected: serial AMB82D001001 is already bound to another key "
        f"(run {original.run_id} on station demo-station slot-1 at {at} UTC: "
        f"serial AMB82D001001, MAC 00:e0:4c:87:00:01, key "
        f"{first.spki_sha256[:16]}, certificate {(first.cert_serial or '')[:16]}); "
        "this module: serial AMB82D001001, MAC 00:e0:4c:87:00:01, key "
        f"{clone_run.spki_sha256[:16]}, slot-2; flagged for QA"
    )
    assert clone_run.cert_der is None
    (flag,) = line.station.journal.qa_flags(serial="AMB82D001001")
    assert (flag.run_id, flag.reason) == (clone.run_id, clone.reason)


def test_module_keeps_its_binding_when_provisioned_again_with_the_same_key(
    make_line: MakeLine,
) -> None:
    line = make_line(misbehave=("1=bad-challenge-signature",))
    first = line.station.provisioner.provision(line.slots[0])

    second = line.station.provisioner.provision(line.slots[0])

    assert first.failure_step is second.failure_step is Step.CHALLENGE
    flags = line.station.journal.qa_flags()
    assert not [flag for flag in flags if flag.reason.startswith("clone suspected")]


def test_certificate_issued_to_a_module_that_then_fails_is_flagged_for_qa(
    make_line: MakeLine,
) -> None:
    line = make_line(misbehave=("1=bad-challenge-signature",))

    result = line.station.provisioner.provision(line.slots[0])

    (flag,) = line.station.journal.qa_flags(serial="AMB82D001001")
    assert flag.run_id == result.run_id
    assert flag.reason == (
        f"certificate {result.cert_serial} was issued for this module's key but "
        f"the module failed at proof of possession: {result.reason}; finish the "
        "module or revoke the certificate"
    )
    log = audit_log_path(line.station.config).read_text().splitlines()
    entry = json.loads(log[-1])
    assert entry["event"] == "undelivered"
    assert entry["fields"]["cert_serial"] == result.cert_serial


def test_locked_module_seated_under_another_lot_is_refused_by_that_plan(
    make_line: MakeLine, tmp_path: Path
) -> None:
    line = make_line()
    first = line.station.provisioner.provision(line.slots[0])
    config = line.station.config
    line.station.close()
    other = tmp_path / "other-lot.csv"
    other.write_text(
        "serial,mac,model,lot\nAMB82D077001,00:e0:4c:87:77:01,AMB82,LOT-B\n"
    )
    import_lot(
        config,
        read_lot_plan(other, allowed_firmware=["1.4.2"]),
        supervisor="S0001",
        source=str(other),
    )

    with open_station(config, operator="B0042", lot="LOT-B") as station:
        again = station.provisioner.provision(line.slots[0])

    assert first.passed
    assert (again.status, again.failure_step, again.reason) == (
        RunStatus.FAIL,
        Step.PLAN_CHECK,
        "module AMB82D001001 is not in the plan of lot LOT-B",
    )


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (lambda row: "", "left out"),
        (
            lambda row: row.replace("00:e0:4c:87:00:01", "00:e0:4c:87:01:01"),
            "certified as 00:e0:4c:87:00:01 AMB82, planned as 00:e0:4c:87:01:01 AMB82",
        ),
    ],
    ids=["dropped", "MAC changed"],
)
def test_a_replacement_plan_contradicting_an_issued_certificate_is_refused(
    make_line: MakeLine, tmp_path: Path, edit: Callable[[str], str], why: str
) -> None:
    line = make_line()
    line.station.provisioner.provision(line.slots[0])
    line.station.close()
    rows = FIXTURE_PLAN.read_text().splitlines(keepends=True)
    replaced = tmp_path / "replaced.csv"
    replaced.write_text("".join([rows[0], edit(rows[1]), *rows[2:]]))

    with pytest.raises(LotPlanError) as refused:
        import_lot(
            line.station.config,
            read_lot_plan(replaced, allowed_firmware=["1.4.2"]),
            supervisor="S0001",
            source=str(replaced),
            replace=True,
        )

    assert str(refused.value) == (
        f"{replaced}: the new plan of lot LOT-2026-0042 contradicts the "
        f"certificates already issued to 1 module: AMB82D001001 {why}; keep "
        "them in the plan as certified"
    )
    with LotStore(line.station.config.lots_path) as lots:
        assert "AMB82D001001" in lots.plan("LOT-2026-0042").modules


def _seat_the_clone_when(
    line: Line, step: Step, results: list[ModuleResult]
) -> Callable[[SlotEvent], None]:
    """A listener for slot-1 that runs slot-2's whole module when slot-1
    starts ``step``: two modules with one serial in work at once."""

    def listener(event: SlotEvent) -> None:
        if event.kind is EventKind.STEP and event.step is step and not results:
            results.append(line.station.provisioner.provision(line.slots[1]))

    return listener


@pytest.mark.parametrize("step", [Step.ISSUE, Step.LOCK], ids=["issue", "lock"])
def test_two_modules_with_one_serial_in_work_at_once_are_both_stopped_and_flagged(
    make_line: MakeLine, step: Step
) -> None:
    line = make_line(slots=2, misbehave=("2=clone-of:1",))
    clone: list[ModuleResult] = []

    first = line.station.provisioner.provision(
        line.slots[0], listener=_seat_the_clone_when(line, step, clone)
    )

    (second,) = clone
    assert (first.failure_step, second.failure_step) == (step, Step.CLONE_CHECK)
    held = (
        "in work now, no certificate yet"
        if step is Step.ISSUE
        else f"certificate {(first.cert_serial or '')[:16]}"
    )
    assert f"(run {first.run_id} on station demo-station slot-1 at " in second.reason
    assert held in second.reason
    assert first.reason.startswith(
        f"serial AMB82D001001 has an open clone flag from run {first.run_id} ("
    )
    assert first.reason.endswith(
        "QA clears it with 'station records clear-flags AMB82D001001' once the "
        "genuine module is known"
    )
    flags = {
        flag.run_id: flag.reason
        for flag in line.station.journal.qa_flags()
        if flag.kind is QaFlagKind.CLONE
    }
    assert flags[first.run_id] == (
        "clone suspected: slot-2 presented serial AMB82D001001, MAC "
        "00:e0:4c:87:00:01 with another key while this module was in work "
        f"(run {second.run_id}); flagged for QA"
    )
    assert flags[second.run_id] == second.reason
    issued = [r for r in (first, second) if r.cert_serial is not None]
    assert len(issued) == (0 if step is Step.ISSUE else 1)


def test_a_clone_the_issuing_ca_refuses_is_flagged_for_qa(make_line: MakeLine) -> None:
    line = make_line(slots=2, misbehave=("2=clone-of:1",))
    line.station.provisioner.provision(line.slots[0])
    # Forget this station's record, as a station that never saw the original
    # would: only the issuing CA still knows the binding.
    line.station.journal._db.execute("UPDATE runs SET cert_serial = NULL")

    clone = line.station.provisioner.provision(line.slots[1])

    assert clone.failure_step is Step.ISSUE
    assert clone.reason.startswith(
        "clone suspected: the issuing CA refused: serial AMB82D001001 is bound "
        "to another key"
    )
    assert "(module " not in clone.reason
    (flag,) = line.station.journal.qa_flags()
    assert (flag.run_id, flag.reason) == (clone.run_id, clone.reason)


def test_a_lot_whose_model_the_product_line_no_longer_certifies_is_refused_at_start(
    make_line: MakeLine,
) -> None:
    line = make_line()
    config = line.station.config
    line.station.close()
    narrowed = config.model_copy(
        update={
            "product_line": config.product_line.model_copy(
                update={"models": {"BW16": 2}}
            )
        }
    )

    with pytest.raises(LotPlanError) as refused:
        open_station(narrowed, operator="B0042", lot="LOT-2026-0042")

    assert str(refused.value) == (
        "lot LOT-2026-0042: model AMB82 is not in product line "
        f"{config.product_line.name} (BW16); no certificate could be issued"
    )


def test_a_flagged_module_is_refused_again_until_qa_clears_its_flag(
    make_line: MakeLine,
) -> None:
    line = make_line(slots=2, misbehave=("2=clone-of:1",))
    clone: list[ModuleResult] = []
    provisioner, journal = line.station.provisioner, line.station.journal
    provisioner.provision(
        line.slots[0], listener=_seat_the_clone_when(line, Step.ISSUE, clone)
    )

    again = provisioner.provision(line.slots[0])
    cleared = journal.clear_qa_flags(
        serial="AMB82D001001", by="S0001", note="slot-2 held a counterfeit"
    )
    after = provisioner.provision(line.slots[0])

    assert (again.failure_step, again.cert_serial) == (Step.CLONE_CHECK, None)
    assert "has an open clone flag" in again.reason
    assert len(cleared) == 2
    assert after.passed, after.reason


def test_the_original_is_not_stopped_by_the_flag_of_a_later_clone(
    make_line: MakeLine,
) -> None:
    line = make_line(slots=2, misbehave=("2=clone-of:1",))
    provisioner = line.station.provisioner
    original = provisioner.provision(line.slots[0])
    clone = provisioner.provision(line.slots[1])

    seated_again = provisioner.provision(line.slots[0])

    assert original.passed
    assert clone.failure_step is Step.CLONE_CHECK
    assert seated_again.passed, seated_again.reason


def test_a_plan_is_not_replaced_while_a_station_runs_on_the_state(
    make_line: MakeLine,
) -> None:
    line = make_line()

    with pytest.raises(LotPlanError) as refused:
        import_lot(
            line.station.config,
            read_lot_plan(FIXTURE_PLAN, allowed_firmware=["1.4.2", "1.5.0"]),
            supervisor="S0001",
            source=str(FIXTURE_PLAN),
            replace=True,
        )

    assert str(refused.value).startswith(
        "a lot plan is replaced only with the line stopped: another station "
        f"process (pid {os.getpid()}) is running"
    )


def test_a_new_key_on_a_serial_with_open_clone_flags_is_not_certified(
    make_line: MakeLine,
) -> None:
    line = make_line(slots=3, misbehave=("1=clone-of:3", "2=clone-of:3"))
    provisioner = line.station.provisioner
    seated: list[ModuleResult] = []

    def second_clone_meanwhile(event: SlotEvent) -> None:
        if event.kind is EventKind.STEP and event.step is Step.ISSUE and not seated:
            seated.append(provisioner.provision(line.slots[1]))

    provisioner.provision(line.slots[0], listener=second_clone_meanwhile)
    third = provisioner.provision(line.slots[2])

    assert (third.failure_step, third.cert_serial) == (Step.CLONE_CHECK, None)
    assert third.reason.startswith("serial AMB82D001003 has an open clone flag")
