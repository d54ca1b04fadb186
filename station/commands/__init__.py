"""The subcommands of ``station``, one module per command group.

Each module exposes ``register(commands)``, which adds its parser(s) to the
``station`` subparsers and sets ``command`` to the function that runs it. A
command function takes the parsed arguments and returns the exit status.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

EXIT_OK = 0
EXIT_MODULE_FAILED = 1
EXIT_ERROR = 2

if TYPE_CHECKING:
    # argparse's action class is generic only in its type stubs.
    Subcommands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subcommands = argparse._SubParsersAction
Command = Callable[[argparse.Namespace], int]


def positive_int(text: str) -> int:
    """An argparse type for integers of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
