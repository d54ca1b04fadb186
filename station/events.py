"""What a slot reports while it works, for the console, the CLI and logs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from station.steps import Step


class EventKind(StrEnum):
    """The kinds of slot event."""

    STARTED = "started"
    STEP = "step"
    PROGRESS = "progress"
    PASSED = "passed"
    FAILED = "failed"


@dataclass(frozen=True)
class SlotEvent:
    """One thing that happened in one slot.

    Attributes:
        kind: What happened.
        slot: The fixture slot name.
        step: The step running, when there is one.
        serial: The module serial, once read.
        fraction: Progress through the current step, 0.0 to 1.0.
        message: Text for the operator (the failure reason on FAILED).
    """

    kind: EventKind
    slot: str
    step: Step | None = None
    serial: str | None = None
    fraction: float = 0.0
    message: str = ""


EventListener = Callable[[SlotEvent], None]


def ignore_events(event: SlotEvent) -> None:
    """A listener that drops every event."""
