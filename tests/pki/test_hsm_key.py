"""An HSM key as a cryptography private key.

cryptography 50.0.2 accepts a Python subclass of EllipticCurvePrivateKey in its
x509 builders, calling its ``sign()``. It does not document this, so each
builder the CA uses is pinned here: a cryptography upgrade that breaks it fails
these tests before it breaks issuance.
"""

from __future__ import annotations

import copy
import datetime
import itertools
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from pki.errors import KeyNotExportable
from pki.hsm_key import HsmPrivateKey
from pki.softhsm import SoftHsmConfig, find_module
from pki.token import Token, TokenRef

NOW = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.UTC)
NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "HSM key test")])
_labels = itertools.count()


@pytest.fixture(scope="module")
def token(scratch_hsm: SoftHsmConfig) -> Iterator[Token]:
    scratch_hsm.init_token("hsm-key", so_pin="hsm-key-so", user_pin="hsm-key-pin")
    ref = TokenRef(find_module(), "hsm-key", scratch_hsm.conf_path)
    with Token.open(ref, "hsm-key-pin") as opened:
        yield opened


@pytest.fixture(params=[ec.SECP256R1(), ec.SECP384R1()], ids=["P-256", "P-384"])
def key(request: pytest.FixtureRequest, token: Token) -> HsmPrivateKey:
    label = f"key-{next(_labels)}"
    token.generate_ec_key(label, request.param)
    return HsmPrivateKey(token, label)


def _self_signed(key: HsmPrivateKey) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(NAME)
        .issuer_name(NAME)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def test_certificate_builder_signs_through_the_token(key: HsmPrivateKey) -> None:
    certificate = _self_signed(key)

    certificate.verify_directly_issued_by(certificate)


def test_crl_builder_signs_through_the_token(key: HsmPrivateKey) -> None:
    revoked = (
        x509.RevokedCertificateBuilder().serial_number(42).revocation_date(NOW).build()
    )
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(NAME)
        .last_update(NOW)
        .next_update(NOW + datetime.timedelta(days=7))
        .add_revoked_certificate(revoked)
        .sign(key, hashes.SHA256())
    )

    assert crl.is_signature_valid(key.public_key())


def test_ocsp_response_builder_signs_through_the_token(key: HsmPrivateKey) -> None:
    issuer = _self_signed(key)
    response = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=issuer,
            issuer=issuer,
            algorithm=hashes.SHA256(),
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=NOW,
            next_update=NOW + datetime.timedelta(hours=1),
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, issuer)
        .sign(key, hashes.SHA256())
    )

    key.public_key().verify(
        response.signature,
        response.tbs_response_bytes,
        ec.ECDSA(hashes.SHA256()),
    )


def test_csr_builder_signs_through_the_token(key: HsmPrivateKey) -> None:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(NAME)
        .sign(key, hashes.SHA256())
    )

    assert csr.is_signature_valid
    assert csr.public_key() == key.public_key()


def test_sign_accepts_a_prehashed_digest(key: HsmPrivateKey) -> None:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"message")

    signature = key.sign(digest.finalize(), ec.ECDSA(Prehashed(hashes.SHA256())))

    key.public_key().verify(signature, b"message", ec.ECDSA(hashes.SHA256()))


def test_sign_refuses_a_prehashed_digest_of_the_wrong_length(
    key: HsmPrivateKey,
) -> None:
    with pytest.raises(ValueError, match="32 expected"):
        key.sign(b"short", ec.ECDSA(Prehashed(hashes.SHA256())))


def test_curve_and_size_come_from_the_token_key(key: HsmPrivateKey) -> None:
    assert key.curve.name == key.public_key().curve.name
    assert key.key_size in (256, 384)
    assert key.token_label == "hsm-key"


def test_the_private_value_cannot_be_exported(key: HsmPrivateKey) -> None:
    with pytest.raises(KeyNotExportable, match="cannot be exported"):
        key.private_numbers()
    with pytest.raises(KeyNotExportable):
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def test_ecdh_and_non_ecdsa_signing_are_refused(key: HsmPrivateKey) -> None:
    peer = ec.generate_private_key(key.curve).public_key()

    with pytest.raises(UnsupportedAlgorithm):
        key.exchange(ec.ECDH(), peer)
    with pytest.raises(UnsupportedAlgorithm):
        key.sign(b"data", object())  # type: ignore[arg-type]


def test_copies_refer_to_the_same_token_key(key: HsmPrivateKey) -> None:
    assert copy.copy(key) is key
    assert copy.deepcopy(key) is key
