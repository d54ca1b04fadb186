"""Snapshots of the console's main screens, at 80x24 and on a large screen.

Each compares Textual's own SVG export with a stored file. The clocks are
the test's: every module takes 42.5 s on the line's clock and the log reads
08:15:00, so the screens are the same on every run. Modules are started one
at a time so that the log's order is fixed too. ``UPDATE_SNAPSHOTS=1``
rewrites the stored files after a deliberate change.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from console_bench import MakeBench, StageClock, fixed_wall_clock
from console_pilot import assert_snapshot, finish_all, sign_in
from textual.widgets import Input

from ui import ConsoleApp

MODULE_SECONDS = 42.5
SHIFT_SECONDS = 60.0


def test_sign_in_screen(make_bench: MakeBench, tmp_path: Path) -> None:
    app = ConsoleApp(make_bench(slots=2).config, wall_clock=fixed_wall_clock)

    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            badge = app.screen.query_one("#badge", Input)
            badge.cursor_blink = False
            badge.value = "B0042"
            await pilot.pause()
            assert_snapshot(app, "sign-in-80x24", tmp_path)

    asyncio.run(scenario())


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_line_screen_after_a_pass_and_a_fail(
    make_bench: MakeBench, tmp_path: Path, size: tuple[int, int]
) -> None:
    bench = make_bench(slots=4, misbehave=("2=rsa-key",))
    clock = StageClock()
    app = ConsoleApp(bench.config, monotonic=clock, wall_clock=fixed_wall_clock)

    async def scenario() -> None:
        async with app.run_test(size=size) as pilot:
            await sign_in(pilot)
            clock.workers += MODULE_SECONDS
            for key in "1234":
                await pilot.press(key)
                await finish_all(pilot)
            clock.ui += SHIFT_SECONDS
            await finish_all(pilot)
            assert_snapshot(app, f"line-{size[0]}x{size[1]}", tmp_path)

    asyncio.run(scenario())


def test_help_screen(make_bench: MakeBench, tmp_path: Path) -> None:
    app = ConsoleApp(
        make_bench(slots=2).config, monotonic=StageClock(), wall_clock=fixed_wall_clock
    )

    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await sign_in(pilot)
            await pilot.press("question_mark")
            await pilot.pause()
            assert_snapshot(app, "help-80x24", tmp_path)

    asyncio.run(scenario())


def test_line_screen_with_nine_slots_at_80x24(
    make_bench: MakeBench, tmp_path: Path
) -> None:
    # Slot 9 sits in the third row, the one an 80x24 terminal used to cut off.
    bench = make_bench(slots=9, misbehave=("9=rsa-key",))
    clock = StageClock()
    app = ConsoleApp(bench.config, monotonic=clock, wall_clock=fixed_wall_clock)

    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await sign_in(pilot)
            clock.workers += MODULE_SECONDS
            for key in "159":
                await pilot.press(key)
                await finish_all(pilot)
            clock.ui += SHIFT_SECONDS
            await finish_all(pilot)
            assert_snapshot(app, "line-9-slots-80x24", tmp_path)

    asyncio.run(scenario())
