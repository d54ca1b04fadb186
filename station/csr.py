"""Checks on a module's certificate signing request (DESIGN section 1, step 4).

A CSR is accepted only if its signature verifies (proof of possession), its key
is EC P-256, and its subject is exactly ``CN=<serial>, serialNumber=<serial>``
for the serial the module reported. Subjects are compared by value, not by
encoding: a module may encode the serial as UTF8String or PrintableString.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from station.errors import CsrRejected

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckedCsr:
    """A CSR that passed every check.

    Attributes:
        der: The DER bytes exactly as read from the module.
        csr: The parsed request.
        spki_der: DER SubjectPublicKeyInfo of the module key.
    """

    der: bytes
    csr: x509.CertificateSigningRequest
    spki_der: bytes

    @property
    def spki_sha256(self) -> str:
        """SHA-256 of the module key's SPKI, the key's identity in records."""
        return spki_sha256(self.spki_der)


def spki_sha256(spki_der: bytes) -> str:
    """Lowercase hex SHA-256 of a DER SubjectPublicKeyInfo."""
    return hashlib.sha256(spki_der).hexdigest()


def check_csr(der: bytes, *, serial: str, pub_der: bytes | None = None) -> CheckedCsr:
    """Check a module's CSR against the identity it reported.

    Args:
        der: The CSR as read from the module (DER PKCS#10).
        serial: The serial number the module reported.
        pub_der: The module's PUB object, when read; it must be the CSR's key.

    Returns:
        The checked CSR.

    Raises:
        CsrRejected: The CSR does not parse, its signature does not verify,
            its key is not EC P-256, its subject does not name ``serial``, or
            its key differs from the module's PUB object.
    """
    csr = _parse(der)
    _check_key(csr)
    _check_signature(csr)
    _check_subject(csr, serial)
    spki = csr.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )
    if pub_der is not None and pub_der != spki:
        raise CsrRejected("CSR key differs from the module's public key object")
    return CheckedCsr(der=der, csr=csr, spki_der=spki)


def _parse(der: bytes) -> x509.CertificateSigningRequest:
    try:
        return x509.load_der_x509_csr(der)
    except ValueError as exc:
        # The parser's own words (a Rust ParseError) are for the firmware
        # engineer, in the log; the operator sees what was wrong and its size.
        logger.debug("CSR parse error: %s", exc)
        raise CsrRejected(
            f"CSR is not a valid DER PKCS#10 request ({len(der)} bytes, "
            f"starting {der[:4].hex() or 'empty'})"
        ) from exc


def _check_key(csr: x509.CertificateSigningRequest) -> None:
    try:
        key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CsrRejected(f"CSR public key cannot be read: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        kind = type(key).__name__.removeprefix("_").replace("PublicKey", "")
        raise CsrRejected(f"CSR key is {kind}, expected EC P-256")
    if not isinstance(key.curve, ec.SECP256R1):
        raise CsrRejected(f"CSR key is on curve {key.curve.name}, expected P-256")


def _check_signature(csr: x509.CertificateSigningRequest) -> None:
    try:
        valid = csr.is_signature_valid
    except ValueError as exc:
        raise CsrRejected(f"CSR signature cannot be checked: {exc}") from exc
    if not valid:
        raise CsrRejected("CSR signature does not verify (no proof of possession)")


def _check_subject(csr: x509.CertificateSigningRequest, serial: str) -> None:
    try:
        found = [[(attr.oid, attr.value) for attr in rdn] for rdn in csr.subject.rdns]
    except ValueError as exc:
        raise CsrRejected(f"CSR subject cannot be read: {exc}") from exc
    expected = [[(NameOID.COMMON_NAME, serial)], [(NameOID.SERIAL_NUMBER, serial)]]
    if found != expected:
        shown = csr.subject.rfc4514_string({NameOID.SERIAL_NUMBER: "serialNumber"})
        raise CsrRejected(
            f"CSR subject {shown!r} does not match the module serial {serial}: "
            f"expected CN={serial}, serialNumber={serial}"
        )
