"""Everything the journal holds about one module, for the records screen.

A lookup by serial or MAC gathers the module's runs (provisioning and QA)
with their steps, the certificate each run got, and the QA flags raised on
it. Nothing here draws: the records screen lays it out.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from station.journal import Journal, QaFlag, RunRecord, StepRecord

QA_KIND = "qa"


@dataclass(frozen=True)
class CertificateFacts:
    """What an operator or QA checks on a device certificate.

    Attributes:
        serial: The certificate serial number, hex.
        subject: The subject as an RFC 4514 string.
        not_after: End of validity, UTC.
        fingerprint: SHA-256 of the DER, colon-separated hex.
    """

    serial: str
    subject: str
    not_after: datetime.datetime
    fingerprint: str


@dataclass(frozen=True)
class RunHistory:
    """One run with its step rows and the certificate it recorded."""

    run: RunRecord
    steps: list[StepRecord]
    certificate: CertificateFacts | None

    @property
    def is_qa(self) -> bool:
        """True for a QA re-verification, False for provisioning."""
        return self.run.kind == QA_KIND


@dataclass(frozen=True)
class ModuleRecord:
    """The journal's records of the module a serial or MAC names.

    Attributes:
        query: The serial or MAC looked up.
        runs: Its runs, oldest first.
        flags: QA flags raised on it.
    """

    query: str
    runs: list[RunHistory]
    flags: list[QaFlag]

    @property
    def found(self) -> bool:
        """True when the journal knows the module."""
        return bool(self.runs or self.flags)


def certificate_facts(cert_der: bytes) -> CertificateFacts:
    """Decode the facts of a DER certificate.

    Raises:
        ValueError: ``cert_der`` is not a certificate.
    """
    cert = x509.load_der_x509_certificate(cert_der)
    digest = cert.fingerprint(hashes.SHA256()).hex(":")
    return CertificateFacts(
        serial=f"{cert.serial_number:x}",
        subject=cert.subject.rfc4514_string(),
        not_after=cert.not_valid_after_utc,
        fingerprint=digest,
    )


def look_up(journal: Journal, text: str) -> ModuleRecord:
    """The records of the module whose serial or MAC is ``text``."""
    query = text.strip()
    runs = journal.find(query)
    serials = {run.serial for run in runs if run.serial}
    flags = [
        flag for serial in sorted(serials) for flag in journal.qa_flags(serial=serial)
    ]
    return ModuleRecord(
        query=query,
        runs=[
            RunHistory(run, journal.steps(run.id), _certificate(run)) for run in runs
        ],
        flags=flags,
    )


def _certificate(run: RunRecord) -> CertificateFacts | None:
    # The journal keeps the leaf alone in cert_der; the chain is in chain_der.
    return certificate_facts(run.cert_der) if run.cert_der else None
