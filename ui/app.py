"""The operator console: a Textual app over the station's engine.

It signs an operator in (badge, then lot), opens the station on a worker
thread exactly as the command line does, and shows the line. The line's
workers report slot events through :meth:`ConsoleApp.post_message`, which is
safe from any thread and never makes a worker wait for the screen.
"""

from __future__ import annotations

import datetime
import logging
import time
from typing import ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message

from station.config import StationConfig
from station.errors import LotPlanError
from station.events import SlotEvent
from station.line import Monotonic
from station.lot_store import LotStore, LotSummary
from ui.help_screen import HelpScreen
from ui.line_screen import LineScreen, WallClock
from ui.quit_screen import QuitScreen
from ui.shift import Shift, SignIn, open_shift
from ui.sign_in_screen import SignInScreen
from ui.slot_grid import SlotGrid
from ui.slot_tile import NUMBER_KEYS

logger = logging.getLogger(__name__)


def local_now() -> datetime.datetime:
    """The current local time, for the log's timestamps."""
    return datetime.datetime.now().astimezone()


class SlotEventArrived(Message):
    """A slot event, carried from a line worker to the UI thread."""

    def __init__(self, event: SlotEvent) -> None:
        super().__init__()
        self.event = event


class ConsoleApp(App[None]):
    """The operator console.

    Args:
        config: The station configuration (slots, issuer, state folder).
        monotonic: Clock for elapsed times and rates; injectable for tests.
        wall_clock: Clock for log timestamps; injectable for tests.
    """

    TITLE = "Provisioning station"
    # Every action has its own key; a palette would only be one more thing
    # to press by accident on a line.
    ENABLE_COMMAND_PALETTE = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark,f1", "help", "Help"),
        Binding("ctrl+q", "request_quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        config: StationConfig,
        *,
        monotonic: Monotonic = time.monotonic,
        wall_clock: WallClock = local_now,
    ) -> None:
        super().__init__()
        self.config = config
        self.shift: Shift | None = None
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._opening = False

    def on_mount(self) -> None:
        try:
            lots = self._lots()
        except LotPlanError as exc:
            screen = SignInScreen(self.config.station.name, [], problem=str(exc))
        else:
            screen = SignInScreen(self.config.station.name, lots)
        self.push_screen(screen)

    def _lots(self) -> list[LotSummary]:
        with LotStore(self.config.lots_path) as store:
            return store.lots()

    # --- signing in --------------------------------------------------------------

    def on_sign_in_screen_signed_in(self, message: SignInScreen.SignedIn) -> None:
        # One station per console: a second choice while the first opens waits.
        if not self._opening:
            self._opening = True
            self._open_shift(message.sign_in)

    @work(thread=True, exclusive=True, group="sign-in")
    def _open_shift(self, sign_in: SignIn) -> None:
        # Opening logs in to the HSM token: never on the UI thread.
        try:
            shift = open_shift(
                self.config,
                sign_in,
                listener=self._relay,
                monotonic=self._monotonic,
            )
        except Exception as exc:
            # Whatever stops the station from opening is the operator's to
            # read (a missing plan, a locked token); the console stays up.
            logger.warning("cannot open the station: %s", exc)
            self.call_from_thread(self._open_failed, str(exc))
            return
        self.call_from_thread(self._opened, shift)

    def _opened(self, shift: Shift) -> None:
        self.shift = shift
        self.switch_screen(
            LineScreen(shift, monotonic=self._monotonic, wall_clock=self._wall_clock)
        )

    def _open_failed(self, reason: str) -> None:
        self._opening = False
        if isinstance(self.screen, SignInScreen):
            self.screen.show_message(f"cannot open the station: {reason}")

    def _relay(self, event: SlotEvent) -> None:
        self.post_message(SlotEventArrived(event))

    def on_slot_event_arrived(self, message: SlotEventArrived) -> None:
        screen = self.line_screen
        if screen is not None:
            screen.show_event(message.event)

    @property
    def line_screen(self) -> LineScreen | None:
        """The line screen, once an operator has signed in."""
        for screen in self.screen_stack:
            if isinstance(screen, LineScreen):
                return screen
        return None

    # --- help and quitting -----------------------------------------------------

    def action_help(self) -> None:
        """Show every key and what it does."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.help_keys()))

    def help_keys(self) -> list[tuple[str, str]]:
        """Key names and actions, from the bindings themselves."""
        rows: list[tuple[str, str]] = []
        for binding in _bindings(LineScreen, SlotGrid, ConsoleApp):
            if binding.action.startswith("start_number"):
                if binding.key == "1":
                    rows.append((f"1 … {NUMBER_KEYS}", "Start slot N"))
                continue
            keys = " / ".join(
                self.get_key_display(Binding(key, binding.action))
                for key in binding.key.split(",")
            )
            rows.append((keys, binding.description))
        return rows

    def action_request_quit(self) -> None:
        """Quit, asking first while modules are in work."""
        screen = self.line_screen
        if screen is None or not screen.busy_slots:
            self.exit()
            return

        def answered(quit_: bool | None) -> None:
            if quit_:
                screen.quit_when_idle()

        if not isinstance(self.screen, QuitScreen):
            self.push_screen(QuitScreen(screen.shift.line.busy_slots), answered)

    def on_unmount(self) -> None:
        if self.shift is not None:
            self.shift.close()


def _bindings(*owners: type) -> list[Binding]:
    """The bindings the classes declare, in order."""
    return [
        binding
        for owner in owners
        for binding in getattr(owner, "BINDINGS", [])
        if isinstance(binding, Binding)
    ]
