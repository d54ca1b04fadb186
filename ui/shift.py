"""An operator's shift: the station opened for one badge and one lot.

The console signs an operator in, then opens the station exactly as the
command line does and puts a :class:`~station.line.Line` over its slots. This
module holds that pairing and knows nothing of Textual, so the sign-in flow
and its failures can be reasoned about without a terminal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from station.assembly import Station, open_station
from station.config import StationConfig
from station.events import EventListener
from station.line import Line, Monotonic


@dataclass(frozen=True)
class SignIn:
    """Who runs the line and which lot.

    Attributes:
        operator: The operator's badge id.
        lot: The lot to run; its plan is imported on this station.
    """

    operator: str
    lot: str


@dataclass
class Shift:
    """The station and its line for one signed-in operator and lot.

    Attributes:
        sign_in: The operator and the lot.
        station: The opened station (journal, issuer, provisioner).
        line: The slots of the station, one worker each.
    """

    sign_in: SignIn
    station: Station
    line: Line

    @property
    def queued_for_issuance(self) -> int:
        """Validated CSRs waiting for the CA (the offline batch queue)."""
        # TODO(offline-queue): the station has no offline issuance queue yet;
        # once CSRs can wait as AWAITING_CERT, count them here.
        return 0

    def close(self) -> None:
        """Stop starting modules and close the station."""
        self.line.pause()
        self.station.close()


def open_shift(
    config: StationConfig,
    sign_in: SignIn,
    *,
    listener: EventListener,
    monotonic: Monotonic = time.monotonic,
) -> Shift:
    """Open the station for ``sign_in`` and a line over its slots.

    This logs in to the issuer's token, so it runs on a worker thread.

    Args:
        config: The validated station configuration.
        sign_in: The operator and lot.
        listener: Receives every slot event, on the slot's worker thread.
        monotonic: Clock for elapsed times and rates.

    Raises:
        StationError: The station cannot be opened (the message says why).
        IssuerError: The issuing CA cannot be opened.
    """
    station = open_station(config, operator=sign_in.operator, lot=sign_in.lot)
    line = Line(
        station.provisioner,
        station.slots,
        inspector=station.inspector,
        listener=listener,
        monotonic=monotonic,
    )
    return Shift(sign_in, station, line)
