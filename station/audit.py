"""The audit log: append-only, each entry chained to the one before it.

It ties issuance (and later revocation) to the manufacturing record: who
(station, operator), where (slot), what (module serial, MAC, model, lot,
firmware, key and certificate fingerprints) and when. Entries are described in
:mod:`station.audit_entry`; :func:`station.audit_verify.verify` checks a log.

A chain cannot show by itself that entries were cut from its end, nor that it
was rewritten from some entry on. For that the log keeps an *anchor*, the
sequence number and hash of its last entry, in ``audit.anchor`` beside it,
replaced atomically after each append. A station also keeps every new head
in its journal (``keep_head``): verifying against that anchor catches even a
log cut together with its anchor file.

Durability: an entry is written with a single ``write`` and fsync'd before
``append`` returns, so an entry whose append returned survives a power cut.
A cut mid-write leaves a *torn final line* (bytes with no line end), which no
returned append ever produced: the log refuses to append after it until
:meth:`AuditLog.repair` sets the torn bytes aside, and records that it did.

Appends are serialised by a lock inside the process and by ``flock`` on the
log across processes, and each append rereads the head when the file changed
under it, so a CLI command and the running line can share one log.
"""

from __future__ import annotations

import dataclasses
import datetime
import fcntl
import hashlib
import itertools
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from station.atomic_file import fsync_folder, write_atomic
from station.audit_entry import (
    EMPTY_ANCHOR,
    MAX_LINE,
    AuditAnchor,
    AuditEntry,
    AuditEvent,
    AuditValue,
    check_new_fields,
    parse_entry,
)
from station.config import StationConfig
from station.errors import StationError
from station.journal import Clock, Journal, RunRecord, utc_now

logger = logging.getLogger(__name__)

LOG_NAME = "audit.log"
ANCHOR_SUFFIX = ".anchor"
_TAIL_BLOCK = 4096


class AuditError(StationError):
    """The audit log cannot be written, read or trusted; names the file."""


def audit_log_path(config: StationConfig) -> Path:
    """Where a station keeps its audit log: ``<state_dir>/audit.log``."""
    return config.station.state_dir / LOG_NAME


def anchor_path(log: Path) -> Path:
    """The anchor file of a log: ``audit.log`` -> ``audit.anchor``."""
    return log.with_suffix(ANCHOR_SUFFIX)


def read_anchor(path: Path) -> AuditAnchor | None:
    """The anchor stored in ``path``, or None when there is no such file.

    Raises:
        AuditError: The file cannot be read or holds no anchor.
    """
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditError(f"cannot read audit anchor {path}: {exc}") from exc
    try:
        return AuditAnchor.parse(text)
    except ValueError as exc:
        raise AuditError(f"audit anchor {path}: {exc}") from None


def _write_anchor(path: Path, anchor: AuditAnchor) -> None:
    write_atomic(path, f"{anchor}\n".encode("ascii"))


@dataclass(frozen=True)
class LogTail:
    """The end of a log file, read backwards from its size.

    Attributes:
        last: The last complete line (without its line end), if any.
        end: Offset just past the last line end (0 when there is none).
        torn: Bytes after the last line end: a write cut short.
    """

    last: bytes | None
    end: int
    torn: bytes


def read_tail(descriptor: int, size: int) -> LogTail:
    """Read the last complete line and any torn bytes after it.

    Raises:
        AuditError: The last line is longer than any entry can be.
    """
    data, start = _read_back(descriptor, size, lines=1)
    last_end = data.rfind(b"\n")
    if last_end == -1:
        return LogTail(last=None, end=0, torn=data)
    line_start = data.rfind(b"\n", 0, last_end) + 1
    return LogTail(
        last=data[line_start:last_end],
        end=start + last_end + 1,
        torn=data[last_end + 1 :],
    )


def _read_back(descriptor: int, size: int, *, lines: int) -> tuple[bytes, int]:
    """Read backwards from ``size`` until the data holds the last ``lines``
    complete lines whole (a line end before the first of them too), or the
    file's start; returns the data and the offset it starts at.

    Raises:
        AuditError: Those lines are longer than entries can be.
    """
    data, start = b"", size
    while start > 0 and data.count(b"\n") <= lines:
        if len(data) > (lines + 1) * MAX_LINE + _TAIL_BLOCK:
            raise AuditError("the end of the audit log is not made of entries")
        step = min(_TAIL_BLOCK, start)
        start -= step
        data = os.pread(descriptor, step, start) + data
    return data, start


@dataclass(frozen=True)
class _Head:
    """The log's last entry as this process last saw it, and the file size."""

    size: int
    anchor: AuditAnchor
    prev: str


class AuditLog:
    """The station's audit log, open for appending.

    One instance is shared by every slot thread; other processes may append
    to the same file at the same time (``flock``).
    """

    def __init__(
        self,
        path: Path,
        *,
        clock: Clock = utc_now,
        keep_head: Callable[[AuditAnchor], None] | None = None,
    ) -> None:
        """Open the log at ``path``, creating it and its anchor when new.

        Args:
            path: The log file.
            clock: Source of entry times.
            keep_head: Called with the new head after every append, to keep
                it somewhere other than beside the log (the journal).

        Raises:
            AuditError: The log cannot be opened, or it is missing while its
                anchor says it had entries.
        """
        self.path = path
        self.anchor_path = anchor_path(path)
        self._clock = clock
        self._keep_head = keep_head
        self._lock = threading.Lock()
        self._head: _Head | None = None
        try:
            self._fd = self._open()
        except OSError as exc:
            raise AuditError(f"cannot open audit log {path}: {exc}") from exc

    def _open(self) -> int:
        if self.path.exists():
            return os.open(self.path, os.O_RDWR | os.O_APPEND)

        anchor = read_anchor(self.anchor_path)
        if anchor is not None and anchor.seq > 0:
            raise AuditError(
                f"audit log {self.path} is missing, but its anchor "
                f"{self.anchor_path} says it held {anchor.seq} entries"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The anchor comes first, so that a log with entries always has one.
        _write_anchor(self.anchor_path, EMPTY_ANCHOR)
        descriptor = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        fsync_folder(self.path.parent)
        return descriptor

    def close(self) -> None:
        """Close the log file."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, event: str, **fields: AuditValue) -> AuditEntry:
        """Append one entry; it is on disk when this returns.

        Args:
            event: The event type, an :class:`AuditEvent` or a newer name.
            **fields: The record the event is about: strings, integers,
                booleans, None or lists of them; never a PIN or key.

        Raises:
            AuditError: The fields are refused, the log's end is torn or does
                not match its anchor, or the write failed.
        """
        try:
            check_new_fields(event, fields)
        except ValueError as exc:
            raise AuditError(f"audit entry refused: {exc}") from None

        with self._lock, self._locked_file():
            head = self._current_head()
            entry = self._new_entry(head.anchor, event, fields)
            line = entry.to_line()
            self._write(line)
            self._head = _Head(head.size + len(line), entry.anchor, entry.prev)
            self._store_anchor(entry.anchor)
            if self._keep_head is not None:
                self._keep_head_of(entry)

        logger.debug("audit entry %d: %s", entry.seq, entry.event)
        return entry

    def _keep_head_of(self, entry: AuditEntry) -> None:
        assert self._keep_head is not None
        try:
            self._keep_head(entry.anchor)
        except StationError as exc:
            # The entry is written; the journal refused its head (it kept
            # another one for that number: the log was cut or rewritten).
            raise AuditError(f"audit log {self.path}: {exc}") from exc

    def head(self) -> AuditAnchor:
        """The anchor of the log's last entry (``EMPTY_ANCHOR`` when empty).

        Raises:
            AuditError: The log's end is torn or does not match its anchor.
        """
        with self._lock, self._locked_file():
            return self._current_head().anchor

    def last_entries(self, count: int) -> list[AuditEntry]:
        """The last ``count`` whole entries, oldest first (fewer if the log
        is shorter); a torn end is left out.

        Raises:
            AuditError: A line there is not an entry.
        """
        with self._lock, self._locked_file():
            data, start = _read_back(self._fd, os.fstat(self._fd).st_size, lines=count)
        lines = data[: data.rfind(b"\n") + 1].splitlines()
        if start > 0:
            lines = lines[1:]  # the end of a line not asked for
        try:
            return [parse_entry(line) for line in lines[-count:]]
        except ValueError as exc:
            raise AuditError(f"audit log {self.path}: {exc}") from exc

    def torn(self) -> bool:
        """True when the log ends in a torn line (a power cut mid-append)."""
        with self._lock, self._locked_file():
            self._check_same_file()
            size = os.fstat(self._fd).st_size
            return bool(read_tail(self._fd, size).torn)

    def issued(self, run: RunRecord) -> AuditEntry:
        """Record the certificate issued on ``run``, with its manufacturing record.

        Raises:
            AuditError: The run has no identity or certificate yet.
        """
        return self.append(
            AuditEvent.ISSUED, **_run_fields(run), **_certificate_fields(run)
        )

    def provisioned(self, run: RunRecord) -> AuditEntry:
        """Record that ``run`` finished, with its verdict.

        Raises:
            AuditError: The run has no identity yet.
        """
        return self.append(
            AuditEvent.PROVISIONED,
            **_run_fields(run),
            cert_serial=run.cert_serial,
            result=str(run.status),
        )

    def clone_flagged(self, run: RunRecord, *, reason: str) -> AuditEntry:
        """Record that ``run``'s module was refused as a clone, for QA.

        Raises:
            AuditError: The run has no identity or key yet.
        """
        return self.append(
            AuditEvent.CLONE_FLAGGED,
            **_run_fields(run),
            spki_sha256=_required(run, "spki_sha256"),
            reason=reason,
        )

    def undelivered(self, run: RunRecord, *, step: str, reason: str) -> AuditEntry:
        """Record that ``run``'s certificate was issued but the module failed.

        Raises:
            AuditError: The run has no identity or certificate.
        """
        return self.append(
            AuditEvent.UNDELIVERED,
            **_run_fields(run),
            cert_serial=_required(run, "cert_serial"),
            step=step,
            reason=reason,
        )

    def repair(self, *, station: str, operator: str) -> AuditEntry:
        """Set aside a torn final line, then record that in the log.

        The torn bytes are kept in ``<log>.torn-<offset>`` beside the log.
        Only a tail that no acknowledged append wrote is removed: when the
        anchor names a later entry than the last complete one, the cut is not
        a crash and nothing is changed.

        Args:
            station: The station name, for the record.
            operator: Badge id of who ordered the repair.

        Raises:
            AuditError: There is no torn line, or the tail was cut.
        """
        with self._lock, self._locked_file():
            saved_as, torn = self._set_aside_torn_tail()
        logger.warning(
            "audit log %s: torn final line of %d bytes moved to %s",
            self.path,
            len(torn),
            saved_as,
        )
        return self.append(
            AuditEvent.LOG_REPAIRED,
            station=station,
            operator=operator,
            removed_bytes=len(torn),
            removed_sha256=hashlib.sha256(torn).hexdigest(),
            saved_as=saved_as.name,
        )

    def _set_aside_torn_tail(self) -> tuple[Path, bytes]:
        self._check_same_file()
        size = os.fstat(self._fd).st_size
        tail = read_tail(self._fd, size)
        if not tail.torn:
            raise AuditError(f"audit log {self.path} has no torn final line")
        last = self._parse_last(tail)
        self._check_anchor(last)

        saved_as = self.path.with_name(f"{self.path.name}.torn-{tail.end}")
        write_atomic(saved_as, tail.torn)
        os.ftruncate(self._fd, tail.end)
        os.fsync(self._fd)
        self._head = None
        return saved_as, tail.torn

    @contextmanager
    def _locked_file(self) -> Iterator[None]:
        if self._fd < 0:
            raise AuditError(f"audit log {self.path} is closed")
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _current_head(self) -> _Head:
        """The last entry, reread from the file when someone else appended."""
        self._check_same_file()
        size = os.fstat(self._fd).st_size
        if self._head is not None and self._head.size == size:
            return self._head

        tail = read_tail(self._fd, size)
        if tail.torn:
            raise AuditError(
                f"audit log {self.path} ends in a torn final line "
                f"({len(tail.torn)} bytes, no line end): run 'station audit repair'"
            )
        # Without a torn tail, the last line ends where the file does.
        self._head = self._check_anchor(self._parse_last(tail))
        return self._head

    def _parse_last(self, tail: LogTail) -> _Head:
        if tail.last is None:
            return _Head(tail.end, EMPTY_ANCHOR, "")
        try:
            last = parse_entry(tail.last)
        except ValueError as exc:
            raise AuditError(
                f"the last entry of audit log {self.path} is unreadable ({exc}): "
                "run 'station audit verify'"
            ) from None
        return _Head(tail.end, last.anchor, last.prev)

    def _check_anchor(self, head: _Head) -> _Head:
        """Refuse a log whose end does not reach or match its anchor.

        The anchor is replaced only once an entry is durable, so after a crash
        it may name the entry before the last one. An anchor further behind
        cannot be checked from the tail; ``verify`` checks it in full.
        """
        anchor = read_anchor(self.anchor_path)
        last = head.anchor
        if anchor is None:
            if last.seq > 0:
                raise AuditError(
                    f"audit anchor {self.anchor_path} is missing: "
                    "run 'station audit verify'"
                )
            return head

        lagging = anchor == AuditAnchor(last.seq - 1, head.prev)
        if anchor == last or lagging or anchor.seq < last.seq - 1:
            return head
        raise AuditError(
            f"audit log {self.path} ends at entry {last.seq}, which does not "
            f"reach or match its anchor {anchor}: entries were cut or rewritten; "
            "run 'station audit verify'"
        )

    def _check_same_file(self) -> None:
        try:
            same = os.stat(self.path).st_ino == os.fstat(self._fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            raise AuditError(f"audit log {self.path} was moved or replaced")

    def _new_entry(
        self, head: AuditAnchor, event: str, fields: Mapping[str, AuditValue]
    ) -> AuditEntry:
        moment = self._clock().astimezone(datetime.UTC)
        unsigned = AuditEntry(
            seq=head.seq + 1,
            time=moment,
            event=str(event),
            fields=dict(fields),
            prev=head.hash,
            hash="",
        )
        entry = dataclasses.replace(unsigned, hash=unsigned.content_hash())
        if len(entry.to_line()) > MAX_LINE:
            raise AuditError(f"audit entry {event} is longer than {MAX_LINE} bytes")
        return entry

    def _write(self, line: bytes) -> None:
        # One write call: a power cut leaves a prefix of this line at worst.
        try:
            written = os.write(self._fd, line)
            while written < len(line):
                written += os.write(self._fd, line[written:])
            os.fsync(self._fd)
        except OSError as exc:
            self._head = None
            raise AuditError(f"cannot write audit log {self.path}: {exc}") from exc

    def _store_anchor(self, anchor: AuditAnchor) -> None:
        # The entry is already durable; an anchor that lags behind the log is
        # still a valid lower bound, so a failure here is reported, not raised.
        try:
            _write_anchor(self.anchor_path, anchor)
        except OSError as exc:
            logger.error("cannot update audit anchor %s: %s", self.anchor_path, exc)


def _run_fields(run: RunRecord) -> dict[str, AuditValue]:
    return {
        "run_id": run.id,
        "station": run.station,
        "slot": run.slot,
        "operator": run.operator,
        "serial": _required(run, "serial"),
        "mac": _required(run, "mac"),
        "model": _required(run, "model"),
        "lot": _required(run, "lot"),
        "firmware": _required(run, "firmware"),
    }


def _certificate_fields(run: RunRecord) -> dict[str, AuditValue]:
    if run.cert_der is None:
        raise AuditError(f"run {run.id} has no certificate to audit")
    return {
        "cert_serial": _required(run, "cert_serial"),
        "cert_sha256": hashlib.sha256(run.cert_der).hexdigest(),
        "spki_sha256": _required(run, "spki_sha256"),
    }


def _required(run: RunRecord, name: str) -> str:
    value = getattr(run, name)
    if not isinstance(value, str):
        raise AuditError(f"run {run.id} has no {name} to audit")
    return value


# How far a log may run ahead of the heads the journal kept: a process
# stopped between an append and keeping its head leaves one entry behind it,
# and a few processes (a station, an import) append to one log.
UNKEPT_ENTRIES = 8


def open_audit_log(
    config: StationConfig,
    *,
    operator: str,
    journal: Journal,
    clock: Clock = utc_now,
) -> AuditLog:
    """Open the station's audit log, mending a line torn by a power cut, and
    check it against the heads the journal kept.

    Every new head of the log is kept in ``journal`` too.

    A station that lost power while appending leaves a torn final line; the
    log refuses to grow after one. No append that returned wrote it, so the
    station sets it aside at start and records that it did (``log-repaired``,
    with the bytes' hash and where they were kept).

    Raises:
        AuditError: The log cannot be opened; its end was cut rather than
            torn; or it does not hold, where the journal saw it written, the
            entry the journal kept (cut, or rewritten with its anchor file).
    """
    audit = AuditLog(
        audit_log_path(config), clock=clock, keep_head=journal.keep_audit_head
    )
    try:
        # Checked first: a forger could leave a torn tail for the repair to
        # set aside, and the repair's entry would then match a head the
        # journal keeps for it.
        check_against_journal(audit, journal)
        if audit.torn():
            entry = audit.repair(station=config.station.name, operator=operator)
            logger.warning(
                "audit log: torn final line set aside as %s at start",
                entry.fields["saved_as"],
            )
    except BaseException:
        audit.close()
        raise
    return audit


def check_against_journal(audit: AuditLog, journal: Journal) -> None:
    """Refuse a log that does not hold the last entry the journal saw written.

    Every entry chains to the one before, so a log rewritten from any entry
    on ends in other hashes than the journal kept, and a cut one ends before
    the journal's last head; a forger cannot recompute the journal. Entries
    appended after the journal's last head (a process stopped in between)
    have their heads kept now.

    Raises:
        AuditError: Naming the entry, and pointing at ``station audit verify``.
    """
    # The last whole entries: a torn tail is not an entry and is left out.
    tail = audit.last_entries(UNKEPT_ENTRIES + 1)
    top = tail[-1].seq if tail else 0
    where = f"audit log {audit.path}"
    verify_hint = "'station audit verify' shows where"
    kept = journal.last_audit_anchor()
    if kept is None:
        if top > UNKEPT_ENTRIES:
            # Every append keeps its head in the journal: a log this long
            # beside a journal with none means the journal was replaced.
            raise AuditError(
                f"{where} has {top} entries but the journal {journal.path} "
                "kept none of their heads: it is not this log's journal"
            )
        return
    last = AuditAnchor.parse(kept)
    if top < last.seq:
        raise AuditError(
            f"{where} ends at entry {top}, but the journal saw entry "
            f"{last.seq} written: entries were cut; {verify_hint}"
        )
    if top - last.seq > UNKEPT_ENTRIES:
        raise AuditError(
            f"{where} has {top - last.seq} entries after entry {last.seq} "
            f"that the journal never saw written; {verify_hint}"
        )
    if last not in [entry.anchor for entry in tail] or not _chained(tail):
        raise AuditError(
            f"{where}: entry {last.seq} is not the one the journal saw written, "
            f"or the entries after it do not follow from it: the log was "
            f"rewritten; {verify_hint}"
        )
    for entry in tail:
        if entry.seq > last.seq:
            journal.keep_audit_head(entry.anchor)


def _chained(entries: list[AuditEntry]) -> bool:
    """True when each entry is intact and follows the one before it."""
    if any(entry.content_hash() != entry.hash for entry in entries):
        return False
    return all(
        later.seq == earlier.seq + 1 and later.prev == earlier.hash
        for earlier, later in itertools.pairwise(entries)
    )
