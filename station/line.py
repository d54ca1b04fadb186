"""Running the fixture slots of a station: one owner per port.

A :class:`Line` owns every slot of a station. Each slot has its own worker
thread, the only thread that opens the slot's serial port, so two jobs never
share a port and a slow or stuck module never holds up the others. Slots share
the provisioner: the HSM behind the issuer keeps its own single owner, and the
journal serialises its writers.

The console and the command line drive the same line: start one slot or all,
retry a failed one, pause (no new starts; modules in flight finish), and read
the state of every slot and the line's counters at any time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from station.events import EventKind, EventListener, SlotEvent, ignore_events
from station.job import NO_RUN, ModuleResult, Slot, SlotRunner
from station.journal import RunStatus
from station.steps import Step

logger = logging.getLogger(__name__)

Monotonic = Callable[[], float]


class LineMode(StrEnum):
    """What the line does with the modules seated in it."""

    PROVISION = "provision"
    QA = "qa"


class SlotPhase(StrEnum):
    """What a slot is doing, as the console shows it."""

    IDLE = "idle"
    BUSY = "busy"
    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"


@dataclass(frozen=True)
class SlotStatus:
    """A snapshot of one slot.

    Attributes:
        slot: The slot.
        phase: Idle, busy, or the verdict on its last module.
        serial: Serial of the module in work or last finished.
        step: The step running, or the failed step.
        fraction: Progress through the workflow, 0.0 to 1.0.
        started: Monotonic time the current or last module started.
        finished: Monotonic time it finished, or None while busy.
        reason: The failure reason on FAIL.
        result: The last finished result.
    """

    slot: Slot
    phase: SlotPhase = SlotPhase.IDLE
    serial: str | None = None
    step: Step | None = None
    fraction: float = 0.0
    started: float | None = None
    finished: float | None = None
    reason: str = ""
    result: ModuleResult | None = None

    def elapsed(self, now: float) -> float:
        """Seconds the current or last module took or has taken so far."""
        if self.started is None:
            return 0.0
        return (self.finished if self.finished is not None else now) - self.started


@dataclass(frozen=True)
class Counters:
    """The line's totals since it started, counted in modules.

    A module counts once, by its serial, with its latest verdict: a failed
    module that passes on retry counts as passed. A run that failed before
    any serial was read (a missing or busy port, no module seated) is a
    failure too: it counts once for its slot until that slot's next run
    reads a serial, which then counts in its place, as a retry would.

    Attributes:
        passed: Modules whose latest result passed.
        failed: Modules whose latest result failed.
        per_hour: Modules finished per hour since the first module of the
            mode started; None until one has finished (see
            :meth:`Line.counters`).
    """

    passed: int
    failed: int
    per_hour: float | None

    @property
    def yield_percent(self) -> float:
        """Share of finished modules that passed, in percent."""
        done = self.passed + self.failed
        return 100.0 * self.passed / done if done else 0.0


class Line:
    """The slots of a station and the one worker thread each.

    Args:
        provisioner: Runs the provisioning workflow on one slot's module.
        slots: The fixture slots, in display order.
        inspector: Runs QA re-verification; without it the line cannot
            switch to QA mode.
        listener: Receives every slot event after the line has applied it.
        monotonic: Clock for elapsed times and rates (injectable for tests).
    """

    def __init__(
        self,
        provisioner: SlotRunner,
        slots: Sequence[Slot],
        *,
        inspector: SlotRunner | None = None,
        listener: EventListener = ignore_events,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        names = [slot.name for slot in slots]
        if len(set(names)) != len(names):
            raise ValueError(f"slot names must be unique: {names}")
        self._runners = {LineMode.PROVISION: provisioner}
        if inspector is not None:
            self._runners[LineMode.QA] = inspector
        self._mode = LineMode.PROVISION
        self._listener = listener
        self._monotonic = monotonic
        self._lock = threading.Condition()
        self._status = {slot.name: SlotStatus(slot) for slot in slots}
        self._workers: dict[str, threading.Thread] = {}
        self._paused = False
        # The latest verdict per module, per mode: counters count modules,
        # so a retry or a re-seated module is not counted twice.
        self._verdicts: dict[LineMode, dict[_Counted, bool]] = {m: {} for m in LineMode}
        # When each mode's first module started: the rate's time base.
        self._first_start: dict[LineMode, float] = {}

    # --- commands ---------------------------------------------------------------

    def start(self, name: str) -> bool:
        """Start provisioning the module in slot ``name``.

        Returns:
            False when the slot is busy or the line is paused; True otherwise.

        Raises:
            KeyError: No slot has that name.
        """
        with self._lock:
            status = self._status[name]
            if self._paused or status.phase is SlotPhase.BUSY:
                return False
            now = self._monotonic()
            self._first_start.setdefault(self._mode, now)
            self._status[name] = replace(
                SlotStatus(status.slot), phase=SlotPhase.BUSY, started=now
            )
            worker = threading.Thread(
                target=self._run,
                args=(status.slot, self._mode),
                name=f"slot-{name}",
                daemon=True,
            )
            self._workers[name] = worker
        worker.start()
        return True

    def start_all(self) -> list[str]:
        """Start every slot that is not busy; returns the names started."""
        return [name for name in list(self._status) if self.start(name)]

    def retry(self, name: str) -> bool:
        """Start a failed slot again; False unless its last module failed."""
        with self._lock:
            if self._status[name].phase is not SlotPhase.FAIL:
                return False
        return self.start(name)

    def set_mode(self, mode: LineMode) -> bool:
        """Switch between provisioning and QA; only while no slot is busy.

        Returns:
            False when a slot is busy or the line has no runner for ``mode``.
        """
        with self._lock:
            if self.busy_slots() or mode not in self._runners:
                return False
            if mode is not self._mode:
                self._mode = mode
                self._status = {
                    name: SlotStatus(status.slot)
                    for name, status in self._status.items()
                }
            return True

    def pause(self) -> None:
        """Start nothing new; modules in flight finish their workflow."""
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        """Allow starts again after :meth:`pause`."""
        with self._lock:
            self._paused = False

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no slot is busy; False if ``timeout`` passed first."""
        with self._lock:
            return self._lock.wait_for(lambda: not self.busy_slots(), timeout)

    def run_all(self) -> list[ModuleResult]:
        """Start every slot, wait for all, and return their results in order."""
        self.start_all()
        self.wait()
        return [status.result for status in self.status() if status.result is not None]

    # --- state ------------------------------------------------------------------

    @property
    def mode(self) -> LineMode:
        """Whether the line provisions or re-verifies in QA."""
        return self._mode

    @property
    def steps(self) -> tuple[Step, ...]:
        """The steps of the current mode's job, in order."""
        return self._runners[self._mode].steps

    @property
    def paused(self) -> bool:
        """True while the line starts nothing new."""
        return self._paused

    def status(self) -> list[SlotStatus]:
        """A snapshot of every slot, in display order."""
        with self._lock:
            return list(self._status.values())

    def busy_slots(self) -> list[str]:
        """Names of the slots with a module in work."""
        return [s.slot.name for s in self._status.values() if s.phase is SlotPhase.BUSY]

    def counters(self, mode: LineMode | None = None) -> Counters:
        """Passed, failed and rate of one mode (default: the current one).

        The rate is the modules finished over the time since the mode's first
        module started, so it has a basis once one module has finished and
        is 0.0 before. Time a line stands idle before its first start does
        not dilute it; time it stands idle after does, since that is what a
        shift delivers. With several slots working in parallel it reads low
        until the first modules of each slot are done, and settles after.
        """
        mode = mode or self._mode
        with self._lock:
            verdicts = list(self._verdicts[mode].values())
            first_start = self._first_start.get(mode)
        passed = sum(verdicts)
        failed = len(verdicts) - passed
        return Counters(
            passed=passed,
            failed=failed,
            per_hour=_per_hour(passed + failed, first_start, self._monotonic()),
        )

    # --- workers ----------------------------------------------------------------

    def _run(self, slot: Slot, mode: LineMode) -> None:
        try:
            result = self._runners[mode].run(slot, listener=self._on_event)
        except Exception as exc:
            # provision() turns module faults into results; anything escaping
            # it is a defect in the station, and the slot must not stay busy
            # nor vanish from the results: it is a failed module too.
            logger.exception("slot %s: worker failed", slot.name)
            result = ModuleResult(
                slot=slot.name,
                port=slot.port,
                run_id=NO_RUN,
                status=RunStatus.FAIL,
                elapsed=0.0,
                serial=self._status[slot.name].serial,
                reason=f"station error: {exc}; see the log",
            )
        self._finish(slot, mode, result)

    def _finish(self, slot: Slot, mode: LineMode, result: ModuleResult | None) -> None:
        with self._lock:
            status = self._status[slot.name]
            passed = result is not None and result.passed
            serial = result.serial if result else status.serial
            self._count(mode, slot.name, serial, passed=passed)
            self._status[slot.name] = replace(
                status,
                phase=SlotPhase.PASS if passed else SlotPhase.FAIL,
                finished=self._monotonic(),
                fraction=1.0 if passed else status.fraction,
                serial=serial,
                step=result.failure_step if result and not passed else status.step,
                reason=(result.reason if result else "station error; see the log"),
                result=result,
            )
            self._lock.notify_all()

    def _count(
        self, mode: LineMode, slot: str, serial: str | None, *, passed: bool
    ) -> None:
        # Called with the lock held. A run that read no serial is known only
        # by its slot; the slot's next run that reads one takes its place.
        verdicts = self._verdicts[mode]
        unidentified = _Counted("slot", slot)
        if serial is None:
            verdicts[unidentified] = passed
            return
        verdicts.pop(unidentified, None)
        verdicts[_Counted("module", serial)] = passed

    def _on_event(self, event: SlotEvent) -> None:
        with self._lock:
            status = self._status.get(event.slot)
            if status is not None and status.phase is SlotPhase.BUSY:
                self._status[event.slot] = _apply(status, event, self.steps)
        self._listener(event)


@dataclass(frozen=True)
class _Counted:
    """What one verdict counts: a module by serial, or a slot's unread one."""

    kind: str
    name: str


def _per_hour(finished: int, first_start: float | None, now: float) -> float | None:
    """Modules finished per hour since ``first_start``; None without a basis."""
    if finished == 0 or first_start is None or now <= first_start:
        return None
    return finished * 3600.0 / (now - first_start)


def _apply(status: SlotStatus, event: SlotEvent, steps: tuple[Step, ...]) -> SlotStatus:
    """The status of a busy slot after one of its events."""
    serial = event.serial or status.serial
    if event.kind is EventKind.STEP and event.step in steps:
        fraction = steps.index(event.step) / len(steps)
        return replace(status, serial=serial, step=event.step, fraction=fraction)
    if event.kind is EventKind.PROGRESS and status.step in steps:
        position = steps.index(status.step) + event.fraction
        return replace(status, serial=serial, fraction=position / len(steps))
    return replace(status, serial=serial)


def run_slots(
    runner: SlotRunner, slots: Sequence[Slot], *, listener: EventListener
) -> list[ModuleResult]:
    """Run ``runner``'s job on the module in every slot concurrently.

    Returns:
        One result per slot, in the order of ``slots``.
    """
    return Line(runner, slots, listener=listener).run_all()
