"""CA certificate profiles: the root and the CAs under it.

Root CA: EC P-384, self-signed, CA:TRUE, keyCertSign and cRLSign.
Subordinate CAs (the device issuing CA, and later the station CA and the
service CA of DESIGN 4): EC P-256 or P-384, CA:TRUE pathlen 0, keyCertSign and
cRLSign, SKI and AKI, CRL distribution point at the root's CRL. They differ
only by name, so one profile serves all three.
"""

from __future__ import annotations

import enum

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pki.errors import ProfileError
from pki.extensions import authority_key_identifier, crl_distribution_points, key_usage
from pki.product_line import Publication
from pki.validity import Validity

_CA_CURVES = (ec.SECP256R1, ec.SECP384R1)


class CaRole(enum.Enum):
    """The CAs under the root, by the common name suffix they carry."""

    ISSUING = "Device Issuing CA"
    STATION = "Station CA"
    SERVICE = "Service CA"


def signature_hash(curve: ec.EllipticCurve) -> hashes.SHA256 | hashes.SHA384:
    """The hash a CA key on ``curve`` signs with: SHA-256 for P-256, SHA-384
    for P-384, so the signature is as strong as the key."""
    if isinstance(curve, ec.SECP384R1):
        return hashes.SHA384()
    if isinstance(curve, ec.SECP256R1):
        return hashes.SHA256()
    raise ProfileError(f"CA keys are EC P-256 or P-384, not {curve.name}")


def ca_subject(organization: str, common_name: str) -> x509.Name:
    """A CA subject: O=<organization>, CN=<common name>."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def root_certificate(
    *,
    organization: str,
    public_key: ec.EllipticCurvePublicKey,
    validity: Validity,
    serial_number: int,
) -> x509.CertificateBuilder:
    """A builder for the self-signed root CA certificate.

    Raises:
        ProfileError: The key is not EC P-384.
    """
    if not isinstance(public_key.curve, ec.SECP384R1):
        raise ProfileError(f"the root CA key is EC P-384, not {public_key.curve.name}")

    subject = ca_subject(organization, f"{organization} Root CA")
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    return (
        _ca_builder(subject, subject, public_key, validity, serial_number)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
            critical=False,
        )
    )


def subordinate_ca_certificate(
    *,
    role: CaRole,
    organization: str,
    public_key: ec.EllipticCurvePublicKey,
    issuer: x509.Certificate,
    publication: Publication,
    validity: Validity,
    serial_number: int,
) -> x509.CertificateBuilder:
    """A builder for a CA certificate under the root.

    Raises:
        ProfileError: The key is not EC P-256 or P-384, or the root has no SKI.
    """
    if not isinstance(public_key.curve, _CA_CURVES):
        raise ProfileError(
            f"CA keys are EC P-256 or P-384, not {public_key.curve.name}"
        )

    subject = ca_subject(organization, f"{organization} {role.value}")
    return (
        _ca_builder(subject, issuer.subject, public_key, validity, serial_number)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
        )
        .add_extension(authority_key_identifier(issuer), critical=False)
        .add_extension(
            crl_distribution_points(publication.root_crl_url), critical=False
        )
    )


def _ca_builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    validity: Validity,
    serial_number: int,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial_number)
        .not_valid_before(validity.not_before)
        .not_valid_after(validity.not_after)
    )
