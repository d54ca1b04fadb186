"""Provisioning end to end: real ptys, the module simulator, a SoftHSM2 CA.

Each test seats simulated modules, runs the real workflow through the real
serial stack, and checks the result, the journal and the module itself.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from station_bench import Line

from device_io.chain import decode_chain
from device_io.pv import PvObject, SlotState
from device_io.session import open_session
from pki.devpki import DevPki
from station.assembly import open_station
from station.events import EventKind, SlotEvent
from station.journal import RunStatus
from station.line import run_slots
from station.state_lock import StationBusy
from station.steps import PROVISION_STEPS, Step
from station.workflow import ModuleResult, Slot

MakeLine = Callable[..., Line]


def _run_one(line: Line) -> ModuleResult:
    return line.station.provisioner.provision(line.slots[0])


def test_four_modules_provision_concurrently_and_pass(make_line: MakeLine) -> None:
    line = make_line(slots=4)

    results = run_slots(
        line.station.provisioner, line.slots, listener=line.events.append
    )

    assert [r.status for r in results] == [RunStatus.PASS] * 4
    assert len({r.cert_serial for r in results}) == 4
    assert {r.slot for r in results} == {"slot-1", "slot-2", "slot-3", "slot-4"}


def test_passed_module_is_locked_and_holds_the_issued_chain(
    make_line: MakeLine,
) -> None:
    line = make_line()

    result = _run_one(line)

    record = line.station.journal.run(result.run_id)
    with open_session(line.slots[0].port, slot="check") as session:
        identity = session.identify()
        stored = session.read_object(PvObject.CHAIN)
    assert identity.state is SlotState.LOCKED
    assert stored == record.chain_der
    leaf = decode_chain(stored)[0]
    assert f"{leaf.serial_number:x}" == result.cert_serial
    assert leaf.subject.get_attributes_for_oid(x509.NameOID.SERIAL_NUMBER)[0].value == (
        result.serial
    )


def test_journal_holds_intent_and_outcome_for_every_step(make_line: MakeLine) -> None:
    line = make_line()

    result = _run_one(line)

    steps = line.station.journal.steps(result.run_id)
    assert [(s.step, s.phase) for s in steps] == [
        (step.value, phase)
        for step in PROVISION_STEPS
        for phase in ("intent", "outcome")
    ]
    assert all(s.ok for s in steps if s.phase == "outcome")
    issue_intent = next(s for s in steps if (s.step, s.phase) == ("issue", "intent"))
    assert (
        issue_intent.spki_sha256 == line.station.journal.run(result.run_id).spki_sha256
    )


def test_events_report_each_step_then_pass(make_line: MakeLine) -> None:
    line = make_line()

    _run_one(line)

    kinds = [e.kind for e in line.events]
    steps = [e.step for e in line.events if e.kind is EventKind.STEP]
    assert kinds[0] is EventKind.STARTED
    assert kinds[-1] is EventKind.PASSED
    assert steps == list(PROVISION_STEPS)


def test_issued_leaf_verifies_with_openssl_against_the_root(
    make_line: MakeLine, dev_pki: DevPki, tmp_path: Path
) -> None:
    line = make_line()
    result = _run_one(line)
    chain = decode_chain(line.station.journal.run(result.run_id).chain_der or b"")
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(chain[0].public_bytes(Encoding.PEM))
    issuing = tmp_path / "issuing.pem"
    issuing.write_bytes(chain[1].public_bytes(Encoding.PEM))

    verify = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(dev_pki.root_certificate),
            "-untrusted",
            str(issuing),
            str(leaf),
        ],
        capture_output=True,
        text=True,
        check=False,
    )

    assert verify.returncode == 0, verify.stderr
    assert verify.stdout.strip().endswith(": OK")


@pytest.mark.parametrize(
    ("misbehaviour", "reason"),
    [
        ("bad-csr-signature", "CSR signature does not verify"),
        ("csr-wrong-serial", "does not match the module serial AMB82D001001"),
        ("rsa-key", "CSR key is RSA, expected EC P-256"),
        ("p384-key", "CSR key is on curve secp384r1, expected P-256"),
    ],
)
def test_bad_csr_fails_at_csr_check_and_nothing_is_issued(
    make_line: MakeLine, misbehaviour: str, reason: str
) -> None:
    line = make_line(misbehave=(f"1={misbehaviour}",))

    result = _run_one(line)

    assert result.status is RunStatus.FAIL
    assert result.failure_step is Step.CSR_CHECK
    assert reason in result.reason
    record = line.station.journal.run(result.run_id)
    assert (record.status, record.failure_step) == (RunStatus.FAIL, "csr-check")
    assert record.cert_der is None
    steps = [s.step for s in line.station.journal.steps(result.run_id)]
    assert "issue" not in steps


def test_failure_names_slot_module_and_step(make_line: MakeLine) -> None:
    line = make_line(misbehave=("1=rsa-key",))

    _run_one(line)

    failed = [e for e in line.events if e.kind is EventKind.FAILED]
    assert len(failed) == 1
    assert (failed[0].slot, failed[0].serial, failed[0].step) == (
        "slot-1",
        "AMB82D001001",
        Step.CSR_CHECK,
    )


def test_bad_challenge_signature_fails_proof_of_possession_unlocked(
    make_line: MakeLine,
) -> None:
    line = make_line(misbehave=("1=bad-challenge-signature",))

    result = _run_one(line)

    assert result.failure_step is Step.CHALLENGE
    assert "challenge signature does not verify" in result.reason
    with open_session(line.slots[0].port, slot="check") as session:
        assert session.identify().state is SlotState.CERT


def test_module_retried_after_failed_challenge_gets_the_same_certificate(
    make_line: MakeLine,
) -> None:
    line = make_line(misbehave=("1=bad-challenge-signature",))
    first = _run_one(line)

    second = _run_one(line)

    assert second.failure_step is Step.CHALLENGE
    assert second.cert_serial == first.cert_serial


def test_missing_port_fails_at_connect_with_a_clear_reason(
    make_line: MakeLine, tmp_path: Path
) -> None:
    line = make_line()
    missing = str(tmp_path / "no-such-port")

    result = line.station.provisioner.provision(Slot("slot-9", missing))

    assert result.failure_step is Step.CONNECT
    assert result.reason == f"no serial port at {missing}"


def test_busy_port_fails_at_connect_with_a_clear_reason(make_line: MakeLine) -> None:
    line = make_line()

    with open_session(line.slots[0].port, slot="holder"):
        result = _run_one(line)

    assert result.failure_step is Step.CONNECT
    assert "busy" in result.reason


def test_module_provisioned_before_is_reverified_with_its_recorded_chain(
    make_line: MakeLine,
) -> None:
    line = make_line()
    first = _run_one(line)

    again = _run_one(line)

    assert again.passed, again.reason
    assert again.cert_serial == first.cert_serial
    steps = line.station.journal.steps(again.run_id)
    done = [s.step for s in steps if s.phase == "outcome"]
    assert done == [
        "connect",
        "identify",
        "plan-check",
        "chain-check",
        "readback",
        "challenge",
        "lock",
    ]
    assert steps[-1].detail == f"locked by run {first.run_id}"


def test_locked_module_without_a_record_here_is_refused_at_identify(
    make_line: MakeLine,
) -> None:
    line = make_line()
    _run_one(line)
    line.station.journal._db.execute("UPDATE runs SET chain_der = NULL")

    again = _run_one(line)

    assert again.failure_step is Step.IDENTIFY
    assert again.reason == (
        "module is already locked and this station has no record of its "
        "certificate; re-verify it in QA mode"
    )


def test_run_cut_short_is_closed_as_interrupted_and_finished_by_the_next(
    make_line: MakeLine,
) -> None:
    line = make_line()

    def power_cut_at_write(event: SlotEvent) -> None:
        if event.kind is EventKind.STEP and event.step is Step.WRITE:
            raise SystemExit("power cut")

    with pytest.raises(SystemExit):
        line.station.provisioner.provision(line.slots[0], listener=power_cut_at_write)
    (cut,) = line.station.journal.unfinished()
    # The station that comes back after a power cut is a new process.
    line.station.journal.epoch = "after-restart"
    resumed = _run_one(line)

    closed = line.station.journal.run(cut.id)
    assert resumed.passed, resumed.reason
    assert resumed.cert_serial == closed.cert_serial
    assert (closed.status, closed.failure_step, closed.failure_reason) == (
        RunStatus.INTERRUPTED,
        "chain-check",
        f"station stopped after chain-check; resumed in run {resumed.run_id}",
    )


def test_live_run_in_another_slot_is_not_taken_for_an_interrupted_one(
    make_line: MakeLine,
) -> None:
    line = make_line(slots=2, misbehave=("2=clone-of:1",))
    journal = line.station.journal
    results = run_slots(
        line.station.provisioner, line.slots, listener=line.events.append
    )

    # Two modules with one serial in work at once: at least one is stopped
    # as a clone (both, when their checks overlap), none is interrupted.
    statuses = [r.status for r in results]
    assert statuses.count(RunStatus.FAIL) >= 1
    assert set(statuses) <= {RunStatus.FAIL, RunStatus.PASS}
    assert [r.status for r in journal.runs()].count(RunStatus.INTERRUPTED) == 0


def test_a_second_station_process_on_the_same_state_is_refused(
    make_line: MakeLine,
) -> None:
    line = make_line()

    with pytest.raises(StationBusy, match="another station process"):
        open_station(line.station.config, operator="B2", lot="LOT-2026-0042")


def test_no_pin_reaches_the_log_even_at_debug(
    make_line: MakeLine, dev_pki: DevPki, caplog: pytest.LogCaptureFixture
) -> None:
    assert dev_pki.issuing.pin_file is not None
    pin = dev_pki.issuing.pin_file.read_text().strip()
    caplog.set_level(logging.DEBUG)
    line = make_line()

    result = _run_one(line)

    assert result.passed
    assert "AT+PVREAD" in caplog.text
    assert pin not in caplog.text
