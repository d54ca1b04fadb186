"""The module under test, as the conformance checks drive it.

A ``Probe`` sends PV commands through the station's own ``Link`` and holds
the module to the letter of the contract: the exact reply lines, the exact
error code, chunk lengths, CRCs and hashes. It does none of the station's
recovery: a conformance run must see what the firmware does, not what the
station can make of it. What the run learns on the way (limits, identity,
objects read, chains committed) is kept here for later checks.

One thing it does tell apart is damage on the link: a reply that may have
been damaged on the way is asked again where that is safe, as
``conformance_noise`` describes, so that noise is not taken for a firmware
bug.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key

from device_io.conformance_ca import ThrowawayCa
from device_io.conformance_noise import DamagedReply, NoiseJudge, WrongAnswer
from device_io.conformance_tap import Recorder
from device_io.errors import DeviceError, ModuleError, PvErrorCode, describe_code
from device_io.identity import ModuleIdentity
from device_io.link import Link
from device_io.pv import (
    Capabilities,
    InfoLine,
    KeyGenResult,
    ObjectHash,
    PvObject,
    RawIdentity,
    ReadChunk,
    SlotState,
    WriteProgress,
    WriteStatus,
    challenge_message,
    chunk_size,
    cmd_hash,
    cmd_id,
    cmd_keygen,
    cmd_read,
    cmd_reset,
    cmd_sign,
    cmd_wbegin,
    cmd_wcommit,
    cmd_write,
    cmd_wstat,
    parse_commit,
    parse_sign,
    sha256_hex,
)

_T = TypeVar("_T")

PUBLIC_KEYS = {0: PvObject.PUB, 1: PvObject.PUB1}
CSRS = {0: PvObject.CSR, 1: PvObject.CSR1}
CHAINS = {0: PvObject.CHAIN, 1: PvObject.CHAIN1}


@dataclass(frozen=True)
class Evidence:
    """Bytes a verdict was made on, when they are not in the check's own
    exchanges (a CSR read by an earlier check).

    Attributes:
        label: What the bytes are (``CSR as read``).
        data: The bytes.
    """

    label: str
    data: bytes


class ContractBreach(WrongAnswer):
    """The module answered, but not as the PV contract says.

    Attributes:
        evidence: The bytes the verdict was made on, when they were read by
            an earlier check.
    """

    def __init__(self, message: str, *, evidence: Evidence | None = None) -> None:
        super().__init__(message)
        self.evidence = evidence


class ModuleNotTestable(DeviceError):
    """The module cannot be put through a conformance run (it is locked)."""


@dataclass(frozen=True, kw_only=True)
class Timeouts:
    """Seconds to wait for a reply, per kind of command (DESIGN section 3).

    Attributes:
        command: Ordinary commands.
        keygen: ``AT+PVKEYGEN``.
        commit: Commands that write flash: commit, lock, promote, reset.
    """

    command: float = 2.0
    keygen: float = 120.0
    commit: float = 10.0


@dataclass
class Learnt:
    """What the run has learnt about the module so far.

    Attributes:
        caps: The reply to ``AT+PVCAP?``.
        identity: The identity from ``AT+PVID?``.
        start_state: Slot 0 state before the run touched the module.
        csr: CSR objects read, by credential slot.
        pub: PUB objects read, by credential slot.
        chains: Chains made for each slot's current key, by credential slot.
    """

    caps: Capabilities | None = None
    identity: ModuleIdentity | None = None
    start_state: SlotState | None = None
    csr: dict[int, bytes] = field(default_factory=dict)
    pub: dict[int, bytes] = field(default_factory=dict)
    chains: dict[int, bytes] = field(default_factory=dict)


class Probe:
    """Sends PV commands to the module under test and checks the replies."""

    def __init__(
        self, link: Link, recorder: Recorder, *, timeouts: Timeouts, ca: ThrowawayCa
    ) -> None:
        """Drive the module behind ``link``.

        Args:
            link: The station's link to the module.
            recorder: The tap on the link's port, for the raw reply lines.
            timeouts: Reply timeouts.
            ca: The run's throwaway CA, for chains to commit.
        """
        self.link = link
        self.recorder = recorder
        self.timeouts = timeouts
        self.ca = ca
        self.learnt = Learnt()
        self.judge = NoiseJudge(link, recorder)

    # --- what the run has learnt ----------------------------------------------

    @property
    def caps(self) -> Capabilities:
        """The module's capabilities; checks that use them require pvcap."""
        if self.learnt.caps is None:
            raise RuntimeError("the capabilities have not been read yet")
        return self.learnt.caps

    @property
    def chunk(self) -> int:
        """Raw bytes per chunk, from the module's max line."""
        return chunk_size(self.caps.max_line)

    @property
    def serial(self) -> str:
        """The module's serial; checks that use it require pvid."""
        if self.learnt.identity is None:
            raise RuntimeError("the identity has not been read yet")
        return self.learnt.identity.serial

    def public_key(self, slot: int) -> ec.EllipticCurvePublicKey:
        """The P-256 key of a slot, from the PUB object read earlier."""
        return load_p256(self.learnt.pub[slot], PUBLIC_KEYS[slot].value)

    def chain(self, slot: int) -> bytes:
        """A chain from the throwaway CA for the slot's key, made once per key."""
        if slot not in self.learnt.chains:
            self.learnt.chains[slot] = self.ca.chain_for(
                self.public_key(slot), self.serial
            )
        return self.learnt.chains[slot]

    def forget_key(self, slot: int) -> None:
        """The slot's key changed: what was read or made for it is stale."""
        for learnt in (self.learnt.csr, self.learnt.pub, self.learnt.chains):
            learnt.pop(slot, None)

    # --- exchanges --------------------------------------------------------------

    def command(self, line: str, *, timeout: float | None = None) -> list[InfoLine]:
        """Send one command once; its ``+NAME:`` lines (``ModuleError`` on ERROR)."""
        return self.link.command(line, timeout=timeout or self.timeouts.command)

    def reply(
        self,
        line: str,
        name: str,
        parse: Callable[[InfoLine], _T],
        *,
        timeout: float | None = None,
    ) -> _T:
        """Send a command whose reply must be one ``+NAME:`` line and OK, and
        read that line with ``parse``; a damaged reply is asked again."""
        return self.judge.judged(
            line, lambda: parse(_one(self.command(line, timeout=timeout), name))
        )

    def info(self, line: str, name: str, *, timeout: float | None = None) -> InfoLine:
        """Send a command whose reply must be one ``+NAME:`` line and OK."""
        return self.reply(line, name, lambda info: info, timeout=timeout)

    def ok(self, line: str, *, timeout: float | None = None) -> None:
        """Send a command whose reply must be a bare OK."""
        self.judge.judged(line, lambda: _bare(self.command(line, timeout=timeout)))

    def refused(
        self, line: str, code: PvErrorCode, *, timeout: float | None = None
    ) -> None:
        """Send a command the module must refuse with ``ERROR: <code>``."""
        expected = f"ERROR: {code.value}{describe_code(code)}"
        try:
            infos = self.judge.judged(
                line, lambda: self.command(line, timeout=timeout), refusal=code
            )
        except ModuleError as exc:
            if exc.code == code:
                return
            raise ContractBreach(
                f"expected {expected}, got ERROR: {exc.code}{describe_code(exc.code)}"
            ) from exc
        got = f"{_names(infos)} and OK" if infos else "OK"
        raise ContractBreach(f"expected {expected}, got {got}")

    def raw_line(self, prefix: str) -> bytes:
        """The raw reply line starting with ``prefix`` in the last exchange."""
        last = self.recorder.last()
        lines = last.reply_lines() if last else []
        return next(
            (line for line in lines if line.startswith(prefix.encode("ascii"))), b""
        )

    # --- state ------------------------------------------------------------------

    def identity(self) -> RawIdentity:
        """The fields of ``AT+PVID?``."""
        return self.reply(cmd_id(), "PVID", RawIdentity.parse)

    def expect_state(self, expected: str, after: str) -> None:
        """The module must report ``expected`` (a ``SlotState`` or the state
        read before) as the state of slot 0."""

        def in_state(info: InfoLine) -> None:
            state = RawIdentity.parse(info).state
            if state != expected:
                raise ContractBreach(
                    f"AT+PVID? reports {state} {after}, expected {expected}"
                )

        self.reply(cmd_id(), "PVID", in_state)

    def keygen(self, slot: int, *, new: bool = False) -> bool:
        """``AT+PVKEYGEN``; True when the module says it made a new key."""
        result = self.reply(
            cmd_keygen(slot, new=new),
            "PVKEYGEN",
            KeyGenResult.parse,
            timeout=self.timeouts.keygen,
        )
        if result.slot != slot:
            raise ContractBreach(
                f"asked for slot {slot}, +PVKEYGEN names {result.slot}"
            )
        return result.new

    def reset(self) -> None:
        """``AT+PVRESET=<serial>`` with the module's own serial."""
        self.ok(cmd_reset(self.serial), timeout=self.timeouts.commit)

    def sign(
        self,
        slot: int,
        challenge: bytes,
        *,
        key: ec.EllipticCurvePublicKey,
        what: str,
    ) -> bytes:
        """``AT+PVSIGN``: a DER signature over the challenge that verifies with
        ``key`` (named ``what``). A challenge or signature changed on the link
        fails to verify too, so a failure is asked again."""

        def verified(info: InfoLine) -> bytes:
            signature = parse_sign(info)
            verify_challenge(key, signature, challenge, what)
            return signature

        return self.reply(cmd_sign(slot, challenge), "PVSIGN", verified)

    # --- reading objects -----------------------------------------------------

    def object_hash(self, obj: PvObject) -> ObjectHash:
        """``AT+PVHASH``, naming the object asked for."""
        return self.reply(cmd_hash(obj), "PVHASH", lambda info: _hash_of(info, obj))

    def settled_hash(self, obj: PvObject) -> ObjectHash:
        """``AT+PVHASH`` read until two reads agree: a value to compare later."""
        return self.judge.settled(lambda: self.object_hash(obj), f"{obj.value} hash")

    def expect_hash(self, obj: PvObject, expected: ObjectHash, after: str) -> None:
        """``AT+PVHASH`` must report ``expected``: the object is unchanged."""

        def unchanged(info: InfoLine) -> None:
            if _hash_of(info, obj) != expected:
                raise ContractBreach(f"{obj.value} changed {after}")

        self.reply(cmd_hash(obj), "PVHASH", unchanged)

    def read_chunk(
        self, obj: PvObject, offset: int, length: int, *, total: int | None = None
    ) -> ReadChunk:
        """One ``AT+PVREAD``: CRC-32 checked, the line within max line, the
        object and offset as asked; with ``total``, also that total and
        ``length`` bytes. A reply that fails is asked again (a read changes
        nothing), so a digit changed on the link is not taken for the
        firmware's answer."""

        def as_asked(info: InfoLine) -> ReadChunk:
            chunk = ReadChunk.parse(info)
            self._check_read_line()
            if (chunk.obj, chunk.offset) != (obj.value, offset):
                raise ContractBreach(
                    f"asked for {obj.value} at {offset}, got {chunk.obj} at "
                    f"{chunk.offset}"
                )
            if total is not None and (chunk.total, len(chunk.data)) != (
                total,
                length,
            ):
                raise ContractBreach(
                    f"asked for {length} bytes of {obj.value} at {offset} "
                    f"(total {total}), got {len(chunk.data)} bytes of total "
                    f"{chunk.total}"
                )
            return chunk

        return self.reply(cmd_read(obj, offset, length), "PVREAD", as_asked)

    def _check_read_line(self) -> None:
        line = self.raw_line("+PVREAD:")
        if len(line) > self.caps.max_line:
            raise ContractBreach(
                f"+PVREAD line of {len(line)} bytes is over the max line "
                f"{self.caps.max_line}"
            )

    def read_object(self, obj: PvObject) -> bytes:
        """A whole object in chunks of the PVCAP size, each of the length
        asked but the short last one, and its SHA-256 as ``AT+PVHASH`` said.
        """
        expected = self.settled_hash(obj)
        data = bytearray()

        while len(data) < expected.total:
            length = min(self.chunk, expected.total - len(data))
            data += self.read_chunk(obj, len(data), length, total=expected.total).data

        if sha256_hex(bytes(data)) != expected.sha256:
            raise ContractBreach(
                f"SHA-256 of the {len(data)} bytes of {obj.value} read is "
                f"{sha256_hex(bytes(data))}, +PVHASH said {expected.sha256}"
            )
        return bytes(data)

    # --- staged writes -----------------------------------------------------

    def begin(self, obj: PvObject, data: bytes, *, sha256: str | None = None) -> None:
        """``AT+PVWBEGIN`` for ``data`` (announcing ``sha256`` when given)."""
        self.ok(cmd_wbegin(obj, len(data), sha256 or sha256_hex(data)))

    def write(self, data: bytes, start: int = 0, stop: int | None = None) -> int:
        """``AT+PVW`` chunks of ``data`` from ``start`` up to ``stop``; each
        reply must name the next offset. Returns where the writing stopped."""
        stop = len(data) if stop is None else min(stop, len(data))
        offset = start
        while offset < stop:
            piece = data[offset : min(offset + self.chunk, stop)]
            offset = self._write_chunk(offset, piece)
        return offset

    def _write_chunk(self, offset: int, piece: bytes) -> int:
        reply = self.reply(cmd_write(offset, piece), "PVW", WriteProgress.parse)
        end = offset + len(piece)
        if reply.next_offset != end:
            said = (
                f"after {len(piece)} bytes at {offset}, +PVW names {reply.next_offset}"
            )
            # A digit changed on the link reads as a valid reply: the staged
            # write tells whether the module or the link said it.
            if self.write_status().next_offset == end:
                raise DamagedReply(
                    f"{said}, but AT+PVWSTAT? shows {end}: the reply was damaged "
                    "on the link, or +PVW and AT+PVWSTAT? disagree; no verdict"
                )
            raise ContractBreach(f"{said}, not {end}")
        return end

    def write_status(self) -> WriteStatus:
        """``AT+PVWSTAT?``."""
        return self.reply(cmd_wstat(), "PVWSTAT", WriteStatus.parse)

    def expect_write_status(self, expected: WriteStatus, after: str) -> None:
        """``AT+PVWSTAT?`` must report ``expected``."""

        def as_expected(info: InfoLine) -> None:
            status = WriteStatus.parse(info)
            if status != expected:
                raise ContractBreach(
                    f"AT+PVWSTAT? {after} reports {_status(status)}, "
                    f"expected {_status(expected)}"
                )

        self.reply(cmd_wstat(), "PVWSTAT", as_expected)

    def commit(self) -> str:
        """``AT+PVWCOMMIT``: the SHA-256 the module says it stored."""
        return self.reply(
            cmd_wcommit(), "PVWCOMMIT", parse_commit, timeout=self.timeouts.commit
        )

    def commit_object(self, obj: PvObject, data: bytes) -> None:
        """Stage ``data`` whole and commit it; the reply names its SHA-256."""
        self.begin(obj, data)
        self.write(data)
        digest, written = self.commit(), sha256_hex(data)
        if digest != written:
            said = f"+PVWCOMMIT names {digest}, the SHA-256 written is {written}"
            # A digit changed on the link reads as a valid reply: the stored
            # object tells whether the module or the link said it.
            if self.object_hash(obj).sha256 == written:
                raise DamagedReply(
                    f"{said}, and AT+PVHASH shows the bytes written: the reply was "
                    "damaged on the link, or +PVWCOMMIT and AT+PVHASH disagree; "
                    "no verdict"
                )
            raise ContractBreach(said)


def load_p256(der: bytes, what: str) -> ec.EllipticCurvePublicKey:
    """A DER SubjectPublicKeyInfo that must hold an EC P-256 key."""
    evidence = Evidence(f"{what} as read", der)
    try:
        key = load_der_public_key(der)
    except ValueError as exc:
        raise ContractBreach(
            f"{what} is not a DER public key: {exc}", evidence=evidence
        ) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ContractBreach(
            f"{what} holds a {type(key).__name__}, not EC P-256", evidence=evidence
        )
    if not isinstance(key.curve, ec.SECP256R1):
        raise ContractBreach(
            f"{what} is on curve {key.curve.name}, not P-256", evidence=evidence
        )
    return key


def verify_challenge(
    key: ec.EllipticCurvePublicKey, signature: bytes, challenge: bytes, what: str
) -> None:
    """The signature must be DER ECDSA-SHA256 over the challenge message."""
    try:
        decode_dss_signature(signature)
    except ValueError as exc:
        raise ContractBreach(f"signature is not a DER ECDSA signature: {exc}") from exc
    try:
        key.verify(signature, challenge_message(challenge), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ContractBreach(
            f"signature does not verify with {what} over "
            "PV-CHALLENGE-V1\\0 || challenge"
        ) from None


def _hash_of(info: InfoLine, obj: PvObject) -> ObjectHash:
    reply = ObjectHash.parse(info)
    if reply.obj != obj.value:
        raise ContractBreach(f"asked for the hash of {obj.value}, got {reply.obj}")
    return reply


def _one(infos: list[InfoLine], name: str) -> InfoLine:
    """The one ``+NAME:`` line a reply must hold."""
    if [info.name for info in infos] != [name]:
        raise ContractBreach(
            f"expected one +{name} line before OK, got {_names(infos)}"
        )
    return infos[0]


def _bare(infos: list[InfoLine]) -> None:
    """A reply that must be a bare OK."""
    if infos:
        raise ContractBreach(f"expected a bare OK, got {_names(infos)} first")


def _names(infos: list[InfoLine]) -> str:
    return ", ".join(f"+{info.name}" for info in infos) or "no line"


def _status(status: WriteStatus) -> str:
    if status.obj is None:
        return "NONE"
    return f"{status.obj},{status.total},{status.sha256},{status.next_offset}"
