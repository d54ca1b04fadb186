"""How the grid shapes its tiles to the terminal."""

from __future__ import annotations

from ui.slot_grid import DENSE_TILE_HEIGHT, MIN_TILE_HEIGHT, grid_shape

# Rows an 80x24 terminal leaves the grid under the header, log and footers.
GRID_ROWS_AT_80X24 = 14


def test_four_slots_at_80x24_keep_compact_tiles() -> None:
    columns, row_height = grid_shape(4, 80, GRID_ROWS_AT_80X24)

    assert (columns, row_height) == (2, 7)


def test_nine_slots_at_80x24_fit_as_dense_tiles() -> None:
    columns, row_height = grid_shape(9, 80, GRID_ROWS_AT_80X24)

    assert (columns, row_height) == (3, DENSE_TILE_HEIGHT)
    assert 3 * row_height <= GRID_ROWS_AT_80X24


def test_thirty_two_slots_at_80x24_scroll_in_dense_rows() -> None:
    columns, row_height = grid_shape(32, 80, GRID_ROWS_AT_80X24)

    assert (columns, row_height) == (3, DENSE_TILE_HEIGHT)
    assert row_height < MIN_TILE_HEIGHT
