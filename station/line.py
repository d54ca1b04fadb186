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
from station.steps import Step
from station.workflow import ModuleResult, Provisioner, Slot

logger = logging.getLogger(__name__)

Monotonic = Callable[[], float]


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
    """The line's totals since it started.

    Attributes:
        passed: Modules that passed.
        failed: Modules that failed.
        per_hour: Modules finished per hour of line time.
    """

    passed: int
    failed: int
    per_hour: float

    @property
    def yield_percent(self) -> float:
        """Share of finished modules that passed, in percent."""
        done = self.passed + self.failed
        return 100.0 * self.passed / done if done else 0.0


class Line:
    """The slots of a station and the one worker thread each.

    Args:
        provisioner: Runs the workflow for one slot at a time.
        slots: The fixture slots, in display order.
        listener: Receives every slot event after the line has applied it.
        monotonic: Clock for elapsed times and rates (injectable for tests).
    """

    def __init__(
        self,
        provisioner: Provisioner,
        slots: Sequence[Slot],
        *,
        listener: EventListener = ignore_events,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        names = [slot.name for slot in slots]
        if len(set(names)) != len(names):
            raise ValueError(f"slot names must be unique: {names}")
        self._provisioner = provisioner
        self._listener = listener
        self._monotonic = monotonic
        self._lock = threading.Condition()
        self._status = {slot.name: SlotStatus(slot) for slot in slots}
        self._workers: dict[str, threading.Thread] = {}
        self._paused = False
        self._passed = 0
        self._failed = 0
        self._opened = monotonic()

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
            self._status[name] = replace(
                SlotStatus(status.slot),
                phase=SlotPhase.BUSY,
                started=self._monotonic(),
            )
            worker = threading.Thread(
                target=self._run, args=(status.slot,), name=f"slot-{name}", daemon=True
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

    def counters(self) -> Counters:
        """Passed, failed and rate since the line opened."""
        with self._lock:
            passed, failed = self._passed, self._failed
        hours = max(self._monotonic() - self._opened, 1e-9) / 3600.0
        return Counters(
            passed=passed, failed=failed, per_hour=(passed + failed) / hours
        )

    # --- workers ----------------------------------------------------------------

    def _run(self, slot: Slot) -> None:
        try:
            result = self._provisioner.provision(slot, listener=self._on_event)
        except Exception:
            # provision() turns module faults into results; anything escaping
            # it is a defect in the station, and the slot must not stay busy.
            logger.exception("slot %s: worker failed", slot.name)
            result = None
        self._finish(slot, result)

    def _finish(self, slot: Slot, result: ModuleResult | None) -> None:
        with self._lock:
            status = self._status[slot.name]
            passed = result is not None and result.passed
            if passed:
                self._passed += 1
            else:
                self._failed += 1
            self._status[slot.name] = replace(
                status,
                phase=SlotPhase.PASS if passed else SlotPhase.FAIL,
                finished=self._monotonic(),
                fraction=1.0 if passed else status.fraction,
                serial=result.serial if result else status.serial,
                step=result.failure_step if result and not passed else status.step,
                reason=(result.reason if result else "station error; see the log"),
                result=result,
            )
            self._lock.notify_all()

    def _on_event(self, event: SlotEvent) -> None:
        with self._lock:
            status = self._status.get(event.slot)
            if status is not None and status.phase is SlotPhase.BUSY:
                self._status[event.slot] = _apply(status, event)
        self._listener(event)


def _apply(status: SlotStatus, event: SlotEvent) -> SlotStatus:
    """The status of a busy slot after one of its events."""
    serial = event.serial or status.serial
    if event.kind is EventKind.STEP and event.step is not None:
        fraction = event.step.position / len(Step)
        return replace(status, serial=serial, step=event.step, fraction=fraction)
    if event.kind is EventKind.PROGRESS and status.step is not None:
        fraction = (status.step.position + event.fraction) / len(Step)
        return replace(status, serial=serial, fraction=fraction)
    return replace(status, serial=serial)


def provision_all(
    provisioner: Provisioner, slots: Sequence[Slot]
) -> list[ModuleResult]:
    """Provision the module in every slot concurrently.

    Returns:
        One result per slot, in the order of ``slots``.
    """
    return Line(provisioner, slots, listener=provisioner.listener).run_all()
