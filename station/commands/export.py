"""``station export --lot LOT``: the lot's manufacturing records as CSV and JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

from station.commands import EXIT_OK, Subcommands
from station.config import find_config, load_config
from station.export import export_lot, exports_dir


def register(commands: Subcommands) -> None:
    """Add ``station export``."""
    export = commands.add_parser(
        "export",
        help="write a lot's manufacturing records as CSV and JSON",
        description=(
            "Write <out>/<lot>-records.csv and <out>/<lot>-records.json with one "
            "record per provisioning run of the lot, read from the journal."
        ),
    )
    export.add_argument("--lot", required=True, help="the lot to export")
    export.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="folder to write into (default: <state_dir>/exports of the config)",
    )
    export.set_defaults(command=_export)


def _export(args: argparse.Namespace) -> int:
    config = load_config(find_config(args.config))
    files = export_lot(
        config.journal_path,
        args.lot,
        station=config.station.name,
        out=args.out or exports_dir(config),
    )
    print(f"exported {files.count} records of lot {args.lot}")
    print(f"  {files.csv}")
    print(f"  {files.json}")
    return EXIT_OK
