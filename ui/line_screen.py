"""The main screen of the console: the line at work.

The header names the station, lot, product line, issuer and operator; the
grid shows one tile per slot; the log scrolls module starts and verdicts; the
counters sum up the shift. Slot events arrive from the line's worker threads
as messages; a timer reads the line's status for elapsed times and rates, so
nothing here ever waits on a module, the HSM or the network.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer

from station.events import EventKind, SlotEvent
from station.line import LineMode, Monotonic, SlotPhase, SlotStatus
from ui.counter_bar import CounterBar
from ui.event_log import EventLog
from ui.records_screen import RecordsScreen
from ui.shift import Shift
from ui.slot_grid import SlotGrid
from ui.slot_tile import NUMBER_KEYS, SlotTile
from ui.station_header import HeaderFields, StationHeader

WallClock = Callable[[], datetime.datetime]

# How often elapsed times, counters and progress are redrawn, in seconds.
REFRESH_INTERVAL = 0.25
_MODE_NAMES = {LineMode.PROVISION: "provisioning", LineMode.QA: "QA re-verification"}


class LineScreen(Screen[None]):
    """The slots of the line, its log and its counters.

    Args:
        shift: The opened station and line.
        monotonic: Clock for elapsed times and rates (the line's clock).
        wall_clock: Clock for the log's timestamps.
    """

    DEFAULT_CSS = """
    LineScreen {
        layout: vertical;
    }
    LineScreen.-tall EventLog {
        height: 12;
    }
    """

    # A tall terminal gives the log more rows; the tiles keep the rest.
    # Textual declares this as ClassVar inside an Optional, which mypy refuses
    # to restate; the inherited declaration covers it.
    VERTICAL_BREAKPOINTS = [  # noqa: RUF012
        (0, "-short"),
        (40, "-tall"),
    ]

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "start_all", "Start all"),
        Binding("s,enter", "start_selected", "Start slot"),
        *[
            Binding(str(n), f"start_number({n})", f"Start slot {n}", show=False)
            for n in range(1, NUMBER_KEYS + 1)
        ],
        Binding("r", "retry_selected", "Retry"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("v", "toggle_qa", "QA mode"),
        Binding("f", "records", "Records"),
    ]

    def __init__(
        self, shift: Shift, *, monotonic: Monotonic, wall_clock: WallClock
    ) -> None:
        super().__init__()
        self.shift = shift
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._quitting = False
        self._tiles: dict[str, SlotTile] = {}

    def compose(self) -> ComposeResult:
        yield StationHeader(id="header")
        yield SlotGrid(self.shift.line.status())
        yield EventLog()
        yield CounterBar(id="counters")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._tiles = {tile.status.slot.name: tile for tile in self._grid_tiles()}
        sign_in = self.shift.sign_in
        self.note(f"{sign_in.operator} signed in, lot {sign_in.lot}")
        self.refresh_line()
        self.set_interval(REFRESH_INTERVAL, self.refresh_line)
        tiles = self._grid_tiles()
        if tiles:
            tiles[0].focus()

    # --- what the line reports ---------------------------------------------------

    def show_event(self, event: SlotEvent) -> None:
        """Log a slot event and redraw what it changed (on the UI thread).

        A start or a verdict redraws the counters too. Progress within a step
        waits for the next tick: with every slot busy, events outnumber what
        anyone can read, and the timer bounds the redrawing to a few frames a
        second whatever the line does.
        """
        self.query_one(EventLog).add_event(self._wall_clock(), event)
        if event.kind is EventKind.PROGRESS:
            return
        if event.kind is not EventKind.STEP:
            self.refresh_line()
            return
        tile = self._tiles.get(event.slot)
        status = self._status_of(event.slot)
        if tile is not None and status is not None:
            tile.show(status, self._monotonic(), self.shift.line.mode)

    def note(self, text: str) -> None:
        """Log something the operator or the line did."""
        self.query_one(EventLog).note(self._wall_clock(), text)

    def refresh_line(self) -> None:
        """Redraw tiles, header and counters from the line's current state."""
        line = self.shift.line
        now = self._monotonic()
        statuses = line.status()
        for tile, status in zip(self._grid_tiles(), statuses, strict=True):
            tile.show(status, now, line.mode)
        busy = sum(status.phase is SlotPhase.BUSY for status in statuses)
        counters = line.counters()
        self.query_one(CounterBar).show(
            counters,
            mode=line.mode,
            busy=busy,
            slots=len(statuses),
            queued=self.shift.queued_for_issuance,
        )
        self.query_one(StationHeader).show(self._header(), state=self._state())
        if self._quitting and busy == 0:
            self.app.exit()

    def _header(self) -> HeaderFields:
        station = self.shift.station
        return HeaderFields(
            station=station.config.station.name,
            lot=self.shift.sign_in.lot,
            product_line=station.config.product_line.name,
            issuing=station.issuer.description,
            queued=self.shift.queued_for_issuance,
            operator=self.shift.sign_in.operator,
        )

    def _state(self) -> str:
        line = self.shift.line
        states = ["QA MODE"] if line.mode is LineMode.QA else []
        if self._quitting:
            states.append("QUITTING when the modules in work finish")
        elif line.paused:
            states.append("PAUSED")
        return " · ".join(states)

    # --- the operator's keys ---------------------------------------------------

    def action_start_all(self) -> None:
        """Start every slot that is not busy."""
        started = self.shift.line.start_all()
        if not started:
            self.note(self._why_not_started())
        self.refresh_line()

    def action_start_selected(self) -> None:
        """Start the selected slot."""
        tile = self._selected()
        if tile is not None:
            self._start(tile)

    def action_start_number(self, number: int) -> None:
        """Select slot ``number`` (from 1) and start it."""
        tiles = self._grid_tiles()
        if 1 <= number <= len(tiles):
            tiles[number - 1].focus()
            self._start(tiles[number - 1])

    def action_retry_selected(self) -> None:
        """Start the selected slot again if its last module failed."""
        tile = self._selected()
        if tile is None:
            return
        name = tile.status.slot.name
        if self.shift.line.retry(name):
            self.note(f"retry {name}")
        elif tile.status.phase is not SlotPhase.FAIL:
            self.note(f"{name} has no failed module to retry")
        else:
            self.note(self._why_not_started())
        self.refresh_line()

    def action_toggle_pause(self) -> None:
        """Pause the line (modules in work finish), or resume it."""
        line = self.shift.line
        if self._quitting:
            return
        if line.paused:
            line.resume()
            self.note("line resumed")
        else:
            line.pause()
            self.note("line paused: modules in work finish, nothing new starts")
        self.refresh_line()

    def action_toggle_qa(self) -> None:
        """Switch between provisioning and QA re-verification."""
        line = self.shift.line
        mode = LineMode.PROVISION if line.mode is LineMode.QA else LineMode.QA
        if line.set_mode(mode):
            self.note(f"{_MODE_NAMES[mode]} mode")
        else:
            self.note(
                f"{_MODE_NAMES[mode]} mode waits until no module is in work "
                f"({', '.join(line.busy_slots())})"
            )
        self.refresh_line()

    def action_records(self) -> None:
        """Open the records screen."""
        self.app.push_screen(RecordsScreen(self.shift.station.journal))

    # --- quitting ----------------------------------------------------------------

    @property
    def busy_slots(self) -> list[str]:
        """Names of the slots with a module in work."""
        return self.shift.line.busy_slots()

    def quit_when_idle(self) -> None:
        """Pause the line and quit once no module is in work."""
        self._quitting = True
        self.shift.line.pause()
        self.note("quitting when the modules in work finish")
        self.refresh_line()

    # --- helpers -----------------------------------------------------------------

    def _grid_tiles(self) -> list[SlotTile]:
        return self.query_one(SlotGrid).tiles

    def _status_of(self, name: str) -> SlotStatus | None:
        for status in self.shift.line.status():
            if status.slot.name == name:
                return status
        return None

    def _selected(self) -> SlotTile | None:
        focused = self.focused
        return focused if isinstance(focused, SlotTile) else None

    def _start(self, tile: SlotTile) -> None:
        name = tile.status.slot.name
        if not self.shift.line.start(name):
            self.note(f"{name}: {self._why_not_started(name)}")
        self.refresh_line()

    def _why_not_started(self, name: str | None = None) -> str:
        if self.shift.line.paused:
            return "the line is paused (p resumes it)"
        if name is not None:
            return "a module is already in work"
        return "every slot is already in work"
