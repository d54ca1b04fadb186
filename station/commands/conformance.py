"""``station conformance``: check a module's firmware against the PV contract."""

from __future__ import annotations

import argparse

from device_io.conformance import ConformanceOptions, Timeouts, run_conformance
from device_io.conformance_report import format_header, format_result, format_summary
from station.commands import (
    EXIT_ERROR,
    EXIT_MODULE_FAILED,
    EXIT_OK,
    Subcommands,
    positive_seconds,
)


def register(commands: Subcommands) -> None:
    """Add ``station conformance``."""
    conformance = commands.add_parser(
        "conformance",
        help="check a module's firmware against the PV command set",
        description=(
            "Drive the module on PORT through every PV command and error case "
            "of docs/pv-commands.md and print each check with PASS or FAIL. "
            "The module must not be locked; it is reset to EMPTY at the start "
            "and, unless --lock is given, at the end. Run it over a clean link: "
            "a reply damaged on the way is asked again once, and a check link "
            "damage keeps from a verdict is reported as NOISE. Exit status: 0 "
            "every check passed, 1 a check failed, 2 the port or module cannot "
            "be used, or link noise kept a check from a verdict."
        ),
    )
    conformance.add_argument("--port", required=True, help="serial port of the module")
    conformance.add_argument(
        "--lock",
        action="store_true",
        help="also run the lock checks: this LOCKS THE MODULE FOR GOOD",
    )
    conformance.add_argument(
        "--keygen-timeout",
        type=positive_seconds,
        default=Timeouts().keygen,
        metavar="SECONDS",
        help="reply timeout of key generation (%(default)s)",
    )
    conformance.set_defaults(command=_conformance)


def _conformance(args: argparse.Namespace) -> int:
    options = ConformanceOptions(
        lock=args.lock, timeouts=Timeouts(keygen=args.keygen_timeout)
    )
    print(format_header(args.port, lock=args.lock), flush=True)

    report = run_conformance(
        args.port,
        options,
        listener=lambda result: print(format_result(result), flush=True),
    )

    print()
    print(format_summary(report))
    if report.port_failure is not None:
        return EXIT_ERROR
    if report.failed:
        return EXIT_MODULE_FAILED
    # Link noise alone is no verdict on the firmware: the link let the run down.
    return EXIT_ERROR if report.damaged else EXIT_OK
