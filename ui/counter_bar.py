"""The console's counters: passed, failed, yield, rate and the issuance queue."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from station.line import Counters, LineMode


class CounterBar(Static):
    """One row of the line's totals since the shift opened."""

    DEFAULT_CSS = """
    CounterBar {
        height: 1;
        background: $panel;
        padding: 0 1;
    }
    """

    def show(
        self,
        counters: Counters,
        *,
        rate: float | None,
        mode: LineMode,
        busy: int,
        slots: int,
        queued: int,
    ) -> None:
        """Redraw the totals.

        Args:
            counters: The line's counters in the current mode.
            rate: Modules per hour, or None until a module has finished
                (the rule is :meth:`~station.line.Line.counters`).
            mode: Whether the counters are provisioning's or QA's.
            busy: Slots with a module in work.
            slots: Slots on the line.
            queued: Validated CSRs waiting for the CA.
        """
        text = Text(no_wrap=True, overflow="ellipsis")
        if mode is LineMode.QA:
            text.append("QA ", style="bold reverse")
            text.append(" ")
        fields = [
            ("passed", str(counters.passed)),
            ("failed", str(counters.failed)),
            ("yield", f"{counters.yield_percent:.1f}%"),
            ("rate", "-" if rate is None else f"{rate:.0f}/h"),
            ("queued for issuance", str(queued)),
            ("in work", f"{busy}/{slots}"),
        ]
        if mode is LineMode.QA:
            # QA issues nothing; its tag takes the queue's room at 80 columns.
            fields.remove(("queued for issuance", str(queued)))
        for label, value in fields:
            text.append(f"{label} ", style="dim")
            text.append(value, style="bold")
            text.append("  ")
        self.update(text)
