"""Badge ids and slot names: who and where, on every record.

A badge id identifies an operator, supervisor or PKI officer; it is written on
every journal row, audit entry and export, so nothing but the characters a
station allows in names gets through. Slot names follow the same rule.
"""

from __future__ import annotations

import re

from station.errors import StationError

_NAME = re.compile(r"[A-Za-z0-9._-]{1,32}")
RULE = "1 to 32 of A-Z a-z 0-9 . _ -"


class BadgeError(StationError, ValueError):
    """A badge id or slot name breaks the rule; the message says which rule."""


def badge_problem(badge: str) -> str | None:
    """Why ``badge`` cannot be used as a badge id, or None when it can."""
    if not badge:
        return "scan or type your badge id"
    if not _NAME.fullmatch(badge):
        return f"a badge id is {RULE}"
    return None


def check_badge(badge: str, *, role: str = "operator") -> str:
    """Return ``badge`` if it is a valid badge id.

    Raises:
        BadgeError: It is empty or has other characters; names the role.
    """
    if not _NAME.fullmatch(badge):
        raise BadgeError(f"{role} badge {badge!r} is not a badge id ({RULE})")
    return badge


def check_slot_name(name: str) -> str:
    """Return ``name`` if it is a valid slot name.

    Raises:
        BadgeError: It breaks the rule.
    """
    if not _NAME.fullmatch(name):
        raise BadgeError(f"slot name {name!r} breaks the rule ({RULE})")
    return name
