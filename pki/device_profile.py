"""The device certificate profile (IEEE 802.1AR IDevID style, DESIGN 4).

Subject, in this order: O=<organization>, OU=<model>, CN=<serial>,
serialNumber=<serial> (PrintableString), then the lot as a UTF8String
attribute ``<arc>.1.1``. SubjectAltName: ``urn:dev:mac:``, ``urn:dev:ops:``
(RFC 9039) and otherName HardwareModuleName (RFC 4108). basicConstraints
CA:FALSE and keyUsage digitalSignature, both critical; EKU clientAuth; SKI,
AKI, AIA (OCSP, caIssuers) and a CRL distribution point.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    NameOID,
)
from pyasn1.codec.der import encoder
from pyasn1.type import univ
from pyasn1_alt_modules import rfc4108

from pki.device_identity import DeviceIdentity
from pki.errors import ProfileError
from pki.extensions import (
    authority_key_identifier,
    crl_distribution_points,
    key_usage,
)
from pki.product_line import ProductLine, Publication
from pki.validity import Validity

HARDWARE_MODULE_NAME_OID = x509.ObjectIdentifier(str(rfc4108.id_on_hardwareModuleName))


def device_certificate(
    *,
    identity: DeviceIdentity,
    public_key: ec.EllipticCurvePublicKey,
    product_line: ProductLine,
    issuer: x509.Certificate,
    validity: Validity,
    serial_number: int,
) -> x509.CertificateBuilder:
    """A builder holding every field of a device certificate, ready to sign.

    Args:
        identity: The module's checked identity.
        public_key: The module's key, EC P-256.
        product_line: Organization, OID arc, model table and publication.
        issuer: The issuing CA's certificate (issuer name and AKI).
        validity: The window, already clamped to the issuer.
        serial_number: A fresh serial from ``pki.serial_number``.

    Raises:
        ProfileError: The key is not EC P-256 or the issuer has no SKI.
        IdentityRejected: The model is not in the product line.
    """
    if not isinstance(public_key.curve, ec.SECP256R1):
        raise ProfileError(
            f"device keys are EC P-256, not {public_key.curve.name}",
            serial=identity.serial,
        )

    builder = (
        x509.CertificateBuilder()
        .subject_name(device_subject(identity, product_line))
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(serial_number)
        .not_valid_before(validity.not_before)
        .not_valid_after(validity.not_after)
    )
    for extension, critical in _extensions(identity, public_key, product_line, issuer):
        builder = builder.add_extension(extension, critical=critical)
    return builder


def device_subject(identity: DeviceIdentity, product_line: ProductLine) -> x509.Name:
    """The subject, one attribute per RDN, in profile order.

    cryptography encodes serialNumber as PrintableString and an attribute it
    does not know (the lot) as UTF8String by default: both are what the
    profile asks for, and the profile tests pin it.
    """
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, product_line.organization),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, identity.model),
            x509.NameAttribute(NameOID.COMMON_NAME, identity.serial),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, identity.serial),
            x509.NameAttribute(product_line.lot_oid, identity.lot),
        ]
    )


def hardware_module_name(hw_type: x509.ObjectIdentifier, serial: str) -> bytes:
    """DER of HardwareModuleName {hwType, hwSerialNum} (RFC 4108)."""
    name = rfc4108.HardwareModuleName()
    name["hwType"] = univ.ObjectIdentifier(hw_type.dotted_string)
    name["hwSerialNum"] = univ.OctetString(serial.encode("ascii"))
    return bytes(encoder.encode(name))


def _extensions(
    identity: DeviceIdentity,
    public_key: ec.EllipticCurvePublicKey,
    product_line: ProductLine,
    issuer: x509.Certificate,
) -> list[tuple[x509.ExtensionType, bool]]:
    """Each extension with its criticality, in the order they are encoded."""
    return [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (key_usage(digital_signature=True), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
        (x509.SubjectKeyIdentifier.from_public_key(public_key), False),
        (authority_key_identifier(issuer), False),
        (subject_alt_name(identity, product_line), False),
        (_authority_information_access(product_line.publication), False),
        (crl_distribution_points(product_line.publication.issuing_crl_url), False),
    ]


def subject_alt_name(
    identity: DeviceIdentity, product_line: ProductLine
) -> x509.SubjectAlternativeName:
    """The MAC and ops URNs and the HardwareModuleName of a module.

    Raises:
        IdentityRejected: The model is not in the product line.
    """
    hw_type = product_line.hw_type(identity.model)
    return x509.SubjectAlternativeName(
        [
            x509.UniformResourceIdentifier(identity.mac_urn),
            x509.UniformResourceIdentifier(identity.ops_urn(product_line.pen)),
            x509.OtherName(
                HARDWARE_MODULE_NAME_OID, hardware_module_name(hw_type, identity.serial)
            ),
        ]
    )


def _authority_information_access(
    publication: Publication,
) -> x509.AuthorityInformationAccess:
    return x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP,
                x509.UniformResourceIdentifier(publication.ocsp_url),
            ),
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(publication.issuing_certificate_url),
            ),
        ]
    )
