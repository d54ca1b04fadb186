"""Checking an audit log: every entry intact, chained, in order, none missing.

:func:`verify` reads the log once and reports each problem with the entry
number and the line it concerns:

- an *edited* entry: its content does not match its hash, or it is not in the
  canonical form the station writes;
- a *removed* entry: a gap in the sequence numbers;
- a *rewritten* entry: its hash is self-consistent but the next entry chains
  to another one (an edit whose hash was recomputed);
- *reordered* or *duplicated* entries;
- a *garbled* line: not an entry at all;
- a *torn final line*: bytes with no line end, left by a power cut during a
  write; not tampering, and ``station audit repair`` sets them aside;
- entries *cut from the end*, or the last entries rewritten: caught against
  an anchor, the log's own ``audit.anchor`` and any anchor kept elsewhere.

An entry that fails its hash check is not trusted for its sequence number:
its line stands for the entry it claims to be (or, when that one is present,
the next one expected), so one edit gives one report.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from station.audit import AuditError, anchor_path, read_anchor
from station.audit_entry import (
    EMPTY_ANCHOR,
    GENESIS,
    AuditAnchor,
    AuditEntry,
    parse_entry,
)


class ProblemKind(StrEnum):
    """What is wrong with an entry or a line."""

    EDITED = "edited"
    REWRITTEN = "rewritten"
    REMOVED = "removed"
    REORDERED = "out of order"
    DUPLICATED = "duplicated"
    GARBLED = "garbled line"
    TORN = "torn final line"
    CUT = "cut from the end"
    ANCHOR_MISMATCH = "does not match its anchor"
    ANCHOR_MISSING = "anchor missing"


@dataclass(frozen=True)
class AuditProblem:
    """One problem found in a log.

    Attributes:
        kind: What is wrong.
        entry: The entry's sequence number (for a garbled or torn line, the
            entry expected there), or None when no entry is concerned.
        line: The line number in the log, from 1, or None.
        detail: Why, in words.
    """

    kind: ProblemKind
    entry: int | None
    line: int | None
    detail: str

    def __str__(self) -> str:
        where = [
            f"{name} {value}"
            for name, value in (("line", self.line), ("entry", self.entry))
            if value is not None
        ]
        place = ", ".join(where) or "log"
        return f"{place}: {self.kind}: {self.detail}"


@dataclass(frozen=True)
class AuditReport:
    """The result of verifying one log.

    Attributes:
        path: The log file.
        entries: How many lines are intact entries.
        head: The anchor of the entry with the highest sequence number.
        problems: Every problem found, in the order of the log.
    """

    path: Path
    entries: int
    head: AuditAnchor
    problems: tuple[AuditProblem, ...]

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    @property
    def torn(self) -> bool:
        """True when the log ends in a torn final line."""
        return any(problem.kind is ProblemKind.TORN for problem in self.problems)


@dataclass
class _Seen:
    line: int
    hash: str


@dataclass
class _Walk:
    """What one pass over the log has seen so far."""

    seen: dict[int, _Seen] = field(default_factory=dict)
    # Entries whose predecessor had not been seen yet: seq -> (prev, line).
    waiting: dict[int, tuple[str, int]] = field(default_factory=dict)
    # Bad lines standing for the entry expected there: seq -> line.
    stand_ins: dict[int, int] = field(default_factory=dict)
    problems: list[AuditProblem] = field(default_factory=list)
    # The highest sequence number seen or stood for so far.
    last_seq: int = 0
    top: AuditAnchor = EMPTY_ANCHOR
    top_line: int = 0
    lines: int = 0

    def report(
        self, kind: ProblemKind, entry: int | None, line: int | None, detail: str
    ) -> None:
        self.problems.append(AuditProblem(kind, entry, line, detail))


def verify(path: Path, *, anchors: Sequence[AuditAnchor] = ()) -> AuditReport:
    """Verify the audit log at ``path``.

    The log's anchor file is always checked; ``anchors`` adds anchors kept
    elsewhere (the journal's), which catch a log cut together with its file.

    Raises:
        AuditError: The log cannot be read at all.
    """
    walk = _Walk()
    try:
        with path.open("rb") as log:
            for number, raw in enumerate(log, start=1):
                walk.lines = number
                _check_line(walk, number, raw)
    except OSError as exc:
        raise AuditError(f"cannot read audit log {path}: {exc}") from exc

    _report_gaps(walk)
    _check_anchor_file(walk, path)
    for anchor in anchors:
        _check_anchor(walk, anchor, "the anchor given")

    problems = sorted(walk.problems, key=lambda p: (p.line or 0, p.entry or 0))
    return AuditReport(
        path=path,
        entries=len(walk.seen),
        head=walk.top,
        problems=tuple(problems),
    )


def _check_line(walk: _Walk, number: int, raw: bytes) -> None:
    expected = walk.last_seq + 1
    if not raw.endswith(b"\n"):
        walk.report(
            ProblemKind.TORN,
            expected,
            number,
            f"{len(raw)} bytes with no line end, left by a write cut short "
            "(power loss); not an acknowledged entry: "
            "'station audit repair' sets them aside",
        )
        return

    try:
        entry = parse_entry(raw[:-1])
    except ValueError as exc:
        _stand_in(walk, expected, number)
        walk.report(ProblemKind.GARBLED, expected, number, f"not an entry: {exc}")
        return

    edit = _edit(entry, raw)
    if edit:
        # The seq of an edited entry is likely intact; trust it if it is free.
        free = entry.seq not in walk.seen and entry.seq not in walk.stand_ins
        _stand_in(walk, entry.seq if free else expected, number)
        walk.report(ProblemKind.EDITED, entry.seq, number, edit)
        return

    _accept(walk, entry, number)


def _edit(entry: AuditEntry, raw: bytes) -> str:
    """Why ``raw`` is not the entry as the station wrote it, or ''."""
    if entry.content_hash() != entry.hash:
        return "its content does not match its hash"
    if entry.to_line() != raw:
        return "its text was changed (not in the canonical form)"
    return ""


def _stand_in(walk: _Walk, expected: int, number: int) -> None:
    """Let a bad line stand for the entry expected there, not a gap."""
    walk.stand_ins[expected] = number
    walk.last_seq = max(walk.last_seq, expected)


def _accept(walk: _Walk, entry: AuditEntry, number: int) -> None:
    first = walk.seen.get(entry.seq)
    if first is not None:
        walk.report(
            ProblemKind.DUPLICATED,
            entry.seq,
            number,
            f"entry {entry.seq} was already at line {first.line}",
        )
        return

    if entry.seq < walk.top.seq:
        walk.report(
            ProblemKind.REORDERED,
            entry.seq,
            number,
            f"written after entry {walk.top.seq} (line {walk.top_line})",
        )
    else:
        walk.top, walk.top_line = entry.anchor, number

    walk.seen[entry.seq] = _Seen(number, entry.hash)
    walk.last_seq = max(walk.last_seq, entry.seq)
    _link(walk, entry.seq, entry.prev, number)
    follower = walk.waiting.pop(entry.seq + 1, None)
    if follower is not None:
        _link(walk, entry.seq + 1, *follower)


def _link(walk: _Walk, seq: int, prev: str, number: int) -> None:
    """Check that entry ``seq`` names its predecessor's hash as ``prev``."""
    if seq == 1:
        if prev != GENESIS:
            walk.report(
                ProblemKind.REWRITTEN,
                1,
                number,
                "its prev is not the genesis value: it does not start the log",
            )
        return

    before = walk.seen.get(seq - 1)
    if before is None:
        walk.waiting[seq] = (prev, number)
    elif before.hash != prev:
        walk.report(
            ProblemKind.REWRITTEN,
            seq - 1,
            before.line,
            f"entry {seq} (line {number}) chains to another hash for it: "
            f"entry {seq - 1} was replaced by a different one",
        )


def _report_gaps(walk: _Walk) -> None:
    present = sorted({*walk.seen, *walk.stand_ins})
    previous = 0
    for seq in present:
        if seq > previous + 1:
            _report_removed(walk, previous + 1, seq - 1)
        previous = seq


def _report_removed(walk: _Walk, first: int, last: int) -> None:
    before = _line_of(walk, first - 1)
    after = _line_of(walk, last + 1)
    names = f"entry {first}" if first == last else f"entries {first} to {last}"
    where = f"before line {after}"
    if before is not None:
        where = f"between line {before} and line {after}"
    walk.report(ProblemKind.REMOVED, first, after, f"{names} missing {where}")


def _line_of(walk: _Walk, seq: int) -> int | None:
    seen = walk.seen.get(seq)
    return seen.line if seen is not None else walk.stand_ins.get(seq)


def _check_anchor_file(walk: _Walk, path: Path) -> None:
    anchor_file = anchor_path(path)
    try:
        anchor = read_anchor(anchor_file)
    except AuditError as exc:
        walk.report(ProblemKind.ANCHOR_MISSING, None, None, str(exc))
        return
    if anchor is None:
        if walk.lines:
            walk.report(
                ProblemKind.ANCHOR_MISSING,
                None,
                None,
                f"{anchor_file} is missing: a cut at the end would go unseen",
            )
        return
    _check_anchor(walk, anchor, f"the anchor file {anchor_file.name}")


def _check_anchor(walk: _Walk, anchor: AuditAnchor, source: str) -> None:
    end = max(walk.top.seq, *walk.stand_ins, 0)
    if anchor.seq > end:
        _report_cut(walk, anchor, source, end)
        return
    if anchor.seq in walk.stand_ins:
        return  # that line is already reported

    if anchor.seq == 0:
        expected = GENESIS
        line = None
    else:
        seen = walk.seen.get(anchor.seq)
        if seen is None:
            return  # already reported as removed
        expected, line = seen.hash, seen.line
    if anchor.hash != expected:
        walk.report(
            ProblemKind.ANCHOR_MISMATCH,
            anchor.seq,
            line,
            f"{source} names hash {anchor.hash} for it: "
            "this entry and those after it were rewritten",
        )


def _report_cut(walk: _Walk, anchor: AuditAnchor, source: str, end: int) -> None:
    first = end + 1
    names = (
        f"entry {first}" if first == anchor.seq else f"entries {first} to {anchor.seq}"
    )
    walk.report(
        ProblemKind.CUT,
        first,
        walk.lines + 1,
        f"{names} missing: {source} names entry {anchor.seq}, "
        f"the log ends at entry {end}",
    )


def format_report(report: AuditReport) -> Iterator[str]:
    """The lines ``station audit verify`` prints for a report."""
    if report.ok:
        yield f"audit log OK: {report.entries} entries, head {report.head.hash}"
        return
    yield f"audit log {report.path}: {len(report.problems)} problem(s)"
    yield from _indented(str(problem) for problem in report.problems)


def _indented(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        yield f"  {line}"
