"""Asking before the console quits while modules are in work."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class QuitScreen(ModalScreen[bool]):
    """Confirm quitting; dismissed with True to quit once the line is idle.

    Quitting never cuts a module off mid-step: the line is paused and the
    console closes when the modules in work have finished.

    Args:
        busy: Names of the slots with a module in work.
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
        Binding("y", "answer(True)", "Quit when they finish"),
        Binding("n,escape", "answer(False)", "Keep working"),
    ]

    def __init__(self, busy: list[str]) -> None:
        super().__init__()
        self._busy = busy

    def compose(self) -> ComposeResult:
        count = len(self._busy)
        modules = "module is" if count == 1 else "modules are"
        with Vertical():
            yield Static(f"[b]{count} {modules} in work[/b] ({', '.join(self._busy)}).")
            yield Static(
                "[b]y[/b]  pause the line and quit when they finish\n"
                "[b]n[/b]  keep working"
            )

    def action_answer(self, quit_: bool) -> None:
        """Close the question with the operator's answer."""
        self.dismiss(quit_)
