"""Fixtures for the station: simulated modules on real ptys, a real token.

``line`` starts simulated modules in process (each on its own
pseudo-terminal), writes a station configuration for them over the session's
development PKI, and opens the station exactly as the command line does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from station_bench import Line

from device_io.simulator import (
    FirmwareLimits,
    Simulator,
    SimulatorConfig,
    assign_slots,
    build_plans,
    read_lot_plan,
)
from pki.devpki import DevPki
from station.assembly import open_station
from station.config import load_config
from station.demo import write_demo_config
from station.events import SlotEvent
from station.lot_import import import_lot
from station.lot_plan import read_lot_plan as read_station_plan
from station.workflow import Slot

LOT_PLAN = Path(__file__).parents[2] / "fixtures" / "lots" / "LOT-2026-0042.csv"


@pytest.fixture
def make_line(tmp_path: Path, dev_pki: DevPki) -> Iterator[Callable[..., Line]]:
    """A factory: ``make_line(slots=4, misbehave=("2=rsa-key",))``."""
    opened: list[Line] = []

    def start(
        slots: int = 1,
        *,
        misbehave: tuple[str, ...] = (),
        modules: Path = LOT_PLAN,
        firmware: str = "1.4.2",
    ) -> Line:
        """Seat ``slots`` modules from the plan ``modules`` (the station always
        runs the fixture lot's plan) with the given misbehaviours."""
        plates = read_lot_plan(modules, firmware=firmware)
        simulator = Simulator(
            SimulatorConfig(
                state_dir=tmp_path / "simulator",
                nameplates=assign_slots(plates, slots=slots, first=0),
                limits=FirmwareLimits(keygen_delay=0.0),
                faults=build_plans(misbehave, slots=slots),
            )
        )
        ports = simulator.start()
        fixture_slots = [Slot(f"slot-{p.slot}", p.link) for p in ports]
        config = load_config(write_demo_config(tmp_path, dev_pki, fixture_slots))
        import_lot(
            config,
            read_station_plan(LOT_PLAN, allowed_firmware=["1.4.2"]),
            supervisor="S0001",
            source=str(LOT_PLAN),
        )
        events: list[SlotEvent] = []
        station = open_station(
            config, operator="B0042", lot="LOT-2026-0042", listener=events.append
        )
        opened.append(Line(station, simulator, fixture_slots, events))
        return opened[-1]

    yield start
    for running in opened:
        running.station.close()
        running.simulator.stop()
