"""``station console``: the operator console on the configured station."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from station.commands import EXIT_OK, Subcommands
from station.config import StationConfig, find_config, load_config

CONSOLE_LOG = "console.log"


def register(commands: Subcommands) -> None:
    """Add ``station console``."""
    console = commands.add_parser(
        "console",
        help="the operator console (also: station with no command)",
        description=(
            "Sign in with a badge and a lot, then run every fixture slot of the "
            "configured station from one screen."
        ),
    )
    console.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    """Open the console on the configuration ``--config`` or the defaults name."""
    config = load_config(find_config(args.config))
    return run_console(config)


def run_console(config: StationConfig) -> int:
    """Run the console on ``config`` until the operator quits."""
    # Textual is imported here so that the other commands start without it.
    from ui import ConsoleApp

    log = log_to_file(config.station.state_dir / CONSOLE_LOG)
    print(f"console: logging to {log}")
    ConsoleApp(config).run()
    return EXIT_OK


def log_to_file(path: Path) -> Path:
    """Send log records to ``path`` instead of the terminal the console draws on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        ):
            root.removeHandler(handler)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    if root.level > logging.INFO:
        # A file does not get in the operator's way: keep each finished step.
        root.setLevel(logging.INFO)
    return path
