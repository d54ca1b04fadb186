"""The quit question, asked over a line whose slots in work the test sets."""

from __future__ import annotations

import asyncio

from console_pilot import screen_text
from textual.app import App

from ui.quit_screen import QuitScreen


class _Asking(App[None]):
    """An app that asks the quit question over ``busy`` at once."""

    def __init__(self, busy: list[str]) -> None:
        super().__init__()
        self.busy = busy

    def on_mount(self) -> None:
        self.push_screen(QuitScreen(lambda: self.busy))


def _question(busy: list[str]) -> str:
    app = _Asking(busy)

    async def scenario() -> str:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            return screen_text(app)

    return asyncio.run(scenario())


def test_one_module_in_work_is_spoken_of_in_the_singular() -> None:
    text = _question(["slot-3"])

    assert "1 module is in work (slot-3)." in text
    assert "y  pause the line and quit when it finishes" in text


def test_several_modules_in_work_are_spoken_of_in_the_plural() -> None:
    text = _question(["slot-1", "slot-2"])

    assert "2 modules are in work (slot-1, slot-2)." in text
    assert "y  pause the line and quit when they finish" in text
