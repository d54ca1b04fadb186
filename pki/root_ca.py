"""Root CA operations: the self-signed root and the CA certificates under it.

These run wherever the root key is open, which is only ever a ceremony's own
process (see ``pki.ceremony``): the root key is never loaded by a station.
"""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from pki.ca_profiles import (
    CaRole,
    root_certificate,
    signature_hash,
    subordinate_ca_certificate,
)
from pki.errors import ProfileError
from pki.product_line import Publication
from pki.serial_number import new_serial_number
from pki.validity import Validity, clamped_validity


def create_root_certificate(
    key: ec.EllipticCurvePrivateKey,
    *,
    organization: str,
    validity_days: int,
    now: datetime.datetime,
) -> x509.Certificate:
    """Self-sign the root CA certificate with ``key`` (EC P-384).

    Raises:
        ProfileError: The key is not EC P-384.
        TokenError: The token failed to sign.
    """
    builder = root_certificate(
        organization=organization,
        public_key=key.public_key(),
        validity=Validity.starting(now, days=validity_days),
        serial_number=new_serial_number(),
    )
    return builder.sign(key, signature_hash(key.curve))


def sign_subordinate_ca(
    key: ec.EllipticCurvePrivateKey,
    root: x509.Certificate,
    *,
    role: CaRole,
    organization: str,
    public_key: ec.EllipticCurvePublicKey,
    publication: Publication,
    validity_days: int,
    now: datetime.datetime,
) -> x509.Certificate:
    """Sign a CA certificate under the root for ``public_key``.

    A CA must not outlive the root, and its lifetime is a ceremony decision:
    a request reaching past the root's notAfter is refused, not shortened.

    Raises:
        ProfileError: ``root`` is not the certificate of ``key``, or the new
            CA's key is not EC P-256 or P-384.
        ValidityRefused: The root is not valid for the whole lifetime asked.
        TokenError: The token failed to sign.
    """
    if root.public_key() != key.public_key():
        raise ProfileError("the root certificate given is not the root key's")

    builder = subordinate_ca_certificate(
        role=role,
        organization=organization,
        public_key=public_key,
        issuer=root,
        publication=publication,
        validity=clamped_validity(
            now, days=validity_days, minimum_days=validity_days, issuer=root
        ),
        serial_number=new_serial_number(),
    )
    return builder.sign(key, signature_hash(key.curve))
