"""``station conformance`` run as an operator runs it: a separate process
against a simulated module on a pty, reading its output and exit status."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
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

LOT_PLAN = Path(__file__).parents[2] / "fixtures" / "lots" / "LOT-2026-0042.csv"
PROJECT = Path(__file__).parents[2]


@pytest.fixture
def module(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start one simulated module, misbehaving as asked; its port."""
    started: list[Simulator] = []

    def start(*misbehave: str) -> str:
        config = SimulatorConfig(
            state_dir=tmp_path / "sim",
            nameplates=assign_slots(read_lot_plan(LOT_PLAN), slots=1, first=0),
            limits=FirmwareLimits(keygen_delay=0.0),
            faults=build_plans([f"1={kind}" for kind in misbehave], slots=1),
        )
        simulator = Simulator(config)
        simulator.start()
        started.append(simulator)
        return simulator.port(1).link

    yield start
    for simulator in started:
        simulator.stop()


def _station(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "station", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        timeout=120,
        check=False,
    )


def test_conforming_module_exits_0_and_is_left_empty(
    module: Callable[..., str],
) -> None:
    port = module()

    run = _station("conformance", "--port", port)

    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == f"PV conformance run on {port} (lock checks need --lock)"
    assert lines[1].startswith("PASS  link.sync ")
    assert "FAIL" not in run.stdout
    assert "SKIP  pvlock " in run.stdout
    assert "module AMB82D001001 left EMPTY (reset with AT+PVRESET=AMB82D001001)" in (
        run.stdout
    )


def test_broken_firmware_exits_1_naming_the_check_and_its_bytes(
    module: Callable[..., str],
) -> None:
    port = module("commit-skips-hash")

    run = _station("conformance", "--port", port)

    assert run.returncode == 1, run.stdout + run.stderr
    failure = run.stdout.split("FAIL  pvwcommit.hash-mismatch ", 1)[1]
    assert "expected ERROR: 4 (crc mismatch), got +PVWCOMMIT and OK" in failure
    assert "> AT+PVWCOMMIT" in failure
    assert "< +PVWCOMMIT:" in failure
    assert "failed: pvwcommit.hash-mismatch" in run.stdout


def test_missing_port_exits_2_with_one_clear_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-port"

    run = _station("conformance", "--port", str(missing))

    assert run.returncode == 2
    assert (
        run.stderr.strip() == f"station: no serial port at {missing} (port {missing})"
    )


@pytest.mark.parametrize(
    ("seconds", "why"),
    [
        ("-1", "must be a positive number of seconds"),
        ("0", "must be a positive number of seconds"),
        ("nan", "not a finite number of seconds"),
        ("inf", "not a finite number of seconds"),
        ("soon", "not a number of seconds"),
    ],
)
def test_a_keygen_timeout_that_is_not_a_positive_number_is_refused(
    seconds: str, why: str, tmp_path: Path
) -> None:
    run = _station(
        "conformance", "--port", str(tmp_path / "port"), "--keygen-timeout", seconds
    )

    assert run.returncode == 2
    assert f"argument --keygen-timeout: {why}" in run.stderr
    assert run.stdout == ""


def test_a_port_lost_mid_run_exits_2_and_ends_saying_where_it_went(
    module: Callable[..., str],
) -> None:
    port = module("unplug:PVKEYGEN")

    run = _station("conformance", "--port", port)

    assert run.returncode == 2, run.stdout
    assert "\nfailed:" not in run.stdout
    assert " 0 failed, " in run.stdout
    assert run.stdout.splitlines()[-1] == (
        f"the port {port} disappeared during check pvkeygen.new (unplugged, "
        "or its other end closed): no check after it ran"
    )
    assert "serial port failed" not in run.stdout + run.stderr
