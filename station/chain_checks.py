"""Checks on an issued chain before it touches the module (DESIGN 1, step 6).

The station trusts nothing the CA returns until it has checked it: a path to
the root the station pins (cryptography's X.509 verifier, never a hand-written
walk), the leaf's key equal to the CSR's key, the identity fields the module
reported, and the parts of the device profile the station is configured with.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from station.errors import ChainRejected


@dataclass(frozen=True)
class Trust:
    """What the station pins and expects of every device certificate.

    Attributes:
        root: The root CA certificate every chain must lead to.
        organization: The product line's organization (subject O).
        lot_oid: The OID of the lot subject attribute (``<arc>.1.1``).
    """

    root: x509.Certificate
    organization: str
    lot_oid: str


@dataclass(frozen=True)
class ExpectedLeaf:
    """What the station expects the device certificate to say.

    Attributes:
        serial: Module serial number.
        mac_hex: MAC address as 12 lowercase hex digits.
        model: Model name.
        lot: Manufacturing lot.
        organization: The product line's organization name.
        lot_oid: The OID of the lot attribute (``<arc>.1.1``).
        spki_der: The CSR's SubjectPublicKeyInfo.
    """

    serial: str
    mac_hex: str
    model: str
    lot: str
    organization: str
    lot_oid: str
    spki_der: bytes


def check_chain(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    *,
    root: x509.Certificate,
    expected: ExpectedLeaf,
    now: datetime.datetime,
) -> None:
    """Check an issued chain against the pinned root and the module identity.

    Args:
        leaf: The device certificate.
        intermediates: The CA certificates sent with it (issuing CA first).
        root: The root the station pins; the path must end there.
        expected: The identity and key the leaf must carry.
        now: Validation time.

    Raises:
        ChainRejected: Any check failed; the reason says which.
    """
    _check_path(leaf, intermediates, root, now)
    _check_key(leaf, expected.spki_der)
    _check_subject(leaf, expected)
    _check_san(leaf, expected)
    _check_usage(leaf)


def _check_path(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    root: x509.Certificate,
    now: datetime.datetime,
) -> None:
    verifier = PolicyBuilder().store(Store([root])).time(now).build_client_verifier()
    try:
        verifier.verify(leaf, list(intermediates))
    except VerificationError as exc:
        raise ChainRejected(f"no valid path to the pinned root: {exc}") from exc


def _check_key(leaf: x509.Certificate, spki_der: bytes) -> None:
    leaf_spki = leaf.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )
    if leaf_spki != spki_der:
        raise ChainRejected("certificate key differs from the module's CSR key")


def _check_subject(leaf: x509.Certificate, expected: ExpectedLeaf) -> None:
    wanted = {
        NameOID.ORGANIZATION_NAME: expected.organization,
        NameOID.ORGANIZATIONAL_UNIT_NAME: expected.model,
        NameOID.COMMON_NAME: expected.serial,
        NameOID.SERIAL_NUMBER: expected.serial,
        x509.ObjectIdentifier(expected.lot_oid): expected.lot,
    }
    for oid, value in wanted.items():
        found = [attr.value for attr in leaf.subject.get_attributes_for_oid(oid)]
        if found != [value]:
            raise ChainRejected(
                f"certificate subject {oid.dotted_string} is {found!r}, "
                f"expected {value!r}"
            )


def _check_san(leaf: x509.Certificate, expected: ExpectedLeaf) -> None:
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        raise ChainRejected("certificate has no subjectAltName") from None
    uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
    mac_urn = f"urn:dev:mac:{expected.mac_hex}"
    if mac_urn not in uris:
        raise ChainRejected(f"certificate subjectAltName lacks {mac_urn}")
    ops = [uri for uri in uris if uri.startswith("urn:dev:ops:")]
    if not any(uri.endswith(f"-{expected.model}-{expected.serial}") for uri in ops):
        raise ChainRejected(
            f"certificate subjectAltName lacks urn:dev:ops for "
            f"{expected.model} {expected.serial}"
        )


def _check_usage(leaf: x509.Certificate) -> None:
    try:
        constraints = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound as exc:
        raise ChainRejected(f"certificate lacks an extension: {exc}") from None
    if constraints.value.ca:
        raise ChainRejected("certificate is a CA certificate, not a device one")
    if not usage.value.digital_signature:
        raise ChainRejected("certificate key usage lacks digitalSignature")
    if ExtendedKeyUsageOID.CLIENT_AUTH not in eku.value:
        raise ChainRejected("certificate extended key usage lacks clientAuth")
