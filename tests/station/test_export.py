"""Per-lot exports: CSV and JSON from a real journal, escaped, atomic, read back."""

from __future__ import annotations

import csv
import datetime
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from pki.devpki import DevPki
from station.csv_safety import escape_cell
from station.demo import write_demo_config
from station.export import ExportError, export_lot, read_export
from station.journal import Journal, RunStatus

T0 = datetime.datetime(2026, 12, 1, 8, 0, tzinfo=datetime.UTC)
LOT = "LOT-2026-0042"
ISSUER = x509.Name(
    [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Devices"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Example Issuing CA"),
    ]
)
COLUMNS = [
    "serial",
    "mac",
    "model",
    "lot",
    "firmware",
    "cert_serial",
    "cert_sha256",
    "not_before",
    "not_after",
    "issuer",
    "station",
    "slot",
    "operator",
    "started_at",
    "ended_at",
    "outcome",
    "failure_step",
    "failure_reason",
    "spki_sha256",
    "run_id",
]
HOSTILE = [
    '=HYPERLINK("http://127.0.0.1/x","open")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
]


class _Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime.datetime:
        self.now += datetime.timedelta(seconds=1)
        return self.now


_ISSUER_KEY = ec.generate_private_key(ec.SECP256R1())


def _certificate(serial: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, serial)]))
        .issuer_name(ISSUER)
        .public_key(key.public_key())
        .serial_number(0x7D2008FEAF6991B3)
        .not_valid_before(T0)
        .not_valid_after(T0 + datetime.timedelta(days=3650))
        .sign(_ISSUER_KEY, hashes.SHA256())
    )
    return certificate.public_bytes(Encoding.DER)


class _Line:
    """Writes runs into a real journal the way the workflow does."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def run(
        self,
        number: int,
        *,
        lot: str = LOT,
        status: RunStatus = RunStatus.PASS,
        reason: str | None = None,
        kind: str = "provision",
    ) -> int:
        serial = f"AMB82D00{number:04}"
        run = self.journal.start_run(
            slot=f"slot-{number % 4 + 1}",
            port="/dev/ttyUSB0",
            operator="B0042",
            kind=kind,
        )
        self.journal.record_identity(
            run,
            serial=serial,
            mac=f"00:e0:4c:87:00:{number:02x}",
            model="AMB82",
            lot=lot,
            firmware="1.4.2",
        )
        if status is RunStatus.PASS:
            self.journal.record_key(run, f"{number:02x}" * 32)
            der = _certificate(serial)
            self.journal.record_certificate(
                run, cert_serial="7d2008feaf6991b3", cert_der=der, chain_der=der
            )
        failure = {"failure_step": "check CSR", "failure_reason": reason}
        self.journal.finish(run, status, **(failure if reason else {}))
        return run


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "journal.sqlite"


@pytest.fixture
def line(journal_path: Path) -> Iterator[_Line]:
    with Journal(journal_path, station="ST-1", clock=_Clock()) as journal:
        yield _Line(journal)


def _export(journal_path: Path, out: Path, lot: str = LOT) -> tuple[Path, Path]:
    files = export_lot(journal_path, lot, station="ST-1", out=out, clock=_Clock())
    return files.csv, files.json


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as text:
        return list(csv.DictReader(text))


def test_each_run_of_the_lot_is_one_record_in_both_files(
    line: _Line, journal_path: Path, tmp_path: Path
) -> None:
    passed = line.run(1)
    failed = line.run(2, status=RunStatus.FAIL, reason="CSR key is RSA, expected EC")
    line.run(3, lot="LOT-OTHER")
    line.run(4, kind="qa")

    csv_path, json_path = _export(journal_path, tmp_path / "out")

    rows = _csv_rows(csv_path)
    document = json.loads(json_path.read_text())
    assert (csv_path.name, json_path.name) == (
        f"{LOT}-records.csv",
        f"{LOT}-records.json",
    )
    assert list(rows[0]) == COLUMNS
    assert [row["run_id"] for row in rows] == [str(passed), str(failed)]
    assert document["header"] == {
        "format": "station-manufacturing-records",
        "version": 1,
        "station": "ST-1",
        "lot": LOT,
        "exported_at": "2026-12-01T08:00:01Z",
        "count": 2,
    }
    assert [record["run_id"] for record in document["records"]] == [passed, failed]


def test_a_passed_record_carries_identity_certificate_and_where_and_when(
    line: _Line, journal_path: Path, tmp_path: Path
) -> None:
    run = line.run(1)
    with Journal(journal_path, station="ST-1") as journal:
        recorded = journal.run(run)
    assert recorded.cert_der is not None
    assert recorded.ended_at is not None

    csv_path, json_path = _export(journal_path, tmp_path)

    record = json.loads(json_path.read_text())["records"][0]
    assert record == {
        "serial": "AMB82D000001",
        "mac": "00:e0:4c:87:00:01",
        "model": "AMB82",
        "lot": LOT,
        "firmware": "1.4.2",
        "cert_serial": "7d2008feaf6991b3",
        "cert_sha256": hashlib.sha256(recorded.cert_der).hexdigest(),
        "not_before": "2026-12-01T08:00:00Z",
        "not_after": "2036-11-28T08:00:00Z",
        "issuer": "CN=Example Issuing CA,O=Example Devices",
        "station": "ST-1",
        "slot": "slot-2",
        "operator": "B0042",
        "started_at": "2026-12-01T08:00:01Z",
        "ended_at": recorded.ended_at.isoformat().replace("+00:00", "Z"),
        "outcome": "PASS",
        "failure_step": None,
        "failure_reason": None,
        "spki_sha256": "01" * 32,
        "run_id": run,
    }
    row = _csv_rows(csv_path)[0]
    assert row == {key: "" if v is None else str(v) for key, v in record.items()}


def test_a_failed_record_has_its_step_and_reason_and_no_certificate(
    line: _Line, journal_path: Path, tmp_path: Path
) -> None:
    line.run(1, status=RunStatus.FAIL, reason="module did not answer")

    csv_path, _ = _export(journal_path, tmp_path)

    row = _csv_rows(csv_path)[0]
    assert (row["outcome"], row["failure_step"], row["failure_reason"]) == (
        "FAIL",
        "check CSR",
        "module did not answer",
    )
    assert row["cert_serial"] == row["cert_sha256"] == row["not_after"] == ""


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_cell_a_spreadsheet_would_run_is_escaped_with_a_quote(
    line: _Line, journal_path: Path, tmp_path: Path, hostile: str
) -> None:
    line.run(1, status=RunStatus.FAIL, reason=hostile)

    csv_path, json_path = _export(journal_path, tmp_path)

    assert _csv_rows(csv_path)[0]["failure_reason"] == "'" + hostile
    assert json.loads(json_path.read_text())["records"][0]["failure_reason"] == hostile


def test_every_csv_cell_is_quoted_so_separators_stay_inside_it(
    line: _Line, journal_path: Path, tmp_path: Path
) -> None:
    reason = 'chain, then "garbage"\nand a second line'
    line.run(1, status=RunStatus.FAIL, reason=reason)

    csv_path, _ = _export(journal_path, tmp_path)

    text = csv_path.read_text(encoding="utf-8")
    assert text.startswith('"serial","mac","model",')
    assert _csv_rows(csv_path)[0]["failure_reason"] == reason


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=1", "a=1"),
        (" =1", " =1"),
        ("", ""),
        ("'quoted", "'quoted"),
    ],
)
def test_escape_cell_quotes_only_formula_starts(text: str, cell: str) -> None:
    assert escape_cell(text) == cell


def test_read_export_gives_back_the_records_written(
    line: _Line, journal_path: Path, tmp_path: Path
) -> None:
    line.run(1)
    line.run(2, status=RunStatus.FAIL, reason=HOSTILE[0])

    _, json_path = _export(journal_path, tmp_path)
    records = read_export(json_path)

    assert [(r.serial, r.outcome, r.failure_reason) for r in records] == [
        ("AMB82D000001", "PASS", None),
        ("AMB82D000002", "FAIL", HOSTILE[0]),
    ]
    assert records[0].not_after == T0 + datetime.timedelta(days=3650)
    assert records[0].spki_sha256 == "01" * 32


Change = Callable[[dict[str, Any]], object]


def _rewrite(path: Path, change: Change) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["records"][1].update(mac="00:e0:4c:87:00"),
            r"records\[1\]: mac: String should match pattern",
        ),
        (
            lambda d: d["records"][0].update(serial="=cmd|calc"),
            r"records\[0\]: serial: String should match pattern",
        ),
        (
            lambda d: d["records"][1].update(spki_sha256=None),
            r"records\[1\]: record: Value error, a PASS record needs its certificate",
        ),
        (
            lambda d: d["records"][0].update(cert_sha256=None),
            r"records\[0\]: record: Value error, cert_serial, cert_sha256, not_before",
        ),
        (
            lambda d: d["records"][1].update(lot="LOT-OTHER"),
            r"records\[1\]: lot LOT-OTHER is not the export's lot LOT-2026-0042",
        ),
        (
            lambda d: d["records"][0].update(pin="1234"),
            r"records\[0\]: pin: Extra inputs are not permitted",
        ),
        (
            lambda d: d["header"].update(version=2),
            r"header: format version 2 is not supported \(this station reads "
            r"version 1\)",
        ),
        (
            lambda d: d["header"].update(format="qa-report"),
            "header: format is not station-manufacturing-records",
        ),
        (
            lambda d: d["header"].update(count=3),
            "the header counts 3 records, the file holds 2",
        ),
        (lambda d: d.pop("header"), "not an export"),
    ],
)
def test_read_export_names_the_file_and_the_record_at_fault(
    line: _Line, journal_path: Path, tmp_path: Path, change: Change, message: str
) -> None:
    line.run(1)
    line.run(2)
    _, json_path = _export(journal_path, tmp_path)
    _rewrite(json_path, change)

    with pytest.raises(ExportError, match=f"^{json_path}: {message}"):
        read_export(json_path)


def test_read_export_of_a_file_that_is_not_json_names_it(tmp_path: Path) -> None:
    path = tmp_path / "records.json"
    path.write_text("serial,mac\n")

    with pytest.raises(ExportError, match=f"^{path}: not JSON"):
        read_export(path)


def test_an_export_replaces_the_previous_one_as_a_whole(
    line: _Line, journal_path: Path, tmp_path: Path
) -> None:
    line.run(1)
    _, json_path = _export(journal_path, tmp_path)
    previous = json_path.read_bytes()
    line.run(2)

    with json_path.open("rb") as reader_of_the_old_file:
        _export(journal_path, tmp_path)
        still_read = reader_of_the_old_file.read()

    assert still_read == previous
    assert json.loads(json_path.read_text())["header"]["count"] == 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".sqlite") == [
        f"{LOT}-records.csv",
        f"{LOT}-records.json",
        "state",
    ]


def test_a_write_that_fails_leaves_no_temporary_file(
    line: _Line, journal_path: Path, tmp_path: Path
) -> None:
    line.run(1)
    out = tmp_path / "out"
    (out / f"{LOT}-records.json").mkdir(parents=True)

    with pytest.raises(ExportError, match=f"cannot write the export of lot {LOT}"):
        _export(journal_path, out)

    assert sorted(p.name for p in out.iterdir()) == [
        f"{LOT}-records.csv",
        f"{LOT}-records.json",
    ]


def test_an_export_runs_while_the_line_holds_the_journal_write_lock(
    line: _Line, journal_path: Path, tmp_path: Path
) -> None:
    line.run(1)
    writer = sqlite3.connect(journal_path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        _, json_path = _export(journal_path, tmp_path)
    finally:
        writer.execute("ROLLBACK")
        writer.close()

    assert json.loads(json_path.read_text())["header"]["count"] == 1


def test_a_lot_without_runs_is_refused(
    line: _Line, journal_path: Path, tmp_path: Path
) -> None:
    line.run(1)

    with pytest.raises(ExportError, match="no provisioning run of lot LOT-9 in"):
        _export(journal_path, tmp_path, lot="LOT-9")


@pytest.mark.parametrize("lot", ["../../etc/x", "", "LOT 1", "L" * 21])
def test_a_lot_name_outside_the_rule_is_refused_before_any_file(
    line: _Line, journal_path: Path, tmp_path: Path, lot: str
) -> None:
    with pytest.raises(ExportError, match="breaks the rule 1 to 20"):
        _export(journal_path, tmp_path / "out", lot=lot)

    assert not (tmp_path / "out").exists()


def test_a_missing_journal_is_named(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=f"no journal at {tmp_path}/nope.sqlite"):
        _export(tmp_path / "nope.sqlite", tmp_path)


def test_a_run_whose_certificate_is_not_der_names_the_run(
    line: _Line, journal_path: Path, tmp_path: Path
) -> None:
    run = line.run(1)
    line.journal.record_certificate(
        run, cert_serial="01", cert_der=b"not DER", chain_der=b""
    )

    with pytest.raises(ExportError) as refused:
        _export(journal_path, tmp_path)

    assert (
        f"run {run} cannot be exported: its certificate is not DER X.509 "
        "(7 bytes, starting 6e6f7420)" in str(refused.value)
    )


# The command line, run as a user runs it: a separate process.


def _station(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "station", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
        env=env,
    )


@pytest.fixture
def config(tmp_path: Path, dev_pki: DevPki) -> Path:
    """A configuration whose journal holds a passed and a failed run of LOT."""
    path = write_demo_config(tmp_path, dev_pki, [])
    journal_path = tmp_path / "state" / "journal.sqlite"
    with Journal(journal_path, station="demo-station", clock=_Clock()) as journal:
        _Line(journal).run(1)
        _Line(journal).run(2, status=RunStatus.FAIL, reason="-1+1")
    return path


def test_export_command_writes_both_files_into_the_state_folder(
    tmp_path: Path, config: Path
) -> None:
    run = _station("--config", str(config), "export", "--lot", LOT, cwd=tmp_path)

    out = tmp_path / "state" / "exports"
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout.splitlines() == [
        f"exported 2 records of lot {LOT}",
        f"  {out / f'{LOT}-records.csv'}",
        f"  {out / f'{LOT}-records.json'}",
    ]
    assert len(read_export(out / f"{LOT}-records.json")) == 2


def test_export_command_writes_into_the_folder_given(
    tmp_path: Path, config: Path
) -> None:
    out = tmp_path / "for-qa"

    run = _station(
        "--config", str(config), "export", "--lot", LOT, "--out", str(out), cwd=tmp_path
    )

    assert run.returncode == 0, run.stderr
    assert _csv_rows(out / f"{LOT}-records.csv")[1]["failure_reason"] == "'-1+1"


def test_no_pin_reaches_an_export(
    tmp_path: Path, config: Path, dev_pki: DevPki
) -> None:
    assert dev_pki.issuing.pin_file is not None
    file_pin = dev_pki.issuing.pin_file.read_text().strip()
    env_pin = "7431-unique-pin-value"
    env = {**os.environ, "ISSUING_CA_PIN": env_pin, "STATION_PIN": env_pin}

    run = _station(
        "--config", str(config), "-vv", "export", "--lot", LOT, cwd=tmp_path, env=env
    )

    out = tmp_path / "state" / "exports"
    written = b"".join(path.read_bytes() for path in out.iterdir())
    assert run.returncode == 0, run.stderr
    for pin in (file_pin, env_pin):
        assert pin.encode() not in written
        assert pin not in run.stdout + run.stderr


def test_export_command_of_an_unknown_lot_exits_2_naming_it(
    tmp_path: Path, config: Path
) -> None:
    run = _station("--config", str(config), "export", "--lot", "LOT-9", cwd=tmp_path)

    assert run.returncode == 2
    assert run.stderr.startswith("station: no provisioning run of lot LOT-9 in journal")
