"""``station udev-rules``: udev rules giving each fixture slot a stable link."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from station.commands import EXIT_OK, Subcommands
from station.fixture_map import load_fixture_map
from station.udev_rules import (
    DEFAULT_GROUP,
    DEFAULT_MODE,
    RULES_FILE,
    render_rules,
    write_rules,
)


def register(commands: Subcommands) -> None:
    """Add ``station udev-rules``."""
    rules = commands.add_parser(
        "udev-rules",
        help="make udev rules that give each fixture slot a stable link",
        description=(
            "Make udev rules from a fixture map (its own file, or a station "
            "configuration whose [fixture] table is the map): the serial port "
            "of each slot "
            "gets /dev/provision/<slot>, matched by the USB path of its hub "
            f"port. Install them as /etc/udev/rules.d/{RULES_FILE} "
            "(see udev/README.md)."
        ),
    )
    rules.add_argument(
        "--fixture",
        type=Path,
        required=True,
        metavar="FILE",
        help="a fixture map, or a station configuration with a [fixture] table",
    )
    rules.add_argument(
        "--group",
        default=DEFAULT_GROUP,
        help="group of the slot device nodes (default: %(default)s)",
    )
    rules.add_argument(
        "--mode",
        default=DEFAULT_MODE,
        help="mode of the slot device nodes (default: %(default)s)",
    )
    rules.add_argument(
        "--output", type=Path, metavar="FILE", help="write here instead of stdout"
    )
    rules.set_defaults(command=_udev_rules)


def _udev_rules(args: argparse.Namespace) -> int:
    fixture = load_fixture_map(args.fixture)
    text = render_rules(
        fixture, source=str(args.fixture), group=args.group, mode=args.mode
    )
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    write_rules(args.output, text)
    print(f"wrote rules for {len(fixture.slots)} slots to {args.output}")
    return EXIT_OK
