"""Bindings from another station's export make its clones refusable here."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from station_bench import Line

from pki.devpki import DevPki
from station.audit import audit_log_path
from station.config import StationConfig
from station.demo import write_demo_config
from station.export import ExportError, ExportFiles, export_lot
from station.journal import Journal
from station.records_import import import_records
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

    imported = _station(
        "--config",
        str(config),
        "records",
        "import",
        str(files.json),
        "--supervisor",
        "S0001",
    )
    clone = line.station.provisioner.provision(line.slots[1])

    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == (
        f"{files.json}: 1 certificate bindings, 1 new (0 records without a certificate)"
    )
    assert clone.failure_step is Step.CLONE_CHECK
    assert f"(import from {files.json.name} on station demo-station slot-1" in (
        clone.reason
    )
    entries = audit_log_path(line.station.config).read_text().splitlines()
    imported_entry = json.loads(entries[-2])
    assert imported_entry["event"] == "records-imported"
    assert imported_entry["fields"] == {
        "station": "demo-station",
        "operator": "S0001",
        "source": files.json.name,
        "file_sha256": hashlib.sha256(files.json.read_bytes()).hexdigest(),
        "from_station": "station-b",
        "lot": "LOT-2026-0042",
        "bindings": 1,
        "new": 1,
        "conflicts": 0,
    }


def _provisioned_and_exported(
    make_line: MakeLine, tmp_path: Path, station: str
) -> tuple[StationConfig, ExportFiles]:
    """A station that provisioned one module, and its lot export as ``station``."""
    line = make_line()
    line.station.provisioner.provision(line.slots[0])
    config = line.station.config
    files = export_lot(
        config.journal_path, "LOT-2026-0042", station=station, out=tmp_path
    )
    return config, files


def test_importing_the_same_export_again_adds_nothing_and_audits_nothing(
    make_line: MakeLine, tmp_path: Path
) -> None:
    config, files = _provisioned_and_exported(make_line, tmp_path, "station-b")
    import_records(config, files.json, supervisor="S0001")
    audit = audit_log_path(config)
    before = audit.read_bytes()

    again = import_records(config, files.json, supervisor="S0001")

    assert (again.bindings, again.new) == (1, 0)
    assert audit.read_bytes() == before


def test_this_stations_own_export_is_refused(
    make_line: MakeLine, tmp_path: Path
) -> None:
    config, files = _provisioned_and_exported(make_line, tmp_path, "demo-station")

    with pytest.raises(ExportError) as refused:
        import_records(config, files.json, supervisor="S0001")

    assert str(refused.value) == (
        f"{files.json}: an export of this station (demo-station); its records "
        "are in this station's journal already"
    )


def test_import_without_a_supervisor_badge_is_refused(
    tmp_path: Path, dev_pki: DevPki
) -> None:
    config = write_demo_config(tmp_path, dev_pki, [])

    run = _station("--config", str(config), "records", "import", "x.json")

    assert run.returncode == 2
    assert "--supervisor" in run.stderr


def test_import_of_a_malformed_export_names_the_file(
    tmp_path: Path, dev_pki: DevPki
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "nope"}')
    config = write_demo_config(tmp_path, dev_pki, [])

    run = _station(
        "--config", str(config), "records", "import", str(bad), "--supervisor", "S1"
    )

    assert run.returncode == 2
    assert run.stderr.startswith(f"station: {bad}")


def test_an_import_binding_a_module_here_to_another_key_flags_it_for_qa(
    make_line: MakeLine, tmp_path: Path
) -> None:
    config, files = _provisioned_and_exported(make_line, tmp_path, "station-b")
    document = json.loads(files.json.read_text())
    (record,) = [r for r in document["records"] if r["cert_serial"]]
    mine = record["spki_sha256"]
    record.update(spki_sha256="ab" * 32, cert_serial="0123456789abcdef01")
    document["records"] = [record]
    document["header"]["count"] = 1
    other = tmp_path / "station-b.json"
    other.write_text(json.dumps(document))

    run = _station(
        "--config",
        str(tmp_path / "station.toml"),
        *("records", "import", str(other), "--supervisor", "S0001"),
    )
    again = import_records(config, other, supervisor="S0001")

    assert run.returncode == 1, run.stderr
    summary, conflict = run.stdout.strip().splitlines()
    assert summary.endswith(
        "1 certificate bindings, 1 new (0 records without a certificate)"
    )
    conflict = conflict.strip()
    assert conflict.endswith("; flagged for QA")
    assert conflict.startswith(
        "clone suspected: station demo-station certified serial AMB82D001001, MAC "
        f"00:e0:4c:87:00:01 with another key (key {'ab' * 8}, certificate "
        "0123456789abcdef, in station-b.json); here, run 1 on station "
        f"demo-station: serial AMB82D001001, MAC 00:e0:4c:87:00:01, key {mine[:16]}"
    )
    assert again.conflicts == ()
    with Journal(config.journal_path, station="demo-station") as journal:
        (flag,) = journal.qa_flags()
    assert (flag.run_id, flag.reason, flag.open) == (1, conflict, True)
