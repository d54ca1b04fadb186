"""Power cuts: the station is killed with SIGKILL at random points and restarted.

The simulated modules run in their own process, as real modules sit in their
fixture: they keep their state across the station's deaths. Round after round
a fresh set of modules is seated, the station is started with
``provision --all`` and killed at a random moment several times, then left to
finish. Afterwards every module must be PASS or a clear FAIL, no module key may
have two certificates, every certificate the CA issued must be in the journal,
every locked module must hold exactly the chain the journal recorded, and
``station audit verify`` must find the audit log whole.
"""

from __future__ import annotations

import collections
import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from device_io.pv import PvObject, SlotState
from device_io.session import open_session
from pki.ca_store import CaStore
from pki.devpki import DevPki
from station.config import load_config
from station.demo import write_demo_config
from station.journal import Journal, RunRecord, RunStatus
from station.lot_plan import read_lot_plan
from station.lot_store import LotStore
from station.workflow import Slot

LOT = "LOT-CRASH"
SLOTS = 8
KILLS = 56
KILLS_PER_ROUND = 8
MODULES = 200
SEED = 20261204
# The station's start-up (imports, token login) takes roughly the first half
# second, and eight fresh modules about as long again: kills are spread over
# both, so some land before the work starts and most inside it.
KILL_AFTER = (0.3, 1.4)


def _write_lot_plan(path: Path) -> Path:
    rows = [
        f"CRASH{n:06d},02:00:00:00:{n >> 8:02x}:{n & 0xFF:02x},AMB82,{LOT}"
        for n in range(MODULES)
    ]
    path.write_text("serial,mac,model,lot\n" + "\n".join(rows) + "\n")
    return path


@contextmanager
def _simulator(state: Path, plan: Path, first: int) -> Iterator[list[str]]:
    """Seat modules ``first`` .. ``first + SLOTS - 1`` of the lot plan."""
    ports_file = state / f"ports-{first}.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "device_io.simulator",
            "--slots",
            str(SLOTS),
            "--lot-plan",
            str(plan),
            "--state-dir",
            str(state),
            "--first-index",
            str(first),
            "--keygen-delay",
            "0.05",
            "--ports-file",
            str(ports_file),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not ports_file.exists():
            assert process.poll() is None, "simulator exited"
            assert time.monotonic() < deadline, "simulator did not start"
            time.sleep(0.05)
        yield [entry["link"] for entry in json.loads(ports_file.read_text())]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def _station(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "station",
            "--config",
            str(config),
            "provision",
            "--all",
            "--operator",
            "B0042",
            "--lot",
            LOT,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _run_with_kills(config: Path, rng: random.Random, kills: int) -> int:
    """Start the station and kill it at a random moment, up to ``kills`` times
    or until it finishes first, then run it once more to the end.

    Returns:
        How many kills landed while the station was running.
    """
    landed = 0
    for _ in range(kills):
        station = _station(config)
        time.sleep(rng.uniform(*KILL_AFTER))
        finished = station.poll() is not None
        if not finished:
            station.send_signal(signal.SIGKILL)
            landed += 1
        station.wait()
        if finished:
            break
    final = _station(config)
    _, stderr = final.communicate(timeout=300)
    assert final.returncode in (0, 1), stderr.decode()
    return landed


def _check_modules(links: list[str], journal: Journal) -> tuple[int, int]:
    """Every locked module holds the chain its PASS run recorded."""
    locked = unlocked = 0
    for link in links:
        with open_session(link, slot="audit") as session:
            identity = session.identify()
            chain = (
                session.read_object(PvObject.CHAIN)
                if identity.state in (SlotState.CERT, SlotState.LOCKED)
                else None
            )
        recorded = {run.chain_der for run in journal.runs(serial=identity.serial)}
        if chain is not None:
            assert chain in recorded, f"{identity.serial} holds an unrecorded chain"
        if identity.state is SlotState.LOCKED:
            locked += 1
        else:
            unlocked += 1
    return locked, unlocked


@pytest.mark.slow
def test_station_killed_at_random_points_loses_and_duplicates_nothing(
    tmp_path: Path, dev_pki: DevPki
) -> None:
    rng = random.Random(SEED)
    lot_plan = _write_lot_plan(tmp_path / "lot.csv")
    state = tmp_path / "simulator"
    state.mkdir()
    links = [str(state / "ports" / f"slot-{n}") for n in range(1, SLOTS + 1)]
    slots = [Slot(f"slot-{n}", link) for n, link in enumerate(links, start=1)]
    config_path = write_demo_config(tmp_path, dev_pki, slots)
    config = load_config(config_path)
    with LotStore(config.lots_path) as lots:
        plan = read_lot_plan(lot_plan, allowed_firmware=["1.4.2"])
        lots.import_plan(plan, imported_by="S1", source=str(lot_plan))

    kills = locked = rounds = 0
    while kills < KILLS:
        assert (rounds + 1) * SLOTS <= MODULES, f"only {kills} kills landed"
        with _simulator(state, lot_plan, first=rounds * SLOTS):
            kills += _run_with_kills(config_path, rng, KILLS_PER_ROUND)
            with Journal(config.journal_path, station="audit") as journal:
                done, _ = _check_modules(links, journal)
                locked += done
        rounds += 1

    with Journal(config.journal_path, station="audit") as journal:
        runs = journal.runs()
    final: dict[str, RunRecord] = {}
    for run in runs:
        if run.serial and run.status is not RunStatus.INTERRUPTED:
            final[run.serial] = run
    store = CaStore.open_sqlite(config.station.state_dir / "ca" / "ca-store.sqlite")
    issued = [record for serial in final for record in store.records_for_device(serial)]
    store.close()

    outcomes = collections.Counter(run.status for run in final.values())
    interrupted = collections.Counter(
        run.failure_step or "start"
        for run in runs
        if run.status is RunStatus.INTERRUPTED
    )
    per_key = collections.Counter(record.spki_sha256 for record in issued)
    verify_audit = [sys.executable, "-m", "station", "--config", str(config_path)]
    audit = subprocess.run(
        [*verify_audit, "audit", "verify"],
        capture_output=True,
        text=True,
        check=False,
    )
    journal_certs = {run.cert_serial for run in runs if run.cert_serial}
    print(
        f"\ncrash test: {kills} kills landed, {len(final)} modules, "
        f"{outcomes[RunStatus.PASS]} PASS, {outcomes[RunStatus.FAIL]} FAIL, "
        f"{locked} locked, {len(issued)} certificates issued, "
        f"{sum(interrupted.values())} runs interrupted; after step: "
        + ", ".join(f"{step} {n}" for step, n in sorted(interrupted.items()))
        + f"\n{audit.stdout.strip()}"
    )

    assert kills >= 50
    assert len(final) == rounds * SLOTS
    assert not [run for run in runs if run.status is RunStatus.RUNNING]
    for run in final.values():
        assert run.status in (RunStatus.PASS, RunStatus.FAIL)
        if run.status is RunStatus.FAIL:
            assert run.failure_step
            assert run.failure_reason
    assert max(per_key.values()) == 1, "a module key got two certificates"
    assert {record.cert_serial for record in issued} <= journal_certs
    assert locked == outcomes[RunStatus.PASS]
    assert audit.returncode == 0, audit.stdout + audit.stderr
