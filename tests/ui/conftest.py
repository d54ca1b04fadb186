"""Fixtures for the console: a station over simulated modules.

``make_bench`` starts simulated modules in process (each on its own real
pseudo-terminal), writes a station configuration over the session's
development PKI, and imports the fixture lot plan, so the console signs in
and provisions exactly as it would on a line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from console_bench import FIRMWARE, IMPORTED_AT, Bench, MakeBench

from device_io.simulator import (
    FirmwareLimits,
    Simulator,
    SimulatorConfig,
    assign_slots,
    build_plans,
    read_lot_plan,
)
from pki.devpki import DevPki
from station.config import load_config
from station.demo import write_demo_config
from station.lot_plan import read_lot_plan as read_station_plan
from station.lot_store import LotStore
from station.workflow import Slot

LOT_PLAN = Path(__file__).parents[2] / "fixtures" / "lots" / "LOT-2026-0042.csv"


@pytest.fixture
def make_bench(tmp_path: Path, dev_pki: DevPki) -> Iterator[MakeBench]:
    """A factory: ``make_bench(slots=2, misbehave=("2=rsa-key",))``."""
    simulators: list[Simulator] = []

    def start(
        slots: int = 1,
        *,
        misbehave: tuple[str, ...] = (),
        keygen_delay: float = 0.0,
        import_plan: bool = True,
    ) -> Bench:
        simulator = Simulator(
            SimulatorConfig(
                state_dir=tmp_path / "simulator",
                nameplates=assign_slots(
                    read_lot_plan(LOT_PLAN, firmware=FIRMWARE), slots=slots, first=0
                ),
                limits=FirmwareLimits(keygen_delay=keygen_delay),
                faults=build_plans(misbehave, slots=slots),
            )
        )
        simulators.append(simulator)
        ports = simulator.start()
        fixture_slots = [Slot(f"slot-{p.slot}", p.link) for p in ports]
        config = load_config(write_demo_config(tmp_path, dev_pki, fixture_slots))
        with LotStore(config.lots_path, clock=lambda: IMPORTED_AT) as lots:
            if not import_plan:
                return Bench(config, simulator)
            lots.import_plan(
                read_station_plan(LOT_PLAN, allowed_firmware=[FIRMWARE]),
                imported_by="S0001",
                source=LOT_PLAN.name,
            )
        return Bench(config, simulator)

    yield start
    for simulator in simulators:
        simulator.stop()
