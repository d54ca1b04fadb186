"""Command line of the simulator: ``station simulate`` forwards its arguments.

It prints one line per slot (pty path, link name, serial), optionally writes
the same as a JSON ports file once every pty is ready, then serves until
SIGINT or SIGTERM, and stops cleanly: ptys closed, links removed, flash kept.

With ``--exit-with-parent`` it also stops cleanly when the process that started
it dies, even by SIGKILL, so a killed ``station demo`` leaves no module serving
ptys in a folder the next demo wipes. ``--exit-with-parent PID`` names that
parent, so one that dies before the simulator has even started is noticed:
a PID that is not the parent is refused before any module is served.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from device_io.simulator.errors import SimulatorError
from device_io.simulator.faults import DESCRIPTIONS, build_plans
from device_io.simulator.firmware import (
    DEFAULT_KEYGEN_DELAY,
    DEFAULT_MAX_LINE,
    DEFAULT_MAX_OBJECT,
    FirmwareLimits,
)
from device_io.simulator.lot_plan import assign_slots, read_lot_plan
from device_io.simulator.nameplate import DEFAULT_FIRMWARE
from device_io.simulator.scenario import read_scenario
from device_io.simulator.simulator import (
    DEFAULT_BAUD,
    PortInfo,
    Simulator,
    SimulatorConfig,
    write_ports_file,
)

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_SETUP = 2

# How often a simulator started with --exit-with-parent checks its parent.
PARENT_POLL = 0.2
# --exit-with-parent without a PID: the parent the simulator started with. A
# parent that passes its own PID also covers its dying before that is read.
_OWN_PARENT = 0


def main(argv: list[str]) -> int:
    """Run the simulator until SIGINT or SIGTERM.

    Args:
        argv: Arguments without the program name.

    Returns:
        0 after a clean stop, 2 when the simulator cannot be set up.
    """
    parent = os.getppid()
    args = _parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
    try:
        config = _config(args)
    except (SimulatorError, ValueError) as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return EXIT_SETUP
    if args.exit_with_parent not in (None, _OWN_PARENT, parent):
        print(
            f"simulate: --exit-with-parent {args.exit_with_parent} is not the "
            f"parent of this process (that is {parent}); it may already be gone",
            file=sys.stderr,
        )
        return EXIT_SETUP
    watched = None if args.exit_with_parent is None else parent
    return _serve(config, args.ports_file, parent=watched)


def _serve(
    config: SimulatorConfig, ports_file: Path | None, *, parent: int | None
) -> int:
    with _stop_signals() as stopped:
        simulator = Simulator(config)
        try:
            ports = simulator.start()
            if ports_file is not None:
                write_ports_file(ports_file, ports)
        except (SimulatorError, OSError) as exc:
            simulator.stop()
            print(f"simulate: {exc}", file=sys.stderr)
            return EXIT_SETUP
        _announce(ports)
        _wait_for_stop(stopped, parent)
        simulator.stop()
    logger.info("simulator stopped")
    return EXIT_OK


def _announce(ports: list[PortInfo]) -> None:
    for port in ports:
        print(f"slot {port.slot}: {port.port} link {port.link} serial {port.serial}")
    sys.stdout.flush()


def _wait_for_stop(stopped: threading.Event, parent: int | None) -> None:
    """Wait for a stop signal or, when ``parent`` is given, for its death.

    A dead parent is seen as a change of ``os.getppid()``: the orphan is
    adopted by init or a subreaper. This is polled rather than asked of the
    kernel with PR_SET_PDEATHSIG because that signal follows the parent
    *thread* that forked, so a console starting the simulator from a worker
    thread would lose its modules when that thread ended.
    """
    if parent is None:
        stopped.wait()
        return
    while not stopped.wait(PARENT_POLL):
        if os.getppid() != parent:
            logger.warning("parent process %d is gone; stopping", parent)
            return


@contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM; the old handlers come back after."""
    stopped = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    previous = {
        signum: signal.signal(signum, on_signal)
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield stopped
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _config(args: argparse.Namespace) -> SimulatorConfig:
    plan = read_lot_plan(args.lot_plan, firmware=args.firmware)
    nameplates = assign_slots(plan, slots=args.slots, first=args.first_index)
    specs = list(args.misbehave)
    if args.scenario is not None:
        specs = [*read_scenario(args.scenario).misbehave, *specs]
    return SimulatorConfig(
        state_dir=args.state_dir,
        nameplates=nameplates,
        baud=args.baud,
        limits=FirmwareLimits(
            max_line=args.max_line,
            max_object=args.max_object,
            keygen_delay=args.keygen_delay,
        ),
        faults=build_plans(specs, slots=args.slots),
        seed=args.seed,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="station simulate",
        description="Serve simulated Ameba modules, one pseudo-terminal each.",
        epilog=_misbehaviour_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--slots", type=_positive, default=8, help="modules (8)")
    parser.add_argument("--lot-plan", type=Path, required=True, metavar="CSV")
    parser.add_argument(
        "--state-dir", type=Path, default=Path("simulator-state"), metavar="DIR"
    )
    parser.add_argument(
        "--first-index",
        type=_non_negative,
        default=0,
        metavar="K",
        help="lot plan row (0-based) that slot 1 gets (0)",
    )
    parser.add_argument("--firmware", default=DEFAULT_FIRMWARE, metavar="VER")
    parser.add_argument(
        "--keygen-delay",
        type=float,
        default=DEFAULT_KEYGEN_DELAY,
        metavar="SECONDS",
    )
    parser.add_argument("--baud", type=_positive, default=DEFAULT_BAUD)
    parser.add_argument("--max-line", type=_positive, default=DEFAULT_MAX_LINE)
    parser.add_argument("--max-object", type=_positive, default=DEFAULT_MAX_OBJECT)
    parser.add_argument(
        "--misbehave",
        action="append",
        default=[],
        metavar="SLOT=KIND[:ARG]",
        help="make a slot misbehave (repeatable; slots are 1-based)",
    )
    parser.add_argument("--scenario", type=Path, metavar="TOML")
    parser.add_argument("--seed", type=int, default=0, help="seed of the link noise")
    parser.add_argument("--ports-file", type=Path, metavar="FILE")
    parser.add_argument(
        "--exit-with-parent",
        nargs="?",
        type=_positive,
        const=_OWN_PARENT,
        metavar="PID",
        help=(
            "stop cleanly when the process that started the simulator (or the "
            "process PID, which must be its parent) dies"
        ),
    )
    return parser


def _misbehaviour_help() -> str:
    width = max(len(kind.value) for kind in DESCRIPTIONS)
    rows = [f"  {kind.value:<{width}}  {text}" for kind, text in DESCRIPTIONS.items()]
    return "misbehaviours (KIND[:ARG]):\n" + "\n".join(rows)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value
