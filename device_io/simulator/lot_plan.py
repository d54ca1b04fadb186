"""Nameplates for the simulated slots, taken from a lot plan CSV.

The lot plan is the MES allocation the station checks modules against (columns
``serial,mac,model,lot``). Slot 1 gets the row at the chosen offset, slot 2 the
next one, and so on, so a second run can start past the modules already used.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from device_io.simulator.errors import LotPlanError
from device_io.simulator.nameplate import DEFAULT_FIRMWARE, Nameplate

COLUMNS = ("serial", "mac", "model", "lot")
# The serial names the module's flash file, so it must be safe as a file name.
# Other fields are kept as written: a plan with a bad MAC or model is how the
# station's identity checks are exercised.
_SERIAL = re.compile(r"[A-Za-z0-9]{1,24}")
_LINE_BREAKS = re.compile(r"[\r\n]")


def read_lot_plan(path: Path, *, firmware: str = DEFAULT_FIRMWARE) -> list[Nameplate]:
    """Read every row of a lot plan as a nameplate.

    Args:
        path: The CSV file, with a header naming at least ``COLUMNS``.
        firmware: The firmware version every module reports.

    Raises:
        LotPlanError: The file is missing, lacks a column, holds a bad serial,
            a line break inside a field, or the same serial twice.
    """
    rows = _read_rows(path)
    plates = [_nameplate(row, number, path, firmware) for number, row in rows]
    _check_unique(plates, path)
    return plates


def assign_slots(plan: list[Nameplate], *, slots: int, first: int) -> list[Nameplate]:
    """The nameplates of slots 1 to ``slots``, from plan row ``first`` (0-based).

    Raises:
        LotPlanError: The plan has too few rows from that offset.
    """
    if slots < 1 or first < 0:
        raise LotPlanError("slots must be at least 1 and the first index at least 0")
    chosen = plan[first : first + slots]
    if len(chosen) < slots:
        raise LotPlanError(
            f"lot plan has {len(plan)} modules: not enough for {slots} slots "
            f"from index {first}"
        )
    return chosen


def _read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [
                name for name in COLUMNS if name not in (reader.fieldnames or ())
            ]
            if missing:
                raise LotPlanError(f"lot plan {path} lacks columns {missing}")
            return [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LotPlanError(f"cannot read lot plan {path}: {exc}") from exc


def _nameplate(row: dict[str, str], line: int, path: Path, firmware: str) -> Nameplate:
    values = {name: (row.get(name) or "").strip() for name in COLUMNS}
    if not _SERIAL.fullmatch(values["serial"]):
        raise LotPlanError(
            f"{path} line {line}: serial {values['serial']!r} is not 1 to 24 "
            "letters and digits"
        )
    if any(_LINE_BREAKS.search(value) for value in values.values()):
        raise LotPlanError(f"{path} line {line}: a field holds a line break")
    return Nameplate(firmware=firmware, **values)


def _check_unique(plates: list[Nameplate], path: Path) -> None:
    seen: set[str] = set()
    for plate in plates:
        if plate.serial in seen:
            raise LotPlanError(f"lot plan {path} lists serial {plate.serial} twice")
        seen.add(plate.serial)
