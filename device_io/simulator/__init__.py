"""A simulated Ameba module implementing the PV firmware contract on a pty.

The simulator is firmware, not a test double: it reads DESIGN section 3 on its
own (its command parser shares nothing with the station's reply parser), keeps
each module's keys in its own flash file, paces its output at the baud rate,
and can be made to misbehave per slot. The demo runs on it, tests drive the
real serial stack through it, and operators train on it.

In process::

    config = SimulatorConfig(state_dir=dir, nameplates=plates)
    with Simulator(config) as simulator:
        port = simulator.port(1).link     # open this with pyserial

From the command line, ``station simulate`` calls ``main``.
"""

from device_io.simulator.cli import main
from device_io.simulator.errors import (
    FaultSpecError,
    FlashError,
    FlashFull,
    LotPlanError,
    PortSetupError,
    SimulatorError,
)
from device_io.simulator.faults import (
    FaultPlan,
    Misbehaviour,
    build_plans,
    check_misbehave,
)
from device_io.simulator.firmware import Firmware, FirmwareLimits, Reply
from device_io.simulator.lot_plan import assign_slots, read_lot_plan
from device_io.simulator.nameplate import Nameplate
from device_io.simulator.scenario import Scenario, read_scenario
from device_io.simulator.simulator import (
    PortInfo,
    Simulator,
    SimulatorConfig,
    write_ports_file,
)

__all__ = [
    "FaultPlan",
    "FaultSpecError",
    "Firmware",
    "FirmwareLimits",
    "FlashError",
    "FlashFull",
    "LotPlanError",
    "Misbehaviour",
    "Nameplate",
    "PortInfo",
    "PortSetupError",
    "Reply",
    "Scenario",
    "Simulator",
    "SimulatorConfig",
    "SimulatorError",
    "assign_slots",
    "build_plans",
    "check_misbehave",
    "main",
    "read_lot_plan",
    "read_scenario",
    "write_ports_file",
]
