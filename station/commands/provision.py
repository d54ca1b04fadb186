"""``station provision``: provision the module on one serial port."""

from __future__ import annotations

import argparse

from station.assembly import open_station
from station.commands import Subcommands
from station.commands.output import print_event, report
from station.config import find_config, load_config
from station.workflow import Slot


def register(commands: Subcommands) -> None:
    """Add ``station provision``."""
    provision = commands.add_parser(
        "provision",
        help="provision the module on one serial port",
    )
    provision.add_argument("--port", required=True, help="serial port of the module")
    provision.add_argument("--slot", default="slot-1", help="slot name for records")
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
        result = station.provisioner.provision(Slot(args.slot, args.port))
    return report([result])
