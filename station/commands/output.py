"""What provisioning commands print while modules run and when they end."""

from __future__ import annotations

from collections.abc import Sequence

from station.commands import EXIT_MODULE_FAILED, EXIT_OK
from station.events import EventKind, SlotEvent
from station.report import format_results
from station.workflow import ModuleResult


def print_event(event: SlotEvent) -> None:
    """Print one line per step a slot starts."""
    if event.kind is EventKind.STEP and event.step is not None:
        who = event.serial or ""
        print(f"  {event.slot:<8} {who:<14} {event.step.label}", flush=True)


def report(results: Sequence[ModuleResult]) -> int:
    """Print the results table; the exit status says whether all passed."""
    print()
    print(format_results(results))
    if all(result.passed for result in results):
        return EXIT_OK
    return EXIT_MODULE_FAILED
