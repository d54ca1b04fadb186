"""``station demo``: provision simulated modules with a development PKI."""

from __future__ import annotations

import argparse
from pathlib import Path

from station.commands import Subcommands, non_negative_seconds, positive_int
from station.commands.console import run_console
from station.commands.output import print_event, report
from station.demo import DemoOptions, check_options, demo_station, run_demo


def register(commands: Subcommands) -> None:
    """Add ``station demo``."""
    demo = commands.add_parser(
        "demo",
        help="provision simulated modules with a development PKI",
        description=(
            "Create a development PKI in SoftHSM2, start simulated modules on "
            "pseudo-terminals and provision them all concurrently."
        ),
    )
    demo.add_argument("--out", type=Path, default=Path("demo-out"), metavar="DIR")
    demo.add_argument("--slots", type=positive_int, default=4)
    demo.add_argument(
        "--keygen-delay", type=non_negative_seconds, default=0.8, metavar="SECONDS"
    )
    demo.add_argument(
        "--misbehave",
        action="append",
        default=[],
        metavar="SLOT=KIND",
        help="make a simulated module misbehave (see simulate --help)",
    )
    demo.add_argument(
        "--console",
        action="store_true",
        help="run the modules from the operator console instead of all at once",
    )
    demo.set_defaults(command=_demo)


def _demo(args: argparse.Namespace) -> int:
    options = DemoOptions(
        out=args.out,
        slots=args.slots,
        keygen_delay=args.keygen_delay,
        misbehave=tuple(args.misbehave),
    )
    check_options(options)
    if args.console:
        return _console(options)
    print(f"demo: provisioning {options.slots} simulated modules into {options.out}")
    return report(run_demo(options, print_event))


def _console(options: DemoOptions) -> int:
    print(f"demo: starting {options.slots} simulated modules in {options.out}")
    with demo_station(options) as demo:
        return run_console(demo.config)
