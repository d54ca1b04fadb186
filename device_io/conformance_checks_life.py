"""Conformance checks of the credential life cycle: the next key in slot 1,
promotion, the lock (only when the run may lock), and the reset that ends a
run on an unlocked module."""

from __future__ import annotations

import secrets

from device_io.conformance_check import CheckList, When
from device_io.conformance_checks_keys import declare_object_checks, other_serial
from device_io.conformance_probe import ContractBreach, Probe
from device_io.errors import PvErrorCode
from device_io.pv import (
    PvObject,
    SlotState,
    WriteStatus,
    cmd_lock,
    cmd_promote,
    cmd_reset,
    cmd_sign,
    cmd_wbegin,
)

LIFE_CHECKS = CheckList()
check = LIFE_CHECKS.check

_CHALLENGE = bytes(range(32))


@check(
    "slot1.keygen",
    "AT+PVKEYGEN=1,P256 makes the next key in slot 1: +PVKEYGEN:1,1; slot 0 stays CERT",
    requires=["pvwcommit.chain"],
)
def _keygen_slot1(probe: Probe) -> None:
    if not probe.keygen(1):
        raise ContractBreach("+PVKEYGEN says no new key was made in an empty slot 1")

    probe.expect_state(SlotState.CERT, "after slot 1 key generation")


declare_object_checks(LIFE_CHECKS, 1, "slot1.keygen")


@check(
    "slot1.distinct",
    "the slot 1 key is not the slot 0 key",
    requires=["pub1.p256", "pub.p256"],
)
def _distinct_keys(probe: Probe) -> None:
    if probe.learnt.pub[1] == probe.learnt.pub[0]:
        raise ContractBreach("PUB1 is the same key as PUB")


@check(
    "pvpromote.no-chain1",
    "AT+PVPROMOTE before CHAIN1 is committed is refused with ERROR: 3",
    requires=["slot1.keygen"],
    project_rule=True,
)
def _promote_without_chain1(probe: Probe) -> None:
    probe.refused(cmd_promote(), PvErrorCode.WRONG_STATE, timeout=probe.timeouts.commit)


@check(
    "pvwcommit.chain1",
    "CHAIN1 for the slot 1 key commits and reads back byte for byte",
    requires=["pub1.p256"],
)
def _commit_chain1(probe: Probe) -> None:
    probe.commit_object(PvObject.CHAIN1, probe.chain(1))

    if probe.read_object(PvObject.CHAIN1) != probe.chain(1):
        raise ContractBreach("CHAIN1 read back differs from the chain committed")
    probe.expect_write_status(WriteStatus(None), "after the commit")


@check(
    "pvpromote",
    "AT+PVPROMOTE makes slot 1 slot 0: PUB and CHAIN are the former PUB1 and "
    "CHAIN1, AT+PVSIGN=0 verifies with it, slot 1 is empty",
    requires=["pvwcommit.chain1"],
)
def _promote(probe: Probe) -> None:
    probe.ok(cmd_promote(), timeout=probe.timeouts.commit)

    _expect_promoted(probe)
    probe.expect_state(SlotState.CERT, "after AT+PVPROMOTE")


@check(
    "pvlock",
    "AT+PVLOCK with CHAIN committed answers OK, and again OK; the module is LOCKED",
    requires=["pvwcommit.chain"],
    when=When.LOCKING,
)
def _lock(probe: Probe) -> None:
    probe.ok(cmd_lock(), timeout=probe.timeouts.commit)
    probe.expect_state(SlotState.LOCKED, "after AT+PVLOCK")

    probe.ok(cmd_lock(), timeout=probe.timeouts.commit)
    probe.expect_state(SlotState.LOCKED, "after a second AT+PVLOCK")


@check(
    "locked.reset",
    "AT+PVRESET=<serial> on a locked module is refused with ERROR: 10",
    requires=["pvlock"],
    when=When.LOCKING,
)
def _reset_locked(probe: Probe) -> None:
    probe.refused(
        cmd_reset(probe.serial), PvErrorCode.LOCKED, timeout=probe.timeouts.commit
    )
    probe.expect_state(SlotState.LOCKED, "after a refused AT+PVRESET")


@check(
    "locked.reset-wrong-serial",
    "AT+PVRESET naming another serial on a locked module is ERROR: 1: the serial "
    "is checked before the lock",
    requires=["pvlock"],
    project_rule=True,
    when=When.LOCKING,
)
def _reset_locked_wrong_serial(probe: Probe) -> None:
    probe.refused(
        cmd_reset(other_serial(probe.serial)),
        PvErrorCode.BAD_PARAMETER,
        timeout=probe.timeouts.commit,
    )


@check(
    "locked.keygen-new",
    "AT+PVKEYGEN=0,P256,NEW on a locked module is refused with ERROR: 10",
    requires=["pvlock"],
    project_rule=True,
    when=When.LOCKING,
)
def _keygen_new_locked(probe: Probe) -> None:
    probe.refused(
        "AT+PVKEYGEN=0,P256,NEW", PvErrorCode.LOCKED, timeout=probe.timeouts.keygen
    )


@check(
    "locked.chain-write",
    "AT+PVWBEGIN=CHAIN on a locked module is refused with ERROR: 10",
    requires=["pvlock"],
    project_rule=True,
    when=When.LOCKING,
)
def _chain_write_locked(probe: Probe) -> None:
    probe.refused(cmd_wbegin(PvObject.CHAIN, 100, "0" * 64), PvErrorCode.LOCKED)


@check(
    "locked.promote",
    "on a locked module a new slot 1 key with its CHAIN1 is promoted; the module "
    "stays LOCKED",
    requires=["pvlock"],
    when=When.LOCKING,
)
def _promote_locked(probe: Probe) -> None:
    probe.forget_key(1)
    if not probe.keygen(1):
        raise ContractBreach("+PVKEYGEN says no new key was made in slot 1")
    probe.learnt.pub[1] = probe.read_object(PvObject.PUB1)
    probe.commit_object(PvObject.CHAIN1, probe.chain(1))

    probe.ok(cmd_promote(), timeout=probe.timeouts.commit)

    _expect_promoted(probe)
    probe.expect_state(SlotState.LOCKED, "after AT+PVPROMOTE")


@check(
    "pvreset.final",
    "AT+PVRESET=<serial> clears keys and chains: the module is EMPTY and signs "
    "with neither slot",
    requires=["pvreset.start"],
    when=When.NOT_LOCKING,
)
def _reset_at_end(probe: Probe) -> str:
    probe.reset()

    probe.expect_state(SlotState.EMPTY, "after AT+PVRESET")
    probe.expect_write_status(WriteStatus(None), "after AT+PVRESET")
    for slot in (0, 1):
        probe.refused(cmd_sign(slot, _CHALLENGE), PvErrorCode.NO_KEY)
    return "the module is left EMPTY"


def _expect_promoted(probe: Probe) -> None:
    """Slot 0 holds what slot 1 held, and slot 1 is empty."""
    pub, chain = probe.learnt.pub[1], probe.chain(1)

    if probe.read_object(PvObject.PUB) != pub:
        raise ContractBreach("PUB is not the former PUB1 after AT+PVPROMOTE")
    if probe.read_object(PvObject.CHAIN) != chain:
        raise ContractBreach("CHAIN is not the former CHAIN1 after AT+PVPROMOTE")

    challenge = secrets.token_bytes(32)
    probe.sign(0, challenge, key=probe.public_key(1), what="the former PUB1")
    probe.refused(cmd_sign(1, _CHALLENGE), PvErrorCode.NO_KEY)

    probe.forget_key(0)
    probe.learnt.pub[0], probe.learnt.chains[0] = pub, chain
    probe.forget_key(1)
