"""The command line, run as its own process the way ``station simulate`` runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sim_bench import LOT_PLAN, Wire

from device_io.simulator import (
    Simulator,
    SimulatorConfig,
    assign_slots,
    main,
    read_lot_plan,
)


def _wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"no {path}: {process.communicate()}")
        time.sleep(0.02)


@pytest.fixture
def simulator_process(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "device_io.simulator",
            "--slots=3",
            f"--lot-plan={LOT_PLAN}",
            f"--state-dir={tmp_path / 'state'}",
            "--first-index=5",
            "--firmware=9.9.9",
            "--keygen-delay=0",
            "--max-line=512",
            "--misbehave=2=rsa-key",
            f"--ports-file={tmp_path / 'ports.json'}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield process
    if process.poll() is None:
        process.kill()
        process.communicate()


def test_cli_serves_every_slot_and_stops_cleanly_on_sigterm(
    simulator_process: subprocess.Popen[str], tmp_path: Path
) -> None:
    _wait_for(tmp_path / "ports.json", simulator_process)
    ports = json.loads((tmp_path / "ports.json").read_text())
    wire = Wire(ports[0]["link"])
    identity = wire.command("AT+PVID?")
    capabilities = wire.command("AT+PVCAP?")
    wire.close()

    simulator_process.send_signal(signal.SIGTERM)
    stdout, _ = simulator_process.communicate(timeout=10)

    assert simulator_process.returncode == 0
    assert [(p["slot"], p["serial"]) for p in ports] == [
        (1, "AMB82D001006"),
        (2, "AMB82D001007"),
        (3, "AMB82D001008"),
    ]
    assert identity[0].startswith('+PVID:"AMB82D001006"')
    assert '"9.9.9",EMPTY' in identity[0]
    assert capabilities == ["+PVCAP:1,512,4096", "OK"]
    for port in ports:
        assert f"slot {port['slot']}: {port['port']} link {port['link']}" in stdout
        assert not os.path.lexists(port["link"])


def test_cli_stops_on_sigint(
    simulator_process: subprocess.Popen[str], tmp_path: Path
) -> None:
    _wait_for(tmp_path / "ports.json", simulator_process)

    simulator_process.send_signal(signal.SIGINT)
    simulator_process.communicate(timeout=10)

    assert simulator_process.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--misbehave=9=echo"], "slot 9 is not in 1..2"),
        (["--misbehave=1=teleport"], "unknown misbehaviour"),
        (["--first-index=63"], "not enough for 2 slots"),
        (["--max-line=60"], "too short"),
        (["--keygen-delay=-1"], "keygen delay"),
        (["--keygen-delay=nan"], "keygen delay must be a finite number"),
        (["--keygen-delay=inf"], "keygen delay must be a finite number"),
        (["--misbehave=1=unplug:XYZ"], "'1=unplug:XYZ': unplug: no PV command"),
        (["--misbehave=2=clone-of:2"], "'2=clone-of:2': slot 2 cannot be a clone"),
        (
            [f"--scenario={LOT_PLAN.parents[1] / 'scenarios' / 'bad-modules.toml'}"],
            "slot 3 is not in 1..2",
        ),
    ],
)
def test_cli_refuses_a_bad_setup_with_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    base = ["--slots=2", f"--lot-plan={LOT_PLAN}", f"--state-dir={tmp_path}"]

    assert main([*base, *args]) == 2
    assert message in capsys.readouterr().err


def test_cli_help_lists_every_misbehaviour(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])

    out = capsys.readouterr().out
    assert "bad-challenge-signature" in out
    assert "reset-mid-command" in out


# A parent that starts the simulator, says its pid, then waits to be killed.
_PARENT = """
import subprocess, sys, time
child = subprocess.Popen(sys.argv[1:], stdout=sys.stderr, stderr=sys.stderr)
print(child.pid, flush=True)
time.sleep(60)
"""


def _gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie no one reaps counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 20
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_cli_with_exit_with_parent_stops_and_removes_links_when_parent_is_killed(
    tmp_path: Path,
) -> None:
    ports_file = tmp_path / "ports.json"
    log_path = tmp_path / "simulator.log"
    with log_path.open("w") as log:
        parent = subprocess.Popen(
            [
                *(sys.executable, "-c", _PARENT),
                *(sys.executable, "-m", "device_io.simulator", "--slots=2"),
                f"--lot-plan={LOT_PLAN}",
                f"--state-dir={tmp_path / 'state'}",
                f"--ports-file={ports_file}",
                "--exit-with-parent",
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        _until(lambda: ports_file.exists() or _gone(child))
        links = [port["link"] for port in json.loads(ports_file.read_text())]
        assert all(os.path.lexists(link) for link in links)

        parent.kill()
        parent.wait()
        _until(lambda: _gone(child))
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
        if not _gone(child):
            os.kill(child, signal.SIGKILL)

    assert _gone(child)
    assert not any(os.path.lexists(link) for link in links)
    assert "parent process" in log_path.read_text()


@pytest.mark.parametrize("pid", [1, os.getpid(), 999999])
def test_cli_refuses_an_exit_with_parent_pid_that_is_not_its_parent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pid: int
) -> None:
    ports_file = tmp_path / "ports.json"
    # This process is never its own parent, nor is init or a free PID.
    args = [
        "--slots=1",
        f"--lot-plan={LOT_PLAN}",
        f"--state-dir={tmp_path / 'state'}",
        f"--ports-file={ports_file}",
        f"--exit-with-parent={pid}",
    ]

    assert main(args) == 2

    assert f"--exit-with-parent {pid} is not the parent" in capsys.readouterr().err
    assert not ports_file.exists()


def test_a_second_simulator_on_the_same_state_dir_is_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    simulator_process: subprocess.Popen[str],
) -> None:
    _wait_for(tmp_path / "ports.json", simulator_process)
    links = sorted((tmp_path / "state" / "ports").iterdir())
    targets = [os.readlink(link) for link in links]
    args = ["--slots=3", f"--lot-plan={LOT_PLAN}", f"--state-dir={tmp_path / 'state'}"]

    assert main(args) == 2

    assert "another simulator is serving from" in capsys.readouterr().err
    assert [os.readlink(link) for link in links] == targets


def test_the_state_dir_is_free_again_once_a_simulator_stops(
    tmp_path: Path, simulator_process: subprocess.Popen[str]
) -> None:
    _wait_for(tmp_path / "ports.json", simulator_process)
    simulator_process.send_signal(signal.SIGTERM)
    simulator_process.communicate(timeout=20)

    config = SimulatorConfig(
        state_dir=tmp_path / "state",
        nameplates=assign_slots(read_lot_plan(LOT_PLAN), slots=1, first=0),
    )
    simulator = Simulator(config)
    simulator.start()
    simulator.stop()


def test_a_ports_file_that_cannot_be_written_is_named_as_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "--slots=1",
        f"--lot-plan={LOT_PLAN}",
        f"--state-dir={tmp_path / 'state'}",
        "--ports-file=/proc/x/y",
    ]

    assert main(args) == 2

    err = capsys.readouterr().err
    assert "cannot write /proc/x/y: " in err
    assert ".y.tmp" not in err


@pytest.mark.parametrize(
    "before", [["-v"], ["-vv"], ["--config", "station.toml"], ["--config=x.toml"]]
)
def test_station_global_options_before_simulate_are_accepted(
    before: list[str],
) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "station", *before, "simulate", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage: station simulate")
