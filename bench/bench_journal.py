"""Journal rate: a module's worth of journal writes against bare SQLite inserts.

A provisioning run writes an intent and an outcome row per step, each its own
durable commit (WAL, synchronous=FULL), plus the run's own updates. The peer
inserts the same number of rows into a bare SQLite table in the same mode,
one commit each: the floor the journal stands on.

Run: .venv/bin/python bench/bench_journal.py [--modules N]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

from station.journal import Journal, RunStatus
from station.steps import PROVISION_STEPS


def _journal_rate(path: Path, modules: int) -> tuple[float, int]:
    commits = 0
    with Journal(path, station="bench") as journal:
        started = time.perf_counter()
        for n in range(modules):
            run = journal.start_run(slot="slot-1", port="/dev/null", operator="B1")
            journal.record_identity(
                run,
                serial=f"S{n}",
                mac="02:00:00:00:00:01",
                model="AMB82",
                lot="L",
                firmware="1.4.2",
            )
            for step in PROVISION_STEPS:
                journal.intent(run, step)
                journal.outcome(run, step, ok=True)
            journal.finish(run, RunStatus.PASS)
            commits += 3 + 2 * len(PROVISION_STEPS)
        elapsed = time.perf_counter() - started
    return modules / elapsed, commits


def _sqlite_rate(path: Path, commits: int) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE rows (id INTEGER PRIMARY KEY, step TEXT, at TEXT)")
    started = time.perf_counter()
    for n in range(commits):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO rows (step, at) VALUES (?, ?)", ("step", str(n)))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return commits / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        modules_per_s, commits = _journal_rate(Path(folder) / "j.sqlite", args.modules)
        peer = _sqlite_rate(Path(folder) / "peer.sqlite", commits)
    per_module = commits / args.modules

    print(f"journal, {args.modules} modules, {per_module:.0f} durable commits each")
    print(f"  journal:                {modules_per_s:8.0f} modules/s")
    print(f"  peer: bare SQLite rows: {peer / per_module:8.0f} modules/s")
    print(f"  journal at {100 * modules_per_s * per_module / peer:.0f}% of the peer")


if __name__ == "__main__":
    main()
