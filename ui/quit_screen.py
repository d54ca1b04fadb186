"""Asking before the console quits while modules are in work."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

BusySlots = Callable[[], Sequence[str]]

# How often the question re-reads the slots in work, in seconds.
REFRESH_INTERVAL = 0.25


class QuitScreen(ModalScreen[bool]):
    """Confirm quitting; dismissed with True to quit once the line is idle.

    Quitting never cuts a module off mid-step: the line is paused and the
    console closes when the modules in work have finished. The question
    follows the line while it is open, so modules that finish meanwhile
    leave it, and with none left a yes quits at once.

    Args:
        busy: Reads the names of the slots with a module in work now.
    """

    DEFAULT_CSS = """
    QuitScreen {
        align: center middle;
    }
    QuitScreen > Vertical {
        width: 60;
        max-width: 95%;
        height: auto;
        border: double $warning;
        background: $surface;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Quit once the line is idle"),
        Binding("n,escape", "answer(False)", "Keep working"),
    ]

    def __init__(self, busy: BusySlots) -> None:
        super().__init__()
        self._busy = busy
        self._shown: list[str] | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(id="in-work")
            yield Static(id="answers")

    def on_mount(self) -> None:
        self.refresh_question()
        self.set_interval(REFRESH_INTERVAL, self.refresh_question)

    def refresh_question(self) -> None:
        """Redraw the question for the slots in work now."""
        busy = list(self._busy())
        if busy == self._shown:
            return
        self._shown = busy
        self.query_one("#in-work", Static).update(_in_work(busy))
        self.query_one("#answers", Static).update(_answers(busy))

    def action_answer(self, quit_: bool) -> None:
        """Close the question with the operator's answer."""
        self.dismiss(quit_)


def _in_work(busy: list[str]) -> str:
    if not busy:
        return "[b]No module is in work any more.[/b]"
    modules = "module is" if len(busy) == 1 else "modules are"
    return f"[b]{len(busy)} {modules} in work[/b] ({', '.join(busy)})."


def _answers(busy: list[str]) -> str:
    if not busy:
        return "[b]y[/b]  quit now\n[b]n[/b]  keep working"
    finish = "it finishes" if len(busy) == 1 else "they finish"
    return f"[b]y[/b]  pause the line and quit when {finish}\n[b]n[/b]  keep working"
