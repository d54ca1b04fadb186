"""``station provision``: provision the module on one port, or on every slot."""

from __future__ import annotations

import argparse
from pathlib import Path

from station.assembly import Station, open_station
from station.badges import BadgeError, check_slot_name
from station.commands import Subcommands, badge, slot_name
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
        "--slot",
        type=slot_name,
        help="slot name for records, with --port (default: the port's name)",
    )
    provision.add_argument(
        "--operator",
        required=True,
        type=badge,
        metavar="BADGE",
        help="operator badge id",
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
        return [Slot(args.slot or _name_of(args.port), args.port)]
    if args.slot is not None:
        raise ConfigError("provision --all: --slot names the slot of --port only")
    if not station.slots:
        raise ConfigError("provision --all: the configuration has no [[slots]]")
    return station.slots


def _name_of(port: str) -> str:
    """A slot name for records from a port path: its last part, when valid."""
    name = Path(port).name
    try:
        return check_slot_name(name)
    except BadgeError:
        return "manual"
