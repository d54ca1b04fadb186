"""``station udev-rules``, run as a user runs it: a separate process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
EXAMPLE_MAP = "fixtures/fixture-map.example.toml"
EXAMPLE_RULES = ROOT / "udev" / "70-provision-slots.rules"


def _station(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "STATION_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "station", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
        check=False,
    )


def test_rules_for_the_example_map_are_the_shipped_rules() -> None:
    run = _station("udev-rules", "--fixture", EXAMPLE_MAP)

    assert run.returncode == 0, run.stderr
    assert run.stdout == EXAMPLE_RULES.read_text()


def test_output_file_gets_the_rules_and_the_command_says_so(tmp_path: Path) -> None:
    target = tmp_path / "70-provision-slots.rules"

    run = _station(
        "udev-rules",
        "--fixture",
        EXAMPLE_MAP,
        "--group",
        "provision",
        "--mode",
        "0600",
        "--output",
        str(target),
    )

    assert run.returncode == 0, run.stderr
    assert run.stdout == f"wrote rules for 8 slots to {target}\n"
    rules = target.read_text()
    assert rules.count('GROUP="provision", MODE="0600"') == 8
    assert "from fixtures/fixture-map.example.toml" in rules


def test_bad_fixture_map_exits_2_naming_file_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "map.toml"
    bad.write_text('[[slots]]\nname = "slot-1"\nusb_path = "ttyUSB3"\n')

    run = _station("udev-rules", "--fixture", str(bad), "--output", "x.rules")

    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.startswith(
        f"station: {bad}: line 3: slots.0.usb_path (slot 'slot-1'): 'ttyUSB3' is "
        "not a USB path"
    )
    assert not (ROOT / "x.rules").exists()


def test_group_that_would_inject_a_key_exits_2() -> None:
    run = _station(
        "udev-rules", "--fixture", EXAMPLE_MAP, "--group", 'dialout", RUN+="/bin/sh'
    )

    assert run.returncode == 2
    assert "is not a group name" in run.stderr
    assert run.stdout == ""


def test_missing_fixture_map_exits_2(tmp_path: Path) -> None:
    run = _station("udev-rules", "--fixture", str(tmp_path / "none.toml"))

    assert run.returncode == 2
    assert "cannot read fixture map" in run.stderr


def test_rules_come_from_a_station_configurations_fixture_table() -> None:
    config = _station("udev-rules", "--fixture", "fixtures/station.example.toml")
    standalone = _station("udev-rules", "--fixture", EXAMPLE_MAP)

    assert config.returncode == 0, config.stderr
    assert 'KERNELS=="1-1.1"' in config.stdout
    assert 'SYMLINK+="provision/slot-2"' in config.stdout
    assert 'ENV{ID_VENDOR_ID}=="10c4"' in config.stdout
    assert config.stdout.count("SYMLINK+=") == 2
    assert standalone.stdout.count("SYMLINK+=") == 8
