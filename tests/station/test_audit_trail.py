"""The audit trail a provisioning line leaves: issuance tied to its record."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from station_bench import Line

from station.audit import AuditError, anchor_path, audit_log_path, open_audit_log
from station.audit_entry import AuditAnchor, AuditEntry
from station.audit_verify import verify
from station.errors import JournalError, StepFailed
from station.lot_import import import_lot
from station.lot_plan import read_lot_plan
from station.lot_store import LotStore
from station.qa_flags import clear_flags, open_flags

MakeLine = Callable[..., Line]


def _entries(line: Line) -> list[dict[str, object]]:
    path = audit_log_path(line.station.config)
    return [json.loads(text) for text in path.read_text().splitlines()]


def test_issuance_and_pass_are_audited_with_the_manufacturing_record(
    make_line: MakeLine,
) -> None:
    line = make_line()

    result = line.station.provisioner.provision(line.slots[0])

    run = line.station.journal.run(result.run_id)
    events = [entry["event"] for entry in _entries(line)]
    assert events == ["lot-imported", "issued", "provisioned"]
    issued = _entries(line)[1]["fields"]
    assert isinstance(issued, dict)
    assert {key: issued[key] for key in ("serial", "slot", "operator", "lot")} == {
        "serial": "AMB82D001001",
        "slot": "slot-1",
        "operator": "B0042",
        "lot": "LOT-2026-0042",
    }
    assert issued["cert_serial"] == run.cert_serial
    assert issued["spki_sha256"] == run.spki_sha256
    assert run.audit_anchor is not None
    last = _entries(line)[-1]
    assert line.station.journal.last_audit_anchor() == f"{last['seq']}:{last['hash']}"


def test_trail_verifies_against_the_anchor_the_journal_keeps(
    make_line: MakeLine,
) -> None:
    line = make_line(slots=2)
    for slot in line.slots:
        line.station.provisioner.provision(slot)
    anchor = line.station.journal.last_audit_anchor()
    assert anchor is not None

    report = verify(
        audit_log_path(line.station.config), anchors=[AuditAnchor.parse(anchor)]
    )

    assert report.ok, report.problems
    assert report.entries == 5


def test_a_certificate_is_audited_once_when_a_retry_gets_it_back(
    make_line: MakeLine,
) -> None:
    line = make_line(misbehave=("1=bad-challenge-signature",))
    line.station.provisioner.provision(line.slots[0])

    line.station.provisioner.provision(line.slots[0])

    events = [entry["event"] for entry in _entries(line)]
    assert events.count("issued") == 1


def test_clone_refusal_is_audited(make_line: MakeLine) -> None:
    line = make_line(slots=2, misbehave=("2=clone-of:1",))
    line.station.provisioner.provision(line.slots[0])

    clone = line.station.provisioner.provision(line.slots[1])

    flagged = [e for e in _entries(line) if e["event"] == "clone-flagged"]
    assert len(flagged) == 1
    fields = flagged[0]["fields"]
    assert isinstance(fields, dict)
    assert (fields["slot"], fields["reason"]) == ("slot-2", clone.reason)


def test_line_torn_by_a_power_cut_is_set_aside_at_start(make_line: MakeLine) -> None:
    line = make_line()
    line.station.provisioner.provision(line.slots[0])
    path = audit_log_path(line.station.config)
    with path.open("ab") as log:
        log.write(b'{"seq": 4, "event": "issu')

    with open_audit_log(
        line.station.config, operator="B7", journal=line.station.journal
    ) as audit:
        head = audit.head()

    entries = _entries(line)
    assert entries[-1]["event"] == "log-repaired"
    assert head.seq == len(entries)
    assert verify(path).ok


def test_entries_cut_after_the_last_issuance_are_caught_by_the_journal(
    make_line: MakeLine,
) -> None:
    line = make_line()
    line.station.provisioner.provision(line.slots[0])
    path = audit_log_path(line.station.config)
    lines = path.read_text().splitlines(keepends=True)
    issued = next(n for n, text in enumerate(lines) if '"event":"issued"' in text)
    kept = json.loads(lines[issued])
    # Cut the PASS entry after the issuance, and make the anchor file agree.
    path.write_text("".join(lines[: issued + 1]))
    anchor_path(path).write_text(f"{kept['seq']}:{kept['hash']}\n")
    journal_head = line.station.journal.last_audit_anchor()
    assert journal_head is not None

    alone = verify(path)
    with_journal = verify(path, anchors=[AuditAnchor.parse(journal_head)])

    assert alone.ok
    assert not with_journal.ok
    assert journal_head == f"{len(lines)}:{json.loads(lines[-1])['hash']}"


def _forge(path: Path, entries: list[dict[str, object]], first: int = 1) -> None:
    """Write ``entries`` with every hash and the anchor file recomputed: a log
    consistent with itself, as a forger who knows the format would leave it."""
    previous = entries[0]["prev"]
    for seq, entry in enumerate(entries, start=first):
        entry.update(seq=seq, prev=previous)
        body = {key: value for key, value in entry.items() if key != "hash"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        entry["hash"] = previous = hashlib.sha256(canonical.encode()).hexdigest()
    path.write_text(
        "".join(
            json.dumps(e, sort_keys=True, separators=(",", ":")) + "\n" for e in entries
        )
    )
    anchor_path(path).write_text(f"{len(entries)}:{previous}\n")


def _edited(entries: list[dict[str, object]]) -> list[dict[str, object]]:
    fields = entries[0]["fields"]
    assert isinstance(fields, dict)
    fields["operator"] = "B9999"
    return entries


@pytest.mark.parametrize(
    ("forgery", "problem"),
    [
        (_edited, "entry {kept} is not the one the journal saw written"),
        (
            lambda entries: [*_edited(entries), dict(entries[-1])],
            "entry {kept} is not the one the journal saw written",
        ),
        (
            lambda entries: entries[:2],
            "ends at entry 2, but the journal saw entry {kept} written",
        ),
    ],
    ids=["rewritten", "rewritten and one added", "cut"],
)
@pytest.mark.parametrize("torn", [False, True], ids=["whole", "with a torn tail"])
def test_a_station_refuses_a_log_forged_with_its_anchor(
    make_line: MakeLine,
    forgery: Callable[[list[dict[str, object]]], list[dict[str, object]]],
    problem: str,
    torn: bool,
) -> None:
    line = make_line()
    line.station.provisioner.provision(line.slots[0])
    path = audit_log_path(line.station.config)
    kept = len(_entries(line))
    _forge(path, forgery(_entries(line)))
    if torn:
        # A torn tail for the start-up repair to set aside, whose entry
        # would then match the head the journal keeps for it.
        with path.open("ab") as log:
            log.write(b'{"seq": 99, "ev')
    forged = path.read_bytes()

    with pytest.raises(AuditError) as refused:
        open_audit_log(line.station.config, operator="B7", journal=line.station.journal)

    assert path.read_bytes() == forged

    assert str(refused.value).startswith(f"audit log {path}")
    assert problem.format(kept=kept) in str(refused.value)
    assert str(refused.value).endswith("'station audit verify' shows where")


def test_an_entry_whose_head_the_journal_missed_is_kept_at_start(
    make_line: MakeLine,
) -> None:
    line = make_line()
    line.station.provisioner.provision(line.slots[0])
    journal = line.station.journal
    last = journal.last_audit_anchor()
    assert last is not None
    # A process stopped between appending an entry and keeping its head.
    journal._db.execute(
        "DELETE FROM audit_heads WHERE seq = ?", (int(last.split(":")[0]),)
    )

    with open_audit_log(line.station.config, operator="B7", journal=journal) as audit:
        head = audit.head()

    assert journal.last_audit_anchor() == last == str(head)


def test_a_head_is_never_replaced_by_another_hash(make_line: MakeLine) -> None:
    journal = make_line().station.journal
    journal.keep_audit_head(AuditAnchor(90, "aa" * 32))

    with pytest.raises(JournalError, match="audit entry 90 was kept with hash aa"):
        journal.keep_audit_head(AuditAnchor(90, "bb" * 32))

    assert f"90:{'aa' * 32}" in journal.audit_heads()


def test_an_entry_whose_head_the_journal_refuses_fails_as_an_audit_error(
    make_line: MakeLine,
) -> None:
    line = make_line()
    journal = line.station.journal
    journal.keep_audit_head(AuditAnchor(len(_entries(line)) + 1, "aa" * 32))

    with pytest.raises(AuditError, match="was kept with hash aa"):
        line.station.audit.append("revoked", cert_serial="01", reason=None)


def test_nothing_changes_where_its_audit_entry_could_not_be_written(
    make_line: MakeLine, tmp_path: Path
) -> None:
    line = make_line(slots=2, misbehave=("2=clone-of:1",))
    provisioner = line.station.provisioner
    provisioner.provision(line.slots[0])
    clone = provisioner.provision(line.slots[1])
    config = line.station.config
    line.station.close()
    path = audit_log_path(config)
    _forge(path, _entries(line)[:2])
    other = tmp_path / "other-lot.csv"
    other.write_text(
        "serial,mac,model,lot\nAMB82D077001,00:e0:4c:87:77:01,AMB82,LOT-B\n"
    )

    with pytest.raises(AuditError):
        import_lot(
            config,
            read_lot_plan(other, allowed_firmware=["1.4.2"]),
            supervisor="S0001",
            source=str(other),
        )
    with pytest.raises(AuditError):
        clear_flags(config, "AMB82D001001", supervisor="S0001", note="checked")

    with LotStore(config.lots_path) as lots:
        assert [lot.lot for lot in lots.lots()] == ["LOT-2026-0042"]
    assert [flag.run_id for flag in open_flags(config)] == [clone.run_id]


def test_a_log_beside_a_journal_that_kept_none_of_its_heads_is_refused(
    make_line: MakeLine,
) -> None:
    line = make_line(slots=4)
    for slot in line.slots:
        line.station.provisioner.provision(slot)
    journal = line.station.journal
    # A journal replaced by a fresh one keeps no head of the log beside it.
    journal._db.execute("DELETE FROM audit_heads")

    with pytest.raises(AuditError, match="kept none of their heads"):
        open_audit_log(line.station.config, operator="B7", journal=journal)


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


@pytest.mark.parametrize("shape", ["real last entry kept", "forged copies appended"])
def test_a_tail_that_does_not_chain_is_refused_even_holding_the_kept_entry(
    make_line: MakeLine, shape: str
) -> None:
    line = make_line()
    line.station.provisioner.provision(line.slots[0])
    path = audit_log_path(line.station.config)
    real = _lines(path)
    if shape == "real last entry kept":
        # Everything before the last entry rewritten; the last copied as it
        # was, so the entry the journal kept is still there, word for word.
        _forge(path, _edited(_entries(line))[:-1])
        path.write_bytes(b"".join([*_lines(path), real[-1]]))
    else:
        # The real log, then rewritten copies of its last two entries.
        forged = [json.loads(text) for text in real[-2:]]
        path.write_bytes(b"".join(real))
        tail = path.with_suffix(".tail")
        _forge(tail, _edited(forged), first=int(str(forged[0]["seq"])))
        path.write_bytes(b"".join([*real, *_lines(tail)]))
    last = json.loads(_lines(path)[-1])
    anchor_path(path).write_text(f"{last['seq']}:{last['hash']}\n")
    with path.open("ab") as log:
        log.write(b'{"seq": 99, "ev')
    before = path.read_bytes()

    with pytest.raises(AuditError, match="do not follow from it"):
        open_audit_log(line.station.config, operator="B7", journal=line.station.journal)

    assert path.read_bytes() == before


def test_an_audit_failure_is_named_once_in_the_reason(make_line: MakeLine) -> None:
    provisioner = make_line().station.provisioner

    def refused() -> AuditEntry:
        raise AuditError("audit log /x: entry 3 was kept with another hash")

    with pytest.raises(StepFailed) as failed:
        provisioner.record_audit(refused)

    assert failed.value.reason == "audit log /x: entry 3 was kept with another hash"
