"""The slots of the line as a grid of tiles that fits the terminal.

The grid picks as many columns as tiles of a readable width fit, and makes
the rows as tall as the screen allows, so four slots fill a large monitor and
nine still fit an 80x24 terminal in their dense form (the verdict beside the
serial, the reason below), and thirty-two scroll. Arrow keys move the
selection by tile.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.containers import ScrollableContainer
from textual.events import Resize

from station.line import SlotStatus
from ui.slot_tile import SlotTile

# Narrowest tile that still shows a serial and a progress bar.
MIN_TILE_WIDTH = 26
# A compact tile: three rows inside its border.
MIN_TILE_HEIGHT = 5
# A dense tile: two rows inside its border, when compact ones do not all fit.
DENSE_TILE_HEIGHT = 4
# Taller than this only adds empty rows.
MAX_TILE_HEIGHT = 20
# The shape a tile reads best at; the grid picks the columns that come closest.
PREFERRED_TILE = (40, 12)


class SlotGrid(ScrollableContainer):
    """A scrolling grid holding one :class:`SlotTile` per slot.

    Args:
        statuses: The slots' statuses, in line order.
    """

    DEFAULT_CSS = """
    SlotGrid {
        layout: grid;
        grid-size: 4;
        grid-rows: 5;
        grid-gutter: 0 1;
        scrollbar-size-vertical: 1;
        height: 1fr;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "move(0, -1)", "Previous slot", show=False),
        Binding("right", "move(0, 1)", "Next slot", show=False),
        Binding("up", "move(-1, 0)", "Slot above", show=False),
        Binding("down", "move(1, 0)", "Slot below", show=False),
    ]

    def __init__(self, statuses: Sequence[SlotStatus]) -> None:
        super().__init__(
            *[SlotTile(number, status) for number, status in enumerate(statuses, 1)]
        )
        self._columns = 0
        self._row_height = 0

    @property
    def tiles(self) -> list[SlotTile]:
        """The tiles in line order."""
        return list(self.query_children(SlotTile))

    def on_resize(self, event: Resize) -> None:
        self._fit(event.size.width, event.size.height)

    def _fit(self, width: int, height: int) -> None:
        columns, row_height = grid_shape(len(self.tiles), width, height)
        if (columns, row_height) == (self._columns, self._row_height):
            return
        self._columns, self._row_height = columns, row_height
        self.styles.grid_size_columns = columns
        self.styles.grid_rows = str(row_height)

    def action_move(self, rows: int, columns: int) -> None:
        """Select the tile ``rows`` down and ``columns`` across."""
        tiles = self.tiles
        focused = self.screen.focused
        current = tiles.index(focused) if focused in tiles else 0
        target = current + rows * self._columns + columns
        if 0 <= target < len(tiles):
            tiles[target].focus()


def grid_shape(count: int, width: int, height: int) -> tuple[int, int]:
    """Columns and row height for ``count`` tiles in ``width`` x ``height``.

    Of the column counts whose tiles are wide enough, the one whose tiles come
    closest to the preferred shape while all fit on screen wins. When compact
    tiles cannot all fit, dense ones are tried; when those cannot either, as
    many columns as fit and dense rows, and the grid scrolls.
    """
    count = max(count, 1)
    widest = max(1, min(count, width // MIN_TILE_WIDTH))
    for lowest in (MIN_TILE_HEIGHT, DENSE_TILE_HEIGHT):
        shape = _best_fit(count, width, height, widest, lowest)
        if shape is not None:
            return shape
    return widest, DENSE_TILE_HEIGHT


def _best_fit(
    count: int, width: int, height: int, widest: int, lowest: int
) -> tuple[int, int] | None:
    """The best columns and row height with rows at least ``lowest`` tall."""
    best: tuple[float, int, int] | None = None
    for columns in range(1, widest + 1):
        rows = math.ceil(count / columns)
        row_height = min(height // rows, MAX_TILE_HEIGHT)
        if row_height < lowest:
            continue
        score = min(
            (width // columns) / PREFERRED_TILE[0], row_height / PREFERRED_TILE[1]
        )
        if best is None or score > best[0]:
            best = (score, columns, row_height)
    return None if best is None else (best[1], best[2])
