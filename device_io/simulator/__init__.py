"""A simulated Ameba module implementing the PV firmware contract.

The simulator is firmware, not a test double: it reads DESIGN section 3 on its
own (its command parser shares nothing with the station's reply parser), keeps
each module's keys in its own flash file, and can be made to misbehave.
"""

from device_io.simulator.errors import (
    FaultSpecError,
    FlashError,
    FlashFull,
    SimulatorError,
)
from device_io.simulator.faults import FaultPlan, Misbehaviour, build_plans
from device_io.simulator.firmware import Firmware, FirmwareLimits, Reply
from device_io.simulator.nameplate import Nameplate

__all__ = [
    "FaultPlan",
    "FaultSpecError",
    "Firmware",
    "FirmwareLimits",
    "FlashError",
    "FlashFull",
    "Misbehaviour",
    "Nameplate",
    "Reply",
    "SimulatorError",
    "build_plans",
]
