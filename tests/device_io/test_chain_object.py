"""The CHAIN object: DER certificates concatenated, leaf first."""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from device_io.chain import (
    MAX_CERTIFICATES,
    ChainFormatError,
    decode_chain,
    encode_chain,
)

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    signer: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + datetime.timedelta(days=30))
        .sign(signer, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def chain() -> list[x509.Certificate]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    return [
        certificate("AMB82D001001", leaf_key, "Issuing CA", ca_key),
        certificate("Issuing CA", ca_key, "Issuing CA", ca_key),
    ]


def test_a_chain_round_trips_leaf_first(chain: list[x509.Certificate]) -> None:
    assert decode_chain(encode_chain(chain)) == chain


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda der: b"", "empty chain"),
        (lambda der: der[:-1], "certificate 1 is not DER"),
        (lambda der: der + b"\x00", "certificate 2 is not DER"),
        (lambda der: der * 3, f"more than {MAX_CERTIFICATES} certificates"),
        (lambda der: b"\x30\x03\x02\x01\x01", "certificate 0"),
    ],
)
def test_a_damaged_chain_is_refused_with_a_reason(
    chain: list[x509.Certificate], damage: Callable[[bytes], bytes], why: str
) -> None:
    with pytest.raises(ChainFormatError, match=why):
        decode_chain(damage(encode_chain(chain)))


@settings(max_examples=300)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_decode_or_raise_chain_format_error(data: bytes) -> None:
    try:
        certificates = decode_chain(data)
    except ChainFormatError:
        return
    assert 1 <= len(certificates) <= MAX_CERTIFICATES


# A damaged serial number can turn negative: cryptography warns, still loads.
@pytest.mark.filterwarnings("ignore:Parsed a serial number which wasn't positive")
@settings(max_examples=300)
@given(data=st.data())
def test_damaged_bytes_of_a_real_chain_raise_only_chain_format_error(
    chain: list[x509.Certificate], data: st.DataObject
) -> None:
    der = bytearray(encode_chain(chain))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        position = data.draw(st.integers(min_value=0, max_value=len(der) - 1))
        der[position] = data.draw(st.integers(min_value=0, max_value=255))

    # Any other exception fails the test.
    with contextlib.suppress(ChainFormatError):
        decode_chain(bytes(der))


def test_a_damaged_version_field_is_a_chain_format_error(
    chain: list[x509.Certificate],
) -> None:
    der = bytearray(encode_chain(chain))
    # The version INTEGER of the first certificate: [0] { INTEGER 2 } -> 1.
    version = der.index(b"\xa0\x03\x02\x01\x02") + 4
    der[version] = 1

    with pytest.raises(ChainFormatError, match="certificate 0 does not parse"):
        decode_chain(bytes(der))
