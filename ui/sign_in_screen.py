"""Sign-in: the operator's badge, then the lot to run."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from station.badges import badge_problem
from station.lot_store import LotSummary
from ui.shift import SignIn


class SignInScreen(Screen[None]):
    """Asks for a badge id, then for one of the lots imported on the station.

    Args:
        station: The station's name, for the title.
        lots: The lot plans imported on this station.
        problem: Why the lots could not be listed, if they could not.
    """

    DEFAULT_CSS = """
    SignInScreen {
        align: center middle;
    }
    SignInScreen > Vertical {
        width: 72;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: heavy $accent;
        padding: 0 1;
    }
    SignInScreen OptionList {
        height: auto;
        max-height: 10;
    }
    SignInScreen #message {
        color: $text-warning;
        text-style: bold;
    }
    """

    class SignedIn(Message):
        """The operator chose a badge and a lot."""

        def __init__(self, sign_in: SignIn) -> None:
            super().__init__()
            self.sign_in = sign_in

    def __init__(
        self, station: str, lots: Sequence[LotSummary], *, problem: str = ""
    ) -> None:
        super().__init__()
        self._station = station
        self._lots = list(lots)
        self._problem = problem

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"[b]{self._station}[/b]: sign in to run the line")
            yield Static("Badge")
            yield Input(placeholder="scan or type your badge id", id="badge")
            yield Static("Lot")
            yield OptionList(*[_lot_option(lot) for lot in self._lots], id="lots")
            yield Static(self._no_lots_hint(), id="message")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        problem = badge_problem(event.value.strip())
        # With no lot to choose, why not (and how to import one) is the next
        # thing the operator needs, so it replaces an accepted badge's blank.
        self.show_message(problem or self._no_lots_hint())
        if problem is None and self._lots:
            self.query_one("#lots", OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        badge = self.query_one("#badge", Input)
        problem = badge_problem(badge.value.strip())
        if problem is not None:
            self.show_message(problem)
            badge.focus()
            return
        lot = self._lots[event.option_index].lot
        self.show_message(f"opening the station for lot {lot}...")
        self.post_message(self.SignedIn(SignIn(badge.value.strip(), lot)))

    def show_message(self, text: str) -> None:
        """Show a problem or what is happening under the form."""
        self.query_one("#message", Static).update(Text(text))

    def _no_lots_hint(self) -> str:
        if self._problem:
            return self._problem
        if self._lots:
            return ""
        return "No lot plan is imported on this station: station lot import FILE"


def _lot_option(lot: LotSummary) -> Option:
    firmware = ", ".join(lot.allowed_firmware)
    return Option(
        f"{lot.lot}  {lot.modules} modules  firmware {firmware}  "
        f"imported by {lot.imported_by} {lot.imported_at:%Y-%m-%d}",
        id=lot.lot,
    )
