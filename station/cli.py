"""The ``station`` command line.

Every command turns the project's own errors into one clear line on stderr
and an exit status: 0 done, 1 a module failed, 2 the command could not run.
The subcommands live in :mod:`station.commands`, one module per group.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ca_client.errors import IssuerError
from device_io.errors import DeviceError
from pki import PkiError
from station.commands import (
    EXIT_ERROR,
    EXIT_OK,
    Command,
    audit,
    conformance,
    console,
    demo,
    export,
    lot,
    pki,
    ports,
    provision,
    records,
    simulate,
    udev,
)
from station.errors import StationError

logger = logging.getLogger(__name__)

_KNOWN_ERRORS = (StationError, DeviceError, IssuerError, PkiError)
# In the order ``station --help`` lists them.
_COMMAND_GROUPS = (
    console,
    demo,
    provision,
    simulate,
    conformance,
    ports,
    udev,
    lot,
    export,
    records,
    audit,
    pki,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``station`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    options = parser.parse_known_args(argv)[0]
    if options.group == "simulate":
        # The simulator parses its own arguments, so that ``station simulate``
        # and ``python -m device_io.simulator`` are the same command; the
        # global options before it still count (--config means nothing to it).
        from device_io.simulator import main as simulate_main

        if options.verbose:
            _configure_logging(options.verbose)
        return simulate_main(argv[argv.index("simulate") + 1 :])

    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    command: Command | None = getattr(args, "command", None)
    if args.group is None:
        # ``station`` alone is what an operator types: it opens the console.
        command = console.run
    if command is None:
        parser.print_help()
        return EXIT_ERROR
    try:
        status = command(args)
        sys.stdout.flush()  # a pipe closed early fails here, not at exit
        return status
    except _KNOWN_ERRORS as exc:
        print(f"station: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader went away (``station ports | head``): not an error of
        # ours, and nothing more can be said on stdout.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        # A file or folder the command was pointed at cannot be used; the
        # message names it, and a traceback would only hide that.
        logger.debug("command failed", exc_info=True)
        print(f"station: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
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
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", dest="group")
    for group in _COMMAND_GROUPS:
        group.register(commands)
    return parser
