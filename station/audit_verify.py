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


def verify(
    path: Path,
    *,
    anchors: Sequence[AuditAnchor] = (),
    kept: Sequence[AuditAnchor] = (),
) -> AuditReport:
    """Verify the audit log at ``path``.

    The log's anchor file is always checked. Anchors kept elsewhere catch a
    log cut or rewritten together with its anchor file.

    Args:
        path: The audit log.
        anchors: Anchors given by hand (``--anchor``).
        kept: The head after every entry, as the journal kept them: a log
            rewritten from some entry on is reported at that entry.

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
    sources = [(f"the anchor file {anchor_path(path).name}", _anchor_file(walk, path))]
    sources += [("the anchor given", [anchor]) for anchor in anchors]
    if kept:
        sources.append(("the journal", sorted(kept, key=lambda a: a.seq)))
    _check_anchors(walk, sources)
    _reword_acknowledged_tear(walk, sources)

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


def _anchor_file(walk: _Walk, path: Path) -> list[AuditAnchor]:
    """The log's own anchor, as a source of one head (none when unreadable)."""
    anchor_file = anchor_path(path)
    try:
        anchor = read_anchor(anchor_file)
    except AuditError as exc:
        walk.report(ProblemKind.ANCHOR_MISSING, None, None, str(exc))
        return []
    if anchor is None:
        if walk.lines:
            walk.report(
                ProblemKind.ANCHOR_MISSING,
                None,
                None,
                f"{anchor_file} is missing: a cut at the end would go unseen",
            )
        return []
    return [anchor]


def _end(walk: _Walk) -> int:
    """The highest sequence number the log holds or stands for."""
    return max(walk.top.seq, *walk.stand_ins, 0)


def _check_anchors(
    walk: _Walk, sources: Sequence[tuple[str, Sequence[AuditAnchor]]]
) -> None:
    """Check the log against every source of anchors; report each finding once.

    All sources that see the log cut are named in one report, and a rewrite
    is reported at the first entry any source disagrees with.
    """
    cuts = [
        (source, heads[-1])
        for source, heads in sources
        if heads and heads[-1].seq > _end(walk)
    ]
    if cuts:
        _report_cut(walk, cuts)

    mismatches = [
        (source, anchor)
        for source, heads in sources
        if (anchor := _first_mismatch(walk, heads)) is not None
    ]
    if mismatches:
        _report_mismatch(walk, mismatches)


def _first_mismatch(walk: _Walk, heads: Sequence[AuditAnchor]) -> AuditAnchor | None:
    """The first head that names another hash than the log holds for it."""
    for anchor in heads:
        if anchor.seq > _end(walk) or anchor.seq in walk.stand_ins:
            continue  # cut, or that line is already reported
        if anchor.seq == 0:
            expected = GENESIS
        else:
            seen = walk.seen.get(anchor.seq)
            if seen is None:
                continue  # already reported as removed
            expected = seen.hash
        if anchor.hash != expected:
            return anchor
    return None


def _report_mismatch(
    walk: _Walk, mismatches: Sequence[tuple[str, AuditAnchor]]
) -> None:
    first = min(anchor.seq for _, anchor in mismatches)
    claims = " and ".join(
        f"{source} names hash {anchor.hash}"
        for source, anchor in mismatches
        if anchor.seq == first
    )
    others = "".join(
        f"; {source} disagrees from entry {anchor.seq}"
        for source, anchor in mismatches
        if anchor.seq != first
    )
    seen = walk.seen.get(first)
    walk.report(
        ProblemKind.ANCHOR_MISMATCH,
        first,
        None if seen is None else seen.line,
        f"{claims} for it: this entry and those after it were rewritten{others}",
    )


def _report_cut(walk: _Walk, cuts: Sequence[tuple[str, AuditAnchor]]) -> None:
    end = _end(walk)
    first, last = end + 1, max(anchor.seq for _, anchor in cuts)
    names = f"entry {first}" if first == last else f"entries {first} to {last}"
    claims = " and ".join(
        f"{source} names entry {anchor.seq}" for source, anchor in cuts
    )
    walk.report(
        ProblemKind.CUT,
        first,
        walk.lines + 1,
        f"{names} missing: {claims}, the log ends at entry {end}",
    )


def _reword_acknowledged_tear(
    walk: _Walk, sources: Sequence[tuple[str, Sequence[AuditAnchor]]]
) -> None:
    """A torn line an anchor had already counted was not a write cut short."""
    acknowledged = max((heads[-1].seq for _, heads in sources if heads), default=0)
    for index, problem in enumerate(walk.problems):
        if problem.kind is ProblemKind.TORN and (problem.entry or 0) <= acknowledged:
            walk.problems[index] = AuditProblem(
                ProblemKind.TORN,
                problem.entry,
                problem.line,
                f"no line end, yet the anchors name entry {acknowledged}: this "
                "entry was written in full and cut afterwards, not by a power "
                "cut; 'station audit repair' refuses it",
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
