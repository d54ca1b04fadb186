"""The line: one worker per slot, start, retry, pause and counters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from station_bench import Line as Bench

from station.job import NO_RUN, ModuleResult
from station.journal import RunStatus
from station.line import Line, SlotPhase
from station.steps import Step
from station.workflow import Slot

MakeLine = Callable[..., Bench]


def test_thirty_two_slots_provision_concurrently_and_all_pass(
    make_line: MakeLine,
) -> None:
    bench = make_line(slots=32)
    line = Line(bench.station.provisioner, bench.slots)

    results = line.run_all()

    assert len(results) == 32
    failures = [(r.slot, r.reason) for r in results if not r.passed]
    assert failures == []
    assert len({r.cert_serial for r in results}) == 32
    assert line.counters().passed == 32


def test_slot_states_after_a_pass_and_a_fail(make_line: MakeLine) -> None:
    bench = make_line(slots=2, misbehave=("2=p384-key",))
    line = Line(bench.station.provisioner, bench.slots)

    line.run_all()

    first, second = line.status()
    assert (first.phase, first.fraction, first.serial) == (
        SlotPhase.PASS,
        1.0,
        "AMB82D001001",
    )
    assert second.phase is SlotPhase.FAIL
    assert second.step is Step.CSR_CHECK
    assert "P-256" in second.reason
    counters = line.counters()
    assert (counters.passed, counters.failed, counters.yield_percent) == (1, 1, 50.0)


def test_retry_runs_only_a_failed_slot(make_line: MakeLine) -> None:
    bench = make_line(slots=2, misbehave=("2=bad-challenge-signature",))
    line = Line(bench.station.provisioner, bench.slots)
    line.run_all()

    assert line.retry("slot-1") is False
    assert line.retry("slot-2") is True
    line.wait()

    runs = bench.station.journal.runs()
    assert [(r.slot, r.status) for r in runs].count(("slot-2", RunStatus.FAIL)) == 2
    assert len(runs) == 3


def test_paused_line_starts_nothing(make_line: MakeLine) -> None:
    bench = make_line(slots=1)
    line = Line(bench.station.provisioner, bench.slots)

    line.pause()
    started = line.start_all()
    line.resume()

    assert started == []
    assert line.status()[0].phase is SlotPhase.IDLE
    assert bench.station.journal.runs() == []


def test_busy_slot_is_not_started_twice(make_line: MakeLine) -> None:
    bench = make_line(slots=1, misbehave=("1=slow-keygen:1",))
    line = Line(bench.station.provisioner, bench.slots)

    assert line.start("slot-1") is True
    assert line.start("slot-1") is False
    line.wait()

    assert len(bench.station.journal.runs()) == 1


def test_counters_count_modules_not_attempts(make_line: MakeLine) -> None:
    bench = make_line(slots=2, misbehave=("2=rsa-key",))
    line = Line(bench.station.provisioner, bench.slots)
    line.run_all()

    line.retry("slot-2")
    line.wait()
    line.start_all()
    line.wait()

    counters = line.counters()
    assert (counters.passed, counters.failed) == (1, 1)
    assert len(bench.station.journal.runs()) == 5


def test_a_slot_with_no_module_counts_once_as_a_failure(
    make_line: MakeLine, tmp_path: Path
) -> None:
    bench = make_line(slots=1)
    empty = Slot("slot-9", str(tmp_path / "nothing-here"))
    line = Line(bench.station.provisioner, [*bench.slots, empty])

    line.run_all()

    assert line.status()[1].phase is SlotPhase.FAIL
    counters = line.counters()
    assert (counters.passed, counters.failed, counters.yield_percent) == (1, 1, 50.0)

    line.run_all()

    again = line.counters()
    assert (again.passed, again.failed) == (1, 1)


class _BrokenRunner:
    """A runner with a defect: its job escapes with an exception."""

    steps = (Step.CONNECT,)

    def run(self, slot: Slot, *, listener: object = None) -> ModuleResult:
        raise RuntimeError("journal write refused")


def test_a_slot_whose_worker_fails_is_a_failed_module_not_a_missing_one() -> None:
    line = Line(_BrokenRunner(), [Slot("slot-1", "/dev/x")])

    (result,) = line.run_all()

    assert (result.slot, result.status, result.run_id) == (
        "slot-1",
        RunStatus.FAIL,
        NO_RUN,
    )
    assert result.reason == "station error: journal write refused; see the log"
    assert line.counters().failed == 1
