"""Large block letters for the verdict on a slot tile.

A PASS or FAIL has to be read from across the line. Where a tile has room,
the verdict is drawn three rows tall in half-block characters, which every
terminal font has and which read the same without colour.
"""

from __future__ import annotations

# Each letter is three rows of equal width; a row of two half blocks is a
# 2x2 pixel cell, so the letters are six pixels tall.
_LETTERS = {
    "P": ("█▀▀█", "█▀▀▀", "█   "),
    "A": ("▄▀▀▄", "█▄▄█", "█  █"),
    "S": ("█▀▀▀", "▀▀▀█", "▄▄▄█"),
    "F": ("█▀▀▀", "█▀▀ ", "█   "),
    "I": ("▀█▀", " █ ", "▄█▄"),
    "L": ("█   ", "█   ", "█▄▄▄"),
}

BANNER_ROWS = 3


def banner(word: str) -> list[str]:
    """The three rows of ``word`` in block letters.

    Raises:
        KeyError: A letter of ``word`` has no block form.
    """
    letters = [_LETTERS[letter] for letter in word.upper()]
    return [" ".join(rows[row] for rows in letters) for row in range(BANNER_ROWS)]


def banner_width(word: str) -> int:
    """How many columns :func:`banner` needs for ``word``."""
    return len(banner(word)[0])
