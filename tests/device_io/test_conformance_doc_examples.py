"""The worked examples of docs/pv-commands.md are real: every CRC, base64
payload, hash and signature on the page checks out, with this project's codec,
with cryptography and with openssl as an independent peer."""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
)

from device_io.conformance import PLAN
from device_io.pv import chunk_size, crc32_hex, sha256_hex

DOC = (Path(__file__).parents[2] / "docs" / "pv-commands.md").read_text()
MAX_LINE = 120


def _object(name: str) -> bytes:
    match = re.search(
        rf"^{name} \((\d+) bytes, base64\):\n((?:[A-Za-z0-9+/=]+\n)+)", DOC, re.M
    )
    assert match, f"no {name} block"
    data = base64.b64decode("".join(match[2].split()))
    assert len(data) == int(match[1])
    return data


def _hex_after(sentence: str) -> bytes:
    match = re.search(re.escape(sentence) + r"\n\n```\n([0-9a-f \n]+)```", DOC)
    assert match, f"no hex block after {sentence!r}"
    return bytes.fromhex(match[1])


def _lines(pattern: str) -> list[re.Match[str]]:
    found = list(re.finditer(pattern, DOC, re.M))
    assert found, pattern
    return found


CSR = _object("CSR")
PUB = _object("PUB")


def test_example_csr_is_the_module_csr_for_the_example_pub() -> None:
    csr = x509.load_der_x509_csr(CSR)

    assert csr.is_signature_valid
    assert csr.subject.rfc4514_string() == ("2.5.4.5=AMB82D001001,CN=AMB82D001001")
    assert (
        csr.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        == PUB
    )


def test_every_read_reply_carries_the_csr_bytes_with_their_crc() -> None:
    for match in _lines(r'\+PVREAD:CSR,(\d+),(\d+),([0-9a-f]{8}),"([^"]*)"'):
        offset, total, crc, payload = match.groups()
        data = base64.b64decode(payload)

        assert int(total) == len(CSR)
        assert data == CSR[int(offset) : int(offset) + chunk_size(MAX_LINE)]
        assert crc == crc32_hex(data)
        assert len(match[0]) <= MAX_LINE


def test_first_chunk_bytes_and_crc_are_as_shown() -> None:
    chunk = _hex_after("The 60 bytes of that first chunk, whose CRC-32 is `325f822f`:")

    assert chunk == CSR[:60]
    assert crc32_hex(chunk) == "325f822f"


def test_csr_hash_lines_name_its_size_and_sha256() -> None:
    for match in _lines(r"\+PVHASH:CSR,(\d+),([0-9a-f]{64})"):
        assert (int(match[1]), match[2]) == (len(CSR), sha256_hex(CSR))


def test_write_command_carries_the_chunk_shown_with_its_crc() -> None:
    chunk = _hex_after("start of the leaf certificate:")

    for match in _lines(r'^(?:> )?AT\+PVW=0,([0-9a-f]{8}),"([^"]*)"$'):
        assert base64.b64decode(match[2]) == chunk
        assert match[1] == crc32_hex(chunk)
        assert len(match[0].removeprefix("> ")) <= MAX_LINE


def test_chain_lines_agree_on_the_total_and_hash() -> None:
    digests = {m[1] for m in _lines(r"CHAIN,785,([0-9a-f]{64})")}
    committed = {m[1] for m in _lines(r"\+PVWCOMMIT:([0-9a-f]{64})")}

    assert len(digests) == 1
    assert committed == digests


def _signature_example() -> tuple[bytes, bytes, bytes]:
    (command,) = _lines(r"^> AT\+PVSIGN=0,([0-9a-f]{64})$")
    (reply,) = _lines(r'^< \+PVSIGN:"([^"]+)"$')
    message = _hex_after("challenge):")
    return bytes.fromhex(command[1]), base64.b64decode(reply[1]), message


def test_signature_verifies_over_the_challenge_message() -> None:
    challenge, signature, message = _signature_example()
    key = load_der_public_key(PUB)
    assert isinstance(key, ec.EllipticCurvePublicKey)

    assert message == b"PV-CHALLENGE-V1\x00" + challenge
    key.verify(signature, message, ec.ECDSA(hashes.SHA256()))


def test_openssl_verifies_the_signature_as_the_page_shows(tmp_path: Path) -> None:
    _, signature, message = _signature_example()
    (tmp_path / "pub.der").write_bytes(PUB)
    (tmp_path / "sig.der").write_bytes(signature)
    (tmp_path / "message.bin").write_bytes(message)
    (command,) = _lines(r"^openssl dgst .*$")

    run = subprocess.run(
        command[0].split(), cwd=tmp_path, capture_output=True, text=True, check=False
    )

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "Verified OK"


def test_capabilities_command_bytes_are_as_shown() -> None:
    wire = re.search(r"command is the 11 bytes\n`([0-9a-f ]+)`", DOC)

    assert wire is not None
    assert bytes.fromhex(wire[1]) == b"AT+PVCAP?\r\n"


def test_page_cites_every_check_by_its_name() -> None:
    cited = {
        name.strip()
        for group in re.findall(r"\[check: ([^\]]+)\]", DOC)
        for name in group.split(",")
        # The page also explains the mark itself: [check: <name>].
        if re.fullmatch(r"[a-z0-9-]+(?:\.[a-z0-9-]+)*", name.strip())
    }

    assert cited == {check.name for check in PLAN}
