"""One conformance check: what it proves, what it needs, how it runs.

A check is a function over a ``Probe`` that returns a short detail for the
report (or None) and raises a ``DeviceError`` (a ``ContractBreach`` when the
module answered, but wrongly) when the module breaks the contract. Checks run
in the order they are declared, against one module whose state they build up,
so a check names the earlier checks whose results it relies on: if one of them
did not pass, the check is skipped rather than failed a second time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum

from device_io.conformance_probe import Probe

CheckFunction = Callable[[Probe], str | None]


class When(Enum):
    """Which runs include a check."""

    ALWAYS = "always"
    LOCKING = "locking"  # only with --lock: it locks the module, or needs it locked
    NOT_LOCKING = "not locking"  # only without --lock: it needs an unlocked module


@dataclass(frozen=True)
class Check:
    """A named check of the PV contract.

    Attributes:
        name: Stable dotted name, as printed and as tests refer to it.
        title: What a pass proves, in one line.
        run: The check itself.
        requires: Names of earlier checks that must have passed.
        project_rule: True when the rule is this project's choice where
            DESIGN section 3 is silent (docs/pv-commands.md states it).
        when: Which runs include it.
    """

    name: str
    title: str
    run: CheckFunction
    requires: tuple[str, ...] = ()
    project_rule: bool = False
    when: When = When.ALWAYS


class CheckList:
    """Checks in declaration order, declared with the ``check`` decorator."""

    def __init__(self) -> None:
        """Start an empty list."""
        self.checks: list[Check] = []

    def check(
        self,
        name: str,
        title: str,
        *,
        requires: Iterable[str] = (),
        project_rule: bool = False,
        when: When = When.ALWAYS,
    ) -> Callable[[CheckFunction], CheckFunction]:
        """Declare the decorated function as the next check of the list."""

        def declare(run: CheckFunction) -> CheckFunction:
            self.checks.append(
                Check(name, title, run, tuple(requires), project_rule, when)
            )
            return run

        return declare


def check_plan(checks: Iterable[Check]) -> tuple[Check, ...]:
    """The checks as one plan, with names unique and requirements declared
    before the checks that need them.

    Raises:
        ValueError: A name repeats, or a check requires one not declared
            before it.
    """
    plan = tuple(checks)
    seen: set[str] = set()
    for check in plan:
        if check.name in seen:
            raise ValueError(f"check {check.name} is declared twice")
        missing = [name for name in check.requires if name not in seen]
        if missing:
            raise ValueError(f"check {check.name} requires undeclared {missing}")
        seen.add(check.name)
    return plan
