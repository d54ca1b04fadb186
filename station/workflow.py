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
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ca_client.errors import BindingRefused
from ca_client.issuer import DeviceRequest, IssuedCertificate, Issuer
from device_io.chain import decode_chain, encode_chain
from device_io.identity import ModuleIdentity
from device_io.pv import PvObject, SlotState
from station.audit import AuditError, AuditLog
from station.audit_entry import AuditEntry
from station.clones import check_bindings, flag_clone
from station.csr import CheckedCsr, check_csr
from station.errors import ClockError, CloneRefused, StepFailed
from station.events import EventListener
from station.job import Job, JobContext, JobRunner, ModuleResult, Slot
from station.journal import QaFlag, QaFlagKind, RunRecord, RunStatus
from station.lot_plan import LotPlan
from station.possession import prove_possession
from station.steps import PROVISION_STEPS, Step

__all__ = ["ModuleResult", "Provisioner", "Slot"]

logger = logging.getLogger(__name__)


class Provisioner(JobRunner):
    """Runs the provisioning workflow on the module in one slot at a time.

    Args:
        context: What every job of the station shares.
        issuer: Signs the modules' CSRs.
        plan: The active lot's plan.
        audit: The station's audit log.
    """

    kind = "provision"
    steps = PROVISION_STEPS
    passed_as = "provisioned"

    def __init__(
        self,
        context: JobContext,
        *,
        issuer: Issuer,
        plan: LotPlan,
        audit: AuditLog,
    ) -> None:
        super().__init__(context)
        self.issuer = issuer
        self.plan = plan
        self.audit = audit

    def job(
        self, *, slot: Slot, run_id: int, listener: EventListener
    ) -> _ProvisioningJob:
        return _ProvisioningJob(
            self.context, self, slot=slot, run_id=run_id, listener=listener
        )

    def finished(self, result: ModuleResult) -> None:
        run = self.journal.run(result.run_id)
        if result.passed:
            self.record_audit(lambda: self.audit.provisioned(run))
        elif run.cert_serial is not None and result.failure_step is not None:
            self._undelivered(run, result.failure_step, result.reason)

    def _undelivered(self, run: RunRecord, step: Step, reason: str) -> None:
        """A certificate is live but its module failed: QA must see it.

        Until the module is finished with that certificate (a retry gets the
        same one back) or the certificate is revoked, it names a module that
        is not in service.
        """
        assert run.serial is not None
        assert run.mac is not None
        note = (
            f"certificate {run.cert_serial} was issued for this module's key but "
            f"the module failed at {step.label}: {reason}; finish the module or "
            f"revoke the certificate"
        )
        self.journal.flag_for_qa(
            run.id,
            serial=run.serial,
            mac=run.mac,
            reason=note,
            kind=QaFlagKind.UNDELIVERED,
        )
        try:
            self.audit.undelivered(run, step=step.value, reason=reason)
        except AuditError as exc:
            # The flag for QA is in the journal; the log's own trouble is
            # the message, for the operator and whoever checks the log.
            logger.error(
                "run %d: cannot audit an undelivered certificate: %s", run.id, exc
            )

    def provision(
        self, slot: Slot, *, listener: EventListener | None = None
    ) -> ModuleResult:
        """Provision the module seated in ``slot`` (see :meth:`run`)."""
        return self.run(slot, listener=listener)

    def record_audit(self, append: Callable[[], AuditEntry]) -> AuditEntry:
        """Append to the audit log; a log that refuses fails the step."""
        try:
            return append()
        except AuditError as exc:
            text = str(exc)
            reason = text if text.startswith("audit log") else f"audit log: {text}"
            raise StepFailed(reason) from exc


class _ProvisioningJob(Job):
    """Provisioning one module in one slot."""

    def __init__(self, context: JobContext, owner: Provisioner, **job: Any) -> None:
        super().__init__(context, **job)
        self.owner = owner
        self.csr: CheckedCsr | None = None
        self.issued: IssuedCertificate | None = None
        self.chain_der = b""
        self.locked_before: RunRecord | None = None

    def body(self) -> None:
        # A locked module seated again is held to the active plan too: a
        # module of another lot, or one the plan now gives another MAC, must
        # not be boxed as good for this lot.
        self.check_plan()
        if self.locked_before is not None:
            self.finish_locked(self.locked_before)
            return
        self.generate_key()
        csr_der, pub_der = self.read_csr()
        self.check_csr(csr_der, pub_der)
        self.check_clones()
        self.issue()
        self.check_issued_chain()
        self.write_chain()
        self.read_back()
        self.prove_possession()
        self.lock()

    def on_identity(self, identity: ModuleIdentity) -> None:
        if identity.state is not SlotState.LOCKED:
            return
        # A locked module this station provisioned (or was provisioning when it
        # stopped, between the lock and its record) is re-verified and closed
        # with the chain on record; any other locked module is refused.
        recorded = [
            run
            for run in [*self.interrupted, *self.journal.runs(serial=identity.serial)]
            if run.chain_der is not None
            and run.kind == self.owner.kind
            and run.status in (RunStatus.PASS, RunStatus.INTERRUPTED)
        ]
        if not recorded:
            raise StepFailed(
                "module is already locked and this station has no record of its "
                "certificate; re-verify it in QA mode"
            )
        self.locked_before = max(recorded, key=lambda run: run.id)

    def finish_locked(self, before: RunRecord) -> None:
        """Re-verify a module locked by an earlier run, with that run's chain."""
        assert before.chain_der is not None
        assert before.spki_sha256 is not None
        chain = decode_chain(before.chain_der)
        self.issued = IssuedCertificate(leaf=chain[0], chain=tuple(chain[1:]))
        self.cert_serial = self.issued.serial_hex
        self.chain_der = before.chain_der
        self.journal.record_key(self.run_id, before.spki_sha256)
        self.journal.record_certificate(
            self.run_id,
            cert_serial=self.cert_serial,
            cert_der=encode_chain([chain[0]]),
            chain_der=self.chain_der,
        )
        leaf = self.issued.leaf
        self.check_chain(
            leaf,
            self.issued.chain,
            spki_der=leaf.public_key().public_bytes(
                Encoding.DER, PublicFormat.SubjectPublicKeyInfo
            ),
        )
        self.read_back()
        self.prove_possession()
        with self.stepping(Step.LOCK) as out:
            self.refuse_if_flagged(before.spki_sha256)
            out.detail = f"locked by run {before.id}"

    def check_plan(self) -> None:
        with self.stepping(Step.PLAN_CHECK) as out:
            self.owner.plan.check(self.module_identity())
            out.detail = f"in lot {self.owner.plan.lot}"

    def generate_key(self) -> None:
        with self.stepping(Step.KEYGEN) as out:
            new = self.module().generate_key(0)
            out.detail = "new key" if new else "kept existing key"

    def read_csr(self) -> tuple[bytes, bytes]:
        with self.stepping(Step.CSR_READ) as out:
            session = self.module()
            csr_der = session.read_object(PvObject.CSR, progress=self.progress)
            pub_der = session.read_object(PvObject.PUB)
            out.detail = f"{len(csr_der)} bytes"
        return csr_der, pub_der

    def check_csr(self, csr_der: bytes, pub_der: bytes) -> None:
        with self.stepping(Step.CSR_CHECK) as out:
            self.csr = check_csr(
                csr_der, serial=self.module_identity().serial, pub_der=pub_der
            )
            out.spki_sha256 = self.csr.spki_sha256
            self.journal.record_key(self.run_id, self.csr.spki_sha256)

    def check_clones(self) -> None:
        assert self.csr is not None
        identity = self.module_identity()
        with self.stepping(Step.CLONE_CHECK, spki_sha256=self.csr.spki_sha256):
            self.refuse_if_flagged(self.csr.spki_sha256)
            try:
                check_bindings(
                    self.journal.bindings(
                        serial=identity.serial,
                        mac=identity.mac,
                        claimed_besides=self.run_id,
                    ),
                    serial=identity.serial,
                    mac=identity.mac,
                    spki_sha256=self.csr.spki_sha256,
                    slot=self.slot.name,
                )
            except CloneRefused as exc:
                self.flag_clone(self.run_id, exc.reason)
                if exc.in_work is not None:
                    # The other module is as suspect as this one: it must not
                    # pass on the strength of having looked first.
                    self.flag_clone(
                        exc.in_work,
                        f"clone suspected: {self.slot.name} presented serial "
                        f"{identity.serial}, MAC {identity.mac} with another key "
                        f"while this module was in work (run {self.run_id}); "
                        "flagged for QA",
                    )
                raise

    def flag_clone(self, run_id: int, reason: str) -> None:
        """Flag run ``run_id``'s module for QA as a clone suspect, audited."""
        self.owner.record_audit(
            lambda: flag_clone(self.journal, self.owner.audit, run_id, reason)
        )

    def refuse_if_flagged(self, spki_sha256: str) -> None:
        """Stop a module while its serial or MAC has an open clone flag.

        The flag may come from an earlier run or from another slot's clone
        check while this module worked: the station cannot tell the genuine
        module from the clone, and QA must clear the flag first. Only the
        original goes on: a key already certified here for this serial and
        MAC whose own runs were never flagged (a later clone clashed with
        it). A key never certified, a third module's say, is stopped too.
        """
        identity = self.module_identity()
        journal = self.journal
        flags = journal.open_clone_flags(serial=identity.serial, mac=identity.mac)
        if not flags:
            return
        mine = [f for f in flags if journal.run(f.run_id).spki_sha256 == spki_sha256]
        certified_here = any(
            binding.spki_sha256 == spki_sha256 and binding.run_id is not None
            for binding in journal.bindings(serial=identity.serial, mac=identity.mac)
        )
        if certified_here and not mine:
            return
        first = (mine or flags)[0]
        raise CloneRefused(
            f"{_flagged_as(first, identity)} has an open clone flag from run "
            f"{first.run_id} ({first.flagged_at:%Y-%m-%d %H:%M} UTC); QA clears it "
            f"with 'station records clear-flags {first.serial}' once the genuine "
            "module is known"
        )

    def issue(self) -> None:
        assert self.csr is not None
        with self.stepping(Step.ISSUE, spki_sha256=self.csr.spki_sha256) as out:
            self._check_clock()
            self.refuse_if_flagged(self.csr.spki_sha256)
            issued = self._request_certificate()
            self.issued = issued
            self.cert_serial = issued.serial_hex
            self.chain_der = encode_chain([issued.leaf, *issued.chain])
            self.journal.record_certificate(
                self.run_id,
                cert_serial=issued.serial_hex,
                cert_der=encode_chain([issued.leaf]),
                chain_der=self.chain_der,
            )
            self.audit_issued()
            out.detail = f"certificate {issued.serial_hex}" + (
                " (already issued)" if issued.reused else ""
            )

    def _request_certificate(self) -> IssuedCertificate:
        assert self.csr is not None
        identity = self.module_identity()
        try:
            return self.owner.issuer.issue(
                DeviceRequest(
                    csr_der=self.csr.der,
                    serial=identity.serial,
                    mac=identity.mac,
                    model=identity.model,
                    lot=identity.lot,
                )
            )
        except BindingRefused as exc:
            # The CA's own clone check caught what the station's did not
            # (another station, or a record not imported here).
            reason = (
                f"clone suspected: the issuing CA refused: {exc.message}; "
                "flagged for QA"
            )
            self.flag_clone(self.run_id, reason)
            raise CloneRefused(reason) from exc

    def audit_issued(self) -> None:
        """Tie the certificate to this manufacturing record in the audit log.

        A certificate is audited once: a run that takes over an interrupted
        one and gets the same certificate back finds its entry already there.
        """
        run = self.journal.run(self.run_id)
        audited = [
            other
            for other in self.journal.runs(serial=run.serial)
            if other.audit_anchor and other.cert_serial == run.cert_serial
        ]
        if audited:
            return
        entry = self.owner.record_audit(lambda: self.owner.audit.issued(run))
        self.journal.record_audit_anchor(self.run_id, str(entry.anchor))

    def _check_clock(self) -> None:
        # Read the journal first: rows other slots write after this read were
        # stamped no later than the clock reading that follows it.
        last = self.journal.last_time()
        now = self.context.clock()
        if last is not None and now < last:
            raise ClockError(
                f"station clock {now.isoformat()} is behind the journal's last "
                f"entry {last.isoformat()}; refusing to issue"
            )
        root = self.context.trust.root
        if not root.not_valid_before_utc <= now <= root.not_valid_after_utc:
            raise ClockError(
                f"station clock {now.isoformat()} is outside the root CA's validity"
            )

    def check_issued_chain(self) -> None:
        assert self.issued is not None
        assert self.csr is not None
        self.check_chain(
            self.issued.leaf, self.issued.chain, spki_der=self.csr.spki_der
        )

    def write_chain(self) -> None:
        with self.stepping(Step.WRITE) as out:
            session = self.module()
            if self.module_identity().state is SlotState.CERT and (
                session.read_object(PvObject.CHAIN) == self.chain_der
            ):
                out.detail = "chain already committed"
                return
            session.write_object(PvObject.CHAIN, self.chain_der, progress=self.progress)
            out.detail = f"{len(self.chain_der)} bytes committed"

    def read_back(self) -> None:
        with self.stepping(Step.READBACK):
            stored = self.module().read_object(PvObject.CHAIN, progress=self.progress)
            if stored != self.chain_der:
                raise StepFailed("chain read back differs from the chain written")

    def prove_possession(self) -> None:
        assert self.issued is not None
        with self.stepping(Step.CHALLENGE):
            prove_possession(self.module(), self.issued.leaf)

    def lock(self) -> None:
        assert self.csr is not None
        with self.stepping(Step.LOCK):
            self.refuse_if_flagged(self.csr.spki_sha256)
            session = self.module()
            session.lock()
            state = session.identify().state
            if state is not SlotState.LOCKED:
                raise StepFailed(f"module reports {state.value} after locking")


def _flagged_as(flag: QaFlag, identity: ModuleIdentity) -> str:
    if flag.serial == identity.serial:
        return f"serial {identity.serial}"
    return f"MAC {identity.mac}"
