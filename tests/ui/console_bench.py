"""What the console tests drive: a station over simulated modules, and clocks."""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable
from dataclasses import dataclass

from device_io.simulator import Simulator
from station.config import StationConfig

LOT = "LOT-2026-0042"
FIRMWARE = "1.4.2"
# When the test's lot plan was imported, as the sign-in screen lists it.
IMPORTED_AT = datetime.datetime(2026, 3, 2, 7, 30, tzinfo=datetime.UTC)


@dataclass(frozen=True)
class Bench:
    """A station configuration over running simulated modules."""

    config: StationConfig
    simulator: Simulator


MakeBench = Callable[..., Bench]


class StageClock:
    """Monotonic time the test sets: one reading for the UI, one for workers.

    The line reads its clock when a slot starts (on the UI thread) and when a
    module finishes (on the slot's worker), so separate readings give every
    module the same known elapsed time however long it really took.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.ui = start
        self.workers = start

    def __call__(self) -> float:
        if threading.current_thread() is threading.main_thread():
            return self.ui
        return self.workers


def fixed_wall_clock() -> datetime.datetime:
    """The log's time of day in every test: 08:15:00."""
    return datetime.datetime(2026, 3, 2, 8, 15, 0)
