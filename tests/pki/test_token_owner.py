"""The token owner: keys, signatures, errors and concurrency on real SoftHSM2."""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
)

from pki.errors import KeyNotFound, TokenError, TokenUnavailable
from pki.softhsm import SoftHsmConfig, find_module
from pki.token import Token, TokenRef

USER_PIN = "token-owner-pin"
_labels = itertools.count()


@pytest.fixture
def token_ref(scratch_hsm: SoftHsmConfig) -> TokenRef:
    """A new token in the scratch configuration."""
    label = f"owner-{next(_labels)}"
    scratch_hsm.init_token(label, so_pin="owner-so-pin", user_pin=USER_PIN)
    return TokenRef(find_module(), label, scratch_hsm.conf_path)


@pytest.fixture
def token(token_ref: TokenRef) -> Iterator[Token]:
    with Token.open(token_ref, USER_PIN) as opened:
        yield opened


def _verify(public: ec.EllipticCurvePublicKey, signature: bytes, digest: bytes) -> None:
    algorithm = hashes.SHA384() if public.key_size == 384 else hashes.SHA256()
    public.verify(signature, digest, ec.ECDSA(Prehashed(algorithm)))


@pytest.mark.parametrize(
    ("curve", "hash_name"), [(ec.SECP256R1(), "sha256"), (ec.SECP384R1(), "sha384")]
)
def test_generated_key_signs_digests_that_verify_with_its_exported_public_key(
    token: Token, curve: ec.EllipticCurve, hash_name: str
) -> None:
    public = token.generate_ec_key("signer", curve)
    digest = hashlib.new(hash_name, b"payload").digest()

    signature = token.sign_digest("signer", digest)

    assert isinstance(public.curve, type(curve))
    assert token.public_key("signer") == public
    _verify(public, signature, digest)


def test_signatures_come_back_der_encoded(token: Token) -> None:
    token.generate_ec_key("der", ec.SECP256R1())

    signature = token.sign_digest("der", hashlib.sha256(b"x").digest())

    r, s = decode_dss_signature(signature)
    assert r > 0
    assert s > 0


def test_a_key_is_found_again_by_label_from_a_new_handle(token_ref: TokenRef) -> None:
    with Token.open(token_ref, USER_PIN) as first:
        public = first.generate_ec_key("kept", ec.SECP256R1())

    with Token.open(token_ref, USER_PIN) as second:
        assert second.has_key("kept")
        assert second.public_key("kept") == public


def test_generating_over_an_existing_label_is_refused(token: Token) -> None:
    token.generate_ec_key("taken", ec.SECP256R1())

    with pytest.raises(TokenError, match="already exists") as raised:
        token.generate_ec_key("taken", ec.SECP256R1())

    assert raised.value.token == token.label
    assert raised.value.operation == "generate key"


def test_an_unsupported_curve_is_refused(token: Token) -> None:
    with pytest.raises(ValueError, match="secp521r1"):
        token.generate_ec_key("big", ec.SECP521R1())


def test_signing_with_a_missing_key_names_the_token_and_operation(
    token: Token,
) -> None:
    with pytest.raises(KeyNotFound) as raised:
        token.sign_digest("absent", hashlib.sha256(b"x").digest())

    assert raised.value.token == token.label
    assert raised.value.operation == "sign"
    assert token.label in str(raised.value)


def test_a_wrong_pin_is_reported_as_unavailable_without_the_pin(
    token_ref: TokenRef, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    with pytest.raises(TokenUnavailable, match="the PIN is wrong") as raised:
        Token.open(token_ref, "not-the-pin")

    assert raised.value.operation == "login"
    assert "not-the-pin" not in str(raised.value)
    assert "not-the-pin" not in caplog.text


def test_a_second_handle_with_another_pin_is_refused(token: Token) -> None:
    with pytest.raises(TokenUnavailable, match="another PIN"):
        Token.open(token.ref, "some-other-pin")


def test_an_unknown_token_label_is_unavailable(scratch_hsm: SoftHsmConfig) -> None:
    ref = TokenRef(find_module(), "no-such-token", scratch_hsm.conf_path)

    with pytest.raises(TokenUnavailable, match="no token with that label") as raised:
        Token.open(ref, USER_PIN)

    assert raised.value.token == "no-such-token"


def test_a_missing_library_is_unavailable(tmp_path: Path) -> None:
    ref = TokenRef(tmp_path / "libmissing.so", "any", None)

    with pytest.raises(TokenUnavailable, match="libmissing"):
        Token.open(ref, USER_PIN)


def test_a_closed_handle_refuses_calls(token_ref: TokenRef) -> None:
    token = Token.open(token_ref, USER_PIN)
    token.close()

    with pytest.raises(TokenUnavailable, match="closed"):
        token.has_key("any")


def test_many_threads_signing_through_one_token_all_get_valid_signatures(
    token: Token,
) -> None:
    public = token.generate_ec_key("busy", ec.SECP256R1())
    digests = [hashlib.sha256(str(n).encode()).digest() for n in range(800)]

    with ThreadPoolExecutor(max_workers=16) as pool:
        signatures = list(pool.map(lambda d: token.sign_digest("busy", d), digests))

    for digest, signature in zip(digests, signatures, strict=True):
        _verify(public, signature, digest)


def test_tokens_of_two_configurations_work_alternately_in_one_process(
    token: Token, tmp_path: Path
) -> None:
    other_config = SoftHsmConfig.create(tmp_path / "other-hsm")
    other_config.init_token("elsewhere", so_pin="other-so-pin", user_pin=USER_PIN)
    other_ref = TokenRef(find_module(), "elsewhere", other_config.conf_path)
    here = token.generate_ec_key("here", ec.SECP256R1())
    digest = hashlib.sha256(b"alternate").digest()

    with Token.open(other_ref, USER_PIN) as other:
        there = other.generate_ec_key("there", ec.SECP256R1())
        for _ in range(3):
            _verify(here, token.sign_digest("here", digest), digest)
            _verify(there, other.sign_digest("there", digest), digest)

        assert not other.has_key("here")
        assert not token.has_key("there")


def test_a_token_created_after_the_library_loaded_is_found(
    token: Token, scratch_hsm: SoftHsmConfig
) -> None:
    token.generate_ec_key("first", ec.SECP256R1())
    scratch_hsm.init_token("latecomer", so_pin="late-so-pin", user_pin=USER_PIN)
    late_ref = TokenRef(find_module(), "latecomer", scratch_hsm.conf_path)

    with Token.open(late_ref, USER_PIN) as late:
        assert not late.has_key("first")

    assert token.has_key("first")
