"""Verifying the audit log: each kind of damage found, with its entry and line."""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path

import pytest

from station.audit import AuditError, AuditLog, anchor_path
from station.audit_entry import GENESIS, AuditAnchor, AuditEntry, parse_entry
from station.audit_verify import (
    AuditProblem,
    AuditReport,
    ProblemKind,
    format_report,
    verify,
)

T0 = datetime.datetime(2026, 12, 1, 8, 0, tzinfo=datetime.UTC)
ENTRIES = 6


class _Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime.datetime:
        self.now += datetime.timedelta(seconds=1)
        return self.now


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    """A log of six ``revoked`` entries, cert serials 01 to 06."""
    path = tmp_path / "audit.log"
    with AuditLog(path, clock=_Clock()) as log:
        for n in range(1, ENTRIES + 1):
            log.append("revoked", cert_serial=f"{n:02}", reason="superseded")
    return path


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _write(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def _found(report: AuditReport) -> list[tuple[ProblemKind, int | None, int | None]]:
    return [(p.kind, p.entry, p.line) for p in report.problems]


def _rehashed(line: bytes, **changes: object) -> bytes:
    """The entry on ``line`` with ``changes`` made and its hash recomputed."""
    data = json.loads(line)
    data.update(changes)
    body = {key: value for key, value in data.items() if key != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    data["hash"] = hashlib.sha256(canonical.encode()).hexdigest()
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def test_an_intact_log_is_ok_with_its_count_and_head(log_path: Path) -> None:
    last = json.loads(_lines(log_path)[-1])

    report = verify(log_path)

    assert report.ok
    assert (report.entries, report.head) == (ENTRIES, AuditAnchor(6, last["hash"]))
    assert list(format_report(report)) == [
        f"audit log OK: 6 entries, head {last['hash']}"
    ]


def test_an_empty_log_is_ok_with_the_genesis_head(tmp_path: Path) -> None:
    AuditLog(tmp_path / "audit.log").close()

    report = verify(tmp_path / "audit.log")

    assert (report.ok, report.entries, report.head.hash) == (True, 0, GENESIS)


def test_a_missing_log_cannot_be_verified(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match=r"cannot read audit log .*nope\.log"):
        verify(tmp_path / "nope.log")


@pytest.mark.parametrize("index", range(ENTRIES))
def test_an_edited_entry_is_reported_alone_at_its_entry_and_line(
    log_path: Path, index: int
) -> None:
    lines = _lines(log_path)
    lines[index] = lines[index].replace(b"superseded", b"keyCompromise")
    _write(log_path, lines)

    report = verify(log_path)

    assert _found(report) == [(ProblemKind.EDITED, index + 1, index + 1)]
    assert report.problems[0].detail == "its content does not match its hash"


def test_an_entry_edited_with_its_hash_recomputed_is_reported_as_rewritten(
    log_path: Path,
) -> None:
    lines = _lines(log_path)
    lines[2] = _rehashed(lines[2], event="campaign")
    _write(log_path, lines)

    report = verify(log_path)

    assert _found(report) == [(ProblemKind.REWRITTEN, 3, 3)]
    assert "entry 4 (line 4) chains to another hash" in report.problems[0].detail


def test_the_last_entry_rewritten_with_its_hash_is_caught_by_the_anchor(
    log_path: Path,
) -> None:
    lines = _lines(log_path)
    lines[-1] = _rehashed(lines[-1], fields={"cert_serial": "ff", "reason": None})
    _write(log_path, lines)

    report = verify(log_path)

    assert _found(report) == [(ProblemKind.ANCHOR_MISMATCH, 6, 6)]
    assert report.problems[0].detail.startswith("the anchor file audit.anchor names")


def test_an_entry_reformatted_without_a_change_of_content_is_reported(
    log_path: Path,
) -> None:
    lines = _lines(log_path)
    data = json.loads(lines[1])
    lines[1] = json.dumps(data, sort_keys=True).encode() + b"\n"
    _write(log_path, lines)

    report = verify(log_path)

    assert _found(report) == [(ProblemKind.EDITED, 2, 2)]
    assert "not in the canonical form" in report.problems[0].detail


@pytest.mark.parametrize("index", range(ENTRIES - 1))
def test_a_removed_entry_is_reported_with_the_lines_around_the_gap(
    log_path: Path, index: int
) -> None:
    lines = _lines(log_path)
    del lines[index]
    _write(log_path, lines)

    report = verify(log_path)

    assert _found(report) == [(ProblemKind.REMOVED, index + 1, index + 1)]
    where = f"between line {index} and line {index + 1}" if index else "before line 1"
    assert report.problems[0].detail == f"entry {index + 1} missing {where}"


def test_several_removed_entries_are_reported_as_one_range(log_path: Path) -> None:
    lines = _lines(log_path)
    _write(log_path, lines[:1] + lines[4:])

    report = verify(log_path)

    assert _found(report) == [(ProblemKind.REMOVED, 2, 2)]
    assert report.problems[0].detail == (
        "entries 2 to 4 missing between line 1 and line 2"
    )


def test_a_removed_last_entry_is_reported_as_cut_from_the_end(
    log_path: Path,
) -> None:
    _write(log_path, _lines(log_path)[:-1])

    report = verify(log_path)

    assert _found(report) == [(ProblemKind.CUT, 6, 6)]
    assert report.problems[0].detail == (
        "entry 6 missing: the anchor file audit.anchor names entry 6, "
        "the log ends at entry 5"
    )


def test_a_cut_log_with_its_anchor_file_cut_too_is_caught_by_an_anchor_kept_elsewhere(
    log_path: Path,
) -> None:
    lines = _lines(log_path)
    journal_anchor = _entry(lines[-1]).anchor
    _write(log_path, lines[:3])
    anchor_path(log_path).write_text(f"{_entry(lines[2]).anchor}\n")

    alone = verify(log_path)
    anchored = verify(log_path, anchors=[journal_anchor])

    assert alone.ok
    assert _found(anchored) == [(ProblemKind.CUT, 4, 4)]
    assert "entries 4 to 6 missing: the anchor given names entry 6" in str(
        anchored.problems[0]
    )


def _entry(line: bytes) -> AuditEntry:
    return parse_entry(line.rstrip(b"\n"))


@pytest.mark.parametrize("index", range(ENTRIES - 1))
def test_two_swapped_entries_are_reported_once_as_out_of_order(
    log_path: Path, index: int
) -> None:
    lines = _lines(log_path)
    lines[index], lines[index + 1] = lines[index + 1], lines[index]
    _write(log_path, lines)

    report = verify(log_path)

    assert _found(report) == [(ProblemKind.REORDERED, index + 1, index + 2)]
    assert report.problems[0].detail == (
        f"written after entry {index + 2} (line {index + 1})"
    )


def test_an_entry_moved_to_the_end_is_reported_once(log_path: Path) -> None:
    lines = _lines(log_path)
    lines.append(lines.pop(1))
    _write(log_path, lines)

    report = verify(log_path)

    assert _found(report) == [(ProblemKind.REORDERED, 2, 6)]


def test_a_repeated_entry_is_reported_as_a_duplicate(log_path: Path) -> None:
    lines = _lines(log_path)
    lines.insert(3, lines[2])
    _write(log_path, lines)

    report = verify(log_path)

    assert _found(report) == [(ProblemKind.DUPLICATED, 3, 4)]


@pytest.mark.parametrize(
    ("garbage", "reason"),
    [
        (b"\n", "not JSON"),
        (b"\x00\x00\x00\x00\n", "not JSON"),
        (b'{"seq": 4}\n', "not an object with exactly the keys"),
        (b"[1, 2, 3]\n", "not an object"),
    ],
)
def test_a_garbled_line_is_reported_as_the_entry_expected_there(
    log_path: Path, garbage: bytes, reason: str
) -> None:
    lines = _lines(log_path)
    lines[3] = garbage
    _write(log_path, lines)

    report = verify(log_path)

    assert _found(report) == [(ProblemKind.GARBLED, 4, 4)]
    assert report.problems[0].detail.startswith(f"not an entry: {reason}")


def test_an_entry_with_a_malformed_field_is_garbled(log_path: Path) -> None:
    lines = _lines(log_path)
    lines[0] = _rehashed(lines[0], seq=0)
    _write(log_path, lines)

    report = verify(log_path)

    assert _found(report) == [(ProblemKind.GARBLED, 1, 1)]
    assert "seq 0 is not a positive integer" in report.problems[0].detail


def test_a_torn_final_line_from_a_crash_is_told_apart_from_tampering(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.log"
    with AuditLog(path, clock=_Clock()) as log:
        log.append("revoked", cert_serial="01", reason=None)
        whole = log.append("revoked", cert_serial="02", reason=None).to_line()
    # What a power cut mid-write leaves: the first bytes of the next entry,
    # with the anchor still naming the last acknowledged one.
    _write(path, [*_lines(path)[:1], whole[:40]])
    anchor_path(path).write_text(f"{_entry(_lines(path)[0]).anchor}\n")

    report = verify(path)

    assert _found(report) == [(ProblemKind.TORN, 2, 2)]
    assert report.torn
    assert str(report.problems[0]).startswith(
        "line 2, entry 2: torn final line: 40 bytes with no line end"
    )


def test_a_log_cut_in_the_middle_of_an_entry_is_torn_and_cut(log_path: Path) -> None:
    content = log_path.read_bytes()
    log_path.write_bytes(content[:-25])

    report = verify(log_path)

    assert _found(report) == [(ProblemKind.TORN, 6, 6), (ProblemKind.CUT, 6, 7)]
    assert report.problems[0].detail == (
        "no line end, yet the anchors name entry 6: this entry was written in "
        "full and cut afterwards, not by a power cut; 'station audit repair' "
        "refuses it"
    )


def test_a_missing_anchor_file_is_reported(log_path: Path) -> None:
    anchor_path(log_path).unlink()

    report = verify(log_path)

    assert _found(report) == [(ProblemKind.ANCHOR_MISSING, None, None)]


def test_an_anchor_naming_another_log_is_reported(log_path: Path) -> None:
    report = verify(log_path, anchors=[AuditAnchor(3, "ab" * 32)])

    assert _found(report) == [(ProblemKind.ANCHOR_MISMATCH, 3, 3)]


def test_the_first_entry_must_start_from_the_genesis_value(log_path: Path) -> None:
    lines = _lines(log_path)
    lines[0] = _rehashed(lines[0], prev="ab" * 32)
    _write(log_path, lines)

    report = verify(log_path)

    # Entry 2 still names the old entry 1, which says so a second time.
    assert _found(report) == [(ProblemKind.REWRITTEN, 1, 1)] * 2
    assert "not the genesis value" in report.problems[0].detail
    assert "entry 2 (line 2) chains to another hash" in report.problems[1].detail


def test_problems_print_with_line_and_entry() -> None:
    problem = AuditProblem(ProblemKind.REMOVED, 3, 3, "entry 3 missing")

    assert str(problem) == "line 3, entry 3: removed: entry 3 missing"


def _heads(path: Path) -> list[AuditAnchor]:
    return [_entry(line).anchor for line in _lines(path)]


def test_a_log_rewritten_from_an_entry_on_is_reported_at_that_entry(
    log_path: Path,
) -> None:
    kept = _heads(log_path)
    lines = _lines(log_path)
    # Edit entry 2, then recompute every hash after it and the anchor file:
    # the log is consistent with itself, only the journal's heads remember.
    lines[1] = _rehashed(lines[1], fields={"cert_serial": "99", "reason": None})
    for n in range(2, ENTRIES):
        lines[n] = _rehashed(lines[n], prev=_entry(lines[n - 1]).hash)
    _write(log_path, lines)
    anchor_path(log_path).write_text(f"{_entry(lines[-1]).anchor}\n")

    alone = verify(log_path)
    with_journal = verify(log_path, kept=kept)

    assert alone.ok
    assert _found(with_journal) == [(ProblemKind.ANCHOR_MISMATCH, 2, 2)]
    assert str(with_journal.problems[0]) == (
        f"line 2, entry 2: does not match its anchor: the journal names hash "
        f"{kept[1].hash} for it: this entry and those after it were rewritten"
    )


def test_a_cut_seen_by_the_anchor_file_and_the_journal_is_reported_once(
    log_path: Path,
) -> None:
    kept = _heads(log_path)
    _write(log_path, _lines(log_path)[:4])

    report = verify(log_path, kept=kept)

    assert _found(report) == [(ProblemKind.CUT, 5, 5)]
    assert report.problems[0].detail == (
        "entries 5 to 6 missing: the anchor file audit.anchor names entry 6 and "
        "the journal names entry 6, the log ends at entry 4"
    )
