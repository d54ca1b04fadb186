"""``station records import``: bindings made on other stations, for clone checks."""

from __future__ import annotations

import argparse
from pathlib import Path

from station.commands import EXIT_OK, Subcommands, badge
from station.config import find_config, load_config
from station.records_import import import_records


def register(commands: Subcommands) -> None:
    """Add ``station records import``."""
    records = commands.add_parser("records", help="records from other stations")
    record_commands = records.add_subparsers(title="records commands", metavar="CMD")
    imports = record_commands.add_parser(
        "import",
        help="import another station's lot export for clone detection",
        description=(
            "Import the certificate bindings (serial, MAC, key) of another "
            "station's JSON lot export, so that a clone of one of its modules is "
            "refused here too. The import is recorded in the audit log."
        ),
    )
    imports.add_argument("file", type=Path, metavar="FILE", help="a JSON lot export")
    imports.add_argument(
        "--supervisor",
        required=True,
        type=badge,
        metavar="BADGE",
        help="badge id of the supervisor ordering the import",
    )
    imports.set_defaults(command=_import)


def _import(args: argparse.Namespace) -> int:
    config = load_config(find_config(args.config))
    done = import_records(config, args.file, supervisor=args.supervisor)
    print(
        f"{args.file}: {done.bindings} certificate bindings, {done.new} new "
        f"({done.without_certificate} records without a certificate)"
    )
    return EXIT_OK
