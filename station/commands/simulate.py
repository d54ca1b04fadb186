"""``station simulate``: serve simulated modules (the simulator's own CLI)."""

from __future__ import annotations

from station.commands import Subcommands


def register(commands: Subcommands) -> None:
    """List ``station simulate`` in the help; ``station.cli`` forwards its argv."""
    commands.add_parser(
        "simulate",
        help="serve simulated modules on pseudo-terminals (see simulate --help)",
        add_help=False,
    )
