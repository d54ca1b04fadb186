"""Lot plans: MES exports checked row by row, modules checked against them."""

from __future__ import annotations

from pathlib import Path

import pytest

from device_io.identity import ModuleIdentity
from device_io.pv import SlotState
from station.errors import LotPlanError, PlanRefused
from station.lot_plan import LotPlan, parse_lot_plan, read_lot_plan
from station.lot_store import ImportOutcome, LotStore

FIXTURE = Path(__file__).parents[2] / "fixtures" / "lots" / "LOT-2026-0042.csv"
HEADER = "serial,mac,model,lot\n"


def _plan(text: str, firmware: tuple[str, ...] = ("1.4.2",)) -> LotPlan:
    return parse_lot_plan(text.encode(), source="plan.csv", allowed_firmware=firmware)


def _module(**fields: str) -> ModuleIdentity:
    values = {
        "serial": "AMB82D001001",
        "mac": "00:e0:4c:87:00:01",
        "model": "AMB82",
        "lot": "LOT-2026-0042",
        "firmware": "1.4.2",
    }
    values.update(fields)
    return ModuleIdentity(state=SlotState.EMPTY, **values)


def test_fixture_plan_reads_with_every_module() -> None:
    plan = read_lot_plan(FIXTURE, allowed_firmware=["1.4.2"])

    assert plan.lot == "LOT-2026-0042"
    assert len(plan.modules) == 64
    assert plan.modules["AMB82D001002"].mac == "00:e0:4c:87:00:02"


def test_extra_columns_and_column_order_do_not_matter() -> None:
    plan = _plan("lot,model,MAC,serial,work_order\nL1,AMB82,00:E0:4C:87:00:09,S9,W1\n")

    assert plan.modules["S9"].mac == "00:e0:4c:87:00:09"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("serial,mac,model\n", "plan.csv, line 1: header lacks column(s) lot"),
        (HEADER, "plan.csv: the plan has no modules"),
        (
            HEADER + "S1,00:e0:4c:87:00:01,AMB82,L1\nS 2,00:e0:4c:87:00:02,AMB82,L1\n",
            "plan.csv, line 3: invalid serial 'S 2': 1 to 24 of A-Z a-z 0-9",
        ),
        (
            HEADER + "S1,00:e0:4c:87:00,AMB82,L1\n",
            "plan.csv, line 2: invalid mac '00:e0:4c:87:00': six colon-separated",
        ),
        (
            HEADER + "S1,00:e0:4c:87:00:01,=cmd(),L1\n",
            "plan.csv, line 2: invalid model '=cmd()'",
        ),
        (
            HEADER + "S1,00:e0:4c:87:00:01,AMB82,L1\nS1,00:e0:4c:87:00:02,AMB82,L1\n",
            "plan.csv, line 3: serial S1 is listed twice",
        ),
        (
            HEADER + "S1,00:e0:4c:87:00:01,AMB82,L1\nS2,00:E0:4C:87:00:01,AMB82,L1\n",
            "plan.csv, line 3: MAC 00:e0:4c:87:00:01 is already given to S1",
        ),
        (
            HEADER + "S1,00:e0:4c:87:00:01,AMB82,L1\nS2,00:e0:4c:87:00:02,AMB82,L2\n",
            "plan.csv, line 3: lot L2 in a plan for lot L1",
        ),
        (HEADER + "S1,00:e0:4c:87:00:01,AMB82\n", "plan.csv, line 2: invalid lot ''"),
        (
            HEADER + "S1,00:e0:4c:87:00:01,AMB82,L1,extra\n",
            "plan.csv, line 2: 1 more field(s) than the header names: 'extra'",
        ),
    ],
)
def test_malformed_plan_is_refused_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(LotPlanError) as caught:
        _plan(text)

    assert str(caught.value).startswith(message)


def test_plan_without_allowed_firmware_is_refused() -> None:
    with pytest.raises(LotPlanError, match="name at least one allowed firmware"):
        _plan(HEADER + "S1,00:e0:4c:87:00:01,AMB82,L1\n", firmware=())


def test_binary_file_is_refused() -> None:
    with pytest.raises(LotPlanError, match="not UTF-8 text"):
        parse_lot_plan(b"\xff\xfe\x00", source="plan.csv", allowed_firmware=["1"])


PLAN_TEXT = FIXTURE.read_text()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"serial": "AMB82D009999"},
            "module AMB82D009999 is not in the plan of lot LOT-2026-0042",
        ),
        (
            {"model": "BW16"},
            "module AMB82D001001 reports model BW16; "
            "the plan of lot LOT-2026-0042 says AMB82",
        ),
        (
            {"mac": "00:e0:4c:87:00:02"},
            "module AMB82D001001 reports MAC 00:e0:4c:87:00:02; "
            "the plan of lot LOT-2026-0042 gives it 00:e0:4c:87:00:01",
        ),
        (
            {"firmware": "1.3.0"},
            "module AMB82D001001 runs firmware 1.3.0; lot LOT-2026-0042 allows 1.4.2",
        ),
        (
            {"lot": "LOT-2026-0041"},
            "module AMB82D001001 reports lot LOT-2026-0041; "
            "this line is running lot LOT-2026-0042",
        ),
    ],
)
def test_plan_refuses_a_module_it_does_not_allow(
    fields: dict[str, str], message: str
) -> None:
    plan = _plan(PLAN_TEXT)

    with pytest.raises(PlanRefused) as caught:
        plan.check(_module(**fields))

    assert caught.value.reason == message


def test_plan_accepts_its_module() -> None:
    _plan(PLAN_TEXT).check(_module())


def test_store_keeps_plans_and_refuses_a_silent_replacement(tmp_path: Path) -> None:
    store = LotStore(tmp_path / "lots.sqlite")
    plan = _plan(PLAN_TEXT)
    other = _plan(PLAN_TEXT.replace("00:e0:4c:87:00:01", "00:e0:4c:87:99:01"))

    first = store.import_plan(plan, imported_by="S1", source="a.csv")
    again = store.import_plan(plan, imported_by="S1", source="a.csv")
    with pytest.raises(LotPlanError, match="already has a different plan"):
        store.import_plan(other, imported_by="S1", source="b.csv")
    replaced = store.import_plan(other, imported_by="S1", source="b.csv", replace=True)

    assert (first, again, replaced) == (
        ImportOutcome.IMPORTED,
        ImportOutcome.UNCHANGED,
        ImportOutcome.REPLACED,
    )
    assert store.plan("LOT-2026-0042").modules["AMB82D001001"].mac == (
        "00:e0:4c:87:99:01"
    )
    (summary,) = store.lots()
    assert (summary.lot, summary.modules, summary.allowed_firmware) == (
        "LOT-2026-0042",
        64,
        ("1.4.2",),
    )


def test_store_names_the_lots_it_has_when_asked_for_another(tmp_path: Path) -> None:
    store = LotStore(tmp_path / "lots.sqlite")
    store.import_plan(_plan(PLAN_TEXT), imported_by="S1", source="a.csv")

    with pytest.raises(LotPlanError, match=r"no plan imported for lot L9 \(imported: "):
        store.plan("L9")
