"""The simulator's files: flash images, lot plans and scenario files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sim_bench import LOT_PLAN

from device_io.simulator.credential import Credential
from device_io.simulator.crypto_engine import CryptoEngine
from device_io.simulator.errors import (
    FaultSpecError,
    FlashError,
    FlashFull,
    LotPlanError,
)
from device_io.simulator.faults import build_plans
from device_io.simulator.flash import Flash, FlashImage
from device_io.simulator.lot_plan import assign_slots, read_lot_plan
from device_io.simulator.scenario import read_scenario

SCENARIOS = sorted((LOT_PLAN.parents[1] / "scenarios").glob("*.toml"))


def _credential(chain: bytes | None = None) -> Credential:
    credential = CryptoEngine().generate("AMB82D001001")
    return credential if chain is None else credential.with_chain(chain)


def test_blank_flash_loads_as_an_empty_image(tmp_path: Path) -> None:
    assert Flash(tmp_path / "m.json").load() == FlashImage()


def test_flash_round_trips_keys_csrs_chains_and_lock(tmp_path: Path) -> None:
    image = FlashImage(slots=(_credential(b"chain"), _credential()), locked=True)
    flash = Flash(tmp_path / "m.json")

    flash.store(image)
    loaded = flash.load()

    assert loaded.locked
    for before, after in zip(image.slots, loaded.slots, strict=True):
        assert before is not None
        assert after is not None
        assert (after.csr, after.chain, after.public_der) == (
            before.csr,
            before.chain,
            before.public_der,
        )
        assert after.private_der() == before.private_der()


def test_flash_file_is_private_and_replaced_without_leftovers(tmp_path: Path) -> None:
    flash = Flash(tmp_path / "m.json")

    flash.store(FlashImage(slots=(_credential(), None)))
    flash.store(FlashImage())

    assert stat.S_IMODE(os.stat(flash.path).st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_damaged_flash_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text('{"format": 1, "locked": false, "slots": [null]}')

    with pytest.raises(FlashError, match=r"damaged image.*m\.json"):
        Flash(path).load()


def test_full_flash_refuses_every_store_and_keeps_the_old_image(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m.json"
    Flash(path).store(FlashImage(locked=False))
    before = path.read_bytes()

    with pytest.raises(FlashFull):
        Flash(path, full=True).store(FlashImage(slots=(_credential(), None)))

    assert path.read_bytes() == before


def test_unwritable_flash_directory_is_a_flash_error(tmp_path: Path) -> None:
    with pytest.raises(FlashError, match="cannot write"):
        Flash(tmp_path / "missing" / "m.json").store(FlashImage())


def test_lot_plan_gives_slots_rows_from_the_offset() -> None:
    plan = read_lot_plan(LOT_PLAN, firmware="2.0.0")

    plates = assign_slots(plan, slots=3, first=10)

    assert [p.serial for p in plates] == [
        "AMB82D001011",
        "AMB82D001012",
        "AMB82D001013",
    ]
    assert plates[0].mac == "00:e0:4c:87:00:0b"
    assert {(p.model, p.lot, p.firmware) for p in plates} == {
        ("AMB82", "LOT-2026-0042", "2.0.0")
    }


def test_lot_plan_too_short_for_the_slots_is_refused() -> None:
    plan = read_lot_plan(LOT_PLAN)

    with pytest.raises(LotPlanError, match="not enough for 8 slots from index 60"):
        assign_slots(plan, slots=8, first=60)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("serial,mac,model\nA1,00:00:00:00:00:01,M\n", "lacks columns"),
        ("serial,mac,model,lot\n../x,00:01,M,L\n", "line 2: serial '../x'"),
        ("serial,mac,model,lot\nA1,m,M,L\nA1,m,M,L\n", "serial A1 twice"),
        ('serial,mac,model,lot\nA1,"m\nx",M,L\n', "line break"),
    ],
)
def test_bad_lot_plan_is_refused_with_its_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "plan.csv"
    path.write_text(text)

    with pytest.raises(LotPlanError, match=message):
        read_lot_plan(path)


def test_lot_plan_keeps_odd_fields_for_identity_tests(tmp_path: Path) -> None:
    path = tmp_path / "plan.csv"
    path.write_text('serial,mac,model,lot\nA1,zz:zz,"Bad""Model",L\n')

    (plate,) = read_lot_plan(path)

    assert (plate.mac, plate.model) == ("zz:zz", 'Bad"Model')


def test_missing_lot_plan_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LotPlanError, match="cannot read"):
        read_lot_plan(tmp_path / "none.csv")


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenario_parses_for_eight_slots(path: Path) -> None:
    scenario = read_scenario(path)

    assert scenario.description
    build_plans(scenario.misbehave, slots=8)


def test_scenario_files_are_shipped() -> None:
    assert len(SCENARIOS) >= 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("misbehave = [", "cannot read"),
        ('misbehave = "1=echo"', "must be text"),
        ('misbehave = ["1=teleport"]', "unknown misbehaviour"),
        ('misbehave = ["1=unplug:XYZ"]', "scenario .*'1=unplug:XYZ': unplug: no PV"),
        ("misbehave = [1]", "is not text"),
        ("slots = 3", "unknown keys"),
    ],
)
def test_bad_scenario_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(text)

    with pytest.raises(FaultSpecError, match=message):
        read_scenario(path)
