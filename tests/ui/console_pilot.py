"""Driving the console the way an operator does, and reading its screen."""

from __future__ import annotations

import asyncio
import html
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input

from ui import ConsoleApp
from ui.line_screen import LineScreen

T = TypeVar("T")

# Seconds a test waits for simulated modules before it gives up.
PATIENCE = 60.0
SNAPSHOTS = Path(__file__).parent / "snapshots"
# Set to rewrite the stored snapshots from what the console draws now.
UPDATE_ENV = "UPDATE_SNAPSHOTS"

_SPAN = re.compile(
    r'<text class="[^"]*-r\d+" x="([\d.]+)" [^>]*line-(\d+)\)">([^<]*)</text>'
)
# Width of one cell in Rich's SVG export, in SVG units.
_CELL = 12.2


async def sign_in(
    pilot: Pilot[None], badge: str = "B0042", *, lot_key: str = "enter"
) -> LineScreen:
    """Type the badge, choose the first lot, and wait for the line screen."""
    app = _console(pilot)
    await pilot.pause()
    app.screen.query_one("#badge", Input).value = badge
    await pilot.press("enter", lot_key)
    screen = await until(pilot, lambda: app.line_screen)
    await pilot.pause()
    return screen


async def until(pilot: Pilot[None], probe: Callable[[], T | None]) -> T:
    """Let the app run until ``probe`` returns something true, and return it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while not (value := probe()):
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting after {PATIENCE:.0f} s")
        await pilot.pause(0.02)
    assert value is not None
    return value


async def finish_all(pilot: Pilot[None]) -> LineScreen:
    """Wait until no slot is busy and the screen shows the final state."""
    screen = _console(pilot).line_screen
    assert screen is not None
    await until(pilot, lambda: not screen.busy_slots)
    await pilot.pause()
    # The line marks a slot done after its last event; draw that now rather
    # than at the next tick, so what the test reads does not depend on timing.
    screen.refresh_line()
    await pilot.pause()
    return screen


def run_all_and_read(app: ConsoleApp, size: tuple[int, int]) -> str:
    """Sign in, start every slot, wait for them all, and read the screen."""

    async def scenario() -> str:
        async with app.run_test(size=size) as pilot:
            await sign_in(pilot)
            await pilot.press("a")
            await finish_all(pilot)
            return screen_text(app)

    return asyncio.run(scenario())


def screen_text(app: App[Any]) -> str:
    """What the terminal shows, as plain text, one line per row."""
    rows: dict[int, list[str]] = {}
    for x, row, text in _SPAN.findall(app.export_screenshot()):
        line = rows.setdefault(int(row), [])
        column = round(float(x) / _CELL)
        line.extend(" " * (column - len("".join(line))))
        line.append(html.unescape(text).replace("\xa0", " "))
    return "\n".join("".join(rows[row]).rstrip() for row in sorted(rows))


def assert_snapshot(app: ConsoleApp, name: str, scratch: Path) -> None:
    """Compare Textual's SVG export of the screen with ``snapshots/NAME.svg``.

    A screen that differs is written into ``scratch`` to look at.
    """
    actual = app.export_screenshot(title="station console")
    stored = SNAPSHOTS / f"{name}.svg"
    if os.environ.get(UPDATE_ENV):
        SNAPSHOTS.mkdir(exist_ok=True)
        stored.write_text(actual, encoding="utf-8")
    assert stored.is_file(), f"no snapshot {stored}; run with {UPDATE_ENV}=1"
    expected = stored.read_text(encoding="utf-8")
    if actual != expected:
        failed = scratch / f"{name}.svg"
        failed.write_text(actual, encoding="utf-8")
        raise AssertionError(
            f"screen {name} differs from {stored}; it was drawn into {failed} "
            f"(open both in a browser; {UPDATE_ENV}=1 accepts it)"
        )


def _console(pilot: Pilot[None]) -> ConsoleApp:
    app = pilot.app
    assert isinstance(app, ConsoleApp)
    return app
