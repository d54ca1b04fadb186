"""A module unplugged during the chain write, through the real station.

Simulated modules on real ptys, reached through their stable links, a real
SoftHSM2 issuing CA and the station's own workflow. The module is pulled out
mid-write, either by the simulator's ``unplug`` fault (it comes back half a
second later) or from a listener on the write step (it comes back when the
test says so).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
from station.events import EventKind, SlotEvent
from station.job import ModuleResult
from station.journal import RunStatus
from station.lot_import import import_lot
from station.lot_plan import read_lot_plan as read_station_plan
from station.steps import Step
from station.workflow import Slot

LOT_PLAN = Path(__file__).parents[2] / "fixtures" / "lots" / "LOT-2026-0042.csv"
LOT = "LOT-2026-0042"


@dataclass
class Bench:
    """A station over simulated modules, slot 1 first."""

    station: Station
    simulator: Simulator
    slots: list[Slot]

    def provision(
        self, slot: int = 1, listener: Callable[[SlotEvent], None] | None = None
    ) -> ModuleResult:
        return self.station.provisioner.provision(
            self.slots[slot - 1], listener=listener or (lambda event: None)
        )

    def certificates(self, serial: str) -> list[str]:
        """Serials of every certificate the CA issued to ``serial``."""
        store = CaStore.open_sqlite(
            self.station.config.station.state_dir / "ca" / "ca-store.sqlite"
        )
        try:
            return [record.cert_serial for record in store.records_for_device(serial)]
        finally:
            store.close()

    def held_chain(self, slot: int = 1) -> bytes | None:
        """The chain committed in the module's flash, as the module holds it."""
        credential = self.simulator.firmware(slot).image.slot(0)
        return credential.chain if credential else None

    def wait_plugged(self, slot: int = 1) -> None:
        deadline = time.monotonic() + 5
        while not Path(self.simulator.port(slot).link).exists():
            assert time.monotonic() < deadline, "the module did not come back"
            time.sleep(0.01)

    def wait_unplugged(self, slot: int = 1) -> None:
        deadline = time.monotonic() + 5
        while self.simulator.port(slot).port:
            assert time.monotonic() < deadline, "the module did not go"
            time.sleep(0.01)


MakeBench = Callable[..., Bench]


@pytest.fixture
def make_bench(tmp_path: Path, dev_pki: DevPki) -> Iterator[MakeBench]:
    """A factory: ``make_bench(slots=2, misbehave=(...), reopen_wait=0.5)``."""
    opened: list[Bench] = []

    def start(
        slots: int = 1, *, misbehave: tuple[str, ...] = (), reopen_wait: float = 10.0
    ) -> Bench:
        simulator = Simulator(
            SimulatorConfig(
                state_dir=tmp_path / "simulator",
                nameplates=assign_slots(
                    read_lot_plan(LOT_PLAN, firmware="1.4.2"), slots=slots, first=0
                ),
                limits=FirmwareLimits(keygen_delay=0.0),
                faults=build_plans(misbehave, slots=slots),
            )
        )
        ports = simulator.start()
        fixture = [Slot(f"slot-{port.slot}", port.link) for port in ports]
        path = write_demo_config(tmp_path, dev_pki, fixture)
        text = path.read_text(encoding="utf-8")
        path.write_text(
            text.replace("[link]\n", f"[link]\nreopen_wait = {reopen_wait}\n", 1),
            encoding="utf-8",
        )
        config = load_config(path)
        plan = read_station_plan(LOT_PLAN, allowed_firmware=["1.4.2"])
        import_lot(config, plan, supervisor="S0001", source=str(LOT_PLAN))
        station = open_station(config, operator="B0042", lot=LOT)
        opened.append(Bench(station, simulator, fixture))
        return opened[-1]

    yield start
    for bench in opened:
        bench.station.close()
        bench.simulator.stop()


def unplug_during_write(
    bench: Bench, *, replug_after: float | None
) -> Callable[[SlotEvent], None]:
    """A listener that pulls the module out once its first chunk is written."""
    pulled: list[SlotEvent] = []

    def listener(event: SlotEvent) -> None:
        if event.kind is EventKind.PROGRESS and event.step is Step.WRITE and not pulled:
            pulled.append(event)
            bench.simulator.unplug(1, replug_after=replug_after)

    return listener


def test_a_module_unplugged_mid_write_and_replugged_passes_with_one_certificate(
    make_bench: MakeBench, caplog: pytest.LogCaptureFixture
) -> None:
    bench = make_bench(misbehave=("1=unplug:PVW#3",))

    with caplog.at_level(logging.INFO, logger="device_io"):
        result = bench.provision()

    assert result.status is RunStatus.PASS, result.reason
    assert result.serial == "AMB82D001001"
    assert bench.certificates("AMB82D001001") == [result.cert_serial]
    run = bench.station.journal.run(result.run_id)
    assert bench.held_chain() == run.chain_der
    assert bench.simulator.firmware(1).state == "LOCKED"
    write_rows = [
        (row.phase, row.ok)
        for row in bench.station.journal.steps(result.run_id)
        if row.step == Step.WRITE.value
    ]
    assert write_rows == [("intent", None), ("outcome", True)]
    (outcome,) = [
        row
        for row in bench.station.journal.steps(result.run_id)
        if (row.step, row.phase) == (Step.WRITE.value, "outcome")
    ]
    assert "(recovered: reopened after serial port failed" in outcome.detail
    recovery = [
        record.getMessage()
        for record in caplog.records
        if record.name == "device_io.session" and record.levelno == logging.WARNING
    ]
    assert any(
        "slot slot-1 module AMB82D001001" in message
        and "write CHAIN failed (serial port failed" in message
        for message in recovery
    ), recovery
    assert any("waiting up to 10 s" in message for message in recovery), recovery


def test_a_module_not_back_in_time_fails_at_write_and_a_later_run_finishes_it(
    make_bench: MakeBench,
) -> None:
    bench = make_bench(reopen_wait=0.3)

    failed = bench.provision(listener=unplug_during_write(bench, replug_after=None))

    assert failed.status is RunStatus.FAIL
    assert failed.failure_step is Step.WRITE
    assert failed.reason == "module unplugged and not back within 0.3 s"
    recorded = bench.station.journal.run(failed.run_id)
    assert (recorded.failure_step, recorded.failure_reason) == ("write", failed.reason)
    assert bench.held_chain() is None

    bench.simulator.replug(1)
    bench.wait_plugged()
    finished = bench.provision()

    assert finished.status is RunStatus.PASS, finished.reason
    assert finished.cert_serial == failed.cert_serial
    assert bench.certificates("AMB82D001001") == [failed.cert_serial]
    assert bench.held_chain() == bench.station.journal.run(finished.run_id).chain_der


def test_a_module_replugged_within_the_wait_from_a_listener_passes(
    make_bench: MakeBench,
) -> None:
    bench = make_bench(reopen_wait=5)

    result = bench.provision(listener=unplug_during_write(bench, replug_after=0.2))

    assert result.status is RunStatus.PASS, result.reason
    assert bench.certificates("AMB82D001001") == [result.cert_serial]


def test_a_different_module_seated_during_the_write_fails_the_write_clearly(
    make_bench: MakeBench,
) -> None:
    bench = make_bench(slots=2)
    link = Path(bench.slots[0].port)
    swapped: list[SlotEvent] = []

    def swap(event: SlotEvent) -> None:
        if event.kind is EventKind.PROGRESS and event.step is Step.WRITE:
            if swapped:
                return
            swapped.append(event)
            # The operator pulls the module and seats slot 2's in its place.
            bench.simulator.unplug(1, replug_after=None)
            bench.wait_unplugged(1)
            link.symlink_to(bench.simulator.port(2).port)

    result = bench.provision(listener=swap)

    assert result.status is RunStatus.FAIL
    assert result.failure_step is Step.WRITE
    assert result.reason.startswith(
        "a different module was seated: AMB82D001002 (00:e0:4c:87:00:02) answers "
        "where AMB82D001001 (00:e0:4c:87:00:01) was identified"
    )
    assert bench.simulator.firmware(2).state == "EMPTY"
    assert bench.held_chain(1) is None
