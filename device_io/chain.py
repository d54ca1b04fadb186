"""The CHAIN object: DER certificates concatenated, leaf first, no root.

Both sides of the link need to split a CHAIN object back into certificates: the
station after reading it back, the module before committing it.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyasn1.codec.der import decoder
from pyasn1.error import PyAsn1Error
from pyasn1_alt_modules import rfc5280

# A module chain is a leaf and its issuing CA; a few more leave room for a
# deeper hierarchy without letting a hostile object make us parse forever.
MAX_CERTIFICATES = 4


class ChainFormatError(ValueError):
    """The bytes are not DER certificates concatenated."""


def encode_chain(certificates: Sequence[x509.Certificate]) -> bytes:
    """Concatenate certificates as DER, in the order given (leaf first)."""
    return b"".join(cert.public_bytes(Encoding.DER) for cert in certificates)


def decode_chain(data: bytes) -> list[x509.Certificate]:
    """Split a CHAIN object into certificates, leaf first.

    Raises:
        ChainFormatError: The data is empty, not DER certificates, holds
            trailing bytes, or more than ``MAX_CERTIFICATES`` certificates.
    """
    certificates: list[x509.Certificate] = []
    rest = data
    while rest:
        if len(certificates) == MAX_CERTIFICATES:
            raise ChainFormatError(f"more than {MAX_CERTIFICATES} certificates")
        der, rest = _split_first(rest, index=len(certificates))
        certificates.append(_load(der, index=len(certificates)))
    if not certificates:
        raise ChainFormatError("empty chain")
    return certificates


def _split_first(data: bytes, *, index: int) -> tuple[bytes, bytes]:
    try:
        _, rest = decoder.decode(data, asn1Spec=rfc5280.Certificate())
    except PyAsn1Error as exc:
        raise ChainFormatError(f"certificate {index} is not DER: {exc}") from exc
    consumed = len(data) - len(rest)
    return data[:consumed], data[consumed:]


def _load(der: bytes, *, index: int) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    # InvalidVersion is not a ValueError: a damaged version field raises it.
    except (ValueError, x509.InvalidVersion) as exc:
        raise ChainFormatError(f"certificate {index} does not parse: {exc}") from exc
