"""The lot plans imported on this station, kept under its state folder.

Importing the same file again changes nothing; importing a different plan for
a lot that already has one is refused unless the import says it replaces it,
so a stale MES export cannot silently swap the serials a line accepts.
"""

from __future__ import annotations

import datetime
import sqlite3
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from station.errors import LotPlanError
from station.journal import Clock, utc_now
from station.lot_plan import LotPlan, PlannedModule

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lots (
    lot TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    allowed_firmware TEXT NOT NULL,
    source TEXT NOT NULL,
    imported_by TEXT NOT NULL,
    imported_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS lot_modules (
    lot TEXT NOT NULL REFERENCES lots (lot),
    serial TEXT NOT NULL,
    mac TEXT NOT NULL,
    model TEXT NOT NULL,
    PRIMARY KEY (lot, serial),
    UNIQUE (lot, mac)
);
CREATE INDEX IF NOT EXISTS lot_modules_serial ON lot_modules (serial);
CREATE INDEX IF NOT EXISTS lot_modules_mac ON lot_modules (mac);
"""


class ImportOutcome(StrEnum):
    """What an import did."""

    IMPORTED = "imported"
    UNCHANGED = "unchanged"
    REPLACED = "replaced"


@dataclass(frozen=True)
class LotSummary:
    """One imported lot, for listings and the console's lot choice."""

    lot: str
    modules: int
    allowed_firmware: tuple[str, ...]
    imported_by: str
    imported_at: datetime.datetime


class LotStore:
    """Lot plans in one SQLite file; safe to share between threads."""

    def __init__(self, path: Path, *, clock: Clock = utc_now) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                path, check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise LotPlanError(f"cannot open lot store {path}: {exc}") from exc

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> LotStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def import_plan(
        self, plan: LotPlan, *, imported_by: str, source: str, replace: bool = False
    ) -> ImportOutcome:
        """Store ``plan``.

        Args:
            plan: A validated plan.
            imported_by: Badge id of whoever imports it.
            source: The file it came from.
            replace: Allow a different plan to replace the lot's current one.

        Raises:
            LotPlanError: The lot already has a different plan and ``replace``
                is not set.
        """
        with self._lock:
            current = self._db.execute(
                "SELECT sha256, allowed_firmware FROM lots WHERE lot = ?", (plan.lot,)
            ).fetchone()
            same = current == (plan.sha256, _firmware_text(plan))
            if same:
                return ImportOutcome.UNCHANGED
            if current is not None and not replace:
                raise LotPlanError(
                    f"lot {plan.lot} already has a different plan; "
                    f"import with --replace to replace it"
                )
            self._write(plan, imported_by, source)
        return ImportOutcome.REPLACED if current else ImportOutcome.IMPORTED

    def _write(self, plan: LotPlan, imported_by: str, source: str) -> None:
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM lot_modules WHERE lot = ?", (plan.lot,))
            db.execute("DELETE FROM lots WHERE lot = ?", (plan.lot,))
            db.execute(
                "INSERT INTO lots VALUES (?, ?, ?, ?, ?, ?)",
                (
                    plan.lot,
                    plan.sha256,
                    _firmware_text(plan),
                    source,
                    imported_by,
                    self._clock().isoformat(),
                ),
            )
            db.executemany(
                "INSERT INTO lot_modules VALUES (?, ?, ?, ?)",
                [(plan.lot, m.serial, m.mac, m.model) for m in plan.modules.values()],
            )
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            db.execute("ROLLBACK")
            raise LotPlanError(f"cannot store lot {plan.lot}: {exc}") from exc

    def planned_elsewhere(self, plan: LotPlan) -> list[tuple[str, str, str]]:
        """Serials and MACs of ``plan`` that another imported lot plans too.

        Returns:
            ``(field, value, other lot)`` for each, serials first.
        """
        with self._lock:
            self._db.execute("DROP TABLE IF EXISTS temp.incoming")
            self._db.execute("CREATE TEMP TABLE incoming (serial TEXT, mac TEXT)")
            self._db.executemany(
                "INSERT INTO temp.incoming VALUES (?, ?)",
                [(m.serial, m.mac) for m in plan.modules.values()],
            )
            rows = self._db.execute(
                "SELECT 'serial', m.serial, m.lot FROM lot_modules m"
                " JOIN temp.incoming i ON i.serial = m.serial WHERE m.lot != ?"
                " UNION ALL SELECT 'MAC', m.mac, m.lot FROM lot_modules m"
                " JOIN temp.incoming i ON i.mac = m.mac WHERE m.lot != ?",
                (plan.lot, plan.lot),
            ).fetchall()
            self._db.execute("DROP TABLE temp.incoming")
        return [(row[0], row[1], row[2]) for row in rows]

    def lots(self) -> list[LotSummary]:
        """Every imported lot, by name."""
        with self._lock:
            rows = self._db.execute(
                "SELECT l.lot, count(m.serial), l.allowed_firmware, l.imported_by,"
                " l.imported_at FROM lots l LEFT JOIN lot_modules m USING (lot)"
                " GROUP BY l.lot ORDER BY l.lot"
            ).fetchall()
        return [
            LotSummary(
                lot=row[0],
                modules=row[1],
                allowed_firmware=tuple(row[2].split(",")),
                imported_by=row[3],
                imported_at=datetime.datetime.fromisoformat(row[4]),
            )
            for row in rows
        ]

    def plan(self, lot: str) -> LotPlan:
        """The plan of ``lot``.

        Raises:
            LotPlanError: No plan was imported for that lot.
        """
        with self._lock:
            head = self._db.execute(
                "SELECT sha256, allowed_firmware FROM lots WHERE lot = ?", (lot,)
            ).fetchone()
            rows = self._db.execute(
                "SELECT serial, mac, model FROM lot_modules WHERE lot = ?", (lot,)
            ).fetchall()
        if head is None:
            known = ", ".join(summary.lot for summary in self.lots()) or "none"
            raise LotPlanError(f"no plan imported for lot {lot} (imported: {known})")
        modules = {row[0]: PlannedModule(*row) for row in rows}
        return LotPlan(
            lot=lot,
            modules=modules,
            allowed_firmware=frozenset(head[1].split(",")),
            sha256=head[0],
        )


def _firmware_text(plan: LotPlan) -> str:
    return ",".join(sorted(plan.allowed_firmware))
