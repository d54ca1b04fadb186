"""Bindings from another station's export make its clones refusable here."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from station_bench import Line

from pki.devpki import DevPki
from station.demo import write_demo_config
from station.export import export_lot
from station.steps import Step

MakeLine = Callable[..., Line]


def _station(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "station", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_module_bound_on_another_station_is_refused_as_a_clone(
    make_line: MakeLine, tmp_path: Path
) -> None:
    line = make_line(slots=2, misbehave=("2=clone-of:1",))
    line.station.provisioner.provision(line.slots[0])
    files = export_lot(
        line.station.config.journal_path,
        "LOT-2026-0042",
        station="station-b",
        out=tmp_path / "exports",
    )
    # Forget this station's own record: the binding must now come from the
    # imported export alone, as it would on a second station.
    line.station.journal._db.execute("UPDATE runs SET cert_serial = NULL")
    config = tmp_path / "station.toml"

    imported = _station("--config", str(config), "records", "import", str(files.json))
    clone = line.station.provisioner.provision(line.slots[1])

    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == (
        f"{files.json}: 1 certificate bindings, 1 new (0 records without a certificate)"
    )
    assert clone.failure_step is Step.CLONE_CHECK
    assert f"(import from {files.json.name} on station demo-station slot-1" in (
        clone.reason
    )


def test_import_of_a_malformed_export_names_the_file(
    tmp_path: Path, dev_pki: DevPki
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "nope"}')
    config = write_demo_config(tmp_path, dev_pki, [])

    run = _station("--config", str(config), "records", "import", str(bad))

    assert run.returncode == 2
    assert run.stderr.startswith(f"station: {bad}")
