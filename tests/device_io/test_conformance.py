"""The conformance runner against the simulated module over a real pty: a good
module passes every check, and each fault or contract break is named by the
check that is there to catch it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pty_module import PtyPair

from device_io.conformance import (
    PLAN,
    CheckResult,
    ConformanceOptions,
    ConformanceReport,
    ModuleNotTestable,
    PortLoss,
    Verdict,
    run_conformance,
)
from device_io.conformance_check import When, check_plan
from device_io.conformance_report import format_result, format_summary
from device_io.errors import PortNotFound
from device_io.link import Link, LinkSettings
from device_io.serial_port import SerialPort
from device_io.simulator import (
    FirmwareLimits,
    Simulator,
    SimulatorConfig,
    assign_slots,
    build_plans,
    read_lot_plan,
)

LOT_PLAN = Path(__file__).parents[2] / "fixtures" / "lots" / "LOT-2026-0042.csv"
# Fast enough that a whole run takes a fraction of a second; the good-module
# test keeps the real 115200.
FAST_BAUD = 4_000_000
LOCK_CHECKS = {check.name for check in PLAN if check.when is When.LOCKING}

Simulate = Callable[..., Simulator]


@pytest.fixture
def simulate(tmp_path: Path) -> Iterator[Simulate]:
    """Start one simulated module; every simulator is stopped at teardown."""
    started: list[Simulator] = []

    def start(*misbehave: str, baud: int = FAST_BAUD, max_line: int = 120) -> Simulator:
        config = SimulatorConfig(
            state_dir=tmp_path / f"sim-{len(started)}",
            nameplates=assign_slots(read_lot_plan(LOT_PLAN), slots=1, first=0),
            baud=baud,
            limits=FirmwareLimits(max_line=max_line, keygen_delay=0.0),
            faults=build_plans(misbehave, slots=1),
        )
        simulator = Simulator(config)
        simulator.start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


def _run(simulator: Simulator, *, lock: bool = False) -> ConformanceReport:
    return run_conformance(simulator.port(1).link, ConformanceOptions(lock=lock))


def _verdicts(report: ConformanceReport) -> dict[str, Verdict]:
    return {result.name: result.verdict for result in report.results}


def _failed(report: ConformanceReport) -> list[str]:
    return [result.name for result in report.failed]


def test_good_module_passes_every_check_and_is_left_empty(simulate: Simulate) -> None:
    simulator = simulate(baud=115200)
    seen: list[str] = []

    report = run_conformance(
        simulator.port(1).link, listener=lambda result: seen.append(result.name)
    )

    assert report.passed, format_summary(report)
    assert seen == [check.name for check in PLAN]
    skipped = {name for name, v in _verdicts(report).items() if v is Verdict.SKIP}
    assert skipped == LOCK_CHECKS
    assert report.final_state == "EMPTY"
    assert simulator.firmware(1).state == "EMPTY"
    assert simulator.firmware(1).image.slots == (None, None)
    assert "left EMPTY (reset with AT+PVRESET=AMB82D001001)" in format_summary(report)


def test_lock_run_passes_every_check_and_leaves_the_module_locked(
    simulate: Simulate,
) -> None:
    simulator = simulate()

    report = _run(simulator, lock=True)

    assert report.passed, format_summary(report)
    skipped = [name for name, v in _verdicts(report).items() if v is Verdict.SKIP]
    assert skipped == ["pvreset.final"]
    assert report.final_state == "LOCKED"
    assert simulator.firmware(1).image.locked
    assert "left LOCKED (by this run, as --lock asked)" in format_summary(report)


@pytest.mark.parametrize("habit", ["1=echo", "1=stray-lines:0.5"])
def test_echo_and_unsolicited_lines_are_tolerated(
    simulate: Simulate, habit: str
) -> None:
    report = _run(simulate(habit))

    assert report.passed, format_summary(report)


def test_echo_is_reported_by_the_sync_check(simulate: Simulate) -> None:
    report = _run(simulate("1=echo"))

    assert report.results[0].detail.startswith("echo on")


def test_chunks_follow_the_module_line_limit(simulate: Simulate) -> None:
    report = _run(simulate(max_line=512))

    details = {result.name: result.detail for result in report.results}
    assert report.passed, format_summary(report)
    assert details["pvcap.limits"] == "chunks of 354 bytes"
    assert details["pvread.csr"].endswith("in 1 chunk")


# (misbehaviour, run with --lock, the check that must fail)
BREAKS = [
    ("wrong-error-code", False, "pvread.past-end"),
    ("wrong-error-code:8-3", False, "empty.sign"),
    ("wrong-error-code:3-1", False, "pvlock.before-commit"),
    ("wrong-error-code:6-5", False, "pvwbegin.too-large"),
    ("wrong-error-code:4-5", False, "pvw.bad-crc"),
    ("wrong-error-code:9-11", False, "pvwcommit.key-mismatch"),
    ("wrong-error-code:7-3", False, "pvkeygen.new-over-chain"),
    ("wrong-error-code:10-3", True, "locked.reset"),
    ("bad-read-crc", False, "pvread.csr"),
    ("long-last-chunk", False, "pvread.short-last"),
    ("lying-write-status", False, "pvwstat.resume"),
    ("commit-skips-hash", False, "pvwcommit.hash-mismatch"),
    ("commit-skips-key-check", False, "pvwcommit.key-mismatch"),
    ("rekey-over-chain", False, "pvkeygen.new-over-chain"),
    ("bad-csr-signature", False, "csr.signature"),
    ("csr-wrong-serial", False, "csr.subject"),
    ("corrupt-csr", False, "csr.der"),
    ("rsa-key", False, "pub.p256"),
    ("p384-key", False, "pub.p256"),
    ("bad-challenge-signature", False, "pvsign.slot0"),
    ("flash-full", False, "pvreset.start"),
    ("reset-mid-command:PVPROMOTE#2", False, "pvpromote.no-chain1"),
]


@pytest.mark.parametrize(
    ("misbehaviour", "lock", "check"),
    [pytest.param(kind, lock, check, id=kind) for kind, lock, check in BREAKS],
)
def test_each_fault_is_named_by_the_check_that_catches_it(
    simulate: Simulate, misbehaviour: str, lock: bool, check: str
) -> None:
    report = _run(simulate(f"1={misbehaviour}"), lock=lock)

    assert not report.passed
    assert check in _failed(report), format_summary(report)
    assert _verdicts(report)["pvcap.format"] is Verdict.PASS
    failure = next(result for result in report.failed if result.name == check)
    assert failure.exchanges or failure.evidence, "a failure shows the bytes"


def test_an_rsa_csr_fails_the_ecdsa_signature_check_too(simulate: Simulate) -> None:
    report = _run(simulate("1=rsa-key"))

    failure = next(r for r in report.failed if r.name == "csr.signature")

    assert failure.detail == (
        "CSR is signed with algorithm 1.2.840.113549.1.1.11, not ecdsa-with-SHA256 "
        "(1.2.840.10045.4.3.2)"
    )


def test_failure_shows_the_command_and_the_raw_reply(simulate: Simulate) -> None:
    report = _run(simulate("1=bad-read-crc"))

    failure = next(r for r in report.failed if r.name == "pvread.csr")
    text = format_result(failure)

    assert text.startswith("FAIL  pvread.csr ")
    assert "CRC-32 mismatch on CSR chunk at offset 0" in text
    assert "> AT+PVREAD=CSR,0,60" in text
    assert "< +PVREAD:CSR,0," in text
    assert text.rstrip().endswith("< OK")


def test_checks_that_need_a_failed_check_are_skipped_not_failed(
    simulate: Simulate,
) -> None:
    report = _run(simulate("1=bad-read-crc"))

    details = {result.name: result.detail for result in report.results}
    assert _failed(report) == ["pvread.csr", "pvread.pub"]
    assert _verdicts(report)["csr.der"] is Verdict.SKIP
    assert details["csr.der"] == "needs pvread.csr"


def test_run_goes_on_after_the_module_resets_mid_command(simulate: Simulate) -> None:
    report = _run(simulate("1=reset-mid-command:PVPROMOTE#2"))

    assert _failed(report) == ["pvpromote.no-chain1"]
    assert "reset" in report.failed[0].detail
    assert _verdicts(report)["pvpromote"] is Verdict.PASS
    assert report.final_state == "EMPTY"


def test_port_vanishing_mid_run_is_a_port_failure(simulate: Simulate) -> None:
    simulator = simulate("1=unplug:PVKEYGEN")
    report = _run(simulator)

    assert _failed(report) == []
    assert _verdicts(report)["pvkeygen.new"] is Verdict.SKIP
    assert report.port_failure == PortLoss(
        port=simulator.port(1).link, slot=None, check="pvkeygen.new"
    )
    assert report.final_state is None
    later = [r for r in report.results if r.name == "pvread.csr"]
    assert later[0].detail == "the port disappeared during pvkeygen.new"


def test_a_lost_port_ends_the_summary_naming_the_port_and_the_check(
    simulate: Simulate,
) -> None:
    port = simulate("1=unplug:PVKEYGEN").port(1).link

    summary = format_summary(run_conformance(port))

    assert summary.splitlines()[-1] == (
        f"the port {port} disappeared during check pvkeygen.new (unplugged, "
        "or its other end closed): no check after it ran"
    )
    assert "serial port failed" not in summary


def test_a_simulator_stopped_mid_run_is_reported_with_the_slot(
    simulate: Simulate,
) -> None:
    simulator = simulate()
    port = simulator.port(1).link

    def stop_after_sync(result: CheckResult) -> None:
        if result.name == "link.sync":
            simulator.stop()

    report = run_conformance(
        port, ConformanceOptions(slot="slot-7"), listener=stop_after_sync
    )

    assert _failed(report) == []
    assert report.port_failure == PortLoss(port=port, slot="slot-7", check=PLAN[1].name)
    assert (
        format_summary(report)
        .splitlines()[-1]
        .startswith(
            f"the port {port} (slot slot-7) disappeared during check {PLAN[1].name} "
        )
    )


def test_a_port_lost_while_reading_after_a_failed_check_says_just_after() -> None:
    loss = PortLoss(port="/dev/ttyUSB3", slot="slot-3", check="pvwcommit", after=True)
    report = ConformanceReport(
        port="/dev/ttyUSB3", lock=False, results=(), port_failure=loss
    )

    assert format_summary(report).splitlines()[-1] == (
        "the port /dev/ttyUSB3 (slot slot-3) disappeared just after check "
        "pvwcommit (unplugged, or its other end closed): no check after it ran"
    )


def test_locked_module_is_not_testable(simulate: Simulate) -> None:
    simulator = simulate()
    _run(simulator, lock=True)

    with pytest.raises(ModuleNotTestable, match="AMB82D001001 is LOCKED"):
        _run(simulator)


def test_module_left_mid_provisioning_is_reset_before_the_checks(
    simulate: Simulate,
) -> None:
    simulator = simulate()
    with SerialPort.open(simulator.port(1).link) as port:
        link = Link(port)
        link.resync()
        link.command("AT+PVKEYGEN=0,P256", timeout=5.0)

    report = _run(simulator)

    assert report.passed, format_summary(report)
    assert report.results[5].name == "pvreset.start"
    assert report.results[5].detail == "was KEY"


def test_a_port_with_no_module_answering_is_not_testable() -> None:
    pair = PtyPair()
    quick = LinkSettings(sync_timeout=0.05, sync_attempts=2, drain_quiet=0.01)
    try:
        with pytest.raises(ModuleNotTestable, match="no module answers AT\\+PVSYNC"):
            run_conformance(pair.path, ConformanceOptions(link=quick))
    finally:
        pair.close()


def test_missing_port_is_refused_before_any_check() -> None:
    with pytest.raises(PortNotFound, match="no serial port at /dev/no-such-module"):
        run_conformance("/dev/no-such-module")


def test_plan_names_are_unique_and_requirements_come_first() -> None:
    assert check_plan(PLAN) == PLAN
    with pytest.raises(ValueError, match="declared twice"):
        check_plan([PLAN[0], PLAN[0]])
    with pytest.raises(ValueError, match="requires undeclared"):
        check_plan([PLAN[1]])


def test_a_firmware_lie_on_a_clean_link_fails_without_blaming_the_link(
    simulate: Simulate,
) -> None:
    report = _run(simulate("1=lying-write-status"))

    summary = format_summary(report)
    assert _failed(report) == ["pvwstat.resume"]
    assert report.damaged == []
    assert all(not result.noted for result in report.results), summary
    assert "clean link" not in summary


@pytest.mark.parametrize("noise", ["repeat-bytes:0.005"])
def test_link_damage_never_fails_a_check(simulate: Simulate, noise: str) -> None:
    report = _run(simulate(f"1={noise}"))

    assert report.failed == [], format_summary(report)
    assert report.port_failure is None
    # The noise must have reached the run, or the test proves nothing.
    assert report.damaged or any(result.noted for result in report.results)
