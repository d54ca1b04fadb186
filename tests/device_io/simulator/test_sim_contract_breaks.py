"""Contract breaks: each one departs from the PV contract at exactly its seam,
and a module without them keeps to it."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from sim_bench import NAMEPLATE, Bench, TestCa, write_command

from device_io.errors import PvErrorCode
from device_io.pv import crc32_hex, sha256_hex
from device_io.simulator.errors import FaultSpecError
from device_io.simulator.faults import ContractBreaks, FaultPlan, Misbehaviour
from device_io.simulator.firmware import Firmware, FirmwareLimits
from device_io.simulator.flash import Flash


def _bench(tmp_path: Path, ca: TestCa, *kinds: str) -> Bench:
    plan = FaultPlan()
    for spec in kinds:
        kind, _, arg = spec.partition(":")
        plan = plan.with_fault(Misbehaviour(kind), arg or None)
    firmware = Firmware(
        nameplate=NAMEPLATE,
        flash=Flash(tmp_path / "module.json"),
        limits=FirmwareLimits(keygen_delay=0),
        breaks=plan.breaks,
    )
    return Bench(firmware, ca)


def _read_fields(bench: Bench, line: str) -> tuple[str, bytes]:
    """The CRC field and the decoded data of a +PVREAD reply."""
    (reply,) = bench.ok(line)
    crc = reply.split(",")[3]
    return crc, base64.b64decode(reply.split('"')[1])


def test_wrong_error_code_swaps_only_the_code_it_names(
    tmp_path: Path, ca: TestCa
) -> None:
    bench = _bench(tmp_path, ca, "wrong-error-code:8-3")

    assert bench.run("AT+PVHASH=CSR").lines == ("ERROR: 3",)
    assert bench.run("AT+PVNOSUCH").lines == ("ERROR: 1",)


def test_wrong_error_code_defaults_to_offset_answered_as_bad_parameter(
    tmp_path: Path, ca: TestCa
) -> None:
    bench = _bench(tmp_path, ca, "wrong-error-code")
    bench.setup(("key0",))

    assert bench.run("AT+PVREAD=CSR,4000,10").lines == ("ERROR: 1",)


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("5", "FROM-TO"),
        ("5-12", "FROM-TO"),
        ("0-1", "FROM-TO"),
        ("4-4", "two different codes"),
    ],
)
def test_wrong_error_code_needs_two_known_codes(arg: str, message: str) -> None:
    with pytest.raises(FaultSpecError, match=message):
        FaultPlan().with_fault(Misbehaviour.WRONG_ERROR_CODE, arg)


def test_contract_breaks_land_in_the_plan() -> None:
    plan = FaultPlan().with_fault(Misbehaviour.BAD_READ_CRC, None)
    plan = plan.with_fault(Misbehaviour.WRONG_ERROR_CODE, "9-11")

    assert plan.breaks == ContractBreaks(
        frozenset({Misbehaviour.BAD_READ_CRC}),
        (PvErrorCode.CHAIN_INVALID, PvErrorCode.CRYPTO),
    )
    assert plan.flaws == frozenset()


def test_bad_read_crc_sends_the_right_data_with_a_wrong_crc(
    tmp_path: Path, ca: TestCa
) -> None:
    bench = _bench(tmp_path, ca, "bad-read-crc")
    bench.setup(("key0",))
    pub = bench.firmware.image.slots[0]
    assert pub is not None

    crc, data = _read_fields(bench, "AT+PVREAD=PUB,0,60")

    assert data == pub.public_der[:60]
    assert crc != crc32_hex(data)


def test_long_last_chunk_pads_a_read_reaching_the_end(
    tmp_path: Path, ca: TestCa
) -> None:
    bench = _bench(tmp_path, ca, "long-last-chunk")
    bench.setup(("key0",))

    crc, data = _read_fields(bench, "AT+PVREAD=PUB,90,60")

    assert len(data) == 60
    assert data[1:] == bytes(59)
    assert crc == crc32_hex(data)


def test_lying_write_status_reports_offset_0_after_chunks(
    tmp_path: Path, ca: TestCa
) -> None:
    bench = _bench(tmp_path, ca, "lying-write-status")
    bench.setup(("key0",))
    data = bytes(range(100))
    bench.ok(f"AT+PVWBEGIN=CHAIN,100,{sha256_hex(data)}")
    bench.ok(write_command(0, data[:60]))

    assert bench.ok("AT+PVWSTAT?") == (f"+PVWSTAT:CHAIN,100,{sha256_hex(data)},0",)
    assert bench.firmware.staged is not None
    assert bench.firmware.staged.next_offset == 60


def test_commit_skips_hash_stores_a_chain_announced_with_another_hash(
    tmp_path: Path, ca: TestCa
) -> None:
    bench = _bench(tmp_path, ca, "commit-skips-hash")
    bench.setup(("key0",))
    chain = ca.chain_for(bench.read_object("PUB"))

    bench.stage("CHAIN", chain, digest="ab" * 32)

    assert bench.ok("AT+PVWCOMMIT") == ("+PVWCOMMIT:" + "ab" * 32,)
    assert bench.firmware.state == "CERT"


def test_commit_skips_key_check_stores_a_chain_for_another_key(
    tmp_path: Path, ca: TestCa
) -> None:
    bench = _bench(tmp_path, ca, "commit-skips-key-check")
    bench.setup(("key0", "key1"))
    other = ca.chain_for(bench.read_object("PUB1"))
    bench.stage("CHAIN", other)

    assert bench.ok("AT+PVWCOMMIT") == (f"+PVWCOMMIT:{sha256_hex(other)}",)


def test_commit_skips_key_check_still_refuses_bytes_that_are_no_chain(
    tmp_path: Path, ca: TestCa
) -> None:
    bench = _bench(tmp_path, ca, "commit-skips-key-check")
    bench.setup(("key0",))
    bench.stage("CHAIN", b"not a certificate")

    assert bench.run("AT+PVWCOMMIT").lines == ("ERROR: 9",)


def test_rekey_over_chain_replaces_a_certified_key(tmp_path: Path, ca: TestCa) -> None:
    bench = _bench(tmp_path, ca, "rekey-over-chain")
    bench.setup(("key0", "chain0"))

    assert bench.ok("AT+PVKEYGEN=0,P256,NEW") == ("+PVKEYGEN:0,1",)
    assert bench.firmware.state == "KEY"


def test_rekey_over_chain_still_refuses_a_locked_slot(
    tmp_path: Path, ca: TestCa
) -> None:
    bench = _bench(tmp_path, ca, "rekey-over-chain")
    bench.setup(("key0", "chain0", "lock"))

    assert bench.run("AT+PVKEYGEN=0,P256,NEW").lines == ("ERROR: 10",)


def test_module_without_breaks_keeps_every_one_of_those_rules(
    tmp_path: Path, ca: TestCa
) -> None:
    bench = _bench(tmp_path, ca)
    bench.setup(("key0", "chain0"))

    crc, data = _read_fields(bench, "AT+PVREAD=PUB,90,60")

    assert (crc, data) == (crc32_hex(data), data[:1])
    assert bench.run("AT+PVKEYGEN=0,P256,NEW").lines == ("ERROR: 7",)
    assert bench.run("AT+PVREAD=PUB,92,1").lines == ("ERROR: 5",)
