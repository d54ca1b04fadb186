"""Fixtures for the simulator tests; the helpers they hand out live in
``sim_bench``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sim_bench import NAMEPLATE, Bench, TestCa

from device_io.simulator.crypto_engine import CryptoEngine
from device_io.simulator.faults import Misbehaviour
from device_io.simulator.firmware import Firmware, FirmwareLimits
from device_io.simulator.flash import Flash


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
