"""What the station tests drive: a station over simulated modules."""

from __future__ import annotations

from dataclasses import dataclass

from device_io.simulator import Simulator
from station.assembly import Station
from station.events import SlotEvent
from station.workflow import Slot


@dataclass
class Line:
    """A running station over simulated modules."""

    station: Station
    simulator: Simulator
    slots: list[Slot]
    events: list[SlotEvent]
