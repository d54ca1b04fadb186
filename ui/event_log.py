"""The console's scrolling log of what the line did."""

from __future__ import annotations

import datetime

from rich.text import Text
from textual.widgets import RichLog

from station.events import EventKind, SlotEvent

# A shift's worth of module verdicts; older lines stay in the journal.
MAX_LINES = 2000


class EventLog(RichLog):
    """Module starts and verdicts, and what the operator did, newest last."""

    DEFAULT_CSS = """
    EventLog {
        height: 6;
        border-top: solid $foreground 30%;
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self) -> None:
        super().__init__(max_lines=MAX_LINES, wrap=True, markup=False)
        self.can_focus = False

    def add_event(self, at: datetime.datetime, event: SlotEvent) -> None:
        """Log ``event`` if it is a start or a verdict; steps show on the tile."""
        text = _describe(event)
        if text is not None:
            self._add(at, event.slot, text)

    def note(self, at: datetime.datetime, text: str) -> None:
        """Log something the operator or the line did."""
        self._add(at, "line", Text(text))

    def _add(self, at: datetime.datetime, who: str, text: Text) -> None:
        line = Text(f"{at:%H:%M:%S} ", style="dim")
        line.append(f"{who:<8} ", style="bold")
        line.append_text(text)
        self.write(line)


def _describe(event: SlotEvent) -> Text | None:
    serial = f"{event.serial} " if event.serial else ""
    if event.kind is EventKind.STARTED:
        return Text(f"{serial}started")
    if event.kind is EventKind.PASSED:
        return Text(f"{serial}") + Text("✔ PASS", style="bold")
    if event.kind is EventKind.FAILED:
        where = f" at {event.step.label}" if event.step else ""
        return (
            Text(f"{serial}")
            + Text(f"✘ FAIL{where}", style="bold")
            + Text(f": {event.message}")
        )
    return None
