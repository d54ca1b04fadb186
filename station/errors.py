"""Errors raised by the station.

    StationError
    ├── ConfigError         a configuration value is missing or invalid
    │   └── FixtureMapError     a fixture map is invalid (station.fixture_map)
    ├── SecretError         a secret (HSM PIN, TLS key) cannot be read safely
    ├── JournalError        the journal cannot be read or written
    ├── LotPlanError        a lot plan file or import is malformed
    ├── AuditError          the audit log cannot be written or trusted (station.audit)
    ├── ExportError         records cannot be exported or read back (station.export)
    ├── UdevRuleError       udev rules cannot be made safely (station.udev_rules)
    ├── StationBusy         another process runs this station (station.state_lock)
    ├── DemoError           the demo cannot be set up (station.demo)
    └── StepFailed          a module failed a step of a job
        ├── PlanRefused         the module is not allowed by the active lot plan
        ├── CloneRefused        the module's serial or MAC is bound to another key
        ├── CsrRejected         the module's CSR failed a check
        ├── ChainRejected       the issued chain failed a check before writing
        ├── PossessionFailed    the module could not prove it holds the key
        └── ClockError          the station clock cannot be trusted to issue

The errors defined in other modules live next to the code that raises them.
``StepFailed`` always names the slot, the module serial (once read) and the
step, so every failure an operator sees says where and what.
"""

from __future__ import annotations


class StationError(Exception):
    """Base of every station error."""


class ConfigError(StationError):
    """A configuration value is missing or invalid; the message names the key."""


class SecretError(StationError):
    """A secret cannot be read, or its file is readable by others."""


class JournalError(StationError):
    """The station journal cannot be read or written."""


class LotPlanError(StationError):
    """A lot plan is malformed or cannot be imported; names file and line."""


class StepFailed(StationError):
    """A module failed one step of provisioning.

    Attributes:
        reason: What went wrong, in words for a line operator.
        slot: The fixture slot.
        serial: The module serial, when it was read.
        step: The step that failed.
    """

    def __init__(
        self,
        reason: str,
        *,
        slot: str | None = None,
        serial: str | None = None,
        step: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.slot = slot
        self.serial = serial
        self.step = step

    def __str__(self) -> str:
        where = [
            f"{name} {value}"
            for name, value in (
                ("slot", self.slot),
                ("module", self.serial),
                ("step", self.step),
            )
            if value
        ]
        return f"{self.reason} ({', '.join(where)})" if where else self.reason


class PlanRefused(StepFailed):
    """The module is not allowed by the active lot plan."""


class CloneRefused(StepFailed):
    """The module's serial or MAC is already bound to a different key.

    Attributes:
        in_work: The run of another module in work now that holds the
            serial or MAC, when that is the clash; QA sees both.
    """

    def __init__(self, reason: str, *, in_work: int | None = None) -> None:
        super().__init__(reason)
        self.in_work = in_work


class CsrRejected(StepFailed):
    """The module's CSR failed a check; no certificate is issued for it."""


class ChainRejected(StepFailed):
    """The chain returned by the CA failed a check; it is not written."""


class PossessionFailed(StepFailed):
    """The module's challenge signature does not verify against the leaf."""


class ClockError(StepFailed):
    """The station clock runs backwards or lies outside the CA's validity."""
