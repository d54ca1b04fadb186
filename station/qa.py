"""QA: re-verifying the credential a provisioned module holds.

QA mode runs on the same line, slots and link as provisioning. For the module
in a slot it reads the identity and the injected chain, checks the chain to the
pinned root and against the identity and the module's own key, checks that the
station's records (or records imported from other stations) show this very
certificate bound to this module, has the module prove it holds the key, and
checks that the credential slot is locked. Each inspection is a journal run of
kind ``qa`` with its steps, so the records screen and exports show it.
"""

from __future__ import annotations

import logging
from typing import Any

from cryptography import x509

from device_io.chain import ChainFormatError, decode_chain
from device_io.identity import ModuleIdentity
from device_io.pv import PvObject, SlotState
from station.errors import StepFailed
from station.events import EventListener
from station.job import Job, JobContext, JobRunner, Slot
from station.possession import prove_possession
from station.steps import QA_STEPS, Step

logger = logging.getLogger(__name__)

# TODO(revocation): DESIGN section 1 has QA check revocation status (OCSP and
# CRL) and lint the certificate profile; the OCSP responder and CRL publication
# are not built yet, so QA reports neither as checked.


class QaInspector(JobRunner):
    """Re-verifies the module in one slot at a time."""

    kind = "qa"
    steps = QA_STEPS
    passed_as = "passed QA"

    def job(self, *, slot: Slot, run_id: int, listener: EventListener) -> _QaJob:
        return _QaJob(self.context, slot=slot, run_id=run_id, listener=listener)


class _QaJob(Job):
    """Re-verifying one module in one slot."""

    def __init__(self, context: JobContext, **job: Any) -> None:
        super().__init__(context, **job)
        self.chain: list[x509.Certificate] = []
        self.spki_der = b""

    def on_identity(self, identity: ModuleIdentity) -> None:
        if identity.state in (SlotState.EMPTY, SlotState.KEY):
            raise StepFailed(
                f"module holds no certificate (state {identity.state.value}); "
                f"it was never provisioned"
            )

    def body(self) -> None:
        self.read_chain()
        self.check_chain(self.chain[0], self.chain[1:], spki_der=self.spki_der)
        self.check_record()
        with self.stepping(Step.CHALLENGE):
            prove_possession(self.module(), self.chain[0])
        self.check_state()

    def read_chain(self) -> None:
        with self.stepping(Step.CHAIN_READ) as out:
            session = self.module()
            data = session.read_object(PvObject.CHAIN, progress=self.progress)
            self.spki_der = session.read_object(PvObject.PUB)
            try:
                self.chain = decode_chain(data)
            except ChainFormatError as exc:
                raise StepFailed(f"module's chain does not parse: {exc}") from None
            self.cert_serial = f"{self.chain[0].serial_number:x}"
            out.detail = f"{len(self.chain)} certificates, leaf {self.cert_serial}"

    def check_record(self) -> None:
        identity = self.module_identity()
        with self.stepping(Step.RECORD_CHECK) as out:
            bindings = self.journal.bindings(serial=identity.serial, mac=identity.mac)
            mine = [b for b in bindings if b.cert_serial == self.cert_serial]
            if not mine:
                raise StepFailed(
                    f"no manufacturing record of certificate {self.cert_serial} "
                    f"for module {identity.serial}"
                )
            others = [b for b in bindings if b.spki_sha256 != mine[0].spki_sha256]
            if others:
                raise StepFailed(
                    f"serial or MAC also bound to another key by {others[0].record} "
                    f"on station {others[0].station}; clone suspected"
                )
            out.detail = f"matches {mine[0].record} on station {mine[0].station}"

    def check_state(self) -> None:
        with self.stepping(Step.STATE_CHECK):
            state = self.module().identify().state
            if state is not SlotState.LOCKED:
                raise StepFailed(f"module is not locked (state {state.value})")
