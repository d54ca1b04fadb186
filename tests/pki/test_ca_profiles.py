"""The root and issuing CA certificates of the development PKI, field by field."""

from __future__ import annotations

import datetime
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID, SignatureAlgorithmOID
from lint_report import pkilint_findings

from pki.ca_profiles import (
    CaRole,
    root_certificate,
    signature_hash,
    subordinate_ca_certificate,
)
from pki.devpki import DevPki
from pki.errors import ProfileError
from pki.product_line import Publication
from pki.validity import Validity

NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)


def _criticality(certificate: x509.Certificate) -> dict[x509.ObjectIdentifier, bool]:
    return {ext.oid: ext.critical for ext in certificate.extensions}


def _value(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> object:
    return certificate.extensions.get_extension_for_oid(oid).value


def test_root_is_a_self_signed_p384_ca(root_certificate: x509.Certificate) -> None:
    key = root_certificate.public_key()

    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert isinstance(key.curve, ec.SECP384R1)
    assert root_certificate.issuer == root_certificate.subject
    assert root_certificate.signature_algorithm_oid == (
        SignatureAlgorithmOID.ECDSA_WITH_SHA384
    )
    root_certificate.verify_directly_issued_by(root_certificate)


def test_root_extensions_and_criticality(root_certificate: x509.Certificate) -> None:
    usage = _value(root_certificate, ExtensionOID.KEY_USAGE)

    assert _criticality(root_certificate) == {
        ExtensionOID.BASIC_CONSTRAINTS: True,
        ExtensionOID.KEY_USAGE: True,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER: False,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER: False,
    }
    assert _value(root_certificate, ExtensionOID.BASIC_CONSTRAINTS) == (
        x509.BasicConstraints(ca=True, path_length=None)
    )
    assert isinstance(usage, x509.KeyUsage)
    assert (usage.key_cert_sign, usage.crl_sign, usage.digital_signature) == (
        True,
        True,
        False,
    )


def test_issuing_ca_is_p256_under_the_root_with_path_length_zero(
    issuing_certificate: x509.Certificate, root_certificate: x509.Certificate
) -> None:
    key = issuing_certificate.public_key()
    usage = _value(issuing_certificate, ExtensionOID.KEY_USAGE)

    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert isinstance(key.curve, ec.SECP256R1)
    issuing_certificate.verify_directly_issued_by(root_certificate)
    assert _value(issuing_certificate, ExtensionOID.BASIC_CONSTRAINTS) == (
        x509.BasicConstraints(ca=True, path_length=0)
    )
    assert isinstance(usage, x509.KeyUsage)
    assert (usage.key_cert_sign, usage.crl_sign, usage.digital_signature) == (
        True,
        True,
        False,
    )


def test_issuing_ca_extensions_and_criticality(
    issuing_certificate: x509.Certificate, root_certificate: x509.Certificate
) -> None:
    aki = _value(issuing_certificate, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    root_ski = _value(root_certificate, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    points = _value(issuing_certificate, ExtensionOID.CRL_DISTRIBUTION_POINTS)

    assert _criticality(issuing_certificate) == {
        ExtensionOID.BASIC_CONSTRAINTS: True,
        ExtensionOID.KEY_USAGE: True,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER: False,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER: False,
        ExtensionOID.CRL_DISTRIBUTION_POINTS: False,
    }
    assert isinstance(aki, x509.AuthorityKeyIdentifier)
    assert isinstance(root_ski, x509.SubjectKeyIdentifier)
    assert aki.key_identifier == root_ski.digest
    assert isinstance(points, x509.CRLDistributionPoints)
    assert [n.value for n in points[0].full_name] == [
        "http://127.0.0.1:8480/crl/root.crl"
    ]


def test_ca_subjects_name_the_organization_and_role(
    issuing_certificate: x509.Certificate,
    root_certificate: x509.Certificate,
    dev_pki: DevPki,
) -> None:
    def common_name(certificate: x509.Certificate) -> object:
        return certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value

    assert common_name(root_certificate) == f"{dev_pki.organization} Root CA"
    assert common_name(issuing_certificate) == (
        f"{dev_pki.organization} Device Issuing CA"
    )


def test_openssl_accepts_the_issuing_ca_under_the_root(dev_pki: DevPki) -> None:
    verified = subprocess.run(
        [
            "openssl",
            "verify",
            "-x509_strict",
            "-CAfile",
            str(dev_pki.root_certificate),
            str(dev_pki.issuing.certificate),
        ],
        capture_output=True,
        text=True,
        check=False,
    )

    assert verified.returncode == 0, verified.stderr


def test_pkilint_reports_no_error_or_warning_on_the_ca_certificates(
    root_certificate: x509.Certificate, issuing_certificate: x509.Certificate
) -> None:
    assert pkilint_findings(root_certificate) == []
    assert pkilint_findings(issuing_certificate) == []


def test_signature_hash_matches_the_ca_curve() -> None:
    assert isinstance(signature_hash(ec.SECP256R1()), hashes.SHA256)
    assert isinstance(signature_hash(ec.SECP384R1()), hashes.SHA384)
    with pytest.raises(ProfileError, match="secp521r1"):
        signature_hash(ec.SECP521R1())


def test_root_profile_refuses_a_key_other_than_p384() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()

    with pytest.raises(ProfileError, match="P-384"):
        root_certificate(
            organization="Org",
            public_key=key,
            validity=Validity.starting(NOW, days=1),
            serial_number=1,
        )


def test_subordinate_profile_serves_every_role_and_refuses_other_curves(
    root_certificate: x509.Certificate,
) -> None:
    publication = Publication(base_url="http://127.0.0.1:8480")
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()

    for role in CaRole:
        builder = subordinate_ca_certificate(
            role=role,
            organization="Org",
            public_key=p256,
            issuer=root_certificate,
            publication=publication,
            validity=Validity.starting(NOW, days=1),
            serial_number=1,
        )
        signed = builder.sign(ec.generate_private_key(ec.SECP384R1()), hashes.SHA384())
        assert signed.subject.rfc4514_string() == f"CN=Org {role.value},O=Org"

    with pytest.raises(ProfileError, match="secp521r1"):
        subordinate_ca_certificate(
            role=CaRole.STATION,
            organization="Org",
            public_key=ec.generate_private_key(ec.SECP521R1()).public_key(),
            issuer=root_certificate,
            publication=publication,
            validity=Validity.starting(NOW, days=1),
            serial_number=1,
        )
