"""Fixtures for the simulator tests; the helpers they hand out live in
``sim_bench``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sim_bench import LOT_PLAN, NAMEPLATE, Bench, TestCa, Wire

from device_io.simulator.crypto_engine import CryptoEngine
from device_io.simulator.faults import Misbehaviour, build_plans
from device_io.simulator.firmware import Firmware, FirmwareLimits
from device_io.simulator.flash import Flash
from device_io.simulator.lot_plan import assign_slots, read_lot_plan
from device_io.simulator.simulator import Simulator, SimulatorConfig


@pytest.fixture(scope="session")
def ca() -> TestCa:
    return TestCa()


@pytest.fixture
def make_bench(tmp_path: Path, ca: TestCa) -> Callable[..., Bench]:
    """A factory of benches: fresh flash in tmp_path, no key generation delay."""

    def make(
        *flaws: Misbehaviour,
        name: str = "module",
        limits: FirmwareLimits | None = None,
        full: bool = False,
    ) -> Bench:
        firmware = Firmware(
            nameplate=NAMEPLATE,
            flash=Flash(tmp_path / f"{name}.json", full=full),
            limits=limits or FirmwareLimits(keygen_delay=0),
            engine=CryptoEngine(frozenset(flaws)),
        )
        return Bench(firmware, ca)

    return make


@pytest.fixture
def bench(make_bench: Callable[..., Bench]) -> Bench:
    return make_bench()


@pytest.fixture
def open_wire() -> Iterator[Callable[..., Wire]]:
    wires: list[Wire] = []

    def open_(port: str, **kwargs: float) -> Wire:
        wire = Wire(port, **kwargs)
        wires.append(wire)
        return wire

    yield open_
    for wire in wires:
        wire.close()


@pytest.fixture
def simulate(tmp_path: Path) -> Iterator[Callable[..., Simulator]]:
    """A factory of running simulators; every one is stopped at teardown."""
    started: list[Simulator] = []

    def start(
        slots: int = 1,
        *,
        misbehave: tuple[str, ...] = (),
        baud: int = 115200,
        keygen_delay: float = 0.0,
        state_dir: Path | None = None,
    ) -> Simulator:
        config = SimulatorConfig(
            state_dir=state_dir or tmp_path / "state",
            nameplates=assign_slots(read_lot_plan(LOT_PLAN), slots=slots, first=0),
            baud=baud,
            limits=FirmwareLimits(keygen_delay=keygen_delay),
            faults=build_plans(misbehave, slots=slots),
        )
        simulator = Simulator(config)
        simulator.start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        simulator.stop()
