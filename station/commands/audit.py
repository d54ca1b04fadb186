"""``station audit verify|repair``: check the audit log, mend a torn end."""

from __future__ import annotations

import argparse
from pathlib import Path

from station.audit import (
    UNKEPT_ENTRIES,
    AuditError,
    AuditLog,
    audit_log_path,
    check_against_journal,
)
from station.audit_entry import AuditAnchor
from station.audit_verify import format_report, verify
from station.commands import EXIT_OK, Subcommands, badge
from station.config import StationConfig, find_config, load_config
from station.journal import Journal

# Like a failed module: the command ran, and what it checked is not sound.
EXIT_PROBLEMS = 1


def register(commands: Subcommands) -> None:
    """Add ``station audit`` and its subcommands."""
    audit = commands.add_parser("audit", help="check the audit log, mend a torn end")
    audit_commands = audit.add_subparsers(title="audit commands", metavar="COMMAND")
    _register_verify(audit_commands)
    _register_repair(audit_commands)


def _register_verify(commands: Subcommands) -> None:
    verify_parser = commands.add_parser(
        "verify",
        help="report any edited, removed, reordered or garbled entry",
        description=(
            "Check every entry's hash, the chain between entries, their order "
            "and the log's anchor; print each problem with its entry and line. "
            "Exit 1 when there is any."
        ),
    )
    verify_parser.add_argument(
        "--log",
        type=Path,
        metavar="FILE",
        help="audit log to check (default: <state_dir>/audit.log of the config)",
    )
    verify_parser.add_argument(
        "--anchor",
        type=_anchor,
        action="append",
        default=[],
        metavar="SEQ:HASH",
        help="an anchor kept elsewhere, e.g. in the journal (repeatable)",
    )
    verify_parser.set_defaults(command=_verify)


def _register_repair(commands: Subcommands) -> None:
    repair = commands.add_parser(
        "repair",
        help="set aside a torn final line left by a power cut",
        description=(
            "Move the bytes of a torn final line (a write cut short) to a file "
            "beside the log and record the repair in the log. Refused when the "
            "log's anchor shows the cut entry had been written in full."
        ),
    )
    repair.add_argument("--log", type=Path, metavar="FILE")
    repair.add_argument(
        "--operator",
        required=True,
        type=badge,
        metavar="BADGE",
        help="who orders the repair",
    )
    repair.set_defaults(command=_repair)


def _anchor(text: str) -> AuditAnchor:
    try:
        return AuditAnchor.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _verify(args: argparse.Namespace) -> int:
    kept: list[AuditAnchor] = []
    if args.log is not None:
        path = args.log
    else:
        config = load_config(find_config(args.config))
        path = audit_log_path(config)
        kept = _journal_heads(config)
    report = verify(path, anchors=args.anchor, kept=kept)
    # Every append keeps its head in the journal: a long log none of whose
    # heads the journal kept sits beside another journal than its own.
    orphan = args.log is None and not kept and report.entries > UNKEPT_ENTRIES
    lines = list(format_report(report))
    if orphan:
        if report.ok:
            lines = [f"audit log {path}: 1 problem(s)"]
        lines.append(
            f"  journal: {config.journal_path} kept none of the heads of the "
            f"log's {report.entries} entries: it is not this log's journal"
        )
    for line in lines:
        print(line)
    return EXIT_OK if report.ok and not orphan else EXIT_PROBLEMS


def _journal_heads(config: StationConfig) -> list[AuditAnchor]:
    """The head the journal kept after every entry, so a log cut or rewritten
    together with its anchor file is still caught, at the entry it starts."""
    if not config.journal_path.is_file():
        return []
    with Journal(config.journal_path, station=config.station.name) as journal:
        return [AuditAnchor.parse(head) for head in journal.audit_heads()]


def _repair(args: argparse.Namespace) -> int:
    config = load_config(find_config(args.config))
    path = args.log or audit_log_path(config)
    if not path.is_file():
        raise AuditError(f"no audit log at {path}")
    # TODO(roles): a repair is a supervisor's action; check the badge's role
    # once the station has operator roles and credentials.
    with (
        Journal(config.journal_path, station=config.station.name) as journal,
        AuditLog(path, keep_head=journal.keep_audit_head) as log,
    ):
        # A torn tail is mended only on a log the journal vouches for.
        check_against_journal(log, journal)
        entry = log.repair(station=config.station.name, operator=args.operator)
    print(
        f"audit log repaired: {entry.fields['removed_bytes']} torn bytes moved to "
        f"{entry.fields['saved_as']}, recorded as entry {entry.seq}"
    )
    return EXIT_OK
