"""The console's header: which station, lot, product line, issuer and operator."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group
from rich.text import Text
from textual.widgets import Static


@dataclass(frozen=True)
class HeaderFields:
    """What the header shows.

    Attributes:
        station: The station's name.
        lot: The lot being run.
        product_line: The product line of the certificate profile.
        issuing: How certificates are issued (the issuer's description).
        queued: Validated CSRs waiting for the CA (the offline queue length).
        operator: The signed-in operator's badge id.
    """

    station: str
    lot: str
    product_line: str
    issuing: str
    queued: int
    operator: str


class StationHeader(Static):
    """Two rows naming what the line runs, and whether it is paused."""

    DEFAULT_CSS = """
    StationHeader {
        height: 2;
        background: $primary 40%;
        padding: 0 1;
    }
    StationHeader.-paused {
        background: $warning 50%;
    }
    """

    def show(self, fields: HeaderFields, *, state: str = "") -> None:
        """Redraw for ``fields``; ``state`` (PAUSED, QUITTING...) leads the row."""
        first = Text(no_wrap=True, overflow="ellipsis")
        if state:
            first.append(f" {state} ", style="bold reverse")
            first.append(" ")
        first.append(fields.station, style="bold")
        _field(first, "operator", fields.operator)
        _field(first, "lot", fields.lot)
        _field(first, "line", fields.product_line)
        second = Text(no_wrap=True, overflow="ellipsis")
        _field(second, "queue", str(fields.queued), first=True)
        _field(second, "issuer", fields.issuing)
        self.set_class(bool(state), "-paused")
        self.update(Group(first, second))


def _field(text: Text, label: str, value: str, *, first: bool = False) -> None:
    text.append(f"{label} " if first else f"  {label} ", style="dim")
    text.append(value, style="bold")
