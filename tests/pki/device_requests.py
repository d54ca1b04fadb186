"""Device CSRs and identities for CA-side tests, made as a module would."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from pki.device_identity import DeviceIdentity

LOT = "LOT-2026-0042"


def identity(number: int, *, model: str = "AMB82", lot: str = LOT) -> DeviceIdentity:
    """The ``number``-th module of the fixture lot."""
    return DeviceIdentity(
        serial=f"AMB82D001{number:03d}",
        mac=f"00:e0:4c:87:{number // 256:02x}:{number % 256:02x}",
        model=model,
        lot=lot,
    )


def device_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def device_csr(
    serial: str,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None,
    *,
    common_name: str | None = None,
) -> bytes:
    """A DER CSR with subject ``CN=<serial>, serialNumber=<serial>``."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name or serial),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, serial),
        ]
    )
    request = x509.CertificateSigningRequestBuilder().subject_name(subject)
    signed = request.sign(key or device_key(), hashes.SHA256())
    return signed.public_bytes(serialization.Encoding.DER)


def with_broken_signature(csr_der: bytes) -> bytes:
    """The same CSR with the last byte of its signature flipped."""
    return csr_der[:-1] + bytes([csr_der[-1] ^ 0x01])
