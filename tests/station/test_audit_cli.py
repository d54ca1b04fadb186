"""``station audit verify|repair`` run as a user runs them: a separate process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pki.devpki import DevPki
from station.audit import AuditLog
from station.demo import write_demo_config


def _station(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "station", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )


@pytest.fixture
def config(tmp_path: Path, dev_pki: DevPki) -> Path:
    """A station configuration whose state folder holds a log of three entries."""
    path = write_demo_config(tmp_path, dev_pki, [])
    with AuditLog(tmp_path / "state" / "audit.log") as log:
        for serial in ("01", "02", "03"):
            log.append("revoked", cert_serial=serial, reason=None)
    return path


def test_verify_of_the_configured_log_prints_ok_with_count_and_head(
    tmp_path: Path, config: Path
) -> None:
    with AuditLog(tmp_path / "state" / "audit.log") as log:
        head = log.head()

    run = _station("--config", str(config), "audit", "verify", cwd=tmp_path)

    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout == f"audit log OK: 3 entries, head {head.hash}\n"


def test_verify_of_a_damaged_log_prints_each_problem_and_exits_1(
    tmp_path: Path, config: Path
) -> None:
    log = tmp_path / "state" / "audit.log"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(lines[1] + lines[0] + lines[2].replace(b"03", b"04"))

    run = _station("--config", str(config), "audit", "verify", cwd=tmp_path)

    assert run.returncode == 1
    assert run.stdout.splitlines() == [
        f"audit log {log}: 2 problem(s)",
        "  line 2, entry 1: out of order: written after entry 2 (line 1)",
        "  line 3, entry 3: edited: its content does not match its hash",
    ]


def test_verify_of_a_log_named_on_the_command_line_needs_no_config(
    tmp_path: Path, config: Path
) -> None:
    log = tmp_path / "state" / "audit.log"
    log.write_bytes(log.read_bytes().splitlines(keepends=True)[0])

    run = _station("audit", "verify", "--log", str(log), cwd=tmp_path)

    assert run.returncode == 1
    assert "entries 2 to 3 missing: the anchor file audit.anchor names entry 3" in (
        run.stdout
    )


def test_verify_against_an_anchor_kept_elsewhere(tmp_path: Path, config: Path) -> None:
    log = tmp_path / "state" / "audit.log"
    with AuditLog(log) as opened:
        kept = str(opened.head())
    log.write_bytes(b"")
    (tmp_path / "state" / "audit.anchor").write_text(f"0:{'0' * 64}\n")

    run = _station("audit", "verify", "--log", str(log), "--anchor", kept, cwd=tmp_path)

    assert run.returncode == 1
    assert "entries 1 to 3 missing: the anchor given names entry 3" in run.stdout


def test_verify_refuses_a_malformed_anchor(tmp_path: Path, config: Path) -> None:
    run = _station(
        "--config", str(config), "audit", "verify", "--anchor", "3:xyz", cwd=tmp_path
    )

    assert run.returncode == 2
    assert "not an audit anchor (<seq>:<64 hex>): '3:xyz'" in run.stderr


def test_verify_of_a_missing_log_exits_2_naming_it(tmp_path: Path) -> None:
    run = _station("audit", "verify", "--log", "nope.log", cwd=tmp_path)

    assert run.returncode == 2
    assert run.stderr.startswith("station: cannot read audit log nope.log")


def test_repair_after_a_torn_write_lets_verify_pass_again(
    tmp_path: Path, config: Path
) -> None:
    log = tmp_path / "state" / "audit.log"
    with log.open("ab") as raw:
        raw.write(b'{"event":"revo')

    torn = _station("--config", str(config), "audit", "verify", cwd=tmp_path)
    repair = _station(
        "--config", str(config), "audit", "repair", "--operator", "S7", cwd=tmp_path
    )
    after = _station("--config", str(config), "audit", "verify", cwd=tmp_path)

    assert torn.returncode == 1
    assert "line 4, entry 4: torn final line: 14 bytes with no line end" in torn.stdout
    assert repair.returncode == 0, repair.stderr
    assert repair.stdout.startswith("audit log repaired: 14 torn bytes moved to ")
    assert repair.stdout.endswith(", recorded as entry 4\n")
    assert after.stdout.startswith("audit log OK: 4 entries")


def test_verify_names_a_journal_that_kept_none_of_a_long_logs_heads(
    tmp_path: Path, config: Path
) -> None:
    with AuditLog(tmp_path / "state" / "audit.log") as log:
        for serial in range(4, 13):
            log.append("revoked", cert_serial=f"{serial:02}", reason=None)

    run = _station("--config", str(config), "audit", "verify", cwd=tmp_path)

    assert run.returncode == 1
    assert run.stdout.splitlines() == [
        f"audit log {tmp_path}/state/audit.log: 1 problem(s)",
        f"  journal: {tmp_path}/state/journal.sqlite kept none of the heads of the "
        "log's 12 entries: it is not this log's journal",
    ]
