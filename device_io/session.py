"""A session with one module: the PV operations the station performs.

``open_session`` opens the fixture slot's port and returns a ``ModuleSession``.
Each public method is one step of the provisioning flow. A step that meets a
timeout, line noise, a failed integrity check, a reset banner or ``ERROR: 1``
(the station sends only well-formed commands, so that one means a command
damaged on the way) recovers as DESIGN section 3 prescribes: resynchronise,
read the module's state again (``AT+PVID?``, ``AT+PVWSTAT?``) and resume from
that state. Every step is idempotent or checks the module's state first, so
repeating it is safe:

- a chain write resumes from the module's next offset, or starts over once a
  reset has dropped the staged data; a chain already committed is not written
  again;
- a key generation that completed is never repeated: the public key is
  compared with the one before the step;
- lock and promote check whether their effect already happened.

A module unplugged mid-step (the port fails, or its device node disappears)
is waited for: once the port's name leads to a port again, within
``SessionSettings.reopen_wait``, the session reopens it exclusively,
resynchronises, checks that the same module (serial, MAC) was seated again,
and resumes the step from the module's state as above; the module has reset,
so a staged write starts over. The port's name should be a stable one (a udev
link), since the device node a module comes back on can change.

A module that answers ``ERROR: 2`` (busy) is still running an earlier command:
the resync waits for it, up to that command's timeout when this session sent
it, or up to the longest command timeout when it did not (a key generation
left running by a stopped station). Past that, the step fails with
``ModuleBusy``, which names the command that did not finish in time.

A step gives up after ``SessionSettings.attempts`` failures, or
``SessionSettings.timeouts`` timeouts, in a row without progress. Every error
leaving a session names the port, the fixture slot, the module serial (once
known) and the step. Each recovery is kept in ``ModuleSession.recoveries``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from device_io.errors import (
    CapabilityError,
    DeviceError,
    IdentityError,
    IntegrityError,
    LinkNoise,
    LinkTimeout,
    ModuleBusy,
    ModuleError,
    ModuleReset,
    PortGone,
    PvErrorCode,
    SignatureMismatch,
)
from device_io.identity import ModuleIdentity
from device_io.link import Link, LinkSettings
from device_io.pv import (
    LINE_OVERHEAD,
    PV_VERSION,
    WRITABLE_OBJECTS,
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
    cmd_cap,
    cmd_hash,
    cmd_id,
    cmd_keygen,
    cmd_lock,
    cmd_promote,
    cmd_read,
    cmd_reset,
    cmd_sign,
    cmd_wabort,
    cmd_wbegin,
    cmd_wcommit,
    cmd_write,
    cmd_wstat,
    command_verb,
    longest_command,
    parse_commit,
    parse_sign,
    read_reply_overhead,
    sha256_hex,
)
from device_io.serial_port import BAUDRATE, PortSettings, SerialPort

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
"""Called with (bytes done, bytes in total) as an object moves."""

# Failures that a resync and a fresh look at the module's state can cure.
RECOVERABLE = (LinkTimeout, LinkNoise, IntegrityError, ModuleReset)
# DESIGN does not name the code for hashing an object that does not exist;
# modules answer "no key" or "wrong state", and both mean "nothing stored".
_ABSENT = (PvErrorCode.NO_KEY, PvErrorCode.WRONG_STATE)
# A refused chunk means the staged write is not where the station thinks:
# the chunk was damaged (CRC), the offsets differ, or nothing is staged.
_CHUNK_REFUSED = (
    PvErrorCode.CRC_MISMATCH,
    PvErrorCode.OFFSET,
    PvErrorCode.WRONG_STATE,
)
# A refused commit over a total or hash mismatch means the staged bytes are
# wrong: drop them and write again.
_COMMIT_REFUSED = (PvErrorCode.CRC_MISMATCH, PvErrorCode.OFFSET)
_PUBLIC_KEYS = {0: PvObject.PUB, 1: PvObject.PUB1}
_STATES = frozenset(state.value for state in SlotState)

_T = TypeVar("_T")


@dataclass(frozen=True, kw_only=True)
class SessionSettings:
    """Port, timing and retry settings of a session; times in seconds.

    Attributes:
        baudrate: Line speed of the module console.
        command_timeout: Reply timeout of ordinary commands.
        keygen_timeout: Reply timeout of ``AT+PVKEYGEN``.
        commit_timeout: Reply timeout of commands that write flash (commit,
            lock, promote, reset).
        write_timeout: Longest a write to the port may take.
        attempts: Failures in a row, without progress, before a step fails.
        timeouts: Timeouts in a row, without progress, before a step fails.
        mismatches: Challenge signatures that do not verify, in a row, before
            the step fails.
        sync_attempts: ``AT+PVSYNC`` rounds in one resynchronisation.
        drain_quiet: Silence that marks the line as drained during a resync.
        drain_limit: Longest a resync drains a module that keeps talking.
        reopen_wait: Longest a step waits for an unplugged module's port to
            come back; 0 fails the step at once.
        dtr: DTR level set before the port opens.
        rts: RTS level set before the port opens.
    """

    baudrate: int = BAUDRATE
    command_timeout: float = 2.0
    keygen_timeout: float = 120.0
    commit_timeout: float = 10.0
    write_timeout: float = 2.0
    attempts: int = 6
    timeouts: int = 2
    mismatches: int = 3
    sync_attempts: int = 5
    drain_quiet: float = 0.1
    drain_limit: float = 2.0
    reopen_wait: float = 10.0
    dtr: bool = False
    rts: bool = False

    def port_settings(self) -> PortSettings:
        """The settings the port is opened with."""
        return PortSettings(
            baudrate=self.baudrate,
            write_timeout=self.write_timeout,
            dtr=self.dtr,
            rts=self.rts,
        )

    def link_settings(self) -> LinkSettings:
        """The settings of the link's resynchronisation.

        A module busy with a command this session did not send (a key
        generation a stopped station left running) is waited for as long as
        the longest command may run.
        """
        return LinkSettings(
            sync_timeout=self.command_timeout,
            sync_attempts=self.sync_attempts,
            drain_quiet=self.drain_quiet,
            drain_limit=self.drain_limit,
            busy_wait=max(self.keygen_timeout, self.commit_timeout),
        )


@dataclass(frozen=True)
class Recovery:
    """One recovery inside a step, for the record of that step.

    Attributes:
        step: The session step that recovered, such as ``write CHAIN``.
        cause: What went wrong, as the error said it.
        reopened: True when the port had gone and was opened again: the
            module was unplugged and seated again.
    """

    step: str
    cause: str
    reopened: bool


def open_session(
    port: str, *, slot: str | None = None, settings: SessionSettings | None = None
) -> ModuleSession:
    """Open the port of a fixture slot and start a session on it.

    Args:
        port: Device path of the slot's serial port.
        slot: Fixture slot name, carried into every log line and error.
        settings: Timeouts and retries; the defaults follow DESIGN section 3.

    Returns:
        A session, usable as a context manager that closes the port.

    Raises:
        PortError: The port cannot be opened.
    """
    settings = settings or SessionSettings()
    serial_port = SerialPort.open(port, slot=slot, settings=settings.port_settings())
    return ModuleSession(Link(serial_port, settings.link_settings()), settings=settings)


class _Attempts:
    """Failures of one step in a row; new progress starts the count again.

    Progress counts only past the furthest point reached, so a step that keeps
    failing after re-doing work it already did still runs out of attempts.
    Timeouts have a budget of their own: noise is cheap to retry, but each
    timeout costs the whole wait (up to two minutes for a key generation),
    and a module that stayed silent twice will not answer a third time.
    Signature mismatches too: a challenge damaged on the way is rare, and a
    module that signs wrong three times in a row holds another key.
    """

    def __init__(self, settings: SessionSettings) -> None:
        self.limit = settings.attempts
        self.timeout_limit = settings.timeouts
        self.mismatch_limit = settings.mismatches
        self.failures = 0
        self.timeouts = 0
        self.mismatches = 0
        self.retrying = False
        self._furthest = 0

    def progressed(self, position: int) -> None:
        if position > self._furthest:
            self._furthest = position
            self.failures = 0
            self.timeouts = 0
            self.mismatches = 0

    def failed(self, exc: DeviceError) -> bool:
        """Count a failure; True while another attempt is allowed."""
        self.failures += 1
        self.timeouts += isinstance(exc, LinkTimeout)
        self.mismatches += isinstance(exc, SignatureMismatch)
        self.retrying = True
        return (
            self.failures < self.limit
            and self.timeouts < self.timeout_limit
            and self.mismatches < self.mismatch_limit
        )


class ModuleSession:
    """PV operations on the module seated in one fixture slot.

    Not thread-safe: one session belongs to one slot's worker.
    """

    def __init__(self, link: Link, *, settings: SessionSettings) -> None:
        """Run over ``link``, whose port the session now owns."""
        self._link = link
        self._settings = settings
        self._caps: Capabilities | None = None
        # The staged write as the last recovery found it; a retried step
        # resumes from it instead of asking again.
        self._recovered: WriteStatus | None = None
        self._recoveries: list[Recovery] = []
        self.identity: ModuleIdentity | None = None
        """The identity from the last agreeing pair of reads, once known."""

    @property
    def recoveries(self) -> tuple[Recovery, ...]:
        """Every recovery so far, oldest first."""
        return tuple(self._recoveries)

    # --- lifetime -------------------------------------------------------------

    def close(self) -> None:
        """Close the port."""
        self._link.port.close()

    def __enter__(self) -> ModuleSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- steps ----------------------------------------------------------------

    def capabilities(self) -> Capabilities:
        """The module's PV version and limits, read once and checked.

        Raises:
            CapabilityError: The module speaks another PV version, or its
                limits leave no room for the station's lines and chunks.
            DeviceError: The module could not be read (see module docstring).
        """
        if self._caps is None:
            caps = self._run("capabilities", lambda _: self._read_caps())
            logger.info(
                "%s: PV %d, line %d, object %d",
                self._where(),
                caps.version,
                caps.max_line,
                caps.max_object,
            )
            self._caps = caps
        return self._caps

    def identify(self) -> ModuleIdentity:
        """Read the identity twice; the two reads must name the same module.

        Raises:
            IdentityError: A field breaks its rule, or a different module
                answers than the one this session identified before (it
                was swapped while unplugged).
            IntegrityError: The reads kept disagreeing.
            DeviceError: The module could not be read.
        """
        identity = self._run("identify", lambda _: self._read_identity())
        logger.info(
            "%s: identified, MAC %s model %s lot %s firmware %s, state %s",
            self._where(),
            identity.mac,
            identity.model,
            identity.lot,
            identity.firmware,
            identity.state.value,
        )
        return identity

    def generate_key(self, slot: int = 0, *, new: bool = False) -> bool:
        """Have the module generate a P-256 key in a credential slot.

        Without ``new`` an existing key is kept. A generation whose reply was
        lost is recognised by its public key and never repeated.

        Args:
            slot: Credential slot: 0 identity, 1 next key.
            new: Replace an existing key (refused once a chain is committed).

        Returns:
            True when a new key was generated, False when one was kept.

        Raises:
            ModuleError: The module refused (7: key exists with a chain).
            DeviceError: The step failed after its attempts.
        """
        public = _public_key_object(slot)
        step = f"keygen slot {slot}"
        before = self._run(step, lambda _: self._stored_hash(public))

        def attempt(attempts: _Attempts) -> bool:
            if attempts.retrying and self._key_changed(public, before):
                return True
            # TODO(keygen-probe): a key generation command lost on the way is
            # only noticed when the whole keygen timeout has passed. DESIGN
            # does not say what a module answers while it generates (ERROR 2
            # would let the station probe early), so the station waits.
            reply = self._ask(
                cmd_keygen(slot, new=new),
                timeout=self._settings.keygen_timeout,
            )
            result = KeyGenResult.parse(reply)
            if result.slot != slot:
                # A flipped slot digit on the way makes the module generate
                # elsewhere; the retry finds slot 0's key by its public key.
                raise IntegrityError(
                    f"asked for a key in slot {slot}, the module answered for "
                    f"slot {result.slot}"
                )
            return result.new

        generated = self._run(step, attempt)
        logger.info(
            "%s: slot %d key %s", self._where(), slot, "new" if generated else "kept"
        )
        return generated

    def read_object(
        self, obj: PvObject, *, progress: ProgressCallback | None = None
    ) -> bytes:
        """Read a whole object in CRC-checked chunks and check its SHA-256.

        Args:
            obj: The object to read.
            progress: Called with (bytes read, total) after every chunk.

        Raises:
            ModuleError: The module refused (for instance, no such object).
            IntegrityError: Checks kept failing after the attempts.
            DeviceError: The step failed after its attempts.
        """
        caps = self.capabilities()
        reader = _ObjectReader(
            self, obj, chunk=chunk_size(caps.max_line), progress=progress
        )
        data = self._run(f"read {obj.value}", reader.attempt)
        logger.info("%s: read %s, %d bytes", self._where(), obj.value, len(data))
        return data

    def write_object(
        self,
        obj: PvObject,
        data: bytes,
        *,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Write and commit ``CHAIN`` or ``CHAIN1`` through a staged write.

        An object already committed with the same bytes is left alone; an
        interrupted staged write of the same bytes is resumed.

        Args:
            obj: ``PvObject.CHAIN`` or ``PvObject.CHAIN1``.
            data: The DER chain.
            progress: Called with (bytes written, total) after every chunk.

        Raises:
            CapabilityError: ``data`` is larger than the module's max object;
                nothing was sent.
            ModuleError: The module refused (9: chain invalid or key mismatch,
                10: locked, 6: storage).
            DeviceError: The step failed after its attempts.
        """
        if obj not in WRITABLE_OBJECTS:
            raise ValueError(f"{obj.value} cannot be written")
        if not data:
            raise ValueError("refusing to write an empty object")
        caps = self.capabilities()
        step = f"write {obj.value}"
        self._check_size(step, len(data), caps)
        writer = _ObjectWriter(
            self,
            obj,
            data,
            chunk=chunk_size(caps.max_line),
            commit_timeout=self._settings.commit_timeout,
            progress=progress,
        )
        self._run(step, writer.attempt)
        logger.info("%s: committed %s, %d bytes", self._where(), obj.value, len(data))

    def sign_challenge(
        self,
        slot: int,
        challenge: bytes,
        *,
        public_key: ec.EllipticCurvePublicKey | None = None,
    ) -> bytes:
        """Have the module sign a 32-byte challenge with a slot's key.

        Args:
            slot: Credential slot whose key signs.
            challenge: 32 fresh random bytes.
            public_key: When given, the signature must verify with it. A
                challenge damaged on its way to the module yields a signature
                over other bytes; with the key, that is caught and the
                challenge sent again instead of failing the module.

        Returns:
            The DER ECDSA signature over ``pv.challenge_message(challenge)``.

        Raises:
            ValueError: The challenge is not 32 bytes.
            ModuleError: The module refused (8: no key).
            IntegrityError: The signature kept failing to verify with
                ``public_key``.
            DeviceError: The step failed after its attempts.
        """
        command = cmd_sign(slot, challenge)

        def attempt(attempts: _Attempts) -> bytes:
            signature = parse_sign(self._ask(command))
            if public_key is not None:
                _verify(public_key, signature, challenge)
            return signature

        signature = self._run(f"sign slot {slot}", attempt)
        logger.info("%s: challenge signed by slot %d", self._where(), slot)
        return signature

    def lock(self) -> None:
        """Lock the credential slot: irreversible.

        Raises:
            ModuleError: The module refused (3: no committed chain).
            DeviceError: The step failed after its attempts.
        """

        def attempt(attempts: _Attempts) -> None:
            if attempts.retrying and self._state() is SlotState.LOCKED:
                return
            self._do(cmd_lock(), timeout=self._settings.commit_timeout)

        self._run("lock", attempt)
        logger.info("%s: locked", self._where())

    def promote(self) -> None:
        """Replace slot 0 with slot 1 and its committed ``CHAIN1``.

        Raises:
            ModuleError: The module refused (slot 1 has no committed chain).
            DeviceError: The step failed after its attempts.
        """
        next_key = self._run("promote", lambda _: self._stored_hash(PvObject.PUB1))

        def attempt(attempts: _Attempts) -> None:
            if attempts.retrying and next_key is not None:
                current = self._stored_hash(PvObject.PUB)
                if current is not None and current.sha256 == next_key.sha256:
                    return
            self._do(cmd_promote(), timeout=self._settings.commit_timeout)

        self._run("promote", attempt)
        logger.info("%s: slot 1 promoted to slot 0", self._where())

    def reset(self, serial: str) -> None:
        """Factory-reset the module's keys and chains.

        Args:
            serial: The module's serial, which the module checks.

        Raises:
            ValueError: ``serial`` cannot be sent in a command.
            ModuleError: The module refused (10: locked).
            DeviceError: The step failed after its attempts.
        """
        command = cmd_reset(serial)
        # A factory reset is idempotent: repeating it after a lost reply is safe.
        self._run(
            "reset",
            lambda _: self._do(command, timeout=self._settings.commit_timeout),
        )
        logger.info("%s: factory reset", self._where())

    def write_status(self) -> WriteStatus:
        """The staged write the module holds, if any."""
        return self._run("write status", lambda _: self._read_write_status())

    def object_hash(self, obj: PvObject) -> ObjectHash:
        """Size and SHA-256 of an object as the module reports them.

        Raises:
            ModuleError: The module refused (for instance, no such object).
        """
        return self._run(f"hash {obj.value}", lambda _: self._hash(obj))

    # --- retry and recovery -----------------------------------------------------

    def _run(self, step: str, action: Callable[[_Attempts], _T]) -> _T:
        """Run ``action`` until it succeeds, recovering between attempts."""
        attempts = _Attempts(self._settings)
        try:
            return self._until_done(step, action, attempts)
        except DeviceError as exc:
            exc.with_context(
                port=self._link.port.path,
                slot=self._link.port.slot,
                serial=self.identity.serial if self.identity else None,
                step=step,
            )
            raise

    def _until_done(
        self, step: str, action: Callable[[_Attempts], _T], attempts: _Attempts
    ) -> _T:
        while True:
            try:
                return action(attempts)
            except PortGone as exc:
                cause: DeviceError = exc
            except (*RECOVERABLE, ModuleError) as exc:
                if not _recoverable(exc):
                    raise
                cause = exc
            self._count_failure(attempts, cause, f"{step} failed")
            self._recover(step, cause)

    def _count_failure(self, attempts: _Attempts, exc: DeviceError, what: str) -> None:
        """Count a failure; raise once the attempts are spent."""
        if not attempts.failed(exc):
            raise _gave_up(exc, attempts.failures) from exc
        logger.warning(
            "%s: %s (%s); %s",
            self._where(),
            what,
            exc.message,
            "waiting for the port" if isinstance(exc, PortGone) else "resyncing",
        )

    def _recover(self, step: str, cause: DeviceError) -> None:
        """Resynchronise, reopening the port first if it has gone, then read
        where the module stands.

        Recovery exchanges several lines, so on a noisy link it can fail in
        turn; it has its own bounded attempts, apart from the step's. A port
        that does not come back within the wait fails the step at once.
        """
        attempts = _Attempts(self._settings)
        gone = isinstance(cause, PortGone)
        reopened = False
        while True:
            if gone:
                self._reopen()
                reopened = True
            try:
                self._recover_once()
            except PortGone as exc:
                gone = True
                self._count_failure(attempts, exc, "recovery failed")
                continue
            except (*RECOVERABLE, ModuleError) as exc:
                if not _recoverable(exc):
                    raise
                gone = False
                self._count_failure(attempts, exc, "recovery failed")
                continue
            self._recoveries.append(Recovery(step, cause.message, reopened))
            return

    def _reopen(self) -> None:
        """Wait for the port of an unplugged module to come back, and open it.

        Raises:
            PortGone: The port did not come back within the wait.
            PortBusy: It came back held by another process.
        """
        gone = self._link.port
        gone.close()
        logger.warning(
            "%s: port gone; waiting up to %g s for the module to be seated again",
            self._where(),
            self._settings.reopen_wait,
        )
        port = SerialPort.reopen(
            gone.path,
            slot=gone.slot,
            settings=self._settings.port_settings(),
            wait=self._settings.reopen_wait,
        )
        self._link = Link(port, self._settings.link_settings())

    def _recover_once(self) -> None:
        self._link.resync()
        self._confirm_identity()
        staged = self._read_write_status()
        self._recovered = staged
        logger.info(
            "%s: after resync the module is %s, staged write %s",
            self._where(),
            self._state().value,
            f"{staged.obj} at {staged.next_offset}/{staged.total}"
            if staged.obj
            else "none",
        )

    # --- reading state ----------------------------------------------------------

    def _read_caps(self) -> Capabilities:
        caps = Capabilities.parse(self._query(cmd_cap()))
        again = Capabilities.parse(self._query(cmd_cap()))
        if caps != again:
            # A damaged digit would size every chunk of the session wrongly.
            raise IntegrityError(f"two capability reads disagree: {caps} then {again}")
        if caps.version != PV_VERSION:
            raise CapabilityError(
                f"module speaks PV version {caps.version}; "
                f"this station speaks {PV_VERSION}"
            )
        if caps.max_object < 1:
            raise CapabilityError("module reports a max object of 0 bytes")
        if read_reply_overhead(caps.max_object) > LINE_OVERHEAD:
            raise CapabilityError(
                f"max object {caps.max_object} is too large for the chunk rule"
            )
        needed = max(longest_command(caps.max_object), LINE_OVERHEAD + 4)
        if caps.max_line < needed:
            raise CapabilityError(
                f"line limit {caps.max_line} is too small: the station needs {needed}"
            )
        return caps

    def _confirm_identity(self) -> ModuleIdentity:
        """The module's identity and state, at the cost of one read when it
        confirms the identity already known; else as ``_read_identity``."""
        if self.identity is not None:
            raw = RawIdentity.parse(self._query(cmd_id()))
            if _confirms(raw, self.identity):
                self.identity = replace(self.identity, state=SlotState(raw.state))
                return self.identity
        return self._read_identity()

    def _read_identity(self) -> ModuleIdentity:
        """Two reads of ``AT+PVID?`` that agree, checked against the rules."""
        first = RawIdentity.parse(self._query(cmd_id()))
        second = RawIdentity.parse(self._query(cmd_id()))
        if first != second:
            # A flipped character can name another plausible module. Nothing
            # between the two reads changes the state, so it must agree too.
            raise IntegrityError(f"two identity reads disagree: {first} then {second}")
        identity = ModuleIdentity.from_raw(second)
        known = self.identity
        if known is not None and not identity.same_module(known):
            raise IdentityError(
                f"a different module was seated: {identity.serial} "
                f"({identity.mac}) answers where {known.serial} ({known.mac}) "
                "was identified"
            )
        self.identity = identity
        return identity

    def _read_write_status(self) -> WriteStatus:
        return WriteStatus.parse(self._query(cmd_wstat()))

    def _write_status_for(self, attempts: _Attempts) -> WriteStatus:
        """The staged write: as recovery just read it on a retry, else asked."""
        if attempts.retrying and self._recovered is not None:
            return self._recovered
        return self._read_write_status()

    def _state(self) -> SlotState:
        assert self.identity is not None, "recovery reads the identity first"
        return self.identity.state

    def _hash(self, obj: PvObject) -> ObjectHash:
        """``AT+PVHASH``, checked to describe ``obj`` within the max object."""
        reply = ObjectHash.parse(self._ask(cmd_hash(obj)))
        if reply.obj != obj.value:
            raise IntegrityError(f"asked for the hash of {obj.value}, got {reply.obj}")
        caps = self.capabilities()
        if reply.total > caps.max_object:
            raise IntegrityError(
                f"module reports {obj.value} of {reply.total} bytes, above its "
                f"max object {caps.max_object}"
            )
        return reply

    def _stored_hash(self, obj: PvObject) -> ObjectHash | None:
        """The object's hash, or None when the module holds no such object."""
        try:
            return self._hash(obj)
        except ModuleError as exc:
            if exc.code in _ABSENT:
                return None
            raise

    def _key_changed(self, public: PvObject, before: ObjectHash | None) -> bool:
        now = self._stored_hash(public)
        return now is not None and (before is None or now.sha256 != before.sha256)

    def _check_size(self, step: str, size: int, caps: Capabilities) -> None:
        if size > caps.max_object:
            raise CapabilityError(
                f"{size} bytes exceed the module's max object of {caps.max_object}",
                port=self._link.port.path,
                slot=self._link.port.slot,
                serial=self.identity.serial if self.identity else None,
                step=step,
            )

    # --- commands -------------------------------------------------------------

    def _query(self, line: str) -> InfoLine:
        """A query the PV contract never refuses (capabilities, identity,
        staged write): an ``ERROR`` means the command was damaged on the way."""
        try:
            return self._ask(line)
        except ModuleError as exc:
            raise IntegrityError(
                f"module refused a query it always answers: {exc.message}"
            ) from exc

    def _ask(self, line: str, *, timeout: float | None = None) -> InfoLine:
        """Send a command whose reply is exactly one ``+NAME:`` line."""
        infos = self._link.command(line, timeout=timeout or self._command_timeout)
        if len(infos) != 1:
            raise LinkNoise(
                f"expected one reply line to {command_verb(line)}, got {len(infos)}"
            )
        return infos[0]

    def _do(self, line: str, *, timeout: float | None = None) -> None:
        """Send a command whose reply is a bare ``OK``."""
        infos = self._link.command(line, timeout=timeout or self._command_timeout)
        if infos:
            raise LinkNoise(
                f"expected a bare OK to {command_verb(line)}, got +{infos[0].name}"
            )

    @property
    def _command_timeout(self) -> float:
        return self._settings.command_timeout

    def _where(self) -> str:
        port = self._link.port
        module = f" module {self.identity.serial}" if self.identity else ""
        return f"slot {port.slot}{module} ({port.path})"


class _ObjectReader:
    """One object read in chunks; survives failed attempts of its step.

    Objects survive resets and only this session's commands change them (a
    swapped module fails recovery), so the object hash is read again only
    when the module and the station disagree about the total. Chunks already
    read are kept while the hash stays the same, so a damaged chunk costs one
    chunk, not the whole object; a SHA-256 mismatch starts the read over.
    """

    def __init__(
        self,
        session: ModuleSession,
        obj: PvObject,
        *,
        chunk: int,
        progress: ProgressCallback | None,
    ) -> None:
        self._session = session
        self._obj = obj
        self._chunk = chunk
        self._progress = progress
        self._expected: ObjectHash | None = None
        self._trusted = False
        self._data = bytearray()

    def attempt(self, attempts: _Attempts) -> bytes:
        expected = self._object_hash()

        while len(self._data) < expected.total:
            self._data += self._next_chunk(expected.total)
            attempts.progressed(len(self._data))
            if self._progress:
                self._progress(len(self._data), expected.total)

        if sha256_hex(bytes(self._data)) != expected.sha256:
            self._expected, self._trusted = None, False
            raise IntegrityError(f"SHA-256 of {self._obj.value} does not match")
        return bytes(self._data)

    def _object_hash(self) -> ObjectHash:
        """The hash this attempt reads against; chunks of another are dropped."""
        if self._expected is None or not self._trusted:
            fresh = self._session._hash(self._obj)
            if fresh != self._expected:
                self._data.clear()
            self._expected, self._trusted = fresh, True
        return self._expected

    def _next_chunk(self, total: int) -> bytes:
        offset = len(self._data)
        length = min(self._chunk, total - offset)
        try:
            reply = ReadChunk.parse(
                self._session._ask(cmd_read(self._obj, offset, length))
            )
        except ModuleError as exc:
            if exc.code is not PvErrorCode.OFFSET:
                raise
            # Either the command was damaged on the way, or the total came
            # damaged in the hash reply: read the hash again before retrying.
            self._trusted = False
            raise IntegrityError(
                f"module refused a read at {offset}: {exc.message}"
            ) from exc
        if reply.total != total:
            self._trusted = False
        if (reply.obj, reply.offset, reply.total, len(reply.data)) != (
            self._obj.value,
            offset,
            total,
            length,
        ):
            raise IntegrityError(
                f"asked for {length} bytes of {self._obj.value} at {offset}, got "
                f"{len(reply.data)} of {reply.obj} at {reply.offset} of {reply.total}"
            )
        return reply.data


class _ObjectWriter:
    """One staged write of ``CHAIN`` or ``CHAIN1``; each attempt resumes."""

    def __init__(
        self,
        session: ModuleSession,
        obj: PvObject,
        data: bytes,
        *,
        chunk: int,
        commit_timeout: float,
        progress: ProgressCallback | None,
    ) -> None:
        self._session = session
        self._obj = obj
        self._data = data
        self._sha256 = sha256_hex(data)
        self._chunk = chunk
        self._commit_timeout = commit_timeout
        self._progress = progress

    def attempt(self, attempts: _Attempts) -> None:
        offset = self._resume_point(attempts)
        if offset is None:
            return

        while offset < len(self._data):
            offset = self._send_chunk(offset)
            attempts.progressed(offset)
            if self._progress:
                self._progress(offset, len(self._data))

        self._commit()

    def _already_committed(self) -> bool:
        stored = self._session._stored_hash(self._obj)
        return stored is not None and (stored.total, stored.sha256) == (
            len(self._data),
            self._sha256,
        )

    def _resume_point(self, attempts: _Attempts) -> int | None:
        """Where this attempt starts writing; None when already committed.

        A staged write of these bytes is resumed. Otherwise the object may
        already be committed (a lost commit reply, an earlier session); if
        not, a new staged write is opened.
        """
        staged = self._session._write_status_for(attempts)
        if (staged.obj, staged.total, staged.sha256) == (
            self._obj.value,
            len(self._data),
            self._sha256,
        ) and staged.next_offset <= len(self._data):
            return staged.next_offset
        if self._already_committed():
            return None
        self._begin()
        return 0

    def _begin(self) -> None:
        try:
            self._session._do(cmd_wbegin(self._obj, len(self._data), self._sha256))
        except ModuleError as exc:
            if exc.code is not PvErrorCode.STORAGE:
                raise
            # The total sent is within the module's max object, so a refusal
            # over the size means the command was damaged on the way.
            raise IntegrityError(
                f"module refused to stage {len(self._data)} bytes: {exc.message}"
            ) from exc

    def _send_chunk(self, offset: int) -> int:
        piece = self._data[offset : offset + self._chunk]
        try:
            reply = WriteProgress.parse(self._session._ask(cmd_write(offset, piece)))
        except ModuleError as exc:
            if exc.code not in _CHUNK_REFUSED:
                raise
            raise IntegrityError(
                f"module refused the chunk at {offset}: {exc.message}"
            ) from exc
        if reply.next_offset != offset + len(piece):
            raise IntegrityError(
                f"module expects offset {reply.next_offset} after the chunk at "
                f"{offset}, not {offset + len(piece)}"
            )
        return reply.next_offset

    def _commit(self) -> None:
        try:
            digest = parse_commit(
                self._session._ask(cmd_wcommit(), timeout=self._commit_timeout)
            )
        except ModuleError as exc:
            if exc.code not in _COMMIT_REFUSED:
                raise
            self._session._do(cmd_wabort())
            raise IntegrityError(
                f"module refused the staged {self._obj.value}: {exc.message}"
            ) from exc
        if digest != self._sha256:
            raise IntegrityError(
                f"module committed {self._obj.value} with SHA-256 {digest}, "
                f"expected {self._sha256}"
            )


def _confirms(raw: RawIdentity, known: ModuleIdentity) -> bool:
    """True when one read names the known module with a valid state."""
    named = (raw.serial, raw.mac.lower(), raw.model, raw.lot, raw.firmware)
    expected = (known.serial, known.mac, known.model, known.lot, known.firmware)
    return named == expected and raw.state in _STATES


def _recoverable(exc: DeviceError) -> bool:
    if isinstance(exc, ModuleBusy):
        # The resync already waited for the module as long as it may take.
        return False
    if isinstance(exc, ModuleError):
        # The station only sends well-formed commands: "bad parameter" means
        # the line was damaged on its way to the module. "Busy" means it
        # still runs an earlier command, which the resync waits for.
        return exc.code in (PvErrorCode.BAD_PARAMETER, PvErrorCode.BUSY)
    return isinstance(exc, RECOVERABLE)


def _gave_up(exc: DeviceError, failures: int) -> DeviceError:
    message = f"gave up after {failures} failed attempts; last: {exc.message}"
    if isinstance(exc, ModuleError):
        return ModuleError(message, int(exc.code))
    return type(exc)(message)


def _public_key_object(slot: int) -> PvObject:
    try:
        return _PUBLIC_KEYS[slot]
    except KeyError:
        raise ValueError(f"credential slot must be 0 or 1, not {slot!r}") from None


def _verify(
    public_key: ec.EllipticCurvePublicKey, signature: bytes, challenge: bytes
) -> None:
    try:
        public_key.verify(
            signature, challenge_message(challenge), ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature:
        raise SignatureMismatch(
            "challenge signature does not verify with the expected key"
        ) from None
