"""Conformance checks of key generation, the CSR and PUB objects, reads,
challenge signatures, and the refusals of a module that has a key but no chain.

The object checks are declared once per credential slot: slot 0 here, slot 1
by the life-cycle checks once the module has a next key.
"""

from __future__ import annotations

import secrets

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from device_io.conformance_check import CheckList
from device_io.conformance_probe import (
    CSRS,
    PUBLIC_KEYS,
    ContractBreach,
    Evidence,
    Probe,
    load_p256,
)
from device_io.errors import PvErrorCode
from device_io.pv import (
    InfoLine,
    PvObject,
    SlotState,
    cmd_hash,
    cmd_lock,
    cmd_promote,
    cmd_read,
    cmd_reset,
    cmd_sign,
    crc32_hex,
)

KEY_CHECKS = CheckList()
check = KEY_CHECKS.check

_CHALLENGE = bytes(range(32))


@check(
    "pvkeygen.new",
    "AT+PVKEYGEN=0,P256 on an empty slot answers +PVKEYGEN:0,1; the module is KEY",
    requires=["pvreset.start"],
)
def _keygen_new(probe: Probe) -> None:
    if not probe.keygen(0):
        raise ContractBreach("+PVKEYGEN says no new key was made in an empty slot")
    probe.expect_state(SlotState.KEY, "after key generation")


@check(
    "pvkeygen.parameters",
    "AT+PVKEYGEN with slot 2, key type P384 or option OLD is refused with ERROR: 1",
    requires=["pvreset.start"],
)
def _keygen_parameters(probe: Probe) -> None:
    for line in ("AT+PVKEYGEN=2,P256", "AT+PVKEYGEN=0,P384", "AT+PVKEYGEN=0,P256,OLD"):
        probe.refused(line, PvErrorCode.BAD_PARAMETER)


@check(
    "pvkeygen.keep",
    "AT+PVKEYGEN=0,P256 on a slot with a key answers +PVKEYGEN:0,0 and keeps it",
    requires=["pvkeygen.new"],
)
def _keygen_keep(probe: Probe) -> None:
    before = probe.settled_hash(PvObject.PUB)

    if probe.keygen(0):
        raise ContractBreach("+PVKEYGEN says a new key was made without NEW")

    probe.expect_hash(PvObject.PUB, before, "although the key was to be kept")


@check(
    "pvkeygen.replace",
    "AT+PVKEYGEN=0,P256,NEW before a chain answers +PVKEYGEN:0,1 with a new key "
    "and a new CSR",
    requires=["pvkeygen.new"],
)
def _keygen_replace(probe: Probe) -> None:
    pub, csr = probe.object_hash(PvObject.PUB), probe.object_hash(PvObject.CSR)

    if not probe.keygen(0, new=True):
        raise ContractBreach("+PVKEYGEN says no new key was made with NEW")
    probe.forget_key(0)

    if probe.object_hash(PvObject.PUB).sha256 == pub.sha256:
        raise ContractBreach("PUB is unchanged after AT+PVKEYGEN NEW")
    if probe.object_hash(PvObject.CSR).sha256 == csr.sha256:
        raise ContractBreach("CSR is unchanged after AT+PVKEYGEN NEW")


def declare_object_checks(checks: CheckList, slot: int, keygen: str) -> None:
    """Declare the read, CSR and PUB checks of one credential slot.

    Args:
        checks: The list to add them to.
        slot: The credential slot (0 or 1).
        keygen: Name of the check that gave the slot its key.
    """
    csr, pub = CSRS[slot], PUBLIC_KEYS[slot]
    suffix = "1" if slot else ""

    @checks.check(
        f"pvread.{csr.value.lower()}",
        f"{csr.value} reads in chunks of the PVCAP size: every CRC-32 right, a "
        "short last chunk, the SHA-256 of AT+PVHASH over the whole",
        requires=[keygen],
    )
    def _read_csr(probe: Probe) -> str:
        probe.learnt.csr[slot] = probe.read_object(csr)
        return _chunks_read(probe, probe.learnt.csr[slot])

    @checks.check(
        f"pvread.{pub.value.lower()}",
        f"{pub.value} reads in chunks the same way",
        requires=[keygen],
    )
    def _read_pub(probe: Probe) -> str:
        probe.learnt.pub[slot] = probe.read_object(pub)
        return _chunks_read(probe, probe.learnt.pub[slot])

    @checks.check(
        f"pub{suffix}.p256",
        f"{pub.value} is the DER SubjectPublicKeyInfo of an EC P-256 key",
        requires=[f"pvread.{pub.value.lower()}"],
    )
    def _pub_is_p256(probe: Probe) -> None:
        load_p256(probe.learnt.pub[slot], pub.value)

    @checks.check(
        f"csr{suffix}.stable",
        f"{csr.value} reads the same again: it is stored, not rebuilt per read",
        requires=[f"pvread.{csr.value.lower()}"],
    )
    def _csr_stable(probe: Probe) -> None:
        if probe.read_object(csr) != probe.learnt.csr[slot]:
            raise ContractBreach(
                f"{csr.value} differs from the first read",
                evidence=Evidence(f"{csr.value} first read", probe.learnt.csr[slot]),
            )

    @checks.check(
        f"csr{suffix}.der",
        f"{csr.value} is one DER PKCS#10 request",
        requires=[f"pvread.{csr.value.lower()}"],
    )
    def _csr_parses(probe: Probe) -> None:
        _parse_csr(probe.learnt.csr[slot], csr.value)

    @checks.check(
        f"csr{suffix}.signature",
        f"{csr.value} signature verifies (proof of possession), ECDSA with SHA-256",
        requires=[f"csr{suffix}.der"],
    )
    def _csr_signature(probe: Probe) -> None:
        der = probe.learnt.csr[slot]
        request = _parse_csr(der, csr.value)
        algorithm = request.signature_algorithm_oid
        if algorithm != SignatureAlgorithmOID.ECDSA_WITH_SHA256:
            raise ContractBreach(
                f"{csr.value} is signed with algorithm {algorithm.dotted_string}, "
                "not ecdsa-with-SHA256 (1.2.840.10045.4.3.2)",
                evidence=_read(csr, der),
            )
        if not request.is_signature_valid:
            raise ContractBreach(
                f"{csr.value} signature does not verify", evidence=_read(csr, der)
            )

    @checks.check(
        f"csr{suffix}.subject",
        f"{csr.value} subject is exactly CN=<serial>, serialNumber=<serial>",
        requires=[f"csr{suffix}.der"],
    )
    def _csr_subject(probe: Probe) -> None:
        der = probe.learnt.csr[slot]
        subject = _parse_csr(der, csr.value).subject
        found = [[(a.oid, a.value) for a in rdn] for rdn in subject.rdns]
        serial = probe.serial
        expected = [[(NameOID.COMMON_NAME, serial)], [(NameOID.SERIAL_NUMBER, serial)]]
        if found != expected:
            raise ContractBreach(
                f"{csr.value} subject is {subject.rfc4514_string()!r}, "
                f"expected CN={serial}, serialNumber={serial}",
                evidence=_read(csr, der),
            )

    @checks.check(
        f"csr{suffix}.key",
        f"{csr.value} key is the {pub.value} key",
        requires=[f"csr{suffix}.der", f"pub{suffix}.p256"],
    )
    def _csr_key(probe: Probe) -> None:
        der = probe.learnt.csr[slot]
        spki = (
            _parse_csr(der, csr.value)
            .public_key()
            .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        )
        if spki != probe.learnt.pub[slot]:
            raise ContractBreach(
                f"{csr.value} key is not the {pub.value} key", evidence=_read(csr, der)
            )

    @checks.check(
        f"pvsign.slot{slot}",
        f"AT+PVSIGN={slot} answers a DER ECDSA signature over "
        f"PV-CHALLENGE-V1\\0 || challenge that verifies with {pub.value}",
        requires=[f"pub{suffix}.p256"],
    )
    def _sign(probe: Probe) -> None:
        for _ in range(2):
            challenge = secrets.token_bytes(32)
            probe.sign(slot, challenge, key=probe.public_key(slot), what=pub.value)


declare_object_checks(KEY_CHECKS, 0, "pvkeygen.new")


@check(
    "pvread.short-last",
    "a read reaching the end returns the short last chunk",
    requires=["pvread.csr"],
)
def _short_last_chunk(probe: Probe) -> None:
    csr = probe.learnt.csr[0]

    chunk = probe.read_chunk(PvObject.CSR, len(csr) - 1, probe.chunk)

    if chunk.data != csr[-1:] or chunk.total != len(csr):
        raise ContractBreach(
            f"asked for {probe.chunk} bytes one before the end of {len(csr)}, got "
            f"{len(chunk.data)} bytes of total {chunk.total}"
        )


@check(
    "pvread.at-end",
    "a read at the end of an object returns an empty chunk with CRC-32 00000000",
    requires=["pvread.csr"],
    project_rule=True,
)
def _read_at_end(probe: Probe) -> None:
    total = len(probe.learnt.csr[0])
    expected = f'+PVREAD:CSR,{total},{total},{crc32_hex(b"")},""'.encode()

    def empty_at_end(info: InfoLine) -> None:
        # Checked as the reply is read, so a reply damaged on the link is
        # asked again rather than failed.
        line = probe.raw_line("+PVREAD:")
        if line != expected:
            raise ContractBreach(f"expected {expected!r}, got {line!r}")

    probe.reply(cmd_read(PvObject.CSR, total, probe.chunk), "PVREAD", empty_at_end)


@check(
    "pvread.past-end",
    "a read past the end of an object is refused with ERROR: 5",
    requires=["pvread.csr"],
)
def _read_past_end(probe: Probe) -> None:
    total = len(probe.learnt.csr[0])
    probe.refused(cmd_read(PvObject.CSR, total + 1, probe.chunk), PvErrorCode.OFFSET)


@check(
    "pvread.length",
    "a read of length 0, or longer than the chunk size, is refused with ERROR: 5",
    requires=["pvread.csr"],
    project_rule=True,
)
def _read_length(probe: Probe) -> None:
    probe.refused("AT+PVREAD=CSR,0,0", PvErrorCode.OFFSET)
    probe.refused(cmd_read(PvObject.CSR, 0, probe.chunk + 1), PvErrorCode.OFFSET)


@check(
    "pvhash.unknown-object",
    "AT+PVHASH of an object that does not exist (KEY) is refused with ERROR: 1",
    requires=["pvkeygen.new"],
)
def _hash_unknown_object(probe: Probe) -> None:
    probe.refused("AT+PVHASH=KEY", PvErrorCode.BAD_PARAMETER)


@check(
    "chain.uncommitted",
    "before a commit, AT+PVHASH=CHAIN and AT+PVREAD=CHAIN are refused with ERROR: 3",
    requires=["pvkeygen.new"],
    project_rule=True,
)
def _chain_uncommitted(probe: Probe) -> None:
    probe.refused(cmd_hash(PvObject.CHAIN), PvErrorCode.WRONG_STATE)
    probe.refused(cmd_read(PvObject.CHAIN, 0, probe.chunk), PvErrorCode.WRONG_STATE)


@check(
    "pvsign.challenge",
    "a challenge of 63 hex digits, or with a digit that is not hex, is refused "
    "with ERROR: 1",
    requires=["pvkeygen.new"],
)
def _sign_bad_challenge(probe: Probe) -> None:
    good = cmd_sign(0, _CHALLENGE)
    probe.refused(good[:-1], PvErrorCode.BAD_PARAMETER)
    probe.refused(good[:-1] + "g", PvErrorCode.BAD_PARAMETER)


@check(
    "slot1.empty",
    "with slot 1 empty, AT+PVSIGN=1, AT+PVHASH=PUB1 and AT+PVPROMOTE are refused "
    "with ERROR: 8",
    requires=["pvkeygen.new"],
    project_rule=True,
)
def _slot1_empty(probe: Probe) -> None:
    probe.refused(cmd_sign(1, _CHALLENGE), PvErrorCode.NO_KEY)
    probe.refused(cmd_hash(PvObject.PUB1), PvErrorCode.NO_KEY)
    probe.refused(cmd_promote(), PvErrorCode.NO_KEY, timeout=probe.timeouts.commit)


@check(
    "pvlock.before-commit",
    "AT+PVLOCK before CHAIN is committed is refused with ERROR: 3; the module "
    "stays KEY",
    requires=["pvkeygen.new"],
)
def _lock_before_commit(probe: Probe) -> None:
    probe.refused(cmd_lock(), PvErrorCode.WRONG_STATE, timeout=probe.timeouts.commit)
    probe.expect_state(SlotState.KEY, "after a refused AT+PVLOCK")


@check(
    "pvreset.wrong-serial",
    "AT+PVRESET naming another serial is refused with ERROR: 1 and changes nothing",
    requires=["pvkeygen.new"],
    project_rule=True,
)
def _reset_wrong_serial(probe: Probe) -> None:
    before = probe.settled_hash(PvObject.PUB)

    probe.refused(
        cmd_reset(other_serial(probe.serial)),
        PvErrorCode.BAD_PARAMETER,
        timeout=probe.timeouts.commit,
    )

    probe.expect_state(SlotState.KEY, "after a refused AT+PVRESET")
    probe.expect_hash(PvObject.PUB, before, "after a refused AT+PVRESET")


def other_serial(serial: str) -> str:
    """A serial one character away from ``serial``: the likeliest wrong one."""
    return serial[:-1] + ("2" if serial.endswith("1") else "1")


def _parse_csr(der: bytes, what: str) -> x509.CertificateSigningRequest:
    try:
        return x509.load_der_x509_csr(der)
    except ValueError as exc:
        raise ContractBreach(
            f"{what} is not a DER PKCS#10 request: {exc}",
            evidence=Evidence(f"{what} as read", der),
        ) from exc


def _read(obj: PvObject, der: bytes) -> Evidence:
    return Evidence(f"{obj.value} as read", der)


def _chunks_read(probe: Probe, data: bytes) -> str:
    chunks = -(-len(data) // probe.chunk)
    return f"{len(data)} bytes in {chunks} chunk{'' if chunks == 1 else 's'}"
