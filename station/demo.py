"""``station demo``: the main job on its embedded default.

It creates a development PKI in SoftHSM2, starts simulated Ameba modules on
pseudo-terminals in a child process (the same ``station simulate`` a line uses
for bring-up), writes a station configuration for them, and provisions every
module concurrently through the real serial stack. Everything lands in one
output folder, which is recreated on every run so the modules are fresh.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from device_io.chain import decode_chain
from device_io.simulator import FaultSpecError, build_plans
from pki import DevPki, init_dev_pki
from station.assembly import open_station
from station.config import StationConfig, load_config
from station.errors import StationError
from station.events import EventListener
from station.journal import RunRecord, RunStatus
from station.line import run_slots
from station.lot_import import import_lot
from station.lot_plan import LotPlan, read_lot_plan
from station.report import format_results
from station.workflow import ModuleResult, Slot

DEMO_LOT_PLAN = Path(__file__).resolve().parents[1] / "fixtures/lots/LOT-2026-0042.csv"
DEMO_OPERATOR = "demo"
# The firmware the simulated modules report, allowed for the demo lot.
DEMO_FIRMWARE = "1.4.2"
# Marks a folder as made by the demo, so that only such a folder is wiped.
_MARKER = ".station-demo"
_PORTS_WAIT = 30.0


class DemoError(StationError):
    """The demo cannot be set up."""


@dataclass(frozen=True)
class SimulatedPort:
    """One simulated module as the simulator announced it."""

    slot: int
    link: str
    serial: str


@dataclass(frozen=True)
class DemoOptions:
    """What ``station demo`` runs.

    Attributes:
        out: Output folder; recreated when it holds an earlier demo.
        slots: How many simulated modules.
        keygen_delay: Seconds a simulated module takes to generate its key.
        misbehave: ``SLOT=KIND`` faults passed on to the simulator.
    """

    out: Path
    slots: int = 4
    keygen_delay: float = 0.8
    misbehave: tuple[str, ...] = ()


@dataclass(frozen=True)
class DemoStation:
    """The demo's setup, ready for a station to open.

    Attributes:
        out: The output folder.
        pki: The development PKI.
        config: The station configuration over the simulated modules.
        lot: The lot whose plan is imported.
    """

    out: Path
    pki: DevPki
    config: StationConfig
    lot: str


@contextmanager
def demo_station(options: DemoOptions) -> Iterator[DemoStation]:
    """Set up the demo (PKI, simulated modules, configuration, lot plan).

    The simulated modules run until the block ends. ``station demo
    --console`` runs the operator console inside it.
    """
    check_options(options)
    out = _fresh_folder(options.out)
    pki = init_dev_pki(out / "pki")
    with _simulator(out / "simulator", options) as ports:
        slots = [Slot(f"slot-{port.slot}", port.link) for port in ports]
        config = load_config(write_demo_config(out, pki, slots))
        plan = _import_demo_plan(config)
        yield DemoStation(out, pki, config, plan.lot)


def check_options(options: DemoOptions) -> None:
    """Refuse a bad ``--slots`` or ``--misbehave`` before anything is set up,
    with its reason, rather than from a simulator that exits with its reason
    in its log.

    Raises:
        DemoError: Naming the option and why.
    """
    if not DEMO_LOT_PLAN.is_file():
        raise DemoError(f"demo lot plan {DEMO_LOT_PLAN} is missing")
    planned = len(
        read_lot_plan(DEMO_LOT_PLAN, allowed_firmware=[DEMO_FIRMWARE]).modules
    )
    if options.slots > planned:
        raise DemoError(
            f"--slots {options.slots}: the demo lot plan has {planned} modules"
        )
    try:
        build_plans(options.misbehave, slots=options.slots)
    except FaultSpecError as exc:
        raise DemoError(f"--misbehave: {exc}") from None


def run_demo(options: DemoOptions, listener: EventListener) -> list[ModuleResult]:
    """Run the demo and write its files; returns one result per module."""
    with (
        demo_station(options) as demo,
        open_station(
            demo.config, operator=DEMO_OPERATOR, lot=demo.lot, listener=listener
        ) as station,
    ):
        results = run_slots(station.provisioner, station.slots, listener=listener)
        _write_outputs(demo.out, demo.pki, station.journal.runs())
    (demo.out / "results.txt").write_text(format_results(results) + "\n")
    return results


def _import_demo_plan(config: StationConfig) -> LotPlan:
    plan = read_lot_plan(DEMO_LOT_PLAN, allowed_firmware=[DEMO_FIRMWARE])
    import_lot(config, plan, supervisor=DEMO_OPERATOR, source=str(DEMO_LOT_PLAN))
    return plan


def _fresh_folder(out: Path) -> Path:
    out = out.resolve()
    if out.exists() and any(out.iterdir()):
        if not (out / _MARKER).exists():
            raise DemoError(
                f"{out} is not empty and was not made by the demo; "
                f"choose another --out or empty it"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / _MARKER).write_text("made by station demo; wiped by the next run\n")
    return out


@contextmanager
def _simulator(state_dir: Path, options: DemoOptions) -> Iterator[list[SimulatedPort]]:
    """Run ``station simulate`` in a child process until the block ends."""
    ports_file = state_dir / "ports.json"
    log = (state_dir.parent / "simulator.log").open("w")
    command = [
        sys.executable,
        "-m",
        "device_io.simulator",
        "--slots",
        str(options.slots),
        "--lot-plan",
        str(DEMO_LOT_PLAN),
        "--state-dir",
        str(state_dir),
        "--ports-file",
        str(ports_file),
        "--keygen-delay",
        str(options.keygen_delay),
        "--firmware",
        DEMO_FIRMWARE,
        # A demo killed outright must not leave its modules behind.
        "--exit-with-parent",
        *[arg for spec in options.misbehave for arg in ("--misbehave", spec)],
    ]
    process = subprocess.Popen(command, stdout=log, stderr=log)
    try:
        yield _wait_for_ports(process, ports_file)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_for_ports(
    process: subprocess.Popen[bytes], ports_file: Path
) -> list[SimulatedPort]:
    deadline = time.monotonic() + _PORTS_WAIT
    while not ports_file.exists():
        if process.poll() is not None:
            raise DemoError(
                f"simulator exited with status {process.returncode}; "
                f"see {ports_file.parent.parent / 'simulator.log'}"
            )
        if time.monotonic() > deadline:
            raise DemoError(f"simulator did not start within {_PORTS_WAIT:.0f} s")
        time.sleep(0.05)
    entries = json.loads(ports_file.read_text(encoding="utf-8"))
    return [
        SimulatedPort(slot=int(e["slot"]), link=str(e["link"]), serial=str(e["serial"]))
        for e in entries
    ]


def write_demo_config(out: Path, pki: DevPki, slots: Sequence[Slot]) -> Path:
    """Write ``out/station.toml`` for a development PKI and fixture slots.

    Returns:
        The path of the configuration file.
    """
    issuing = pki.issuing
    text = _CONFIG_TEMPLATE.format(
        organization=_toml(pki.organization),
        base_url=_toml(pki.publication.base_url),
        root=_toml(str(pki.root_certificate)),
        module=_toml(str(issuing.module)),
        softhsm2_conf=_toml(str(issuing.softhsm_conf)),
        token_label=_toml(issuing.token_label),
        key_label=_toml(issuing.key_label),
        certificate=_toml(str(issuing.certificate)),
        pin_file=_toml(str(issuing.pin_file)),
    )
    text += "".join(
        f"\n[[slots]]\nname = {_toml(slot.name)}\nport = {_toml(slot.port)}\n"
        for slot in slots
    )
    path = out / "station.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _toml(value: str) -> str:
    # A JSON string is a valid TOML basic string for the characters used here.
    return json.dumps(value)


def _write_outputs(out: Path, pki: DevPki, runs: Sequence[RunRecord]) -> None:
    shutil.copyfile(pki.root_certificate, out / "root.pem")
    shutil.copyfile(pki.issuing.certificate, out / "issuing.pem")
    for run in runs:
        if run.status is RunStatus.PASS and run.chain_der and run.serial:
            (out / f"{run.serial}.chain.pem").write_bytes(_chain_pem(run.chain_der))


def _chain_pem(chain_der: bytes) -> bytes:
    return b"".join(cert.public_bytes(Encoding.PEM) for cert in decode_chain(chain_der))


_CONFIG_TEMPLATE = """\
# Written by station demo for its simulated modules.

[station]
name = "demo-station"
state_dir = "state"

[product_line]
name = "demo"
organization = {organization}
validity_days = 3650
min_validity_days = 365

[product_line.models]
AMB82 = 1

[publication]
base_url = {base_url}

[trust]
root_certificate = {root}

[issuer]
mode = "local-hsm"

[issuer.local_hsm]
module = {module}
softhsm2_conf = {softhsm2_conf}
token_label = {token_label}
key_label = {key_label}
certificate = {certificate}
pin_file = {pin_file}

[link]
keygen_timeout = 30.0
"""
