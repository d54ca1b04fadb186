"""``station records import``: bindings made on other stations, for clone checks.

A station refuses a module whose serial or MAC is already bound to another key
on this station or in records imported from others. Importing another
station's lot export (``station export --lot``, JSON) brings its bindings in.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from station.commands import EXIT_OK, Subcommands
from station.config import find_config, load_config
from station.export import read_export
from station.journal import Binding, Journal


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
            "refused here too."
        ),
    )
    imports.add_argument("file", type=Path, metavar="FILE", help="a JSON lot export")
    imports.set_defaults(command=_import)


def _import(args: argparse.Namespace) -> int:
    config = load_config(find_config(args.config))
    records = read_export(args.file)
    bindings = [
        Binding(
            record=f"run {record.run_id}",
            station=record.station,
            slot=record.slot,
            serial=record.serial,
            mac=record.mac.lower(),
            spki_sha256=record.spki_sha256,
            cert_serial=record.cert_serial,
            at=record.started_at,
        )
        for record in records
        if record.cert_serial is not None and record.spki_sha256 is not None
    ]
    with Journal(config.journal_path, station=config.station.name) as journal:
        new = journal.import_bindings(bindings, source=args.file.name)
    print(
        f"{args.file}: {len(bindings)} certificate bindings, {new} new "
        f"({len(records) - len(bindings)} records without a certificate)"
    )
    return EXIT_OK
