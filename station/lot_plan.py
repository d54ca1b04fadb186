"""Lot plans: the serials and MACs the MES allocated to a manufacturing lot.

The MES exports a lot as CSV with at least the columns ``serial``, ``mac``,
``model`` and ``lot`` (others are ignored). Every row is checked against the
identity rules of DESIGN section 3, and a plan that gives a serial or a MAC
twice, or mixes lots, is refused with the line that breaks it. The lot's
allowed firmware versions come with the import, since the MES export does not
carry them.

A module is provisioned only if the active plan lists its serial with the same
MAC and model, its lot is the plan's lot, and its firmware is allowed.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from device_io.errors import IdentityError
from device_io.identity import ModuleIdentity, check_field
from station.errors import LotPlanError, PlanRefused

COLUMNS = ("serial", "mac", "model", "lot")
# A lot plan is a few thousand rows; this bounds what a wrong file can cost.
MAX_ROWS = 1_000_000


@dataclass(frozen=True)
class PlannedModule:
    """One row of a lot plan."""

    serial: str
    mac: str
    model: str


@dataclass(frozen=True)
class LotPlan:
    """A validated lot plan.

    Attributes:
        lot: The lot name.
        modules: Planned modules by serial.
        allowed_firmware: Firmware versions allowed for the lot.
        sha256: SHA-256 of the imported file, to tell re-imports apart.
    """

    lot: str
    modules: Mapping[str, PlannedModule]
    allowed_firmware: frozenset[str]
    sha256: str = ""

    def check(self, identity: ModuleIdentity) -> None:
        """Refuse a module this plan does not allow.

        Raises:
            PlanRefused: The module is not in the plan, its model or MAC
                differs from the plan, its lot is another, or its firmware is
                not allowed. The message is what the line operator sees.
        """
        planned = self.modules.get(identity.serial)
        if planned is None:
            raise PlanRefused(
                f"module {identity.serial} is not in the plan of lot {self.lot}"
            )
        if identity.lot != self.lot:
            raise PlanRefused(
                f"module {identity.serial} reports lot {identity.lot}; "
                f"this line is running lot {self.lot}"
            )
        if identity.model != planned.model:
            raise PlanRefused(
                f"module {identity.serial} reports model {identity.model}; "
                f"the plan of lot {self.lot} says {planned.model}"
            )
        if identity.mac != planned.mac:
            raise PlanRefused(
                f"module {identity.serial} reports MAC {identity.mac}; "
                f"the plan of lot {self.lot} gives it {planned.mac}"
            )
        if identity.firmware not in self.allowed_firmware:
            allowed = ", ".join(sorted(self.allowed_firmware))
            raise PlanRefused(
                f"module {identity.serial} runs firmware {identity.firmware}; "
                f"lot {self.lot} allows {allowed}"
            )


def parse_lot_plan(
    data: bytes, *, source: str, allowed_firmware: Iterable[str]
) -> LotPlan:
    """Parse and validate an MES lot plan export.

    Args:
        data: The CSV file's bytes (UTF-8, with a header row).
        source: The file name, for error messages.
        allowed_firmware: Firmware versions allowed for the lot.

    Raises:
        LotPlanError: The file is malformed; the message names the file, the
            line and the problem.
    """
    firmware = _check_firmware(allowed_firmware, source)
    reader = csv.DictReader(io.StringIO(_decode(data, source), newline=""))
    _check_header(reader.fieldnames, source)
    lot: str | None = None
    modules: dict[str, PlannedModule] = {}
    by_mac: dict[str, str] = {}
    for row in reader:
        line = reader.line_num
        planned, row_lot = _row(row, line, source)
        lot = lot or row_lot
        _check_unique(planned, row_lot, lot, modules, by_mac, line, source)
        modules[planned.serial] = planned
        by_mac[planned.mac] = planned.serial
        if len(modules) > MAX_ROWS:
            raise LotPlanError(f"{source}: more than {MAX_ROWS} rows")
    if lot is None:
        raise LotPlanError(f"{source}: the plan has no modules")
    digest = hashlib.sha256(data).hexdigest()
    return LotPlan(lot, modules, firmware, digest)


def read_lot_plan(path: Path, *, allowed_firmware: Iterable[str]) -> LotPlan:
    """Read and validate a lot plan file.

    Raises:
        LotPlanError: The file cannot be read or is malformed.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LotPlanError(f"cannot read lot plan {path}: {exc.strerror}") from exc
    return parse_lot_plan(data, source=str(path), allowed_firmware=allowed_firmware)


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LotPlanError(f"{source}: not UTF-8 text ({exc.reason})") from exc


def _check_firmware(allowed: Iterable[str], source: str) -> frozenset[str]:
    versions = frozenset(allowed)
    if not versions:
        raise LotPlanError(f"{source}: name at least one allowed firmware version")
    for version in versions:
        try:
            check_field("firmware", version)
        except IdentityError as exc:
            problem = exc.message.removeprefix("module reported an ")
            raise LotPlanError(f"{source}: allowed firmware: {problem}") from None
    return versions


def _check_header(header: Iterable[str] | None, source: str) -> None:
    found = [name.strip().lower() for name in header or ()]
    missing = [name for name in COLUMNS if name not in found]
    if missing:
        raise LotPlanError(
            f"{source}, line 1: header lacks column(s) {', '.join(missing)} "
            f"(needs {', '.join(COLUMNS)})"
        )


def _row(
    row: dict[str | None, str | list[str] | None], line: int, source: str
) -> tuple[PlannedModule, str]:
    extra = row.get(None)
    if extra:
        # csv keeps fields past the header under None; a shifted row would
        # otherwise be read with its values under the wrong columns.
        raise LotPlanError(
            f"{source}, line {line}: {len(extra)} more field(s) than the header "
            f"names: {', '.join(repr(value) for value in extra)}"
        )
    values = {
        str(key).strip().lower(): value
        for key, value in row.items()
        if key is not None and isinstance(value, str)
    }
    try:
        serial, mac, model, lot = (
            check_field(name, values.get(name) or "") for name in COLUMNS
        )
    except IdentityError as exc:
        problem = exc.message.removeprefix("module reported an ")
        raise LotPlanError(f"{source}, line {line}: {problem}") from None
    return PlannedModule(serial=serial, mac=mac.lower(), model=model), lot


def _check_unique(
    planned: PlannedModule,
    row_lot: str,
    lot: str,
    modules: Mapping[str, PlannedModule],
    by_mac: Mapping[str, str],
    line: int,
    source: str,
) -> None:
    where = f"{source}, line {line}"
    if row_lot != lot:
        raise LotPlanError(f"{where}: lot {row_lot} in a plan for lot {lot}")
    if planned.serial in modules:
        raise LotPlanError(f"{where}: serial {planned.serial} is listed twice")
    if planned.mac in by_mac:
        raise LotPlanError(
            f"{where}: MAC {planned.mac} is already given to {by_mac[planned.mac]}"
        )
