"""The ``station`` command line.

Every command turns the project's own errors into one clear line on stderr
and an exit status: 0 done, 1 a module failed, 2 the command could not run.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ca_client.errors import IssuerError
from device_io.errors import DeviceError
from pki import PkiError, init_dev_pki
from pki.devpki import DEFAULT_BASE_URL, DEFAULT_ORGANIZATION
from station.assembly import open_station
from station.config import find_config, load_config
from station.demo import DemoOptions, run_demo
from station.errors import StationError
from station.events import EventKind, SlotEvent
from station.report import format_results
from station.workflow import ModuleResult, Slot

EXIT_OK = 0
EXIT_MODULE_FAILED = 1
EXIT_ERROR = 2

_KNOWN_ERRORS = (StationError, DeviceError, IssuerError, PkiError)

Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``station`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["simulate"]:
        from device_io.simulator import main as simulate

        return simulate(argv[1:])

    parser = _parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    command: Command | None = getattr(args, "command", None)
    if command is None:
        parser.print_help()
        return EXIT_ERROR
    try:
        return command(args)
    except _KNOWN_ERRORS as exc:
        print(f"station: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("station: interrupted", file=sys.stderr)
        return EXIT_ERROR


def _configure_logging(verbosity: int) -> None:
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="station",
        description="Factory provisioning station for Ameba-class IoT modules.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="configuration file (default: $STATION_CONFIG, then ./station.toml)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log each finished step (-vv: serial frames too)",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_demo(commands)
    _add_provision(commands)
    commands.add_parser(
        "simulate",
        help="serve simulated modules on pseudo-terminals (see simulate --help)",
        add_help=False,
    )
    _add_pki(commands)
    return parser


# --- demo -----------------------------------------------------------------------


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo",
        help="provision simulated modules with a development PKI",
        description=(
            "Create a development PKI in SoftHSM2, start simulated modules on "
            "pseudo-terminals and provision them all concurrently."
        ),
    )
    demo.add_argument("--out", type=Path, default=Path("demo-out"), metavar="DIR")
    demo.add_argument("--slots", type=_positive_int, default=4)
    demo.add_argument("--keygen-delay", type=float, default=0.8, metavar="SECONDS")
    demo.add_argument(
        "--misbehave",
        action="append",
        default=[],
        metavar="SLOT=KIND",
        help="make a simulated module misbehave (see simulate --help)",
    )
    demo.set_defaults(command=_demo)


def _demo(args: argparse.Namespace) -> int:
    options = DemoOptions(
        out=args.out,
        slots=args.slots,
        keygen_delay=args.keygen_delay,
        misbehave=tuple(args.misbehave),
    )
    print(f"demo: provisioning {options.slots} simulated modules into {options.out}")
    results = run_demo(options, _print_event)
    return _report(results)


# --- provision ------------------------------------------------------------------


def _add_provision(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    provision = commands.add_parser(
        "provision",
        help="provision the module on one serial port",
    )
    provision.add_argument("--port", required=True, help="serial port of the module")
    provision.add_argument("--slot", default="slot-1", help="slot name for records")
    provision.add_argument(
        "--operator", required=True, metavar="BADGE", help="operator badge id"
    )
    provision.set_defaults(command=_provision)


def _provision(args: argparse.Namespace) -> int:
    config = load_config(find_config(args.config))
    with open_station(config, operator=args.operator, listener=_print_event) as station:
        result = station.provisioner.provision(Slot(args.slot, args.port))
    return _report([result])


# --- pki ------------------------------------------------------------------------


def _add_pki(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pki = commands.add_parser("pki", help="PKI operations")
    pki_commands = pki.add_subparsers(title="pki commands", metavar="COMMAND")
    init = pki_commands.add_parser(
        "init",
        help="create a development PKI (root and issuing CA in SoftHSM2)",
        description=(
            "Create a development PKI: a P-384 root CA key in its own SoftHSM2 "
            "token and configuration, a P-256 issuing CA key in a second token, "
            "random PINs in 0600 files, and both CA certificates."
        ),
    )
    init.add_argument("--dir", type=Path, required=True, metavar="DIR")
    init.add_argument("--organization", default=DEFAULT_ORGANIZATION)
    init.add_argument("--base-url", default=DEFAULT_BASE_URL, metavar="URL")
    init.set_defaults(command=_pki_init)


def _pki_init(args: argparse.Namespace) -> int:
    pki = init_dev_pki(args.dir, organization=args.organization, base_url=args.base_url)
    issuing = pki.issuing
    print(f"development PKI in {pki.directory}")
    print(f"  root CA certificate     {pki.root_certificate}")
    print(f"  issuing CA certificate  {issuing.certificate}")
    print(f"  issuing CA token        {issuing.token_label} ({issuing.softhsm_conf})")
    print(f"  issuing CA PIN file     {issuing.pin_file}")
    return EXIT_OK


# --- shared ---------------------------------------------------------------------


def _print_event(event: SlotEvent) -> None:
    if event.kind is EventKind.STEP and event.step is not None:
        who = event.serial or ""
        print(f"  {event.slot:<8} {who:<14} {event.step.label}", flush=True)


def _report(results: Sequence[ModuleResult]) -> int:
    print()
    print(format_results(results))
    if all(result.passed for result in results):
        return EXIT_OK
    return EXIT_MODULE_FAILED


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
