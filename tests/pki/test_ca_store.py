"""The CA store on SQLite, and the parameter style that lets PostgreSQL join."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from pki.ca_store import SQLITE, CaStore, IssuedRecord, SqlDialect
from pki.errors import StoreError

ISSUED = datetime.datetime(2026, 6, 1, 8, 30, tzinfo=datetime.UTC)


def _record(number: int, **changes: object) -> IssuedRecord:
    fields: dict[str, object] = {
        "cert_serial": f"{0x4000 + number:x}",
        "device_serial": f"AMB82D001{number:03d}",
        "mac": f"00e04c8700{number:02x}",
        "model": "AMB82",
        "lot": "LOT-2026-0042",
        "spki_sha256": f"{number:064x}",
        "not_after": ISSUED + datetime.timedelta(days=1825),
        "issued_at": ISSUED,
        "der": bytes([0x30, number]),
    }
    fields.update(changes)
    return IssuedRecord(**fields)  # type: ignore[arg-type]


def _insert(store: CaStore, *records: IssuedRecord) -> None:
    with store.transaction() as transaction:
        for record in records:
            transaction.insert(record)


def test_a_record_reads_back_field_for_field(ca_store: CaStore) -> None:
    clamped = _record(1, clamped_from=ISSUED + datetime.timedelta(days=4000))
    _insert(ca_store, clamped)

    assert ca_store.find(clamped.cert_serial) == clamped


def test_records_survive_reopening_the_database(tmp_path: Path) -> None:
    path = tmp_path / "persist.sqlite3"
    first = CaStore.open_sqlite(path)
    _insert(first, _record(1))
    first.close()

    reopened = CaStore.open_sqlite(path)

    assert reopened.find(_record(1).cert_serial) == _record(1)
    reopened.close()


def test_find_issued_matches_module_and_key_together(ca_store: CaStore) -> None:
    _insert(ca_store, _record(1), _record(2))

    with ca_store.transaction() as transaction:
        found = transaction.find_issued("AMB82D001001", f"{1:064x}")
        crossed = transaction.find_issued("AMB82D001001", f"{2:064x}")

    assert found == _record(1)
    assert crossed is None


def test_bindings_find_unrevoked_records_sharing_serial_mac_or_key(
    ca_store: CaStore,
) -> None:
    same_serial = _record(1)
    same_mac = _record(2, mac="00e04c870099")
    same_key = _record(3, spki_sha256=f"{99:064x}")
    unrelated = _record(4)
    _insert(ca_store, same_serial, same_mac, same_key, unrelated)

    with ca_store.transaction() as transaction:
        bindings = transaction.bindings(
            device_serial="AMB82D001001", mac="00e04c870099", spki_sha256=f"{99:064x}"
        )

    assert bindings == [same_serial, same_mac, same_key]


def test_a_revoked_record_no_longer_binds(ca_store: CaStore) -> None:
    _insert(ca_store, _record(1))
    revoked = ca_store.revoke(
        _record(1).cert_serial, when=ISSUED, reason="keyCompromise"
    )

    with ca_store.transaction() as transaction:
        bindings = transaction.bindings(
            device_serial="AMB82D001001", mac="x", spki_sha256="y"
        )

    assert revoked.revoked
    assert revoked.revocation_reason == "keyCompromise"
    assert bindings == []


def test_revoking_twice_keeps_the_first_revocation(ca_store: CaStore) -> None:
    _insert(ca_store, _record(1))
    ca_store.revoke(_record(1).cert_serial, when=ISSUED, reason="superseded")

    again = ca_store.revoke(
        _record(1).cert_serial,
        when=ISSUED + datetime.timedelta(days=1),
        reason="keyCompromise",
    )

    assert (again.revoked_at, again.revocation_reason) == (ISSUED, "superseded")


def test_revoking_an_unknown_certificate_is_an_error(ca_store: CaStore) -> None:
    with pytest.raises(StoreError, match="no certificate abc"):
        ca_store.revoke("abc", when=ISSUED, reason="superseded")


def test_a_second_certificate_for_the_same_module_and_key_is_refused(
    ca_store: CaStore,
) -> None:
    _insert(ca_store, _record(1))

    with pytest.raises(StoreError, match="UNIQUE"):
        _insert(ca_store, _record(1, cert_serial="ffff"))

    assert ca_store.records_for_device("AMB82D001001") == [_record(1)]


def test_a_failed_transaction_leaves_nothing_behind(ca_store: CaStore) -> None:
    def insert_then_fail() -> None:
        with ca_store.transaction() as transaction:
            transaction.insert(_record(1))
            raise RuntimeError("signing failed")

    with pytest.raises(RuntimeError, match="signing failed"):
        insert_then_fail()

    assert ca_store.find(_record(1).cert_serial) is None


def test_records_for_device_come_oldest_first(ca_store: CaStore) -> None:
    later = _record(
        2,
        device_serial="AMB82D001001",
        issued_at=ISSUED + datetime.timedelta(days=30),
    )
    _insert(ca_store, later, _record(1))

    assert ca_store.records_for_device("AMB82D001001") == [_record(1), later]


def test_summary_names_the_record_for_an_operator() -> None:
    summary = _record(1).summary()

    assert "module AMB82D001001" in summary
    assert "MAC 00e04c870001" in summary
    assert "certificate 4001" in summary
    assert "2026-06-01T08:30:00Z" in summary


def test_an_unwritable_location_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open CA store"):
        CaStore.open_sqlite(tmp_path / "missing-dir" / "store.sqlite3")


def test_statements_keep_named_parameters_for_sqlite() -> None:
    sql = "SELECT 1 FROM t WHERE a = :serial AND b = :spki"

    assert SQLITE.statement(sql) == sql


def test_statements_become_pyformat_for_a_postgresql_driver() -> None:
    dialect = SqlDialect(
        name="postgresql",
        paramstyle="pyformat",
        begin_write="BEGIN ISOLATION LEVEL SERIALIZABLE",
        binary_type="BYTEA",
        errors=(Exception,),
    )

    assert dialect.statement(
        "UPDATE t SET at = :when WHERE s = :cert_serial AND x::text = 'a'"
    ) == ("UPDATE t SET at = %(when)s WHERE s = %(cert_serial)s AND x::text = 'a'")


def test_an_unknown_parameter_style_is_refused() -> None:
    dialect = SqlDialect("odd", "qmark", "BEGIN", "BLOB", (Exception,))

    with pytest.raises(ValueError, match="qmark"):
        dialect.statement("SELECT :a")
