"""Conformance checks of staged writes and commits of slot 0's CHAIN, and of
key generation once a chain is committed.

Every write check starts from a clean staged write of its own, so one that
fails leaves nothing the next depends on.
"""

from __future__ import annotations

import secrets

from device_io.conformance_check import CheckList
from device_io.conformance_probe import ContractBreach, Probe
from device_io.errors import PvErrorCode
from device_io.pv import (
    PvObject,
    SlotState,
    WriteStatus,
    b64encode,
    cmd_wabort,
    cmd_wbegin,
    cmd_wcommit,
    cmd_write,
    crc32_hex,
    sha256_hex,
)

WRITE_CHECKS = CheckList()
check = WRITE_CHECKS.check

CHAIN = PvObject.CHAIN


@check(
    "pvw.nothing-staged",
    "with nothing staged, AT+PVW and AT+PVWCOMMIT are refused with ERROR: 3",
    requires=["pvkeygen.new"],
    project_rule=True,
)
def _nothing_staged(probe: Probe) -> None:
    probe.ok(cmd_wabort())

    probe.refused(cmd_write(0, b"\x30\x82"), PvErrorCode.WRONG_STATE)
    probe.refused(cmd_wcommit(), PvErrorCode.WRONG_STATE, timeout=probe.timeouts.commit)


@check(
    "pvwbegin.too-large",
    "AT+PVWBEGIN with a total over max object is refused with ERROR: 6",
    requires=["pvkeygen.new"],
)
def _begin_too_large(probe: Probe) -> None:
    line = cmd_wbegin(CHAIN, probe.caps.max_object + 1, "0" * 64)
    probe.refused(line, PvErrorCode.STORAGE)


@check(
    "pvwbegin.zero",
    "AT+PVWBEGIN with a total of 0 is refused with ERROR: 5",
    requires=["pvkeygen.new"],
    project_rule=True,
)
def _begin_zero(probe: Probe) -> None:
    probe.refused(f"AT+PVWBEGIN=CHAIN,0,{sha256_hex(b'')}", PvErrorCode.OFFSET)


@check(
    "pvwbegin.read-only",
    "AT+PVWBEGIN of an object that is not CHAIN or CHAIN1 (CSR) is refused with "
    "ERROR: 1",
    requires=["pvkeygen.new"],
)
def _begin_read_only(probe: Probe) -> None:
    probe.refused(f"AT+PVWBEGIN=CSR,10,{'0' * 64}", PvErrorCode.BAD_PARAMETER)


@check(
    "pvw.past-total",
    "an empty chunk, or one that runs past the announced total, is refused with "
    "ERROR: 5",
    requires=["pvkeygen.new"],
    project_rule=True,
)
def _chunk_past_total(probe: Probe) -> None:
    data = secrets.token_bytes(3)
    probe.begin(CHAIN, data)

    probe.refused(f'AT+PVW=0,{crc32_hex(b"")},""', PvErrorCode.OFFSET)
    probe.refused(cmd_write(0, data + b"\x00\x00\x00"), PvErrorCode.OFFSET)

    probe.ok(cmd_wabort())


@check(
    "pvwbegin.open",
    "AT+PVWBEGIN=CHAIN,<total>,<sha256> answers OK; AT+PVWSTAT? names it at offset 0",
    requires=["pvkeygen.new", "pub.p256"],
)
def _begin(probe: Probe) -> str:
    chain = probe.chain(0)

    probe.begin(CHAIN, chain)

    probe.expect_write_status(_staged(chain, 0), "after AT+PVWBEGIN")
    return f"a {len(chain)}-byte chain from the run's throwaway CA"


@check(
    "pvw.wrong-offset",
    "a chunk at another offset than the next is refused with ERROR: 5; the "
    "staged write stays where it was",
    requires=["pvwbegin.open"],
)
def _wrong_offset(probe: Probe) -> None:
    chain = _restart(probe)

    piece = chain[probe.chunk : 2 * probe.chunk]
    probe.refused(cmd_write(probe.chunk, piece), PvErrorCode.OFFSET)

    probe.expect_write_status(_staged(chain, 0), "after the refused chunk")


@check(
    "pvw.bad-crc",
    "a chunk whose CRC-32 does not match its bytes is refused with ERROR: 4; the "
    "staged write stays where it was",
    requires=["pvwbegin.open"],
)
def _bad_crc(probe: Probe) -> None:
    chain = _restart(probe)

    piece = chain[: probe.chunk]
    wrong = crc32_hex(piece + b"\x00")
    probe.refused(f'AT+PVW=0,{wrong},"{b64encode(piece)}"', PvErrorCode.CRC_MISMATCH)

    probe.expect_write_status(_staged(chain, 0), "after the refused chunk")


@check(
    "pvwstat.resume",
    "after partial writes, AT+PVWSTAT? names the object, total, SHA-256 and the "
    "offset to resume from, and the write resumes there",
    requires=["pvwbegin.open"],
)
def _resume_point(probe: Probe) -> str:
    chain = _restart(probe)

    written = probe.write(chain, 0, 2 * probe.chunk)
    probe.expect_write_status(_staged(chain, written), f"after {written} bytes")

    resumed = probe.write(chain, written, written + probe.chunk)
    probe.expect_write_status(_staged(chain, resumed), f"after {resumed} bytes")
    return f"resumed at {written}"


@check(
    "pvwcommit.incomplete",
    "AT+PVWCOMMIT before the last byte has arrived is refused with ERROR: 5",
    requires=["pvwbegin.open"],
    project_rule=True,
)
def _commit_incomplete(probe: Probe) -> None:
    chain = _restart(probe)
    probe.write(chain, 0, len(chain) - 1)

    probe.refused(cmd_wcommit(), PvErrorCode.OFFSET, timeout=probe.timeouts.commit)


@check(
    "pvwabort",
    "AT+PVWABORT drops the staged write (+PVWSTAT:NONE) and answers OK again "
    "with nothing staged",
    requires=["pvwbegin.open"],
)
def _abort(probe: Probe) -> None:
    chain = _restart(probe)
    probe.write(chain, 0, probe.chunk)

    probe.ok(cmd_wabort())
    probe.expect_write_status(WriteStatus(None), "after AT+PVWABORT")

    probe.ok(cmd_wabort())


@check(
    "pvwbegin.replaces",
    "AT+PVWBEGIN over a staged write replaces it; AT+PVWSTAT? names the new one "
    "at offset 0",
    requires=["pvwbegin.open"],
)
def _begin_replaces(probe: Probe) -> None:
    chain = _restart(probe)
    probe.write(chain, 0, probe.chunk)

    other = chain[: len(chain) // 2]
    probe.begin(CHAIN, other)

    probe.expect_write_status(_staged(other, 0), "after a second AT+PVWBEGIN")
    probe.ok(cmd_wabort())


@check(
    "pvwcommit.hash-mismatch",
    "AT+PVWCOMMIT of bytes whose SHA-256 is not the one announced is refused with "
    "ERROR: 4; nothing is stored",
    requires=["pvwbegin.open"],
    project_rule=True,
)
def _commit_hash_mismatch(probe: Probe) -> None:
    chain = probe.chain(0)
    _refused_commit(
        probe,
        chain,
        PvErrorCode.CRC_MISMATCH,
        announced=sha256_hex(chain + b"\x00"),
    )


@check(
    "pvwcommit.key-mismatch",
    "a chain whose leaf key is not the slot key is refused at commit with "
    "ERROR: 9; nothing is stored",
    requires=["pvwbegin.open"],
)
def _commit_key_mismatch(probe: Probe) -> None:
    stranger = probe.ca.chain_for_another_key(probe.serial)
    _refused_commit(probe, stranger, PvErrorCode.CHAIN_INVALID)


@check(
    "pvwcommit.not-a-chain",
    "bytes that are not DER certificates are refused at commit with ERROR: 9",
    requires=["pvwbegin.open"],
)
def _commit_not_a_chain(probe: Probe) -> None:
    garbage = b"\x30\x03\x02\x01\x01" + secrets.token_bytes(200)
    _refused_commit(probe, garbage, PvErrorCode.CHAIN_INVALID)


@check(
    "pvwcommit.chain",
    "a chain for the slot key commits: +PVWCOMMIT:<sha256>, AT+PVWSTAT? is NONE, "
    "the module is CERT",
    requires=["pvwbegin.open"],
)
def _commit(probe: Probe) -> None:
    probe.ok(cmd_wabort())

    probe.commit_object(CHAIN, probe.chain(0))

    probe.expect_write_status(WriteStatus(None), "after the commit")
    probe.expect_state(SlotState.CERT, "after the commit")


@check(
    "pvread.chain",
    "CHAIN reads back byte for byte as committed",
    requires=["pvwcommit.chain"],
)
def _read_back(probe: Probe) -> None:
    if probe.read_object(CHAIN) != probe.chain(0):
        raise ContractBreach("CHAIN read back differs from the chain committed")


@check(
    "pvkeygen.new-over-chain",
    "AT+PVKEYGEN=0,P256,NEW with a committed chain is refused with ERROR: 7; the "
    "key stays",
    requires=["pvwcommit.chain"],
)
def _keygen_new_over_chain(probe: Probe) -> None:
    before = probe.settled_hash(PvObject.PUB)

    probe.refused(
        "AT+PVKEYGEN=0,P256,NEW", PvErrorCode.KEY_EXISTS, timeout=probe.timeouts.keygen
    )

    probe.expect_hash(PvObject.PUB, before, "after a refused AT+PVKEYGEN NEW")
    probe.expect_state(SlotState.CERT, "after a refused AT+PVKEYGEN NEW")


@check(
    "pvkeygen.keep-over-chain",
    "AT+PVKEYGEN=0,P256 with a committed chain answers +PVKEYGEN:0,0",
    requires=["pvwcommit.chain"],
)
def _keygen_keep_over_chain(probe: Probe) -> None:
    if probe.keygen(0):
        raise ContractBreach("+PVKEYGEN says a new key was made over a chain")


def _restart(probe: Probe) -> bytes:
    """Drop any staged write and open a fresh one of slot 0's chain."""
    chain = probe.chain(0)
    probe.ok(cmd_wabort())
    probe.begin(CHAIN, chain)
    return chain


def _refused_commit(
    probe: Probe, data: bytes, code: PvErrorCode, *, announced: str | None = None
) -> None:
    """Stage ``data`` whole; the commit must be refused and store nothing."""
    state = probe.judge.settled(lambda: probe.identity().state, "AT+PVID?")
    probe.ok(cmd_wabort())
    probe.begin(CHAIN, data, sha256=announced)
    probe.write(data)

    probe.refused(cmd_wcommit(), code, timeout=probe.timeouts.commit)

    probe.ok(cmd_wabort())
    probe.expect_state(state, "after a refused commit")


def _staged(data: bytes, next_offset: int) -> WriteStatus:
    return WriteStatus(CHAIN.value, len(data), sha256_hex(data), next_offset)
