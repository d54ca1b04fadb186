"""One fixture slot on the operator console.

A tile shows the slot's name and port, the module's serial, the step running
with a progress bar, the elapsed time, and the verdict on the last module.
Idle, busy, pass and fail are told apart without reading and without colour:
each has its own border (dashed, rounded, heavy, double), glyph and fill,
and a verdict is drawn in block letters where the tile has room.
"""

from __future__ import annotations

from pathlib import PurePath

from rich.console import Console, Group, RenderableType
from rich.text import Text
from textual.widget import Widget

from station.line import LineMode, SlotPhase, SlotStatus
from ui.banner import BANNER_ROWS, banner, banner_width

_GLYPHS = {
    SlotPhase.IDLE: "○",
    SlotPhase.BUSY: "▶",
    SlotPhase.PASS: "✔",
    SlotPhase.FAIL: "✘",
}
_VERDICTS = {SlotPhase.PASS: "PASS", SlotPhase.FAIL: "FAIL"}
_PASSED = {
    LineMode.PROVISION: "provisioned and locked",
    LineMode.QA: "QA: credential verified",
}
# Slots 1 to 9 start with their number key; the rest are selected first.
NUMBER_KEYS = 9
# Content rows from which a tile draws its verdict in block letters.
_ROOMY_ROWS = 7
# Content rows below which a tile puts its verdict beside the serial, so the
# reason keeps a row when many slots share a small terminal.
_COMPACT_ROWS = 3


class SlotTile(Widget, can_focus=True):
    """The state of one slot, redrawn from :class:`~station.line.SlotStatus`.

    Args:
        number: The slot's position on the line, from 1 (its number key).
        status: The slot's current status.
    """

    DEFAULT_CSS = """
    SlotTile {
        height: 100%;
        padding: 0 1;
        border: dashed $foreground 40%;
        border-title-align: left;
        border-subtitle-align: right;
    }
    SlotTile.-busy {
        border: round $warning;
    }
    SlotTile.-pass {
        border: heavy $success;
        background: $success 25%;
    }
    SlotTile.-fail {
        border: double $error;
        background: $error 35%;
    }
    SlotTile:focus {
        border-title-style: reverse bold;
        background-tint: $foreground 8%;
    }
    """

    def __init__(self, number: int, status: SlotStatus) -> None:
        super().__init__()
        self.number = number
        self.status = status
        self.mode = LineMode.PROVISION
        self._elapsed = 0.0
        self.border_title = _title(number, status)

    def show(self, status: SlotStatus, now: float, mode: LineMode) -> None:
        """Redraw the tile for ``status`` at monotonic time ``now``.

        Args:
            status: The slot's status.
            now: The line's monotonic time, for the elapsed time.
            mode: Whether the line provisions or re-verifies in QA.
        """
        elapsed = status.elapsed(now)
        same_time = f"{elapsed:.1f}" == f"{self._elapsed:.1f}"
        if (status, mode) == (self.status, self.mode) and same_time:
            return
        self.status = status
        self.mode = mode
        self._elapsed = elapsed
        for phase in SlotPhase:
            self.set_class(status.phase is phase, f"-{phase.value}")
        self.border_subtitle = f"{elapsed:.1f}s" if status.started else ""
        self.refresh()

    def on_mount(self) -> None:
        self.add_class(f"-{self.status.phase.value}")

    def render(self) -> RenderableType:
        width = max(self.content_size.width, 1)
        height = self.content_size.height
        if height >= _ROOMY_ROWS:
            return Group(*self._roomy_lines(width, height))
        if height >= _COMPACT_ROWS:
            return Group(*self._compact_lines(width, height))
        return Group(*self._dense_lines(width))

    # --- layouts --------------------------------------------------------------

    def _compact_lines(self, width: int, height: int) -> list[Text]:
        status = self.status
        if status.phase is SlotPhase.BUSY:
            return [self._serial_line(), _bar(status.fraction, width), self._step()]
        if status.phase is SlotPhase.IDLE:
            return [self._serial_line(), Text(""), self._hint()]
        # Below the verdict, a reason takes every row the tile has left.
        outcome = self._outcome(wrap=height > 3)
        return [self._serial_line(), self._verdict_word(width), outcome]

    def _dense_lines(self, width: int) -> list[Text]:
        status = self.status
        if status.phase is SlotPhase.BUSY:
            return [self._serial_line(), _bar(status.fraction, width)]
        if status.phase is SlotPhase.IDLE:
            return [self._serial_line(), self._hint()]
        word = f" {_GLYPHS[status.phase]} {_VERDICTS[status.phase]} "
        verdict = Text(no_wrap=True, overflow="ellipsis")
        verdict.append(word, style="bold reverse")
        verdict.append(f" {self._heading()}", style="bold")
        return [verdict, self._outcome()]

    def _roomy_lines(self, width: int, height: int) -> list[Text]:
        status = self.status
        if status.phase is SlotPhase.IDLE:
            return [self._serial_line(), Text(""), self._hint()]
        lines = [self._serial_line(), self._step(), _bar(status.fraction, width)]
        if status.phase is SlotPhase.BUSY:
            return lines
        word = _VERDICTS[status.phase]
        outcome = self._outcome(wrap=True)
        reason_rows = len(outcome.wrap(Console(width=width), width))
        room = height - len(lines) - reason_rows
        if banner_width(word) <= width and room >= BANNER_ROWS:
            big = [Text(row, style="bold", no_wrap=True) for row in banner(word)]
        else:
            # The reason matters more than the size of the verdict.
            big = [self._verdict_word(width)]
        gap = [Text("")] if room - len(big) >= 2 else []
        return [*lines, *gap, *big, *gap, outcome]

    # --- lines ------------------------------------------------------------------

    def _serial_line(self) -> Text:
        glyph = _GLYPHS[self.status.phase]
        return _line(f"{glyph} {self._heading()}", style="bold")

    def _heading(self) -> str:
        """The module's serial, or what the slot got to without one."""
        status = self.status
        if status.serial:
            return status.serial
        if not status.started:
            return "idle"
        if status.phase is SlotPhase.FAIL and status.step is not None:
            # Without a serial the step is all there is to say: a port that
            # is missing or held elsewhere fails at connect, not at identity.
            return f"failed at {status.step.label}"
        return "no serial yet"

    def _step(self) -> Text:
        step = self.status.step
        if self.status.phase is SlotPhase.PASS:
            return _line(_PASSED[self.mode])
        if step is None:
            return _line("")
        if self.status.phase is SlotPhase.FAIL and not self.status.serial:
            return _line("no serial read")
        prefix = "failed at " if self.status.phase is SlotPhase.FAIL else ""
        return _line(prefix + step.label)

    def _hint(self) -> Text:
        if self.number <= NUMBER_KEYS:
            return _line(f"press {self.number} to start", style="dim")
        return _line("select, then press s to start", style="dim")

    def _verdict_word(self, width: int) -> Text:
        phase = self.status.phase
        word = f" {_GLYPHS[phase]} {_VERDICTS[phase]} "
        return Text(word.ljust(width), style="bold reverse", no_wrap=True)

    def _outcome(self, *, wrap: bool = False) -> Text:
        status = self.status
        if status.phase is SlotPhase.PASS:
            # The MAC is printed on the module's label: what the operator
            # matches the tile against when taking the module out.
            mac = status.result.mac if status.result else None
            text = f"MAC {mac}" if mac else "passed"
        else:
            where = status.step.label if status.step else "station"
            text = f"{where}: {status.reason}"
        if wrap:
            return Text(text)
        return _line(text)


def _title(number: int, status: SlotStatus) -> str:
    port = PurePath(status.slot.port).name or status.slot.port
    return f"{number} {status.slot.name} · {port}"


def _line(text: str, *, style: str = "") -> Text:
    """One tile row, cut with an ellipsis when the tile is narrow."""
    return Text(text, style=style, no_wrap=True, overflow="ellipsis")


def _bar(fraction: float, width: int) -> Text:
    """A progress bar that reads in monochrome: filled and shaded blocks."""
    fraction = min(max(fraction, 0.0), 1.0)
    label = f" {fraction * 100:3.0f}%"
    cells = max(width - len(label), 1)
    filled = round(cells * fraction)
    bar = Text("█" * filled, style="bold")
    bar.append("░" * (cells - filled), style="dim")
    bar.append(label)
    bar.no_wrap = True
    return bar
