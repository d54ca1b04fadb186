"""One job on the module in one slot: the plumbing provisioning and QA share.

A job opens the slot's port, reads the module's identity, and runs its steps.
Each step writes an intent row to the journal before it acts and an outcome
row after; device and issuer errors become :class:`StepFailed` naming the
slot, the module and the step; every step and its progress is reported to a
listener. :func:`run_job` wraps a job's run in its journal run and turns its
end into a :class:`ModuleResult`, so that a module fault fails only that
module and a defect in the station fails it with "internal error".
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import ClassVar, Protocol

from cryptography import x509

from ca_client.errors import IssuerError
from device_io.errors import DeviceError
from device_io.identity import ModuleIdentity
from device_io.session import ModuleSession, SessionSettings, open_session
from station.chain_checks import ExpectedLeaf, Trust, check_chain
from station.errors import StepFailed
from station.events import EventKind, EventListener, SlotEvent, ignore_events
from station.journal import Clock, Journal, RunRecord, RunStatus, utc_now
from station.steps import Step

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Slot:
    """A fixture slot: its name and the serial port of the module seated in it."""

    name: str
    port: str


# The run id of a result the journal could not record (a station error).
NO_RUN = 0


@dataclass(frozen=True)
class ModuleResult:
    """How a job on the module in one slot ended.

    ``run_id`` is the journal's run, or ``NO_RUN`` when the station failed
    outside one.
    """

    slot: str
    port: str
    run_id: int
    status: RunStatus
    elapsed: float
    serial: str | None = None
    mac: str | None = None
    cert_serial: str | None = None
    failure_step: Step | None = None
    reason: str = ""

    @property
    def passed(self) -> bool:
        """True when every step of the job passed."""
        return self.status is RunStatus.PASS


@dataclass(frozen=True)
class JobContext:
    """What every job of a station shares.

    Attributes:
        journal: Where each run and step is recorded.
        trust: The pinned root and what device certificates must say.
        link: Serial link settings and timeouts.
        operator: Badge id of the signed-in operator.
        listener: Receives slot events unless a run names its own.
        clock: Source of time for checks.
    """

    journal: Journal
    trust: Trust
    link: SessionSettings
    operator: str
    listener: EventListener = ignore_events
    clock: Clock = utc_now


class SlotRunner(Protocol):
    """Runs one kind of job on the module in a slot (provisioning or QA)."""

    @property
    def steps(self) -> tuple[Step, ...]:
        """The steps of the job, in order."""
        ...

    def run(self, slot: Slot, *, listener: EventListener | None = None) -> ModuleResult:
        """Run the job on the module in ``slot``; never raises for a module fault."""
        ...


@dataclass
class StepOutcome:
    """Filled in by a step to say what it did, for its outcome row."""

    detail: str = ""
    spki_sha256: str | None = None


class Job(ABC):
    """The state of one job on the module in one slot.

    Subclasses implement :meth:`body`, which runs after the port is open and
    the identity is read, and :meth:`on_identity`.
    """

    def __init__(
        self,
        context: JobContext,
        *,
        slot: Slot,
        run_id: int,
        listener: EventListener,
    ) -> None:
        self.context = context
        self.slot = slot
        self.run_id = run_id
        self.journal = context.journal
        self.listener = listener
        self.step: Step | None = None
        self.session: ModuleSession | None = None
        self.identity: ModuleIdentity | None = None
        self.cert_serial: str | None = None
        self.interrupted: list[RunRecord] = []

    @property
    def serial(self) -> str | None:
        """The module serial, once read."""
        return self.identity.serial if self.identity else None

    def execute(self) -> None:
        """Open the port, read the identity, run the body, close the port."""
        try:
            self.connect()
            self.read_identity()
            self.body()
        finally:
            if self.session is not None:
                with suppress(DeviceError):
                    self.session.close()

    @abstractmethod
    def body(self) -> None:
        """The job's own steps."""

    @abstractmethod
    def on_identity(self, identity: ModuleIdentity) -> None:
        """Called inside the identity step once the identity is read.

        Raises:
            StepFailed: The job refuses this module.
        """

    def result(
        self,
        status: RunStatus,
        elapsed: float,
        *,
        failure_step: Step | None = None,
        reason: str = "",
    ) -> ModuleResult:
        """The job's result for the line and the command line."""
        return ModuleResult(
            slot=self.slot.name,
            port=self.slot.port,
            run_id=self.run_id,
            status=status,
            elapsed=elapsed,
            serial=self.serial,
            mac=self.identity.mac if self.identity else None,
            cert_serial=self.cert_serial,
            failure_step=failure_step,
            reason=reason,
        )

    # --- steps shared by every job ------------------------------------------------

    def connect(self) -> None:
        """Open the slot's port and read the module's capabilities."""
        with self.stepping(Step.CONNECT) as out:
            self.session = open_session(
                self.slot.port, slot=self.slot.name, settings=self.context.link
            )
            caps = self.session.capabilities()
            out.detail = f"PV {caps.version}, line {caps.max_line}"

    def read_identity(self) -> None:
        """Read the module's identity (twice; the reads must agree).

        Runs a crash left unfinished on this slot or for this module are
        closed as interrupted and kept in :attr:`interrupted`: this job takes
        their work over.
        """
        with self.stepping(Step.IDENTIFY) as out:
            identity = self.module().identify()
            self.identity = identity
            self.journal.record_identity(
                self.run_id,
                serial=identity.serial,
                mac=identity.mac,
                model=identity.model,
                lot=identity.lot,
                firmware=identity.firmware,
            )
            out.detail = f"{identity.serial} {identity.mac} {identity.state.value}"
            self.interrupted = self.journal.close_interrupted(
                self.run_id, slot=self.slot.name, serial=identity.serial
            )
            self.on_identity(identity)

    def check_chain(
        self,
        leaf: x509.Certificate,
        intermediates: Sequence[x509.Certificate],
        *,
        spki_der: bytes,
    ) -> None:
        """Check a chain to the pinned root, against the module and its key."""
        identity = self.module_identity()
        trust = self.context.trust
        with self.stepping(Step.CHAIN_CHECK):
            check_chain(
                leaf,
                intermediates,
                root=trust.root,
                expected=ExpectedLeaf(
                    serial=identity.serial,
                    mac_hex=identity.mac_hex,
                    model=identity.model,
                    lot=identity.lot,
                    organization=trust.organization,
                    lot_oid=trust.lot_oid,
                    spki_der=spki_der,
                ),
                now=self.context.clock(),
            )

    # --- plumbing -------------------------------------------------------------------

    def module(self) -> ModuleSession:
        """The open session with the module."""
        assert self.session is not None, "connect() runs first"
        return self.session

    def module_identity(self) -> ModuleIdentity:
        """The identity read from the module."""
        assert self.identity is not None, "read_identity() runs first"
        return self.identity

    @contextmanager
    def stepping(
        self, step: Step, spki_sha256: str | None = None
    ) -> Iterator[StepOutcome]:
        """Journal the intent of ``step``, run it, journal its outcome.

        Device and issuer errors become :class:`StepFailed` naming the slot,
        the module and the step. The link's recoveries during the step (a
        resync after noise, a port reopened after an unplug) are added to the
        outcome's detail, so the record shows what the module went through.
        """
        self.step = step
        self.emit(EventKind.STEP)
        self.journal.intent(self.run_id, step, spki_sha256=spki_sha256)
        outcome = StepOutcome(spki_sha256=spki_sha256)
        recovered = len(self.session.recoveries) if self.session else 0
        try:
            yield outcome
        except (StepFailed, DeviceError, IssuerError) as exc:
            failure = self._as_failure(exc, step)
            self.journal.outcome(
                self.run_id,
                step,
                ok=False,
                detail=self._with_recoveries(failure.reason, recovered),
                spki_sha256=outcome.spki_sha256,
            )
            raise failure from exc
        self.journal.outcome(
            self.run_id,
            step,
            ok=True,
            detail=self._with_recoveries(outcome.detail, recovered),
            spki_sha256=outcome.spki_sha256,
        )

    def _with_recoveries(self, detail: str, since: int) -> str:
        recoveries = self.session.recoveries[since:] if self.session else ()
        if not recoveries:
            return detail
        notes = "; ".join(
            ("reopened after " if r.reopened else "resynced after ") + r.cause
            for r in recoveries
        )
        return f"{detail} (recovered: {notes})" if detail else f"recovered: {notes}"

    def _as_failure(
        self, exc: StepFailed | DeviceError | IssuerError, step: Step
    ) -> StepFailed:
        if isinstance(exc, StepFailed):
            failure = exc
        elif isinstance(exc, DeviceError):
            failure = StepFailed(exc.message)
        else:
            # The module is named by the failure's own context; the issuer
            # error's context would name it a second time.
            failure = StepFailed(f"{_issuer(exc)}: {exc.message}")
        failure.slot = failure.slot or self.slot.name
        failure.serial = failure.serial or self.serial
        failure.step = failure.step or step.value
        return failure

    def emit(self, kind: EventKind, fraction: float = 0.0, message: str = "") -> None:
        """Report an event of this job to its listener."""
        self.listener(
            SlotEvent(
                kind,
                self.slot.name,
                step=self.step,
                serial=self.serial,
                fraction=fraction,
                message=message,
            )
        )

    def progress(self, done: int, total: int) -> None:
        """Report progress through the current step (a read or write callback)."""
        self.emit(EventKind.PROGRESS, fraction=done / total if total else 1.0)


class JobRunner(ABC):
    """Runs one kind of job on the module in a slot; thread-safe.

    One runner serves every slot of a station: each run keeps its own state,
    and what the runs share (journal, issuer, audit log) serialises its own
    access. Subclasses name their ``kind``, ``steps`` and ``passed_as`` and
    build their job.
    """

    kind: ClassVar[str]
    steps: ClassVar[tuple[Step, ...]]
    passed_as: ClassVar[str]

    def __init__(self, context: JobContext) -> None:
        self.context = context

    @property
    def journal(self) -> Journal:
        """The station journal."""
        return self.context.journal

    def run(self, slot: Slot, *, listener: EventListener | None = None) -> ModuleResult:
        """Run the job on the module in ``slot``; never raises for a module fault.

        Args:
            slot: The slot whose module to work on.
            listener: Receives this run's events instead of the context's.

        Returns:
            PASS, or FAIL with the failing step and reason; the journal holds
            the same.
        """
        context = self.context
        run_id = context.journal.start_run(
            slot=slot.name, port=slot.port, operator=context.operator, kind=self.kind
        )
        job = self.job(slot=slot, run_id=run_id, listener=listener or context.listener)
        result = run_job(job, passed_as=self.passed_as)
        self.finished(result)
        return result

    @abstractmethod
    def job(self, *, slot: Slot, run_id: int, listener: EventListener) -> Job:
        """A new job for the module in ``slot``, on the open run ``run_id``."""

    def finished(self, result: ModuleResult) -> None:  # noqa: B027 - optional hook
        """Called with every result, after the run is closed; does nothing here."""


def run_job(job: Job, *, passed_as: str) -> ModuleResult:
    """Run ``job`` and close its journal run with PASS or FAIL.

    Args:
        job: A job whose journal run is open.
        passed_as: What a pass is called in the log ("provisioned").

    Returns:
        The result; the journal holds the same.
    """
    started = time.monotonic()
    job.listener(SlotEvent(EventKind.STARTED, job.slot.name))
    try:
        job.execute()
    except StepFailed as exc:
        return _failed(job, exc, time.monotonic() - started)
    except Exception as exc:
        # A defect must fail this module, not the whole line; the traceback
        # goes to the log for whoever fixes it.
        logger.exception("slot %s: unexpected error", job.slot.name)
        failure = StepFailed(
            f"internal error: {exc!r}",
            slot=job.slot.name,
            serial=job.serial,
            step=job.step,
        )
        return _failed(job, failure, time.monotonic() - started)
    return _passed(job, passed_as, time.monotonic() - started)


def _passed(job: Job, describe: str, elapsed: float) -> ModuleResult:
    job.journal.finish(job.run_id, RunStatus.PASS)
    logger.info(
        "slot %s: module %s %s, %.1f s", job.slot.name, job.serial, describe, elapsed
    )
    job.listener(
        SlotEvent(EventKind.PASSED, job.slot.name, serial=job.serial, fraction=1.0)
    )
    return job.result(RunStatus.PASS, elapsed)


def _failed(job: Job, exc: StepFailed, elapsed: float) -> ModuleResult:
    step = Step(exc.step) if exc.step else job.step
    job.journal.finish(
        job.run_id,
        RunStatus.FAIL,
        failure_step=step.value if step else None,
        failure_reason=exc.reason,
    )
    logger.warning("%s", exc)
    job.listener(
        SlotEvent(
            EventKind.FAILED,
            job.slot.name,
            step=step,
            serial=job.serial,
            message=exc.reason,
        )
    )
    return job.result(RunStatus.FAIL, elapsed, failure_step=step, reason=exc.reason)


def _issuer(exc: IssuerError) -> str:
    return f"issuer {exc.issuer}" if exc.issuer else "issuer"
