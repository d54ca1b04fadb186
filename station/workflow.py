"""Provisioning one module end to end (DESIGN section 1, steps 1 to 8).

A :class:`Provisioner` runs the steps for the module seated in one slot: read
its identity, have it generate its key, read and check its CSR, get the CSR
signed through the issuer interface, check the returned chain, write it, read
it back, have the module sign a fresh challenge, and lock it. Every step is
journaled with an intent row before it acts and an outcome row after.

Every step is safe to repeat: key generation keeps an existing key, issuance
is idempotent per module key, and a chain already committed is not rewritten.
That is what lets a station resume a module after a crash or a re-seat.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ca_client.errors import IssuerError
from ca_client.issuer import DeviceRequest, IssuedCertificate, Issuer
from device_io.chain import encode_chain
from device_io.errors import DeviceError
from device_io.identity import ModuleIdentity
from device_io.pv import CHALLENGE_BYTES, PvObject, SlotState, challenge_message
from device_io.session import ModuleSession, SessionSettings, open_session
from station.chain_checks import ExpectedLeaf, check_chain
from station.clones import check_bindings
from station.csr import CheckedCsr, check_csr
from station.errors import ClockError, CloneRefused, PossessionFailed, StepFailed
from station.events import EventKind, EventListener, SlotEvent, ignore_events
from station.journal import Clock, Journal, RunStatus, utc_now
from station.lot_plan import LotPlan
from station.steps import Step

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Slot:
    """A fixture slot: its name and the serial port of the module seated in it."""

    name: str
    port: str


@dataclass(frozen=True)
class Trust:
    """What the station pins and expects of every device certificate.

    Attributes:
        root: The root CA certificate every chain must lead to.
        organization: The product line's organization (subject O).
        lot_oid: The OID of the lot subject attribute (``<arc>.1.1``).
    """

    root: x509.Certificate
    organization: str
    lot_oid: str


@dataclass(frozen=True)
class ModuleResult:
    """How provisioning the module in one slot ended."""

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
        """True when the module was provisioned and locked."""
        return self.status is RunStatus.PASS


@dataclass
class _Outcome:
    """Filled in by a step to say what it did, for its outcome row."""

    detail: str = ""
    spki_sha256: str | None = None


class Provisioner:
    """Runs the provisioning workflow for one slot at a time; thread-safe.

    One provisioner serves every slot of a station: each call to
    :meth:`provision` keeps its own state, and the journal and issuer it shares
    serialise their own access.
    """

    def __init__(
        self,
        *,
        issuer: Issuer,
        journal: Journal,
        trust: Trust,
        plan: LotPlan,
        link: SessionSettings,
        operator: str,
        listener: EventListener = ignore_events,
        clock: Clock = utc_now,
    ) -> None:
        self.issuer = issuer
        self.journal = journal
        self.trust = trust
        self.plan = plan
        self.link = link
        self.operator = operator
        self.listener = listener
        self.clock = clock

    def provision(
        self, slot: Slot, *, listener: EventListener | None = None
    ) -> ModuleResult:
        """Provision the module seated in ``slot``; never raises for a module fault.

        Args:
            slot: The slot whose module to provision.
            listener: Receives this module's events instead of the
                provisioner's own listener.

        Returns:
            The result, PASS or FAIL with the failing step and reason. The
            journal holds the same.
        """
        started = time.monotonic()
        run_id = self.journal.start_run(
            slot=slot.name, port=slot.port, operator=self.operator
        )
        job = _Job(self, slot, run_id, listener or self.listener)
        job.listener(SlotEvent(EventKind.STARTED, slot.name))
        try:
            job.run()
        except StepFailed as exc:
            return self._failed(job, exc, time.monotonic() - started)
        except Exception as exc:
            # A defect must fail this module, not the whole line; the traceback
            # goes to the log for whoever fixes it.
            logger.exception("slot %s: unexpected error", slot.name)
            failure = StepFailed(
                f"internal error: {exc!r}",
                slot=slot.name,
                serial=job.serial,
                step=job.step,
            )
            return self._failed(job, failure, time.monotonic() - started)
        return self._passed(job, time.monotonic() - started)

    def _passed(self, job: _Job, elapsed: float) -> ModuleResult:
        self.journal.finish(job.run_id, RunStatus.PASS)
        cert_serial = job.issued.serial_hex if job.issued else None
        logger.info(
            "slot %s: module %s provisioned, certificate %s, %.1f s",
            job.slot.name,
            job.serial,
            cert_serial,
            elapsed,
        )
        job.listener(
            SlotEvent(EventKind.PASSED, job.slot.name, serial=job.serial, fraction=1.0)
        )
        return job.result(RunStatus.PASS, elapsed)

    def _failed(self, job: _Job, exc: StepFailed, elapsed: float) -> ModuleResult:
        step = Step(exc.step) if exc.step else job.step
        self.journal.finish(
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


@dataclass
class _Job:
    """The state of provisioning one module in one slot."""

    owner: Provisioner
    slot: Slot
    run_id: int
    listener: EventListener
    step: Step | None = None
    session: ModuleSession | None = None
    identity: ModuleIdentity | None = None
    csr: CheckedCsr | None = None
    issued: IssuedCertificate | None = None
    chain_der: bytes = field(default=b"")

    @property
    def serial(self) -> str | None:
        return self.identity.serial if self.identity else None

    def result(
        self,
        status: RunStatus,
        elapsed: float,
        *,
        failure_step: Step | None = None,
        reason: str = "",
    ) -> ModuleResult:
        return ModuleResult(
            slot=self.slot.name,
            port=self.slot.port,
            run_id=self.run_id,
            status=status,
            elapsed=elapsed,
            serial=self.serial,
            mac=self.identity.mac if self.identity else None,
            cert_serial=self.issued.serial_hex if self.issued else None,
            failure_step=failure_step,
            reason=reason,
        )

    def run(self) -> None:
        try:
            self.connect()
            self.read_identity()
            self.check_plan()
            self.generate_key()
            csr_der, pub_der = self.read_csr()
            self.check_csr(csr_der, pub_der)
            self.check_clones()
            self.issue()
            self.check_chain()
            self.write_chain()
            self.read_back()
            self.prove_possession()
            self.lock()
        finally:
            if self.session is not None:
                with suppress(DeviceError):
                    self.session.close()

    # --- step plumbing ------------------------------------------------------

    @contextmanager
    def _step(self, step: Step, spki_sha256: str | None = None) -> Iterator[_Outcome]:
        """Journal the intent of ``step``, run it, journal its outcome.

        Device and issuer errors become :class:`StepFailed` naming the slot,
        the module and the step.
        """
        journal = self.owner.journal
        self.step = step
        self._emit(EventKind.STEP)
        journal.intent(self.run_id, step, spki_sha256=spki_sha256)
        outcome = _Outcome(spki_sha256=spki_sha256)
        try:
            yield outcome
        except (StepFailed, DeviceError, IssuerError) as exc:
            failure = self._as_failure(exc, step)
            journal.outcome(
                self.run_id,
                step,
                ok=False,
                detail=failure.reason,
                spki_sha256=outcome.spki_sha256,
            )
            raise failure from exc
        journal.outcome(
            self.run_id,
            step,
            ok=True,
            detail=outcome.detail,
            spki_sha256=outcome.spki_sha256,
        )

    def _as_failure(self, exc: Exception, step: Step) -> StepFailed:
        if isinstance(exc, StepFailed):
            failure = exc
        elif isinstance(exc, DeviceError):
            failure = StepFailed(exc.message)
        else:
            failure = StepFailed(f"issuer: {exc}")
        failure.slot = failure.slot or self.slot.name
        failure.serial = failure.serial or self.serial
        failure.step = failure.step or step.value
        return failure

    def _emit(self, kind: EventKind, fraction: float = 0.0, message: str = "") -> None:
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

    def _progress(self, done: int, total: int) -> None:
        self._emit(EventKind.PROGRESS, fraction=done / total if total else 1.0)

    def _session(self) -> ModuleSession:
        assert self.session is not None, "connect() runs first"
        return self.session

    def _identity(self) -> ModuleIdentity:
        assert self.identity is not None, "read_identity() runs first"
        return self.identity

    # --- the steps --------------------------------------------------------------

    def connect(self) -> None:
        with self._step(Step.CONNECT) as out:
            self.session = open_session(
                self.slot.port, slot=self.slot.name, settings=self.owner.link
            )
            caps = self.session.capabilities()
            out.detail = f"PV {caps.version}, line {caps.max_line}"

    def read_identity(self) -> None:
        with self._step(Step.IDENTIFY) as out:
            identity = self._session().identify()
            self.identity = identity
            self.owner.journal.record_identity(
                self.run_id,
                serial=identity.serial,
                mac=identity.mac,
                model=identity.model,
                lot=identity.lot,
                firmware=identity.firmware,
            )
            out.detail = f"{identity.serial} {identity.mac} {identity.state.value}"
            if identity.state is SlotState.LOCKED:
                raise StepFailed(
                    "module is already locked (provisioned earlier); "
                    "re-verify it in QA mode"
                )

    def check_plan(self) -> None:
        with self._step(Step.PLAN_CHECK) as out:
            self.owner.plan.check(self._identity())
            out.detail = f"in lot {self.owner.plan.lot}"

    def generate_key(self) -> None:
        with self._step(Step.KEYGEN) as out:
            new = self._session().generate_key(0)
            out.detail = "new key" if new else "kept existing key"

    def read_csr(self) -> tuple[bytes, bytes]:
        with self._step(Step.CSR_READ) as out:
            session = self._session()
            csr_der = session.read_object(PvObject.CSR, progress=self._progress)
            pub_der = session.read_object(PvObject.PUB)
            out.detail = f"{len(csr_der)} bytes"
        return csr_der, pub_der

    def check_csr(self, csr_der: bytes, pub_der: bytes) -> None:
        with self._step(Step.CSR_CHECK) as out:
            self.csr = check_csr(
                csr_der, serial=self._identity().serial, pub_der=pub_der
            )
            out.spki_sha256 = self.csr.spki_sha256
            self.owner.journal.record_key(self.run_id, self.csr.spki_sha256)

    def check_clones(self) -> None:
        assert self.csr is not None
        identity = self._identity()
        journal = self.owner.journal
        with self._step(Step.CLONE_CHECK, spki_sha256=self.csr.spki_sha256):
            try:
                check_bindings(
                    journal.bindings(serial=identity.serial, mac=identity.mac),
                    serial=identity.serial,
                    mac=identity.mac,
                    spki_sha256=self.csr.spki_sha256,
                    slot=self.slot.name,
                )
            except CloneRefused as exc:
                journal.flag_for_qa(
                    self.run_id,
                    serial=identity.serial,
                    mac=identity.mac,
                    reason=exc.reason,
                )
                raise

    def issue(self) -> None:
        assert self.csr is not None
        with self._step(Step.ISSUE, spki_sha256=self.csr.spki_sha256) as out:
            self._check_clock()
            identity = self._identity()
            issued = self.owner.issuer.issue(
                DeviceRequest(
                    csr_der=self.csr.der,
                    serial=identity.serial,
                    mac=identity.mac,
                    model=identity.model,
                    lot=identity.lot,
                )
            )
            self.issued = issued
            self.chain_der = encode_chain([issued.leaf, *issued.chain])
            self.owner.journal.record_certificate(
                self.run_id,
                cert_serial=issued.serial_hex,
                cert_der=encode_chain([issued.leaf]),
                chain_der=self.chain_der,
            )
            out.detail = f"certificate {issued.serial_hex}" + (
                " (already issued)" if issued.reused else ""
            )

    def _check_clock(self) -> None:
        # Read the journal first: rows other slots write after this read were
        # stamped no later than the clock reading that follows it.
        last = self.owner.journal.last_time()
        now = self.owner.clock()
        if last is not None and now < last:
            raise ClockError(
                f"station clock {now.isoformat()} is behind the journal's last "
                f"entry {last.isoformat()}; refusing to issue"
            )
        root = self.owner.trust.root
        if not root.not_valid_before_utc <= now <= root.not_valid_after_utc:
            raise ClockError(
                f"station clock {now.isoformat()} is outside the root CA's validity"
            )

    def check_chain(self) -> None:
        assert self.issued is not None
        assert self.csr is not None
        identity = self._identity()
        trust = self.owner.trust
        with self._step(Step.CHAIN_CHECK):
            check_chain(
                self.issued.leaf,
                self.issued.chain,
                root=trust.root,
                expected=ExpectedLeaf(
                    serial=identity.serial,
                    mac_hex=identity.mac_hex,
                    model=identity.model,
                    lot=identity.lot,
                    organization=trust.organization,
                    lot_oid=trust.lot_oid,
                    spki_der=self.csr.spki_der,
                ),
                now=self.owner.clock(),
            )

    def write_chain(self) -> None:
        with self._step(Step.WRITE) as out:
            session = self._session()
            if self._identity().state is SlotState.CERT and (
                session.read_object(PvObject.CHAIN) == self.chain_der
            ):
                out.detail = "chain already committed"
                return
            session.write_object(
                PvObject.CHAIN, self.chain_der, progress=self._progress
            )
            out.detail = f"{len(self.chain_der)} bytes committed"

    def read_back(self) -> None:
        with self._step(Step.READBACK):
            stored = self._session().read_object(
                PvObject.CHAIN, progress=self._progress
            )
            if stored != self.chain_der:
                raise StepFailed("chain read back differs from the chain written")

    def prove_possession(self) -> None:
        assert self.issued is not None
        with self._step(Step.CHALLENGE):
            challenge = secrets.token_bytes(CHALLENGE_BYTES)
            signature = self._session().sign_challenge(0, challenge)
            key = self.issued.leaf.public_key()
            assert isinstance(key, ec.EllipticCurvePublicKey)
            try:
                key.verify(
                    signature, challenge_message(challenge), ec.ECDSA(hashes.SHA256())
                )
            except InvalidSignature:
                raise PossessionFailed(
                    "challenge signature does not verify against the certificate key"
                ) from None

    def lock(self) -> None:
        with self._step(Step.LOCK):
            session = self._session()
            session.lock()
            state = session.identify().state
            if state is not SlotState.LOCKED:
                raise StepFailed(f"module reports {state.value} after locking")
