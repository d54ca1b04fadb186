"""The fault matrix: the whole station against every fault a module can have.

Simulated modules on real ptys, the real station workflow and a SoftHSM2
issuing CA. Modules are seated in rounds of up to 32, as a fixture full of
them would be; each round is a fresh simulator on the same stable links, so a
fault that fires once fires once per module. Every fault is switched on in
turn for a few modules and the outcome asserted per fault: link faults are
recovered from and pass, module faults fail at the step that must catch them,
naming it. The headline case puts 200 modules through bit errors and one reset
mid-write each.

After every round, each module's committed chain (read from its flash) must be
one the journal recorded for it, and afterwards the CA must have issued at
most one certificate per module key, each of them journaled.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from device_io.simulator import (
    FirmwareLimits,
    Simulator,
    SimulatorConfig,
    assign_slots,
    build_plans,
    read_lot_plan,
)
from pki.ca_store import CaStore
from pki.devpki import DevPki
from station.assembly import Station, open_station
from station.config import load_config
from station.demo import write_demo_config
from station.job import ModuleResult
from station.journal import RunRecord, RunStatus
from station.line import Line
from station.lot_import import import_lot
from station.lot_plan import read_lot_plan as read_station_plan
from station.steps import Step
from station.workflow import Slot

LOT = "LOT-MATRIX"
SLOTS = 32
MODULES = 200
SEED = 20261205


def _write_lot_plan(path: Path) -> Path:
    rows = [
        f"MTX{n:06d},02:00:00:01:{n >> 8:02x}:{n & 0xFF:02x},AMB82,{LOT}"
        for n in range(MODULES)
    ]
    path.write_text("serial,mac,model,lot\n" + "\n".join(rows) + "\n")
    return path


class LinkTally(logging.Handler):
    """Counts resyncs and port opens per port from the device layer's log."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.resyncs: collections.Counter[str] = collections.Counter()
        self.opens: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if not isinstance(record.args, tuple) or not record.args:
            return
        port = str(record.args[0])
        if record.name == "device_io.link" and "resynchronised" in record.msg:
            self.resyncs[port] += 1
        elif record.name == "device_io.serial_port" and record.msg.startswith("opened"):
            self.opens[port] += 1

    def clear(self) -> None:
        self.resyncs.clear()
        self.opens.clear()


@dataclass
class Seated:
    """What one module did in its round."""

    fault: str
    result: ModuleResult
    state: str
    resyncs: int
    reopens: int


@dataclass
class Bench:
    """A station with 32 slots over the stable links of a simulator's state."""

    station: Station
    plates_file: Path
    state_dir: Path
    slots: list[Slot]
    tally: LinkTally
    seated: list[Seated] = field(default_factory=list)
    rounds: int = 0

    def run_round(
        self,
        faults: Sequence[str],
        misbehave: Sequence[str],
        *,
        first: int,
        later: Sequence[int] = (),
    ) -> None:
        """Seat ``len(faults)`` modules of the plan from ``first`` on, slot 1
        first, each with its misbehaviours, and provision them all at once;
        the 1-based slots in ``later`` start once the others have finished.
        """
        count = len(faults)
        config = SimulatorConfig(
            state_dir=self.state_dir,
            nameplates=assign_slots(
                read_lot_plan(self.plates_file), slots=count, first=first
            ),
            limits=FirmwareLimits(keygen_delay=0.0),
            faults=build_plans(misbehave, slots=count),
            seed=SEED + self.rounds,
        )
        self.rounds += 1
        self.tally.clear()
        with Simulator(config) as simulator:
            slots = self.slots[:count]
            waves = [
                [s for n, s in enumerate(slots, 1) if n not in later],
                [s for n, s in enumerate(slots, 1) if n in later],
            ]
            results = {
                result.slot: result
                for wave in waves
                if wave
                for result in Line(self.station.provisioner, wave).run_all()
            }
            self._check_held_chains(simulator, count)
            states = [simulator.firmware(n).state for n in range(1, count + 1)]
        self.seated += [
            Seated(
                fault,
                results[slot.name],
                state,
                self.tally.resyncs[slot.port],
                self.tally.opens[slot.port] - 1,
            )
            for fault, slot, state in zip(faults, slots, states, strict=True)
        ]

    def _check_held_chains(self, simulator: Simulator, count: int) -> None:
        """No module holds a committed chain the journal does not record."""
        journal = self.station.journal
        for slot in range(1, count + 1):
            firmware = simulator.firmware(slot)
            credential = firmware.image.slot(0)
            if credential is None or credential.chain is None:
                continue
            serial = firmware.nameplate.serial
            recorded = {run.chain_der for run in journal.runs(serial=serial)}
            assert credential.chain in recorded, f"{serial} holds an unrecorded chain"

    def check_issuance(self) -> int:
        """At most one certificate per module key, each in the journal."""
        serials = {s.result.serial for s in self.seated if s.result.serial}
        store = CaStore.open_sqlite(
            self.station.config.station.state_dir / "ca" / "ca-store.sqlite"
        )
        try:
            issued = [
                record
                for serial in sorted(serials)
                for record in store.records_for_device(serial)
            ]
        finally:
            store.close()
        per_key = collections.Counter(record.spki_sha256 for record in issued)
        assert not [key for key, n in per_key.items() if n > 1], "a key got two"
        journaled = {run.cert_serial for run in self.station.journal.runs()}
        assert {record.cert_serial for record in issued} <= journaled
        return len(issued)


@pytest.fixture
def bench(tmp_path: Path, dev_pki: DevPki) -> Iterator[Bench]:
    plates_file = _write_lot_plan(tmp_path / "lot.csv")
    state_dir = tmp_path / "simulator"
    slots = [
        Slot(f"slot-{n}", str(state_dir / "ports" / f"slot-{n}"))
        for n in range(1, SLOTS + 1)
    ]
    config = load_config(write_demo_config(tmp_path, dev_pki, slots))
    plan = read_station_plan(plates_file, allowed_firmware=["1.4.2"])
    import_lot(config, plan, supervisor="S0001", source=str(plates_file))
    tally = LinkTally()
    device_log = logging.getLogger("device_io")
    level = device_log.level
    device_log.setLevel(logging.INFO)
    device_log.addHandler(tally)
    station = open_station(config, operator="B0042", lot=LOT)
    try:
        yield Bench(station, plates_file, state_dir, slots, tally)
    finally:
        station.close()
        device_log.removeHandler(tally)
        device_log.setLevel(level)


def _table(seated: Sequence[Seated]) -> str:
    rows: dict[str, list[Seated]] = {}
    for one in seated:
        rows.setdefault(one.fault, []).append(one)
    lines = [
        f"{'fault':<34}{'modules':>8}{'PASS':>6}  {'FAIL by step':<24}"
        f"{'resyncs':>8}{'reopens':>8}"
    ]
    for fault, group in rows.items():
        passed = sum(one.result.passed for one in group)
        failed = collections.Counter(
            one.result.failure_step.value if one.result.failure_step else "?"
            for one in group
            if not one.result.passed
        )
        by_step = ", ".join(f"{step} {n}" for step, n in sorted(failed.items()))
        lines.append(
            f"{fault:<34}{len(group):>8}{passed:>6}  {by_step or '-':<24}"
            f"{sum(one.resyncs for one in group):>8}"
            f"{sum(one.reopens for one in group):>8}"
        )
    return "\n".join(lines)


def _assert_clear_failures(
    seated: Sequence[Seated], runs: dict[int, RunRecord]
) -> None:
    """Every FAIL names its step and why, in its result and in the journal."""
    for one in seated:
        result = one.result
        if result.passed:
            continue
        assert result.failure_step is not None, result
        assert result.reason, result
        assert not result.reason.startswith("internal error"), result
        run = runs[result.run_id]
        assert (run.failure_step, run.failure_reason) == (
            result.failure_step.value,
            result.reason,
        )


@dataclass(frozen=True)
class Fault:
    """A fault row: a name, one misbehaviour per module, the outcome expected."""

    name: str
    kinds: tuple[str, ...]
    fails_at: Step | None = None
    reason: str = ""
    recovers: bool = False


# Four modules a fault; a fault that fires on one command hits a different
# command in each module.
LINK_FAULTS = (
    Fault("bit errors 1e-3", ("bit-errors:0.001",) * 4, recovers=True),
    Fault("dropped bytes 1e-3", ("drop-bytes:0.001",) * 4, recovers=True),
    Fault("repeated bytes 1e-3", ("repeat-bytes:0.001",) * 4, recovers=True),
    Fault("echo on", ("echo",) * 4),
    Fault("stray [$] lines 0.3", ("stray-lines:0.3",) * 4),
    Fault(
        "reset mid-command",
        tuple(
            f"reset-mid-command:{command}"
            for command in ("PVKEYGEN", "PVW#2", "PVWCOMMIT", "PVLOCK")
        ),
        recovers=True,
    ),
    Fault(
        "unplug and replug (0.5 s)",
        tuple(
            f"unplug:{command}"
            for command in ("PVREAD#2", "PVW#3", "PVWCOMMIT", "PVSIGN")
        ),
        recovers=True,
    ),
    # Longer than the 2 s of an ordinary command, well within key generation's.
    Fault("slow key generation (2.5 s)", ("slow-keygen:2.5",) * 4),
)
MODULE_FAULTS = (
    Fault("none (originals of the clones)", ("",) * 4),
    Fault(
        "full flash",
        ("flash-full",) * 4,
        fails_at=Step.KEYGEN,
        reason="ERROR: 6 (storage)",
    ),
    Fault(
        "wrong identity",
        ("wrong-identity",) * 4,
        fails_at=Step.PLAN_CHECK,
        reason=f"the plan of lot {LOT} gives it",
    ),
    Fault(
        "corrupted CSR",
        ("corrupt-csr",) * 4,
        fails_at=Step.CSR_CHECK,
        reason="CSR is not a valid DER PKCS#10 request",
    ),
    # Filled in with the slots of the originals: clone-of:<slot>.
    Fault(
        "cloned identity",
        ("clone-of",) * 4,
        fails_at=Step.CLONE_CHECK,
        reason="is already bound to another key",
    ),
)


def _specs(faults: Sequence[Fault]) -> tuple[list[str], list[str], list[int]]:
    """Fault names per slot, ``--misbehave`` specs, and the clone slots."""
    names: list[str] = []
    specs: list[str] = []
    clones: list[int] = []
    originals = iter(range(1, 5))
    for fault in faults:
        for kind in fault.kinds:
            names.append(fault.name)
            slot = len(names)
            if kind == "clone-of":
                specs.append(f"{slot}=clone-of:{next(originals)}")
                clones.append(slot)
            elif kind:
                specs.append(f"{slot}={kind}")
    return names, specs, clones


@pytest.mark.slow
def test_each_fault_in_turn_ends_as_expected(bench: Bench) -> None:
    first = 0
    for faults in (LINK_FAULTS, MODULE_FAULTS):
        names, specs, clones = _specs(faults)
        bench.run_round(names, specs, first=first, later=clones)
        first += len(names)
    issued = bench.check_issuance()

    print(f"\nfault matrix, {issued} certificates issued\n{_table(bench.seated)}")

    runs = {run.id: run for run in bench.station.journal.runs()}
    _assert_clear_failures(bench.seated, runs)
    by_fault = {fault.name: fault for fault in (*LINK_FAULTS, *MODULE_FAULTS)}
    for one in bench.seated:
        fault = by_fault[one.fault]
        result = one.result
        if fault.fails_at is None:
            assert result.passed, (fault.name, result.failure_step, result.reason)
            assert one.state == "LOCKED"
        else:
            assert (result.status, result.failure_step) == (
                RunStatus.FAIL,
                fault.fails_at,
            ), (fault.name, result.reason)
            assert fault.reason in result.reason
    for fault in by_fault.values():
        if fault.recovers:
            rows = [one for one in bench.seated if one.fault == fault.name]
            assert sum(one.resyncs for one in rows) >= len(rows), fault.name
    reopened = [one.reopens for one in bench.seated if one.fault.startswith("unplug")]
    assert reopened == [1, 1, 1, 1]


@pytest.mark.slow
def test_bit_errors_and_a_reset_mid_write_on_200_modules(bench: Bench) -> None:
    name = "bit errors 1e-4 + reset mid-write"
    for first in range(0, MODULES, SLOTS):
        count = min(SLOTS, MODULES - first)
        specs = [
            spec
            for slot in range(1, count + 1)
            for spec in (f"{slot}=bit-errors:0.0001", f"{slot}=reset-mid-command:PVW#2")
        ]
        bench.run_round([name] * count, specs, first=first)
    issued = bench.check_issuance()

    seated = bench.seated
    passed = sum(one.result.passed for one in seated)
    print(f"\n{MODULES} modules, {issued} certificates issued\n{_table(seated)}")

    assert len(seated) == MODULES
    assert passed >= 0.99 * MODULES
    assert [one.state for one in seated if one.result.passed] == ["LOCKED"] * passed
    runs = {run.id: run for run in bench.station.journal.runs()}
    _assert_clear_failures(seated, runs)
    assert all(run.status in (RunStatus.PASS, RunStatus.FAIL) for run in runs.values())
    assert all(one.resyncs >= 1 for one in seated), "a reset went unnoticed"
