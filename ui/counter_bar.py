"""The console's counters: passed, failed, yield, rate and the issuance queue.

The row takes its shape from the terminal's width alone, measured against the
largest totals a shift reaches, so it does not change shape as the counts grow.
Where the whole row cannot fit (an 80-column terminal), the issuance queue
leaves it: the header shows the queue at every width, and every other counter
stays whole.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

from station.line import Counters, LineMode


@dataclass(frozen=True)
class _Totals:
    """What the row shows; the arguments of :meth:`CounterBar.show`."""

    counters: Counters
    mode: LineMode
    busy: int
    slots: int
    queued: int


class CounterBar(Widget):
    """One row of the line's totals since the shift opened."""

    DEFAULT_CSS = """
    CounterBar {
        height: 1;
        background: $panel;
        padding: 0 1;
    }
    """

    _totals: _Totals | None = None

    def show(
        self,
        counters: Counters,
        *,
        mode: LineMode,
        busy: int,
        slots: int,
        queued: int,
    ) -> None:
        """Redraw the totals.

        Args:
            counters: The line's counters in the current mode (the rate is
                None until a module has finished: see
                :meth:`~station.line.Line.counters`).
            mode: Whether the counters are provisioning's or QA's.
            busy: Slots with a module in work.
            slots: Slots on the line.
            queued: Validated CSRs waiting for the CA.
        """
        totals = _Totals(counters, mode, busy, slots, queued)
        if totals != self._totals:
            self._totals = totals
            self.refresh()

    def render(self) -> Text:
        if self._totals is None:
            return Text()
        # QA issues nothing: its tag takes the queue's room.
        queue = (
            self._totals.mode is LineMode.PROVISION
            and self.content_size.width >= _FULL_ROW_WIDTH
        )
        return _row(self._totals, queue=queue)


def _row(totals: _Totals, *, queue: bool) -> Text:
    """The counters as one row, with the issuance queue or without it."""
    counters = totals.counters
    rate = counters.per_hour
    fields = [
        ("passed", str(counters.passed)),
        ("failed", str(counters.failed)),
        ("yield", f"{counters.yield_percent:.1f}%"),
        ("rate", "-" if rate is None else f"{rate:.0f}/h"),
    ]
    if queue:
        fields.append(("queued for issuance", str(totals.queued)))
    fields.append(("in work", f"{totals.busy}/{totals.slots}"))

    text = Text(no_wrap=True, overflow="ellipsis")
    if totals.mode is LineMode.QA:
        text.append("QA ", style="bold reverse")
        text.append(" ")
    for label, value in fields:
        text.append(f"{label} ", style="dim")
        text.append(value, style="bold")
        text.append("  ")
    return text


# The widest totals a shift reaches: five-digit counts (a yield of 100.0%
# leaves at most two digits to the failed count), a four-digit rate and
# queue, and 32 slots.
_WIDEST = _Totals(
    Counters(passed=99_999, failed=99_999, per_hour=9_999.0),
    mode=LineMode.PROVISION,
    busy=32,
    slots=32,
    queued=9_999,
)
_FULL_ROW_WIDTH = _row(_WIDEST, queue=True).cell_len
