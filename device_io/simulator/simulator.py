"""A fixture full of simulated modules, one pty each.

The state directory holds everything that outlives a run::

    <state_dir>/flash/<serial>.json   each module's flash (0600, dir 0700)
    <state_dir>/ports/slot-<n>        stable link to slot n's current pty

A module's flash file is named after its serial in the lot plan, so a restart
finds each module's keys and chains again whatever slot it is seated in.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType

from device_io.simulator.crypto_engine import CryptoEngine
from device_io.simulator.errors import PortSetupError, SimulatorError
from device_io.simulator.faults import FaultPlan
from device_io.simulator.firmware import Firmware, FirmwareLimits
from device_io.simulator.flash import Flash
from device_io.simulator.link_faults import LinkFaults
from device_io.simulator.nameplate import Nameplate, neighbour_serial
from device_io.simulator.pty_port import DEFAULT_REPLUG_DELAY, PtyPort
from device_io.simulator.state_lock import StateLock

logger = logging.getLogger(__name__)

DEFAULT_BAUD = 115200

# TODO(field-module): DESIGN section 3 lets the simulator act as a field module
# re-enrolling over EST with its current certificate; that needs an EST client
# on the module side and is not built yet.


@dataclass(frozen=True, kw_only=True)
class SimulatorConfig:
    """How to build the fixture.

    Attributes:
        state_dir: Where flash files and port links live.
        nameplates: The true nameplate of each slot, slot 1 first.
        baud: Line rate the modules pace their output at.
        limits: Line and object limits and key generation time.
        faults: Fault plan per 1-based slot; absent slots are good modules.
        seed: Seed for the link faults' random generators.
    """

    state_dir: Path
    nameplates: Sequence[Nameplate]
    baud: int = DEFAULT_BAUD
    limits: FirmwareLimits = field(default_factory=FirmwareLimits)
    faults: Mapping[int, FaultPlan] = field(default_factory=dict)
    seed: int = 0


@dataclass(frozen=True)
class PortInfo:
    """Where one slot's module can be reached.

    Attributes:
        slot: The 1-based fixture slot.
        port: The pty slave device (changes after an unplug).
        link: The stable link name pointing at the current pty.
        serial: The serial the module reports.
    """

    slot: int
    port: str
    link: str
    serial: str


class Simulator:
    """Serves simulated modules on ptys until stopped; a context manager."""

    def __init__(self, config: SimulatorConfig) -> None:
        """Build the fixture; nothing is opened until ``start``."""
        self.config = config
        self._ports: list[PtyPort] = []
        self._lock: StateLock | None = None

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def ports(self) -> list[PortInfo]:
        """Every slot's port, slot 1 first."""
        return [self.port(port.slot) for port in self._ports]

    def port(self, slot: int) -> PortInfo:
        """Where the module in ``slot`` (1-based) is reachable now."""
        pty = self._pty(slot)
        return PortInfo(
            slot=slot,
            port=pty.path or "",
            link=str(pty.link),
            serial=pty.firmware.nameplate.serial,
        )

    def firmware(self, slot: int) -> Firmware:
        """The firmware of the module in ``slot``, for inspection in tests."""
        return self._pty(slot).firmware

    def start(self) -> list[PortInfo]:
        """Power every module on and serve it on its own pty.

        Returns:
            The ports, slot 1 first.

        Raises:
            SimulatorError: A state directory, flash file or pty cannot be set
                up; modules already started are stopped again.
        """
        flash_dir, ports_dir = self._make_state_dirs()
        self._lock = StateLock(self.config.state_dir)
        try:
            for slot in range(1, len(self.config.nameplates) + 1):
                port = self._build_port(slot, flash_dir, ports_dir)
                self._ports.append(port)
                port.start()
        except SimulatorError:
            self.stop()
            raise
        logger.info("simulating %d modules", len(self._ports))
        return self.ports

    def stop(self) -> None:
        """Stop every module and remove its link; flash files stay."""
        while self._ports:
            self._ports.pop().stop()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def reset(self, slot: int) -> None:
        """Reset the module in ``slot``: banner, staged write lost."""
        self._pty(slot).reset()

    def unplug(
        self, slot: int, replug_after: float | None = DEFAULT_REPLUG_DELAY
    ) -> None:
        """Unplug the module in ``slot``; it comes back under the same link."""
        self._pty(slot).unplug(replug_after)

    def replug(self, slot: int) -> None:
        """Plug the module in ``slot`` back in now, if it is unplugged."""
        self._pty(slot).replug()

    def _pty(self, slot: int) -> PtyPort:
        for port in self._ports:
            if port.slot == slot:
                return port
        raise KeyError(f"no module in slot {slot}")

    def _make_state_dirs(self) -> tuple[Path, Path]:
        flash_dir = self.config.state_dir / "flash"
        ports_dir = self.config.state_dir / "ports"
        try:
            flash_dir.mkdir(parents=True, exist_ok=True)
            os.chmod(flash_dir, 0o700)
            ports_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise PortSetupError(
                f"cannot prepare {self.config.state_dir}: {exc}"
            ) from exc
        return flash_dir, ports_dir

    def _build_port(self, slot: int, flash_dir: Path, ports_dir: Path) -> PtyPort:
        config = self.config
        plan = config.faults.get(slot, FaultPlan())
        if plan.kinds:
            logger.info("slot %d misbehaves: %s", slot, ", ".join(plan.kinds))
        true_plate = config.nameplates[slot - 1]
        limits = config.limits
        if plan.keygen_delay is not None:
            limits = FirmwareLimits(
                max_line=limits.max_line,
                max_object=limits.max_object,
                keygen_delay=plan.keygen_delay,
            )
        firmware = Firmware(
            nameplate=self._reported_plate(slot, plan),
            flash=Flash(flash_dir / f"{true_plate.serial}.json", full=plan.flash_full),
            limits=limits,
            engine=CryptoEngine(plan.flaws),
            breaks=plan.breaks,
        )
        return PtyPort(
            slot=slot,
            firmware=firmware,
            link=ports_dir / f"slot-{slot}",
            baud=config.baud,
            faults=LinkFaults(plan, seed=config.seed * 1009 + slot),
        )

    def _reported_plate(self, slot: int, plan: FaultPlan) -> Nameplate:
        plate = self.config.nameplates[slot - 1]
        if plan.clone_of is not None:
            plate = self.config.nameplates[plan.clone_of - 1]
        if plan.wrong_identity:
            plate = plate.with_serial(neighbour_serial(plate.serial))
        return plate


def write_ports_file(path: Path, ports: Sequence[PortInfo]) -> None:
    """Write the ports as a JSON list, atomically (temp file, fsync, rename).

    Raises:
        PortSetupError: The file cannot be written (named as given).
    """
    temporary = path.with_name(f".{path.name}.tmp")
    data = json.dumps([asdict(port) for port in ports], indent=2) + "\n"
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        # The temporary file is ours; the user named ``path``.
        raise PortSetupError(f"cannot write {path}: {exc.strerror}") from exc
