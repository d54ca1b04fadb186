"""CSR checks: proof of possession, key type, subject by value."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from station.csr import check_csr
from station.errors import CsrRejected

SERIAL = "AMB82D001001"


def _csr(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    *,
    names: list[x509.NameAttribute] | None = None,
) -> bytes:
    subject = x509.Name(
        names
        or [
            x509.NameAttribute(NameOID.COMMON_NAME, SERIAL),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, SERIAL),
        ]
    )
    request = x509.CertificateSigningRequestBuilder().subject_name(subject)
    return request.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)


def _spki(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )


def test_valid_p256_csr_is_accepted_with_its_key_hash() -> None:
    key = ec.generate_private_key(ec.SECP256R1())

    checked = check_csr(_csr(key), serial=SERIAL, pub_der=_spki(key))

    assert checked.spki_der == _spki(key)
    assert len(checked.spki_sha256) == 64


def test_subject_is_compared_by_value_not_encoding() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    names = [
        x509.NameAttribute(NameOID.COMMON_NAME, SERIAL, x509.name._ASN1Type.UTF8String),
        x509.NameAttribute(
            NameOID.SERIAL_NUMBER, SERIAL, x509.name._ASN1Type.UTF8String
        ),
    ]

    check_csr(_csr(key, names=names), serial=SERIAL)


def test_csr_with_broken_signature_is_rejected() -> None:
    der = _csr(ec.generate_private_key(ec.SECP256R1()))
    tampered = der.replace(SERIAL.encode(), b"AMB82D001009", 1)

    with pytest.raises(CsrRejected, match="signature does not verify"):
        check_csr(tampered, serial=SERIAL)


def test_csr_naming_another_serial_is_rejected() -> None:
    key = ec.generate_private_key(ec.SECP256R1())

    with pytest.raises(CsrRejected) as refused:
        check_csr(_csr(key), serial="AMB82D001002")

    assert str(refused.value).startswith(
        "CSR subject 'serialNumber=AMB82D001001,CN=AMB82D001001' does not match "
        "the module serial AMB82D001002"
    )


def test_csr_with_extra_subject_attribute_is_rejected() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    names = [
        x509.NameAttribute(NameOID.COMMON_NAME, SERIAL),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, SERIAL),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Evil"),
    ]

    with pytest.raises(CsrRejected, match="does not match"):
        check_csr(_csr(key, names=names), serial=SERIAL)


def test_rsa_csr_is_rejected_naming_the_key_type() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    with pytest.raises(CsrRejected, match="CSR key is RSA, expected EC P-256"):
        check_csr(_csr(key), serial=SERIAL)


def test_p384_csr_is_rejected_naming_the_curve() -> None:
    key = ec.generate_private_key(ec.SECP384R1())

    with pytest.raises(CsrRejected, match="curve secp384r1, expected P-256"):
        check_csr(_csr(key), serial=SERIAL)


def test_csr_whose_key_differs_from_pub_object_is_rejected() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())

    with pytest.raises(CsrRejected, match="differs from the module's public key"):
        check_csr(_csr(key), serial=SERIAL, pub_der=_spki(other))


@pytest.mark.parametrize("der", [b"", b"\x30\x03\x02\x01\x00", b"garbage" * 20])
def test_bytes_that_are_not_a_csr_are_rejected(der: bytes) -> None:
    with pytest.raises(CsrRejected, match="not a valid DER PKCS#10") as raised:
        check_csr(der, serial=SERIAL)

    assert f"({len(der)} bytes, starting " in str(raised.value)
    assert "ParseError" not in str(raised.value)
