"""``station provision``: provision the module on one port, or on every slot."""

from __future__ import annotations

import argparse

from station.assembly import Station, open_station
from station.commands import Subcommands
from station.commands.output import print_event, report
from station.config import find_config, load_config
from station.errors import ConfigError
from station.line import run_slots
from station.workflow import Slot


def register(commands: Subcommands) -> None:
    """Add ``station provision``."""
    provision = commands.add_parser(
        "provision",
        help="provision the module on one serial port, or on every slot",
        description=(
            "Provision the module on one serial port, or the modules in every "
            "slot of the configuration at once. Modules left unfinished by a "
            "station that stopped are taken over and finished: every step is "
            "safe to repeat."
        ),
    )
    where = provision.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="serial port of the module")
    where.add_argument(
        "--all", action="store_true", help="every slot of the configuration"
    )
    provision.add_argument(
        "--slot", default="slot-1", help="slot name for records (with --port)"
    )
    provision.add_argument(
        "--operator", required=True, metavar="BADGE", help="operator badge id"
    )
    provision.add_argument(
        "--lot", required=True, help="the lot to run (its plan must be imported)"
    )
    provision.set_defaults(command=_provision)


def _provision(args: argparse.Namespace) -> int:
    config = load_config(find_config(args.config))
    with open_station(
        config, operator=args.operator, lot=args.lot, listener=print_event
    ) as station:
        slots = _slots(station, args)
        results = run_slots(station.provisioner, slots, listener=print_event)
    return report(results)


def _slots(station: Station, args: argparse.Namespace) -> list[Slot]:
    if not args.all:
        return [Slot(args.slot, args.port)]
    if not station.slots:
        raise ConfigError("provision --all: the configuration has no [[slots]]")
    return station.slots
