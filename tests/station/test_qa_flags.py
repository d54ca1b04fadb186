"""QA flags from the command line: listed, cleared with a note, audited."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from station_bench import Line

from station.audit import audit_log_path

MakeLine = Callable[..., Line]


def _station(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "station", "--config", str(config), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_a_clone_flag_is_listed_cleared_with_a_note_and_audited(
    make_line: MakeLine, tmp_path: Path
) -> None:
    line = make_line(slots=2, misbehave=("2=clone-of:1",))
    line.station.provisioner.provision(line.slots[0])
    clone = line.station.provisioner.provision(line.slots[1])
    config = tmp_path / "station.toml"

    listed = _station(config, "records", "flags")
    cleared = _station(
        config,
        "records",
        "clear-flags",
        "AMB82D001001",
        "--supervisor",
        "S0001",
        "--note",
        "slot-2 module is a counterfeit, scrapped",
    )
    after = _station(config, "records", "flags")
    again = _station(
        config,
        "records",
        "clear-flags",
        "AMB82D001001",
        "--supervisor",
        "S1",
        "--note",
        "x",
    )

    assert listed.returncode == 0, listed.stderr
    assert f"run {clone.run_id}  AMB82D001001  00:e0:4c:87:00:01  " in listed.stdout
    assert f"clone: {clone.reason}" in listed.stdout
    assert cleared.stdout.strip() == (
        f"AMB82D001001: 1 QA flag(s) cleared (runs {clone.run_id})"
    )
    assert after.stdout.strip() == "no open QA flags"
    assert (again.returncode, again.stderr.strip()) == (
        2,
        "station: module AMB82D001001 has no open QA flag",
    )
    last = json.loads(audit_log_path(line.station.config).read_text().splitlines()[-1])
    assert (last["event"], last["fields"]["operator"], last["fields"]["runs"]) == (
        "qa-flags-cleared",
        "S0001",
        str(clone.run_id),
    )
    (flag,) = line.station.journal.qa_flags()
    assert (flag.open, flag.cleared_by, flag.clearance) == (
        False,
        "S0001",
        "slot-2 module is a counterfeit, scrapped",
    )
