"""The station command line, run as a user runs it: a separate process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pki.devpki import DevPki
from station.demo import write_demo_config
from station.workflow import Slot

LOT_PLAN = Path(__file__).parents[2] / "fixtures" / "lots" / "LOT-2026-0042.csv"


def _station(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "station", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_demo_provisions_four_modules_and_writes_verifiable_chains(
    tmp_path: Path,
) -> None:
    out = tmp_path / "demo-out"

    run = _station("demo", "--out", str(out), "--keygen-delay", "0.1", cwd=tmp_path)

    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count(" PASS") == 4
    assert "4 of 4 modules passed" in run.stdout
    chains = sorted(out.glob("*.chain.pem"))
    assert len(chains) == 4
    for chain in chains:
        verify = subprocess.run(
            [
                "openssl",
                "verify",
                "-CAfile",
                str(out / "root.pem"),
                "-untrusted",
                str(out / "issuing.pem"),
                str(chain),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert verify.stdout.strip() == f"{chain}: OK", verify.stderr


def test_demo_run_twice_starts_fresh(tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    first = _station("demo", "--out", str(out), "--slots", "1", cwd=tmp_path)

    second = _station("demo", "--out", str(out), "--slots", "1", cwd=tmp_path)

    assert (first.returncode, second.returncode) == (0, 0), second.stderr
    assert "1 of 1 modules passed" in second.stdout


def test_demo_refuses_to_wipe_a_folder_it_did_not_make(tmp_path: Path) -> None:
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.txt").write_text("keep me")

    run = _station("demo", "--out", str(out), cwd=tmp_path)

    assert run.returncode == 2
    assert "was not made by the demo" in run.stderr
    assert (out / "thesis.txt").read_text() == "keep me"


def test_demo_with_a_misbehaving_module_exits_1_naming_the_failure(
    tmp_path: Path,
) -> None:
    out = tmp_path / "demo-out"

    run = _station(
        "demo",
        "--out",
        str(out),
        "--slots",
        "2",
        "--misbehave",
        "2=rsa-key",
        cwd=tmp_path,
    )

    assert run.returncode == 1
    assert "FAIL at check CSR: CSR key is RSA, expected EC P-256" in run.stdout
    assert "1 of 2 modules passed" in run.stdout


@pytest.mark.parametrize("port", ["/dev/no-such-tty", "relative/missing"])
def test_provision_on_a_missing_port_fails_cleanly(
    tmp_path: Path, dev_pki: DevPki, port: str
) -> None:
    config = write_demo_config(tmp_path, dev_pki, [Slot("slot-1", port)])
    _import_lot(config, tmp_path)

    run = _station(
        "--config",
        str(config),
        "provision",
        "--port",
        port,
        "--operator",
        "B1",
        "--lot",
        "LOT-2026-0042",
        cwd=tmp_path,
    )

    assert run.returncode == 1
    assert f"FAIL at connect: no serial port at {port}" in run.stdout
    assert "Traceback" not in run.stderr


def _import_lot(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    run = _station(
        "--config",
        str(config),
        "lot",
        "import",
        str(LOT_PLAN),
        "--firmware",
        "1.4.2",
        "--supervisor",
        "S7",
        cwd=cwd,
    )
    assert run.returncode == 0, run.stderr
    return run


def test_lot_import_then_list_shows_the_plan(tmp_path: Path, dev_pki: DevPki) -> None:
    config = write_demo_config(tmp_path, dev_pki, [])

    imported = _import_lot(config, tmp_path)
    again = _import_lot(config, tmp_path)
    listed = _station("--config", str(config), "lot", "list", cwd=tmp_path)

    assert imported.stdout.strip() == (
        "lot LOT-2026-0042: imported, 64 modules, firmware 1.4.2"
    )
    assert "lot LOT-2026-0042: unchanged" in again.stdout
    assert listed.stdout.startswith("LOT-2026-0042  64 modules  firmware 1.4.2  ")
    assert listed.stdout.rstrip().endswith("UTC by S7")


def test_lot_import_of_a_malformed_plan_names_the_line(
    tmp_path: Path, dev_pki: DevPki
) -> None:
    config = write_demo_config(tmp_path, dev_pki, [])
    bad = tmp_path / "bad.csv"
    bad.write_text("serial,mac,model,lot\nS1,zz:e0:4c:87:00:01,AMB82,L1\n")

    run = _station(
        "--config",
        str(config),
        "lot",
        "import",
        str(bad),
        "--firmware",
        "1.4.2",
        "--supervisor",
        "S7",
        cwd=tmp_path,
    )

    assert run.returncode == 2
    assert run.stderr.startswith(f"station: {bad}, line 2: invalid mac 'zz:e0")


def test_provision_of_a_lot_never_imported_names_the_lots_there(
    tmp_path: Path, dev_pki: DevPki
) -> None:
    config = write_demo_config(tmp_path, dev_pki, [])
    _import_lot(config, tmp_path)

    run = _station(
        "--config",
        str(config),
        "provision",
        "--port",
        "/dev/ttyUSB0",
        "--operator",
        "B1",
        "--lot",
        "LOT-9",
        cwd=tmp_path,
    )

    assert run.returncode == 2
    assert run.stderr.strip() == (
        "station: no plan imported for lot LOT-9 (imported: LOT-2026-0042)"
    )


def test_provision_without_a_config_says_where_it_looked(tmp_path: Path) -> None:
    run = _station(
        "provision",
        "--port",
        "/dev/ttyUSB0",
        "--operator",
        "B1",
        "--lot",
        "L1",
        cwd=tmp_path,
    )

    assert run.returncode == 2
    assert run.stderr.strip() == (
        "station: no configuration file station.toml (from the current folder)"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["provision", "--port", "/dev/x", "--operator", "", "--lot", "L"],
            "argument --operator: a badge '' is not a badge id",
        ),
        (
            ["provision", "--port", "/dev/x", "--operator", "x y", "--lot", "L"],
            "argument --operator: a badge 'x y' is not a badge id",
        ),
        (
            [
                *("provision", "--port", "/dev/x", "--slot", "bad slot"),
                *("--operator", "B1", "--lot", "L"),
            ],
            "argument --slot: slot name 'bad slot' breaks the rule",
        ),
        (
            ["lot", "import", "f.csv", "--firmware", "1", "--supervisor", "=1+1"],
            "argument --supervisor: a badge '=1+1' is not a badge id",
        ),
        (
            ["demo", "--keygen-delay", "nan"],
            "argument --keygen-delay: not a finite number of seconds: nan",
        ),
        (["demo", "--slots", "abc"], "argument --slots: not a whole number: 'abc'"),
    ],
)
def test_a_bad_badge_slot_or_number_is_refused_before_anything_runs(
    tmp_path: Path, args: list[str], message: str
) -> None:
    run = _station(*args, cwd=tmp_path)

    assert run.returncode == 2
    assert message in run.stderr


def test_slot_with_all_is_refused(tmp_path: Path, dev_pki: DevPki) -> None:
    config = write_demo_config(tmp_path, dev_pki, [Slot("slot-1", "/dev/x")])
    _import_lot(config, tmp_path)

    run = _station(
        "--config",
        str(config),
        "provision",
        "--all",
        "--slot",
        "slot-1",
        "--operator",
        "B1",
        "--lot",
        "LOT-2026-0042",
        cwd=tmp_path,
    )

    assert run.returncode == 2
    assert "--slot names the slot of --port only" in run.stderr


def test_files_that_cannot_be_used_give_one_line_not_a_traceback(
    tmp_path: Path,
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(b"[station]\nname = '\xe9'\n")

    runs = {
        "demo into a file": _station("demo", "--out", str(a_file), cwd=tmp_path),
        "pki into a file": _station("pki", "init", "--dir", str(a_file), cwd=tmp_path),
        "bad base url": _station(
            "pki",
            "init",
            "--dir",
            str(tmp_path / "p1"),
            "--base-url",
            "nope",
            cwd=tmp_path,
        ),
        "empty organization": _station(
            "pki",
            "init",
            "--dir",
            str(tmp_path / "p2"),
            "--organization",
            "",
            cwd=tmp_path,
        ),
        "long organization": _station(
            "pki",
            "init",
            "--dir",
            str(tmp_path / "p3"),
            "--organization",
            "O" * 300,
            cwd=tmp_path,
        ),
        "config not UTF-8": _station(
            "--config", str(latin1), "lot", "list", cwd=tmp_path
        ),
        "config is a folder": _station(
            "--config", str(tmp_path), "lot", "list", cwd=tmp_path
        ),
    }

    for what, run in runs.items():
        assert run.returncode == 2, what
        assert "Traceback" not in run.stderr, (what, run.stderr)
        assert len(run.stderr.strip().splitlines()) == 1, (what, run.stderr)
    assert not (tmp_path / "p3").exists()
    assert "is not UTF-8 text" in runs["config not UTF-8"].stderr
    assert "is a folder, not a file" in runs["config is a folder"].stderr
    assert "at most 46 fit in the CA names" in runs["long organization"].stderr


def test_lot_import_refuses_models_the_product_line_cannot_certify(
    tmp_path: Path, dev_pki: DevPki
) -> None:
    config = write_demo_config(tmp_path, dev_pki, [])
    plan = tmp_path / "bw16.csv"
    plan.write_text("serial,mac,model,lot\nS1,00:e0:4c:00:00:01,BW16,L9\n")

    run = _station(
        "--config",
        str(config),
        "lot",
        "import",
        str(plan),
        "--firmware",
        "1",
        "--supervisor",
        "S7",
        cwd=tmp_path,
    )

    assert run.returncode == 2
    assert run.stderr.strip() == (
        f"station: {plan}: model BW16 is not in product line demo (AMB82); "
        "no certificate could be issued"
    )


def test_lot_import_refuses_serials_planned_in_another_lot(
    tmp_path: Path, dev_pki: DevPki
) -> None:
    config = write_demo_config(tmp_path, dev_pki, [])
    _import_lot(config, tmp_path)
    again = tmp_path / "again.csv"
    again.write_text(
        "serial,mac,model,lot\nAMB82D001001,00:e0:4c:87:00:01,AMB82,LOT-9\n"
    )

    run = _station(
        "--config",
        str(config),
        "lot",
        "import",
        str(again),
        "--firmware",
        "1",
        "--supervisor",
        "S7",
        cwd=tmp_path,
    )

    assert run.returncode == 2
    assert run.stderr.strip() == (
        f"station: {again}: 2 serials or MACs are planned in another lot already: "
        "serial AMB82D001001 in lot LOT-2026-0042; MAC 00:e0:4c:87:00:01 in lot "
        "LOT-2026-0042"
    )


def test_a_missing_softhsm_configuration_is_named(
    tmp_path: Path, dev_pki: DevPki
) -> None:
    config = write_demo_config(tmp_path, dev_pki, [])
    text = config.read_text()
    config.write_text(text.replace(str(dev_pki.issuing.softhsm_conf), "/nope.conf"))
    _import_lot(config, tmp_path)

    run = _station(
        "--config",
        str(config),
        "provision",
        "--port",
        "/dev/x",
        "--operator",
        "B1",
        "--lot",
        "LOT-2026-0042",
        cwd=tmp_path,
    )

    assert run.returncode == 2
    assert run.stderr.strip() == (
        "station: issuer.local_hsm.softhsm2_conf: no such file /nope.conf"
    )


def test_demo_names_a_bad_misbehave_before_it_starts(tmp_path: Path) -> None:
    out = tmp_path / "demo-out"

    run = _station("demo", "--out", str(out), "--misbehave", "9=echo", cwd=tmp_path)

    assert run.returncode == 2
    assert run.stderr.strip() == "station: --misbehave: '9=echo': slot 9 is not in 1..4"
    assert not out.exists()


def test_demo_names_too_many_slots_before_it_starts(tmp_path: Path) -> None:
    out = tmp_path / "demo-out"

    run = _station("demo", "--out", str(out), "--slots", "65", cwd=tmp_path)

    assert run.returncode == 2
    assert run.stderr.strip() == (
        "station: --slots 65: the demo lot plan has 64 modules"
    )
    assert run.stdout == ""
    assert not out.exists()
