"""Sessions over a real pty against the module double, faults included."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from pty_module import FAST, Fault, ModuleDouble, PtyPair, Responder

from device_io.errors import (
    CapabilityError,
    IdentityError,
    IntegrityError,
    LinkTimeout,
    ModuleError,
    PortGone,
    PortNotFound,
    PvErrorCode,
    SignatureMismatch,
)
from device_io.pv import PvObject, SlotState, challenge_message
from device_io.session import ModuleSession, open_session

Start = Callable[[Callable[[str], bytes]], Responder]
CHAIN = random.Random(7).randbytes(900)  # 15 chunks of 60 bytes at a 120 line limit


@pytest.fixture
def keyed(module: ModuleDouble) -> ModuleDouble:
    """The module with a key in slot 0."""
    module.give_key(0)
    return module


@pytest.fixture
def committed(session: ModuleSession, keyed: ModuleDouble) -> ModuleDouble:
    """The module with a key and a committed CHAIN."""
    session.write_object(PvObject.CHAIN, CHAIN)
    keyed.commands.clear()
    return keyed


@pytest.fixture
def open_on(
    pty_pair: PtyPair, respond: Start
) -> Iterator[Callable[..., ModuleSession]]:
    """Open a session against a module double with custom firmware limits."""
    sessions: list[ModuleSession] = []

    def start(module: ModuleDouble, **settings: float) -> ModuleSession:
        respond(module)
        session = open_session(
            pty_pair.path, slot="A1", settings=replace(FAST, **settings)
        )
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        session.close()


# --- the whole flow -------------------------------------------------------------


@pytest.mark.parametrize("echo", [False, True])
def test_a_module_is_provisioned_end_to_end(
    open_on: Callable[..., ModuleSession], echo: bool
) -> None:
    module = ModuleDouble(echo=echo, chatter=True)
    session = open_on(module)

    assert session.capabilities().max_line == 120
    assert session.identify().state is SlotState.EMPTY
    assert session.generate_key(0) is True
    csr = x509.load_der_x509_csr(session.read_object(PvObject.CSR))
    session.write_object(PvObject.CHAIN, CHAIN)
    assert session.read_object(PvObject.CHAIN) == CHAIN
    challenge = os.urandom(32)
    signature = session.sign_challenge(0, challenge)
    session.lock()

    public_key = csr.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(
        signature, challenge_message(challenge), ec.ECDSA(hashes.SHA256())
    )
    assert session.identify().state is SlotState.LOCKED
    assert module.sent("AT+PVSYNC") == []


def test_progress_is_reported_chunk_by_chunk(
    session: ModuleSession, keyed: ModuleDouble
) -> None:
    written: list[tuple[int, int]] = []
    read: list[tuple[int, int]] = []

    session.write_object(
        PvObject.CHAIN,
        CHAIN,
        progress=lambda done, total: written.append((done, total)),
    )
    session.read_object(PvObject.CHAIN, progress=lambda d, t: read.append((d, t)))

    assert written == [(offset, 900) for offset in range(60, 901, 60)]
    assert read == written


# --- capabilities ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("firmware", "why"),
    [
        ({"version": 2}, "speaks PV version 2"),
        ({"max_line": 80}, "line limit 80 is too small"),
        ({"max_object": 1_000_000}, "too large for the chunk rule"),
        ({"max_object": 0}, "max object of 0"),
    ],
)
def test_unusable_capabilities_are_refused(
    open_on: Callable[..., ModuleSession], firmware: dict[str, int], why: str
) -> None:
    session = open_on(ModuleDouble(**firmware))

    with pytest.raises(CapabilityError, match=why) as caught:
        session.capabilities()

    assert (caught.value.slot, caught.value.step) == ("A1", "capabilities")


def test_capability_reads_that_disagree_are_read_again(
    session: ModuleSession, module: ModuleDouble
) -> None:
    module.arm("AT+PVCAP?", Fault.BUMP_DIGIT)

    assert session.capabilities().version == 1
    assert len(module.sent("AT+PVCAP?")) == 4


def test_a_chain_above_max_object_is_refused_before_any_write(
    open_on: Callable[..., ModuleSession],
) -> None:
    module = ModuleDouble(max_object=800)
    module.give_key(0)
    session = open_on(module)

    with pytest.raises(CapabilityError, match="900 bytes exceed") as caught:
        session.write_object(PvObject.CHAIN, CHAIN)

    assert caught.value.step == "write CHAIN"
    assert module.sent("AT+PVW") == []


# --- identity --------------------------------------------------------------------


def test_identity_reads_that_disagree_are_read_again(
    session: ModuleSession, module: ModuleDouble
) -> None:
    module.arm("AT+PVID?", Fault.FLIP_SERIAL)

    assert session.identify().serial == "AMB82D001001"
    assert len(module.sent("AT+PVSYNC")) == 1


def test_identity_reads_that_keep_disagreeing_fail_the_step(
    session: ModuleSession, module: ModuleDouble
) -> None:
    module.arm("AT+PVID?", Fault.FLIP_SERIAL, times=100)

    with pytest.raises(IntegrityError, match="two identity reads disagree") as caught:
        session.identify()

    assert f"gave up after {FAST.attempts} failed attempts" in str(caught.value)
    assert (caught.value.slot, caught.value.step) == ("A1", "identify")


def test_an_identity_field_outside_its_rule_is_refused(
    open_on: Callable[..., ModuleSession],
) -> None:
    session = open_on(ModuleDouble(serial="AMB82 D0010"))

    with pytest.raises(IdentityError, match="invalid serial") as caught:
        session.identify()

    assert caught.value.step == "identify"


def test_a_different_module_after_a_resync_is_refused(
    session: ModuleSession, module: ModuleDouble
) -> None:
    session.identify()
    module.identity_fields = ("AMB82D001002", *module.identity_fields[1:])
    module.arm("AT+PVCAP?", Fault.NOISE)

    with pytest.raises(
        IdentityError, match="a different module was seated: AMB82D001002"
    ):
        session.capabilities()


# --- recovery ---------------------------------------------------------------------


def test_noise_in_a_reply_triggers_a_resync_and_the_command_again(
    session: ModuleSession, keyed: ModuleDouble
) -> None:
    keyed.arm("AT+PVHASH=PUB", Fault.NOISE)

    assert session.read_object(PvObject.PUB) == keyed.slots[0].pub
    assert len(keyed.sent("AT+PVSYNC")) == 1
    assert len(keyed.sent("AT+PVWSTAT?")) == 1


def test_warnings_about_noise_carry_no_raw_bytes(
    session: ModuleSession, keyed: ModuleDouble, caplog: pytest.LogCaptureFixture
) -> None:
    keyed.arm("AT+PVHASH=PUB", Fault.NOISE)

    with caplog.at_level(logging.DEBUG, logger="device_io"):
        session.read_object(PvObject.PUB)

    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    frames = [r for r in caplog.records if "garbage" in r.getMessage()]
    assert any("in the reply to AT+PVHASH" in warning for warning in warnings)
    assert not any("garbage" in text or "\\x" in text for text in warnings)
    assert frames
    assert all(record.levelno == logging.DEBUG for record in frames)


def test_recovery_confirms_a_known_identity_with_one_read(
    session: ModuleSession, keyed: ModuleDouble
) -> None:
    session.identify()
    keyed.commands.clear()
    keyed.arm("AT+PVHASH=PUB", Fault.NOISE)

    session.read_object(PvObject.PUB)

    assert len(keyed.sent("AT+PVID?")) == 1


def test_a_damaged_identity_read_during_recovery_is_read_again_in_pairs(
    session: ModuleSession, keyed: ModuleDouble
) -> None:
    session.identify()
    keyed.commands.clear()
    keyed.arm("AT+PVHASH=PUB", Fault.NOISE)
    keyed.arm("AT+PVID?", Fault.FLIP_SERIAL)

    assert session.read_object(PvObject.PUB) == keyed.slots[0].pub
    assert len(keyed.sent("AT+PVID?")) == 3


def test_a_damaged_total_in_the_hash_reply_is_read_again(
    session: ModuleSession, keyed: ModuleDouble
) -> None:
    keyed.arm("AT+PVHASH=CSR", Fault.BUMP_DIGIT)

    assert session.read_object(PvObject.CSR) == keyed.slots[0].csr
    assert len(keyed.sent("AT+PVHASH=CSR")) == 2


def test_a_chunk_retry_does_not_read_the_hash_again(
    session: ModuleSession, keyed: ModuleDouble
) -> None:
    keyed.arm("AT+PVREAD=CSR,120,", Fault.NOISE)

    assert session.read_object(PvObject.CSR) == keyed.slots[0].csr
    assert len(keyed.sent("AT+PVHASH=CSR")) == 1


def test_a_bad_parameter_answer_means_a_damaged_command_and_is_retried(
    session: ModuleSession, keyed: ModuleDouble
) -> None:
    keyed.arm("AT+PVREAD=CSR,0,", Fault.REFUSE, code=1)

    assert session.read_object(PvObject.CSR) == keyed.slots[0].csr
    assert len(keyed.sent("AT+PVREAD=CSR,0,")) == 2


def test_a_refused_identity_query_means_a_damaged_command_and_is_retried(
    session: ModuleSession, module: ModuleDouble
) -> None:
    module.arm("AT+PVID?", Fault.REFUSE, code=3)

    assert session.identify().serial == "AMB82D001001"
    assert len(module.sent("AT+PVSYNC")) == 1


def test_a_storage_refusal_of_a_staged_write_within_limits_is_retried(
    session: ModuleSession, keyed: ModuleDouble
) -> None:
    keyed.arm("AT+PVWBEGIN", Fault.REFUSE, code=6)

    session.write_object(PvObject.CHAIN, CHAIN)

    assert keyed.slots[0].chain == CHAIN
    assert len(keyed.sent("AT+PVWBEGIN")) == 2


def test_a_signature_over_a_damaged_challenge_is_asked_for_again(
    session: ModuleSession, keyed: ModuleDouble
) -> None:
    keyed.arm("AT+PVSIGN", Fault.SIGN_OTHER)
    challenge = os.urandom(32)

    signature = session.sign_challenge(
        0, challenge, public_key=keyed.slots[0].key.public_key()
    )

    keyed.slots[0].key.public_key().verify(
        signature, challenge_message(challenge), ec.ECDSA(hashes.SHA256())
    )
    assert len(keyed.sent("AT+PVSIGN")) == 2


def test_a_signature_that_never_verifies_fails_the_step_after_its_own_budget(
    session: ModuleSession, keyed: ModuleDouble
) -> None:
    other_key = ec.generate_private_key(ec.SECP256R1()).public_key()

    with pytest.raises(SignatureMismatch, match="does not verify") as caught:
        session.sign_challenge(0, os.urandom(32), public_key=other_key)

    assert caught.value.step == "sign slot 0"
    assert FAST.mismatches < FAST.attempts
    assert len(keyed.sent("AT+PVSIGN")) == FAST.mismatches


def test_a_silent_command_fails_after_two_timeouts_naming_everything(
    open_on: Callable[..., ModuleSession],
) -> None:
    module = ModuleDouble()
    session = open_on(module, command_timeout=0.1)
    session.identify()
    module.arm("AT+PVCAP?", Fault.IGNORE, times=100)

    with pytest.raises(LinkTimeout) as caught:
        session.capabilities()

    error = caught.value
    assert f"gave up after {FAST.timeouts} failed attempts" in error.message
    assert (error.slot, error.serial, error.step) == (
        "A1",
        "AMB82D001001",
        "capabilities",
    )
    assert error.port is not None
    assert len(module.sent("AT+PVCAP?")) == FAST.timeouts


def test_a_reset_mid_write_restarts_the_staged_write(
    session: ModuleSession, keyed: ModuleDouble
) -> None:
    keyed.arm("AT+PVW=120,", Fault.RESET)

    session.write_object(PvObject.CHAIN, CHAIN)

    assert keyed.slots[0].chain == CHAIN
    assert len(keyed.sent("AT+PVWBEGIN")) == 2
    assert len(keyed.sent("AT+PVW=0,")) == 2


def test_a_lost_chunk_reply_resumes_from_the_modules_next_offset(
    session: ModuleSession, keyed: ModuleDouble
) -> None:
    keyed.arm("AT+PVW=120,", Fault.LOSE_REPLY)

    session.write_object(PvObject.CHAIN, CHAIN)

    assert keyed.slots[0].chain == CHAIN
    assert len(keyed.sent("AT+PVWBEGIN")) == 1
    assert len(keyed.sent("AT+PVW=120,")) == 1
    assert len(keyed.sent("AT+PVW=180,")) == 1


def test_a_chunk_the_module_finds_damaged_is_sent_again(
    session: ModuleSession, keyed: ModuleDouble
) -> None:
    keyed.arm("AT+PVW=300,", Fault.REFUSE, code=4)

    session.write_object(PvObject.CHAIN, CHAIN)

    assert keyed.slots[0].chain == CHAIN
    assert len(keyed.sent("AT+PVW=300,")) == 2
    assert len(keyed.sent("AT+PVW=0,")) == 1


def test_a_read_chunk_with_a_bad_crc_is_read_again_alone(
    session: ModuleSession, keyed: ModuleDouble
) -> None:
    keyed.arm("AT+PVREAD=CSR,60,", Fault.BAD_CRC)

    assert session.read_object(PvObject.CSR) == keyed.slots[0].csr
    assert len(keyed.sent("AT+PVREAD=CSR,0,")) == 1
    assert len(keyed.sent("AT+PVREAD=CSR,60,")) == 2


def test_a_lost_commit_reply_does_not_write_the_chain_again(
    session: ModuleSession, keyed: ModuleDouble
) -> None:
    keyed.arm("AT+PVWCOMMIT", Fault.LOSE_REPLY)

    session.write_object(PvObject.CHAIN, CHAIN)

    assert keyed.slots[0].chain == CHAIN
    assert len(keyed.sent("AT+PVWCOMMIT")) == 1
    assert len(keyed.sent("AT+PVWBEGIN")) == 1


def test_a_committed_chain_is_not_written_again(
    session: ModuleSession, committed: ModuleDouble
) -> None:
    session.write_object(PvObject.CHAIN, CHAIN)

    assert committed.sent("AT+PVWBEGIN") == []
    assert committed.sent("AT+PVHASH=CHAIN") != []


def test_a_staged_write_left_by_a_failed_step_is_resumed(
    open_on: Callable[..., ModuleSession],
) -> None:
    module = ModuleDouble()
    module.give_key(0)
    session = open_on(module, command_timeout=0.1)
    module.arm("AT+PVW=240,", Fault.IGNORE, times=100)
    with pytest.raises(LinkTimeout):
        session.write_object(PvObject.CHAIN, CHAIN)
    module.disarm()

    session.write_object(PvObject.CHAIN, CHAIN)

    assert module.slots[0].chain == CHAIN
    assert len(module.sent("AT+PVWBEGIN")) == 1
    assert len(module.sent("AT+PVW=180,")) == 1


def test_a_lost_keygen_reply_is_not_followed_by_a_second_generation(
    session: ModuleSession, keyed: ModuleDouble
) -> None:
    old_key = keyed.slots[0].pub
    keyed.arm("AT+PVKEYGEN", Fault.LOSE_REPLY)

    assert session.generate_key(0, new=True) is True

    assert keyed.sent("AT+PVKEYGEN") == ["AT+PVKEYGEN=0,P256,NEW"]
    assert keyed.slots[0].pub != old_key


def test_a_keygen_that_never_ran_is_sent_again(
    session: ModuleSession, module: ModuleDouble
) -> None:
    module.arm("AT+PVKEYGEN", Fault.IGNORE)

    assert session.generate_key(1) is True

    assert len(module.sent("AT+PVKEYGEN=1,P256")) == 2
    assert 1 in module.slots


def test_a_keygen_reply_naming_another_slot_is_not_taken_as_done(
    session: ModuleSession, module: ModuleDouble
) -> None:
    module.arm("AT+PVKEYGEN", Fault.BUMP_DIGIT)

    assert session.generate_key(0) is True

    assert [r.step for r in session.recoveries] == ["keygen slot 0"]
    assert "answered for slot 1" in session.recoveries[0].cause
    assert len(module.sent("AT+PVKEYGEN")) == 1
    assert set(module.slots) == {0}


def test_an_existing_key_is_kept_without_new(
    session: ModuleSession, keyed: ModuleDouble
) -> None:
    old_key = keyed.slots[0].pub

    assert session.generate_key(0) is False
    assert keyed.slots[0].pub == old_key


def test_a_lost_lock_reply_is_settled_by_the_modules_state(
    session: ModuleSession, committed: ModuleDouble
) -> None:
    committed.arm("AT+PVLOCK", Fault.LOSE_REPLY)

    session.lock()

    assert committed.locked
    assert len(committed.sent("AT+PVLOCK")) == 1


def test_a_lost_promote_reply_is_not_followed_by_a_second_promote(
    session: ModuleSession, committed: ModuleDouble
) -> None:
    session.generate_key(1)
    session.write_object(PvObject.CHAIN1, CHAIN[::-1])
    next_key = committed.slots[1].pub
    committed.arm("AT+PVPROMOTE", Fault.LOSE_REPLY)

    session.promote()

    assert committed.slots[0].pub == next_key
    assert len(committed.sent("AT+PVPROMOTE")) == 1


def test_reset_clears_the_module(
    session: ModuleSession, committed: ModuleDouble
) -> None:
    session.reset("AMB82D001001")

    assert committed.slots == {}


# --- refusals and a vanished port ---------------------------------------------------


def test_a_module_refusal_is_not_retried_and_names_the_step(
    session: ModuleSession, module: ModuleDouble
) -> None:
    session.identify()

    with pytest.raises(ModuleError, match="no key") as caught:
        session.sign_challenge(0, bytes(32))

    assert caught.value.code is PvErrorCode.NO_KEY
    assert (caught.value.step, caught.value.serial) == ("sign slot 0", "AMB82D001001")
    assert len(module.sent("AT+PVSIGN")) == 1


def test_a_new_key_over_a_committed_chain_is_refused(
    session: ModuleSession, committed: ModuleDouble
) -> None:
    with pytest.raises(ModuleError) as caught:
        session.generate_key(0, new=True)

    assert caught.value.code is PvErrorCode.KEY_EXISTS


def test_an_unplugged_module_not_back_within_the_wait_is_port_gone(
    open_on: Callable[..., ModuleSession], module: ModuleDouble, pty_pair: PtyPair
) -> None:
    session = open_on(module, reopen_wait=0.1)
    session.identify()
    pty_pair.hang_up()

    with pytest.raises(PortGone, match=r"not back within 0\.1 s") as caught:
        session.generate_key(0)

    assert (caught.value.slot, caught.value.serial, caught.value.step) == (
        "A1",
        "AMB82D001001",
        "keygen slot 0",
    )


def test_a_silent_port_whose_device_node_vanished_counts_as_unplugged(
    tmp_path: Path, pty_pair: PtyPair, respond: Start, keyed: ModuleDouble
) -> None:
    link = tmp_path / "slot-A1"
    link.symlink_to(pty_pair.path)
    respond(keyed)
    with open_session(
        str(link), slot="A1", settings=replace(FAST, reopen_wait=0.1)
    ) as session:
        session.identify()
        # The adapter's udev link goes and the module falls silent, but the
        # open handle does not fail: only the missing node tells.
        link.unlink()
        keyed.arm("AT+PVHASH", Fault.IGNORE)

        with pytest.raises(PortGone, match="not back within") as caught:
            session.read_object(PvObject.CSR)

    assert isinstance(caught.value.__cause__, PortNotFound)
    assert session.recoveries == ()


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.reset("AMB82\r\nAT+PVLOCK"),
        lambda s: s.sign_challenge(0, b"short"),
        lambda s: s.generate_key(2),
        lambda s: s.write_object(PvObject.CSR, b"x"),
        lambda s: s.write_object(PvObject.CHAIN, b""),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_sent(
    session: ModuleSession,
    module: ModuleDouble,
    call: Callable[[ModuleSession], object],
) -> None:
    with pytest.raises(ValueError, match=r"must|cannot|empty"):
        call(session)

    assert module.commands == []
