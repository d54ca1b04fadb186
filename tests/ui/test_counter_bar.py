"""The counter row at the widths operators' terminals have, with the largest
totals a shift reaches."""

from __future__ import annotations

import asyncio

import pytest
from console_pilot import screen_text
from textual.app import App, ComposeResult

from station.line import Counters, LineMode
from ui.counter_bar import CounterBar

# Five-digit counts, a four-digit rate and queue, every one of 32 slots busy.
BUSY_SHIFT = Counters(passed=99_999, failed=99_999, per_hour=9_999.0)


class _Bar(App[None]):
    """Nothing but the counter row, showing the totals it is given."""

    def __init__(self, mode: LineMode) -> None:
        super().__init__()
        self.mode = mode

    def compose(self) -> ComposeResult:
        yield CounterBar()

    def on_mount(self) -> None:
        self.query_one(CounterBar).show(
            BUSY_SHIFT, mode=self.mode, busy=32, slots=32, queued=9_999
        )


def _row(width: int, mode: LineMode = LineMode.PROVISION) -> str:
    app = _Bar(mode)

    async def scenario() -> str:
        async with app.run_test(size=(width, 3)) as pilot:
            await pilot.pause()
            return screen_text(app).splitlines()[0]

    return asyncio.run(scenario())


@pytest.mark.parametrize("mode", list(LineMode))
def test_every_counter_but_the_queue_fits_80_columns_whole(mode: LineMode) -> None:
    row = _row(80, mode)

    assert row.rstrip().endswith("in work 32/32"), row
    assert "passed 99999  failed 99999  yield 50.0%  rate 9999/h" in row
    assert "queued" not in row


def test_a_wide_terminal_keeps_the_queue_in_the_row() -> None:
    row = _row(160)

    assert (
        "passed 99999  failed 99999  yield 50.0%  rate 9999/h  "
        "queued for issuance 9999  in work 32/32"
    ) in row
