"""The audit log: chained entries, durable appends, one chain under contention."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.audit import AuditError, AuditLog, read_anchor
from station.audit_entry import EMPTY_ANCHOR, GENESIS, AuditAnchor, AuditEvent
from station.audit_verify import verify
from station.journal import Journal, RunStatus

T0 = datetime.datetime(2026, 12, 1, 8, 0, tzinfo=datetime.UTC)
CERT_DER = b"0\x82 stands in for a DER certificate"


class _Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime.datetime:
        self.now += datetime.timedelta(seconds=1)
        return self.now


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "audit.log"


@pytest.fixture
def log(log_path: Path) -> Iterator[AuditLog]:
    with AuditLog(log_path, clock=_Clock()) as opened:
        yield opened


def _lot_imported(log: AuditLog, lot: str = "LOT-1") -> None:
    log.append(
        AuditEvent.LOT_IMPORTED,
        station="ST-1",
        operator="B042",
        lot=lot,
        plan_sha256="ab" * 32,
        modules=64,
        outcome="imported",
    )


def test_entries_are_canonical_lines_each_chained_to_the_one_before(
    log: AuditLog, log_path: Path
) -> None:
    entries = [
        log.append("revoked", cert_serial="01", reason="keyCompromise"),
        log.append("revoked", cert_serial="02", reason=None),
    ]

    lines = log_path.read_bytes().splitlines()
    first, second = (json.loads(line) for line in lines)

    assert [e.seq for e in entries] == [1, 2]
    assert first["prev"] == GENESIS
    assert second["prev"] == first["hash"] == entries[0].hash
    assert first["time"] == "2026-12-01T08:00:01.000000Z"
    body = {key: value for key, value in first.items() if key != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    assert first["hash"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert lines[0] == json.dumps(first, sort_keys=True, separators=(",", ":")).encode()


def test_an_entry_is_fsynced_and_readable_when_append_returns(
    log: AuditLog, log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[tuple[int, int]] = []
    real_fsync = os.fsync

    def recording_fsync(descriptor: int) -> None:
        status = os.fstat(descriptor)
        synced.append((status.st_ino, status.st_size))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", recording_fsync)

    entry = log.append("revoked", cert_serial="01", reason="superseded")

    content = log_path.read_bytes()
    assert content == entry.to_line()
    assert (log_path.stat().st_ino, len(content)) in synced
    assert read_anchor(log.anchor_path) == entry.anchor


def test_a_new_log_starts_with_an_anchor_naming_no_entry(log: AuditLog) -> None:
    assert read_anchor(log.anchor_path) == EMPTY_ANCHOR
    assert log.head() == AuditAnchor(0, GENESIS)


def test_many_threads_appending_leave_one_unbroken_chain(
    log: AuditLog, log_path: Path
) -> None:
    def append_many(worker: int) -> None:
        for n in range(15):
            log.append("revoked", cert_serial=f"{worker:02x}{n:02x}", reason=None)

    threads = [threading.Thread(target=append_many, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    report = verify(log_path)
    assert report.problems == ()
    assert report.entries == 120
    assert log.head() == report.head
    serials = [json.loads(line)["fields"]["cert_serial"] for line in log_path.open()]
    assert len(set(serials)) == 120


_WRITER = """
import sys
from pathlib import Path
from station.audit import AuditLog
with AuditLog(Path(sys.argv[1])) as log:
    for n in range(30):
        log.append("revoked", cert_serial=sys.argv[2] + str(n), reason=None)
"""


def test_two_processes_appending_to_one_log_keep_one_chain(log_path: Path) -> None:
    AuditLog(log_path).close()

    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(log_path), name])
        for name in ("a", "b")
    ]

    assert [writer.wait(timeout=60) for writer in writers] == [0, 0]
    report = verify(log_path)
    assert report.problems == ()
    assert report.entries == 60


def test_two_logs_open_on_one_file_each_see_the_others_entries(
    log: AuditLog, log_path: Path
) -> None:
    with AuditLog(log_path) as other:
        log.append("revoked", cert_serial="01", reason=None)
        other.append("revoked", cert_serial="02", reason=None)
        last = log.append("revoked", cert_serial="03", reason=None)

    assert last.seq == 3
    assert verify(log_path).problems == ()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"pin": "1234"}, "field pin may hold a secret"),
        ({"so_pin_file": "/x"}, "field so_pin_file may hold a secret"),
        ({"private_key": "x"}, "field private_key may hold a secret"),
        ({"key_label": "issuing"}, "field key_label may hold a secret"),
        (
            {"note": "-----BEGIN EC PRIVATE KEY-----\nMHc"},
            "field note holds PEM data",
        ),
        ({"cert_der": b"\x30\x82"}, "field cert_der holds a bytes"),
        ({"ratio": 0.5}, "field ratio holds a float"),
        ({"Bad-Name": "x"}, "field name 'Bad-Name' does not match"),
        ({"note": "x" * 1025}, "field note is longer than 1024 characters"),
    ],
)
def test_a_field_that_could_carry_a_secret_or_is_malformed_is_refused(
    log: AuditLog, log_path: Path, fields: dict[str, object], message: str
) -> None:
    with pytest.raises(AuditError, match=message):
        log.append("revoked", **fields)  # type: ignore[arg-type]

    assert log_path.read_bytes() == b""


def test_a_known_event_without_its_required_fields_is_refused(log: AuditLog) -> None:
    with pytest.raises(
        AuditError, match="issued entries need cert_serial, cert_sha256, firmware, lot"
    ):
        log.append(AuditEvent.ISSUED, station="ST-1", slot="slot-1", operator="B1")


def test_an_event_name_outside_the_rule_is_refused(log: AuditLog) -> None:
    with pytest.raises(AuditError, match="event 'Issued!' does not match"):
        log.append("Issued!")


def _issued_run(tmp_path: Path) -> Journal:
    journal = Journal(tmp_path / "journal.sqlite", station="ST-1", clock=_Clock())
    run = journal.start_run(slot="slot-2", port="/dev/ttyUSB1", operator="B042")
    journal.record_identity(
        run,
        serial="AMB82D001002",
        mac="00:e0:4c:87:00:02",
        model="AMB82",
        lot="LOT-2026-0042",
        firmware="1.4.2",
    )
    journal.record_key(run, "cd" * 32)
    journal.record_certificate(
        run, cert_serial="7d20", cert_der=CERT_DER, chain_der=CERT_DER
    )
    return journal


def test_issued_ties_the_certificate_to_the_manufacturing_record(
    log: AuditLog, tmp_path: Path
) -> None:
    with _issued_run(tmp_path) as journal:
        run = journal.runs()[0]

        entry = log.issued(run)

    assert entry.event == "issued"
    assert dict(entry.fields) == {
        "run_id": run.id,
        "station": "ST-1",
        "slot": "slot-2",
        "operator": "B042",
        "serial": "AMB82D001002",
        "mac": "00:e0:4c:87:00:02",
        "model": "AMB82",
        "lot": "LOT-2026-0042",
        "firmware": "1.4.2",
        "cert_serial": "7d20",
        "cert_sha256": hashlib.sha256(CERT_DER).hexdigest(),
        "spki_sha256": "cd" * 32,
    }


def test_provisioned_records_the_verdict_of_the_run(
    log: AuditLog, tmp_path: Path
) -> None:
    with _issued_run(tmp_path) as journal:
        run_id = journal.runs()[0].id
        journal.finish(run_id, RunStatus.PASS)

        entry = log.provisioned(journal.run(run_id))

    assert (entry.event, entry.fields["result"], entry.fields["run_id"]) == (
        "provisioned",
        "PASS",
        run_id,
    )


def test_issued_refuses_a_run_without_a_certificate(
    log: AuditLog, tmp_path: Path
) -> None:
    with Journal(tmp_path / "j.sqlite", station="ST-1") as journal:
        run = journal.run(journal.start_run(slot="s", port="p", operator="B1"))

    with pytest.raises(AuditError, match=f"run {run.id} has no serial to audit"):
        log.issued(run)


def test_append_after_a_torn_final_line_is_refused(
    log: AuditLog, log_path: Path
) -> None:
    _lot_imported(log)
    with log_path.open("ab") as raw:
        raw.write(b'{"event":"lot-imp')

    with AuditLog(log_path) as reopened, pytest.raises(AuditError) as refused:
        _lot_imported(reopened)

    assert "ends in a torn final line (17 bytes, no line end)" in str(refused.value)
    assert "station audit repair" in str(refused.value)


def test_repair_sets_the_torn_bytes_aside_and_records_it(
    log: AuditLog, log_path: Path
) -> None:
    _lot_imported(log)
    torn = b'{"event":"lot-imp'
    with log_path.open("ab") as raw:
        raw.write(torn)
    size_before = log_path.stat().st_size - len(torn)

    entry = log.repair(station="ST-1", operator="S7")
    _lot_imported(log, "LOT-2")

    saved = log_path.with_name(f"audit.log.torn-{size_before}")
    assert saved.read_bytes() == torn
    assert entry.seq == 2
    assert dict(entry.fields) == {
        "station": "ST-1",
        "operator": "S7",
        "removed_bytes": len(torn),
        "removed_sha256": hashlib.sha256(torn).hexdigest(),
        "saved_as": saved.name,
    }
    report = verify(log_path)
    assert (report.problems, report.entries) == ((), 3)


def test_repair_refuses_a_cut_the_anchor_shows_was_a_whole_entry(
    log: AuditLog, log_path: Path
) -> None:
    _lot_imported(log)
    _lot_imported(log, "LOT-2")
    content = log_path.read_bytes()
    log_path.write_bytes(content[:-30])

    with pytest.raises(AuditError, match="does not reach or match its anchor 2:"):
        log.repair(station="ST-1", operator="S7")

    assert log_path.read_bytes() == content[:-30]


def test_repair_of_a_log_without_a_torn_line_changes_nothing(
    log: AuditLog, log_path: Path
) -> None:
    _lot_imported(log)
    content = log_path.read_bytes()

    with pytest.raises(AuditError, match="has no torn final line"):
        log.repair(station="ST-1", operator="S7")

    assert log_path.read_bytes() == content


def test_append_refuses_a_log_whose_last_entries_were_cut(
    log: AuditLog, log_path: Path
) -> None:
    for lot in ("LOT-1", "LOT-2", "LOT-3"):
        _lot_imported(log, lot)
    lines = log_path.read_bytes().splitlines(keepends=True)
    log_path.write_bytes(b"".join(lines[:1]))

    with AuditLog(log_path) as reopened, pytest.raises(AuditError) as refused:
        _lot_imported(reopened)

    assert "ends at entry 1, which does not reach or match its anchor 3:" in str(
        refused.value
    )


def test_append_refuses_a_log_whose_anchor_file_was_removed(
    log: AuditLog, log_path: Path
) -> None:
    _lot_imported(log)
    log.anchor_path.unlink()

    with AuditLog(log_path) as reopened, pytest.raises(AuditError, match="missing"):
        _lot_imported(reopened)


def test_a_missing_log_whose_anchor_names_entries_is_not_recreated(
    log: AuditLog, log_path: Path
) -> None:
    _lot_imported(log)
    log.close()
    log_path.unlink()

    with pytest.raises(AuditError, match="is missing, but its anchor"):
        AuditLog(log_path)

    assert not log_path.exists()


def test_a_log_replaced_while_open_is_refused(log: AuditLog, log_path: Path) -> None:
    _lot_imported(log)
    log_path.rename(log_path.with_name("moved.log"))
    log_path.write_bytes(b"")

    with pytest.raises(AuditError, match="was moved or replaced"):
        _lot_imported(log)


def test_an_anchor_one_entry_behind_after_a_crash_is_accepted(
    log: AuditLog, log_path: Path
) -> None:
    first = log.append("revoked", cert_serial="01", reason=None)
    log.append("revoked", cert_serial="02", reason=None)
    # A power cut after the entry was fsync'd, before its anchor replaced the
    # previous one.
    log.anchor_path.write_text(f"{first.anchor}\n")

    with AuditLog(log_path) as reopened:
        third = reopened.append("revoked", cert_serial="03", reason=None)

    assert third.seq == 3
    assert verify(log_path).problems == ()
