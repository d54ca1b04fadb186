"""Faults on the wire between station and module, applied by the pty host.

Three seams, in the order the host meets them:

- ``trigger``: a command line is about to run; a reset or an unplug may fire
  instead;
- ``echo`` and ``shape``: the command is echoed and stray ``[$]`` lines are
  added to its reply, always as whole lines;
- ``inbound`` / ``outbound``: bytes cross the wire; bits flip, bytes are lost
  or repeated.

Randomness comes from one seeded generator per module, so a failing run can be
repeated exactly.
"""

from __future__ import annotations

import random
from collections import Counter
from enum import Enum

from device_io.simulator.faults import CommandTrigger, FaultPlan

# Unsolicited lines an Ameba console prints while the AT service runs.
STRAY_LINES = (
    b"[$]wlan: scan done",
    b"[$]heap free 182344",
    b"[$]ble: adv stopped",
)


class LinkEvent(Enum):
    """What a triggered fault does to the module instead of answering."""

    RESET = "reset"
    UNPLUG = "unplug"


class LinkFaults:
    """The link faults of one module, with their own random generator."""

    def __init__(self, plan: FaultPlan, *, seed: int) -> None:
        """Set up the faults of ``plan``.

        Args:
            plan: The module's fault plan.
            seed: Seed for this module's random generator.
        """
        self._plan = plan
        # Noise must repeat from its seed; it protects nothing, so no CSPRNG.
        self._rng = random.Random(seed)  # noqa: S311
        self._seen: Counter[str] = Counter()
        self._fired: set[LinkEvent] = set()

    def trigger(self, command: str) -> LinkEvent | None:
        """Count a command line; the event it fires, if any (each fires once)."""
        self._seen[command] += 1
        for event, rule in (
            (LinkEvent.RESET, self._plan.reset_on),
            (LinkEvent.UNPLUG, self._plan.unplug_on),
        ):
            if self._fires(event, rule, command):
                self._fired.add(event)
                return event
        return None

    def echo(self, command: bytes) -> list[bytes]:
        """The echo of a received command line: itself, or nothing."""
        return [command] if self._plan.echo else []

    def shape(self, lines: list[bytes]) -> list[bytes]:
        """Reply lines with stray ``[$]`` lines between and after them."""
        shaped: list[bytes] = []
        for line in lines:
            self._maybe_stray(shaped)
            shaped.append(line)
        self._maybe_stray(shaped)
        return shaped

    def inbound(self, data: bytes) -> bytes:
        """Bytes from the station as the module's UART receives them."""
        return self._damage(data)

    def outbound(self, data: bytes) -> bytes:
        """Bytes from the module as the station's UART receives them."""
        return self._damage(data)

    def _fires(
        self, event: LinkEvent, rule: CommandTrigger | None, command: str
    ) -> bool:
        return (
            rule is not None
            and event not in self._fired
            and rule.command == command
            and self._seen[command] == rule.occurrence
        )

    def _maybe_stray(self, shaped: list[bytes]) -> None:
        if self._plan.stray_rate and self._rng.random() < self._plan.stray_rate:
            shaped.append(self._rng.choice(STRAY_LINES))

    def _damage(self, data: bytes) -> bytes:
        if not self._plan.byte_faults:
            return data
        damaged = bytearray()
        for byte in data:
            damaged += self._damage_byte(byte)
        return bytes(damaged)

    def _damage_byte(self, byte: int) -> bytes:
        plan, rng = self._plan, self._rng
        if rng.random() < plan.drop_rate:
            return b""
        if rng.random() < plan.bit_error_rate:
            byte ^= 1 << rng.randrange(8)
        if rng.random() < plan.repeat_rate:
            return bytes((byte, byte))
        return bytes((byte,))
