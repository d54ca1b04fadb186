"""QA re-verification of provisioned modules, on the same line and link."""

from __future__ import annotations

from collections.abc import Callable

from station_bench import Line as Bench

from station.events import EventKind, SlotEvent
from station.journal import RunStatus
from station.line import Line, LineMode, SlotPhase
from station.steps import QA_STEPS, Step

MakeLine = Callable[..., Bench]


def _line(bench: Bench) -> Line:
    return Line(
        bench.station.provisioner,
        bench.slots,
        inspector=bench.station.inspector,
    )


def test_provisioned_module_passes_qa_with_every_check(make_line: MakeLine) -> None:
    bench = make_line()
    line = _line(bench)
    (provisioned,) = line.run_all()

    assert line.set_mode(LineMode.QA)
    (inspected,) = line.run_all()

    assert inspected.passed, inspected.reason
    assert inspected.cert_serial == provisioned.cert_serial
    run = bench.station.journal.run(inspected.run_id)
    assert (run.kind, run.status) == ("qa", RunStatus.PASS)
    outcomes = [s.step for s in bench.station.journal.steps(run.id) if s.ok]
    assert outcomes == [step.value for step in QA_STEPS]


def test_qa_fails_a_module_that_was_never_provisioned(make_line: MakeLine) -> None:
    bench = make_line()

    result = bench.station.inspector.run(bench.slots[0])

    assert result.failure_step is Step.IDENTIFY
    assert result.reason == (
        "module holds no certificate (state EMPTY); it was never provisioned"
    )


def test_qa_fails_a_module_whose_key_does_not_sign(make_line: MakeLine) -> None:
    bench = make_line(misbehave=("1=bad-challenge-signature",))
    bench.station.provisioner.provision(bench.slots[0])

    result = bench.station.inspector.run(bench.slots[0])

    assert result.failure_step is Step.CHALLENGE
    assert "challenge signature does not verify" in result.reason


def test_qa_fails_an_unlocked_module_after_every_other_check(
    make_line: MakeLine,
) -> None:
    bench = make_line()

    def stop_before_lock(event: SlotEvent) -> None:
        if event.kind is EventKind.STEP and event.step is Step.LOCK:
            raise RuntimeError("station stopped before locking")

    interrupted = bench.station.provisioner.provision(
        bench.slots[0], listener=stop_before_lock
    )
    result = bench.station.inspector.run(bench.slots[0])

    assert interrupted.failure_step is Step.LOCK
    assert (result.failure_step, result.reason) == (
        Step.STATE_CHECK,
        "module is not locked (state CERT)",
    )


def test_qa_fails_a_certificate_the_station_has_no_record_of(
    make_line: MakeLine,
) -> None:
    bench = make_line()
    bench.station.provisioner.provision(bench.slots[0])
    bench.station.journal._db.execute("UPDATE runs SET cert_serial = NULL")

    result = bench.station.inspector.run(bench.slots[0])

    assert result.failure_step is Step.RECORD_CHECK
    assert result.reason.startswith("no manufacturing record of certificate ")


def test_mode_switch_waits_for_an_idle_line_and_resets_tiles(
    make_line: MakeLine,
) -> None:
    bench = make_line(misbehave=("1=slow-keygen:1",))
    line = _line(bench)

    line.start("slot-1")
    refused = line.set_mode(LineMode.QA)
    line.wait()
    accepted = line.set_mode(LineMode.QA)

    assert (refused, accepted) == (False, True)
    assert line.mode is LineMode.QA
    assert line.steps == QA_STEPS
    assert line.status()[0].phase is SlotPhase.IDLE


def test_line_without_an_inspector_stays_in_provisioning(make_line: MakeLine) -> None:
    bench = make_line()
    line = Line(bench.station.provisioner, bench.slots)

    assert line.set_mode(LineMode.QA) is False
    assert line.mode is LineMode.PROVISION
