"""``station records``: other stations' bindings, and QA flags on modules."""

from __future__ import annotations

import argparse
from pathlib import Path

from station.commands import EXIT_OK, Subcommands, badge
from station.config import find_config, load_config
from station.qa_flags import clear_flags, open_flags
from station.records_import import import_records

EXIT_CONFLICTS = 1


def register(commands: Subcommands) -> None:
    """Add ``station records import``."""
    records = commands.add_parser(
        "records", help="other stations' records, and QA flags on modules"
    )
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

    flags = record_commands.add_parser(
        "flags",
        help="modules flagged for QA and not cleared yet",
        description="List the open QA flags: run, module, when, and why.",
    )
    flags.set_defaults(command=_flags)

    clear = record_commands.add_parser(
        "clear-flags",
        help="clear a module's QA flags once QA has decided",
        description=(
            "Close every open QA flag on a module serial, with what QA found. "
            "A module flagged as a clone is refused until then. Recorded in "
            "the journal and the audit log."
        ),
    )
    clear.add_argument("serial", metavar="SERIAL", help="the module serial")
    clear.add_argument(
        "--supervisor",
        required=True,
        type=badge,
        metavar="BADGE",
        help="badge id of the supervisor deciding",
    )
    clear.add_argument(
        "--note", required=True, metavar="TEXT", help="what QA found, in words"
    )
    clear.set_defaults(command=_clear)


def _import(args: argparse.Namespace) -> int:
    config = load_config(find_config(args.config))
    done = import_records(config, args.file, supervisor=args.supervisor)
    print(
        f"{args.file}: {done.bindings} certificate bindings, {done.new} new "
        f"({done.without_certificate} records without a certificate)"
    )
    for conflict in done.conflicts:
        print(f"  {conflict}")
    # Imported, but a check found a problem for QA: like a failed module.
    return EXIT_CONFLICTS if done.conflicts else EXIT_OK


def _flags(args: argparse.Namespace) -> int:
    config = load_config(find_config(args.config))
    flags = open_flags(config)
    if not flags:
        print("no open QA flags")
    for flag in flags:
        print(
            f"run {flag.run_id}  {flag.serial}  {flag.mac}  "
            f"{flag.flagged_at:%Y-%m-%d %H:%M} UTC  {flag.kind}: {flag.reason}"
        )
    return EXIT_OK


def _clear(args: argparse.Namespace) -> int:
    config = load_config(find_config(args.config))
    cleared = clear_flags(
        config, args.serial, supervisor=args.supervisor, note=args.note
    )
    runs = ", ".join(str(flag.run_id) for flag in cleared)
    print(f"{args.serial}: {len(cleared)} QA flag(s) cleared (runs {runs})")
    return EXIT_OK
