"""The subcommands of ``station``, one module per command group.

Each module exposes ``register(commands)``, which adds its parser(s) to the
``station`` subparsers and sets ``command`` to the function that runs it. A
command function takes the parsed arguments and returns the exit status.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

from station.badges import BadgeError, check_badge, check_slot_name

EXIT_OK = 0
EXIT_MODULE_FAILED = 1
EXIT_ERROR = 2

if TYPE_CHECKING:
    # argparse's action class is generic only in its type stubs.
    Subcommands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subcommands = argparse._SubParsersAction
Command = Callable[[argparse.Namespace], int]


def badge(text: str) -> str:
    """An argparse type for badge ids."""
    try:
        return check_badge(text, role="a")
    except BadgeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def slot_name(text: str) -> str:
    """An argparse type for slot names."""
    try:
        return check_slot_name(text)
    except BadgeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def non_negative_seconds(text: str) -> float:
    """An argparse type for a finite, non-negative number of seconds."""
    value = _seconds(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, got {text}")
    return value


def positive_seconds(text: str) -> float:
    """An argparse type for a finite number of seconds above zero."""
    value = _seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"must be a positive number of seconds, got {text!r}"
        )
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number of seconds: {text}")
    return value


def positive_int(text: str) -> int:
    """An argparse type for integers of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
