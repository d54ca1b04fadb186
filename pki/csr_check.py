"""The CA's own checks on a device CSR.

The station checks every CSR before it asks for a certificate, but the CA does
not trust the station: it checks again that the request proves possession of
its key, that the key is what the device profile allows, and that the subject
names the module the certificate is for.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import NameOID

from pki.errors import CsrRejected


@dataclass(frozen=True)
class DeviceCsr:
    """A CSR that passed the CA's checks.

    Attributes:
        request: The parsed request.
        public_key: Its EC P-256 key.
        spki_sha256: SHA-256 of the key's SubjectPublicKeyInfo, lowercase hex:
            the key's identity in the CA store.
    """

    request: x509.CertificateSigningRequest
    public_key: ec.EllipticCurvePublicKey
    spki_sha256: str


def spki_sha256(public_key: CertificatePublicKeyTypes) -> str:
    """SHA-256 of a key's DER SubjectPublicKeyInfo, lowercase hex."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def check_device_csr(csr_der: bytes, *, serial: str) -> DeviceCsr:
    """Parse and check a module's CSR.

    Args:
        csr_der: The DER PKCS#10 request.
        serial: The serial number of the module it claims to come from.

    Returns:
        The checked request with its key.

    Raises:
        CsrRejected: Not DER PKCS#10, a key other than EC P-256, a signature
            that does not verify, or a subject other than
            ``CN=<serial>, serialNumber=<serial>``.
    """
    csr = _parse(csr_der, serial)
    key = _checked_key(csr, serial)
    _check_signature(csr, serial)
    _check_subject(csr, serial)
    return DeviceCsr(csr, key, spki_sha256(key))


def _parse(csr_der: bytes, serial: str) -> x509.CertificateSigningRequest:
    try:
        return x509.load_der_x509_csr(csr_der)
    except ValueError as exc:
        raise CsrRejected(
            f"the CSR is not a DER PKCS#10 request: {exc}", serial=serial
        ) from exc


def _checked_key(
    csr: x509.CertificateSigningRequest, serial: str
) -> ec.EllipticCurvePublicKey:
    try:
        key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CsrRejected(
            f"the CSR carries an unusable public key: {exc}", serial=serial
        ) from exc

    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise CsrRejected(
            f"the CSR key is {type(key).__name__}; device keys are EC P-256",
            serial=serial,
        )
    if not isinstance(key.curve, ec.SECP256R1):
        raise CsrRejected(
            f"the CSR key is on {key.curve.name}; device keys are EC P-256",
            serial=serial,
        )
    return key


def _check_signature(csr: x509.CertificateSigningRequest, serial: str) -> None:
    try:
        valid = csr.is_signature_valid
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CsrRejected(
            f"the CSR signature cannot be checked: {exc}", serial=serial
        ) from exc

    if not valid:
        raise CsrRejected(
            "the CSR signature does not verify: no proof of possession of the key",
            serial=serial,
        )


def _check_subject(csr: x509.CertificateSigningRequest, serial: str) -> None:
    subject = csr.subject
    names = [a.value for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    serials = [a.value for a in subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)]

    if names != [serial] or serials != [serial] or len(subject) != 2:
        raise CsrRejected(
            f"the CSR subject {subject.rfc4514_string()!r} is not "
            f"CN={serial}, serialNumber={serial}",
            serial=serial,
        )
