"""The station journal: durable intent and outcome rows per step."""

from __future__ import annotations

import datetime
import sqlite3
from pathlib import Path

import pytest

from station.errors import JournalError
from station.journal import Journal, QaFlagKind, RunStatus

T0 = datetime.datetime(2026, 12, 1, 8, 0, tzinfo=datetime.UTC)


class _Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime.datetime:
        self.now += datetime.timedelta(seconds=1)
        return self.now


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal.sqlite", station="ST-1", clock=_Clock())


def test_journal_runs_in_wal_mode_with_full_sync(journal: Journal) -> None:
    db = sqlite3.connect(journal.path)

    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert journal._db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_run_records_identity_steps_and_outcome(journal: Journal) -> None:
    run = journal.start_run(slot="slot-1", port="/dev/ttyUSB0", operator="B042")
    journal.record_identity(
        run,
        serial="SN1",
        mac="00:e0:4c:87:00:01",
        model="AMB82",
        lot="L1",
        firmware="1.0",
    )
    journal.intent(run, "issue", spki_sha256="ab" * 32)
    journal.outcome(run, "issue", ok=True, detail="certificate 1f")
    journal.finish(run, RunStatus.PASS)

    record = journal.run(run)
    steps = journal.steps(run)

    assert (record.serial, record.status, record.station) == ("SN1", "PASS", "ST-1")
    assert [(s.step, s.phase, s.ok) for s in steps] == [
        ("issue", "intent", None),
        ("issue", "outcome", True),
    ]
    assert steps[0].spki_sha256 == "ab" * 32


def test_unfinished_runs_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    with Journal(path, station="ST-1") as first:
        run = first.start_run(slot="slot-1", port="p", operator="B1")
        first.record_identity(
            run, serial="SN1", mac="m", model="M", lot="L", firmware="F"
        )
        first.intent(run, "write")

    with Journal(path, station="ST-1") as second:
        unfinished = second.unfinished(serial="SN1")
        last_step = second.steps(run)[-1]

    assert [r.id for r in unfinished] == [run]
    assert (last_step.step, last_step.phase) == ("write", "intent")


def test_last_time_is_the_latest_row(journal: Journal) -> None:
    assert journal.last_time() is None

    run = journal.start_run(slot="s", port="p", operator="o")
    journal.intent(run, "connect")

    assert journal.last_time() == T0 + datetime.timedelta(seconds=2)


def test_missing_run_is_a_journal_error(journal: Journal) -> None:
    with pytest.raises(JournalError, match="no run 99"):
        journal.run(99)


def test_unopenable_journal_names_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")

    with pytest.raises(JournalError, match="cannot open journal"):
        Journal(blocker / "journal.sqlite", station="ST-1")


def test_find_matches_serial_or_mac_in_any_spelling(journal: Journal) -> None:
    run = journal.start_run(slot="s", port="p", operator="o")
    journal.record_identity(
        run, serial="SN1", mac="00:e0:4c:87:00:01", model="M", lot="L", firmware="F"
    )

    by_serial = journal.find("SN1")
    by_mac = journal.find("00-E0-4C-87-00-01")
    by_bare_mac = journal.find("00e04c870001")

    assert [r.id for r in by_serial] == [r.id for r in by_mac] == [run]
    assert [r.id for r in by_bare_mac] == [run]
    assert journal.find("SN2") == []


def test_a_journal_from_before_flag_kinds_gains_them_and_keeps_its_flags(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite"
    with Journal(path, station="s1") as journal:
        run_id = journal.start_run(slot="slot-1", port="/dev/null", operator="B1")
    old = sqlite3.connect(path)
    # The table as the first release made it.
    old.executescript(
        "DROP TABLE qa_flags; CREATE TABLE qa_flags (id INTEGER PRIMARY KEY,"
        " run_id INTEGER NOT NULL REFERENCES runs (id), serial TEXT NOT NULL,"
        " mac TEXT NOT NULL, reason TEXT NOT NULL, flagged_at TEXT NOT NULL);"
    )
    for reason in (
        "clone suspected: old",
        "certificate 01 was issued for this module's key but the module failed",
    ):
        old.execute(
            "INSERT INTO qa_flags (run_id, serial, mac, reason, flagged_at)"
            " VALUES (?, 'S1', '00:e0:4c:87:00:01', ?, '2026-12-01T08:00:00+00:00')",
            (run_id, reason),
        )
    old.commit()
    old.close()

    with Journal(path, station="s1") as journal:
        kinds = [flag.kind for flag in journal.qa_flags()]
        (flag,) = journal.open_clone_flags(serial="S1", mac="-")
        cleared = journal.clear_qa_flags(serial="S1", by="S0001", note="checked")

    assert kinds == [QaFlagKind.CLONE, QaFlagKind.UNDELIVERED]
    assert (flag.reason, flag.open) == ("clone suspected: old", True)
    assert [(c.cleared_by, c.open) for c in cleared] == [("S0001", False)] * 2
