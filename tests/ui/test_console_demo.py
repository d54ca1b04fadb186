"""``station demo --console``: the console over the demo's own setup.

This runs what the command runs (the demo's PKI, its simulator child process
and its configuration) and provisions the demo modules from the console. With
``UPDATE_SNAPSHOTS=1`` it also rewrites the README's screenshot,
``docs/console-demo.svg``, taken while the modules are in work.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from console_pilot import UPDATE_ENV, finish_all, sign_in, until

from station.demo import DemoOptions, demo_station
from station.journal import Journal, RunStatus
from station.line import SlotPhase
from ui import ConsoleApp
from ui.line_screen import LineScreen

SCREENSHOT = Path(__file__).parents[2] / "docs" / "console-demo.svg"


def test_the_demo_console_provisions_the_demo_modules(tmp_path: Path) -> None:
    options = DemoOptions(out=tmp_path / "demo-out", misbehave=("2=rsa-key",))

    with demo_station(options) as demo:
        app = ConsoleApp(demo.config)

        async def scenario() -> str:
            async with app.run_test(size=(100, 30)) as pilot:
                screen = await sign_in(pilot, badge="B0042")
                await pilot.press("a")
                await until(pilot, lambda: failed_while_others_work(screen))
                screen.refresh_line()
                # A short sleep, not a wait for idle: the picture is of the
                # modules still at work.
                await pilot.pause(0.05)
                picture = app.export_screenshot(title="station demo --console")
                await finish_all(pilot)
                return picture

        picture = asyncio.run(scenario())

    (tmp_path / SCREENSHOT.name).write_text(picture, encoding="utf-8")
    if os.environ.get(UPDATE_ENV):
        SCREENSHOT.write_text(picture, encoding="utf-8")
    with Journal(demo.config.journal_path, station="reader") as journal:
        results = [(run.serial, run.status) for run in journal.runs()]
    assert sorted(results) == [
        ("AMB82D001001", RunStatus.PASS),
        ("AMB82D001002", RunStatus.FAIL),
        ("AMB82D001003", RunStatus.PASS),
        ("AMB82D001004", RunStatus.PASS),
    ]


def failed_while_others_work(screen: LineScreen) -> bool:
    """True once a slot has failed, or every slot is done."""
    phases = [status.phase for status in screen.shift.line.status()]
    return SlotPhase.FAIL in phases or SlotPhase.BUSY not in phases
