"""Each crypto misbehaviour produces exactly what it claims, checked with
cryptography on the objects read back through the PV commands."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
)
from cryptography.x509.oid import NameOID
from sim_bench import NAMEPLATE, Bench

from device_io.chain import decode_chain
from device_io.simulator.faults import Misbehaviour

CHALLENGE = bytes(range(32))
MESSAGE = b"PV-CHALLENGE-V1\x00" + CHALLENGE


def _csr(bench: Bench) -> x509.CertificateSigningRequest:
    return x509.load_der_x509_csr(bench.read_object("CSR"))


def _signature(bench: Bench) -> bytes:
    (line,) = bench.ok(f"AT+PVSIGN=0,{CHALLENGE.hex()}")
    return base64.b64decode(line.split('"')[1])


def _subject(csr: x509.CertificateSigningRequest) -> list[tuple[str, str]]:
    return [(attr.oid.dotted_string, str(attr.value)) for attr in csr.subject]


def test_good_module_makes_a_p256_csr_with_its_serial(bench: Bench) -> None:
    bench.setup(("key0",))

    csr = _csr(bench)

    assert csr.is_signature_valid
    assert isinstance(csr.public_key(), ec.EllipticCurvePublicKey)
    assert csr.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    assert isinstance(csr.signature_hash_algorithm, hashes.SHA256)
    assert _subject(csr) == [
        (NameOID.COMMON_NAME.dotted_string, NAMEPLATE.serial),
        (NameOID.SERIAL_NUMBER.dotted_string, NAMEPLATE.serial),
    ]


def test_good_module_signs_the_challenge_with_its_slot_key(bench: Bench) -> None:
    bench.setup(("key0",))
    public_key = _csr(bench).public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)

    public_key.verify(_signature(bench), MESSAGE, ec.ECDSA(hashes.SHA256()))


def test_bad_csr_signature_parses_but_does_not_verify(
    make_bench: Callable[..., Bench],
) -> None:
    bench = make_bench(Misbehaviour.BAD_CSR_SIGNATURE)
    bench.setup(("key0",))

    csr = _csr(bench)

    assert _subject(csr)[0] == (NameOID.COMMON_NAME.dotted_string, NAMEPLATE.serial)
    assert not csr.is_signature_valid


def test_csr_wrong_serial_names_the_neighbouring_serial(
    make_bench: Callable[..., Bench],
) -> None:
    bench = make_bench(Misbehaviour.CSR_WRONG_SERIAL)
    bench.setup(("key0",))

    csr = _csr(bench)

    assert csr.is_signature_valid
    assert {value for _, value in _subject(csr)} == {"AMB82D001002"}
    assert bench.ok("AT+PVID?")[0].startswith(f'+PVID:"{NAMEPLATE.serial}"')


def test_rsa_key_module_makes_an_rsa_2048_key_and_csr(
    make_bench: Callable[..., Bench],
) -> None:
    bench = make_bench(Misbehaviour.RSA_KEY)
    bench.setup(("key0",))

    csr = _csr(bench)
    public_key = load_der_public_key(bench.read_object("PUB"))

    assert csr.is_signature_valid
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert public_key.key_size == 2048
    assert public_key == csr.public_key()


def test_p384_key_module_makes_a_p384_key_and_csr(
    make_bench: Callable[..., Bench],
) -> None:
    bench = make_bench(Misbehaviour.P384_KEY)
    bench.setup(("key0",))

    csr = _csr(bench)
    public_key = csr.public_key()

    assert csr.is_signature_valid
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert public_key.curve.name == "secp384r1"
    public_key.verify(_signature(bench), MESSAGE, ec.ECDSA(hashes.SHA256()))


def test_bad_challenge_signature_is_made_with_another_key(
    make_bench: Callable[..., Bench],
) -> None:
    bench = make_bench(Misbehaviour.BAD_CHALLENGE_SIGNATURE)
    bench.setup(("key0",))
    public_key = _csr(bench).public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)

    signature = _signature(bench)

    assert _csr(bench).is_signature_valid
    with pytest.raises(InvalidSignature):
        public_key.verify(signature, MESSAGE, ec.ECDSA(hashes.SHA256()))


def test_corrupt_csr_reads_back_consistently_but_does_not_parse(
    make_bench: Callable[..., Bench],
) -> None:
    bench = make_bench(Misbehaviour.CORRUPT_CSR)
    bench.setup(("key0",))

    data = bench.read_object("CSR")

    assert bench.read_object("CSR") == data
    with pytest.raises(ValueError, match=r"(?i)parse|asn1|der"):
        x509.load_der_x509_csr(data)


def test_misbehaving_module_still_commits_a_chain_for_its_own_key(
    make_bench: Callable[..., Bench],
) -> None:
    bench = make_bench(Misbehaviour.BAD_CSR_SIGNATURE)
    bench.setup(("key0", "chain0"))

    assert bench.firmware.state == "CERT"
    leaf = decode_chain(bench.read_object("CHAIN"))[0]
    assert leaf.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    ) == bench.read_object("PUB")
