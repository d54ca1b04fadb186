"""Errors the simulator raises to whoever starts it.

These are faults in how the simulator was set up or in its own files, never in
the station's traffic: the firmware answers bad commands with ``ERROR: <n>``
replies, not with exceptions.

    SimulatorError
    ├── LotPlanError      the lot plan CSV cannot give every slot an identity
    ├── FaultSpecError    a ``SLOT=KIND[:ARG]`` misbehaviour does not parse
    ├── FlashError        a module's flash file cannot be read or written
    │   └── FlashFull     the module's flash refuses writes (a simulated fault)
    └── PortSetupError    a pseudo-terminal or its link name cannot be made
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Base of every error the simulator raises to its caller."""


class LotPlanError(SimulatorError):
    """The lot plan cannot provide the identities asked for."""


class FaultSpecError(SimulatorError):
    """A misbehaviour specification is malformed or names an unknown kind."""


class FlashError(SimulatorError):
    """A module's flash file cannot be read or written.

    Attributes:
        path: The flash file.
    """

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(f"{message} (flash {path})")
        self.path = path


class FlashFull(FlashError):
    """The module's flash has no room left: every write is refused."""


class PortSetupError(SimulatorError):
    """A pseudo-terminal or its stable link name cannot be created."""


class StateDirInUse(SimulatorError):
    """Another simulator is serving from the same state directory."""
