"""``station lot ...``: import and list the lot plans a station runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from station.commands import EXIT_OK, Subcommands, badge
from station.config import find_config, load_config
from station.lot_import import import_lot
from station.lot_plan import read_lot_plan
from station.lot_store import LotStore


def register(commands: Subcommands) -> None:
    """Add ``station lot import`` and ``station lot list``."""
    lot = commands.add_parser("lot", help="lot plans")
    lot_commands = lot.add_subparsers(title="lot commands", metavar="COMMAND")

    imports = lot_commands.add_parser(
        "import",
        help="import a lot plan exported by the MES",
        description=(
            "Import a lot plan: a CSV with the columns serial, mac, model and lot "
            "(others are ignored), plus the firmware versions allowed for the lot."
        ),
    )
    imports.add_argument("file", type=Path, metavar="FILE")
    imports.add_argument(
        "--firmware",
        action="append",
        required=True,
        metavar="VERSION",
        help="a firmware version allowed for the lot (repeatable)",
    )
    imports.add_argument(
        "--supervisor",
        required=True,
        type=badge,
        metavar="BADGE",
        help="who authorises it",
    )
    imports.add_argument(
        "--replace",
        action="store_true",
        help="replace a different plan already imported for the lot",
    )
    imports.set_defaults(command=_import)

    listing = lot_commands.add_parser("list", help="list the imported lot plans")
    listing.set_defaults(command=_list)


def _import(args: argparse.Namespace) -> int:
    config = load_config(find_config(args.config))
    plan = read_lot_plan(args.file, allowed_firmware=args.firmware)
    outcome = import_lot(
        config,
        plan,
        supervisor=args.supervisor,
        source=str(args.file),
        replace=args.replace,
    )
    firmware = ", ".join(sorted(plan.allowed_firmware))
    print(
        f"lot {plan.lot}: {outcome.value}, {len(plan.modules)} modules, "
        f"firmware {firmware}"
    )
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    config = load_config(find_config(args.config))
    with LotStore(config.lots_path) as lots:
        summaries = lots.lots()
    if not summaries:
        print("no lot plans imported")
    for lot in summaries:
        firmware = ", ".join(lot.allowed_firmware)
        when = f"{lot.imported_at:%Y-%m-%d %H:%M}"
        print(
            f"{lot.lot}  {lot.modules} modules  firmware {firmware}  "
            f"imported {when} UTC by {lot.imported_by}"
        )
    return EXIT_OK
