"""When the bytes of a reply have left the module's UART.

At 115200 baud 8N1 a byte is 10 bits on the wire (start, 8 data, stop), so a
module sends at most 11,520 bytes a second. The pacer holds back each byte
until the time it would have finished crossing the wire, counting from when
the transmitter last went busy. Time is passed in, so the arithmetic can be
checked without a clock.
"""

from __future__ import annotations

import math

BITS_PER_BYTE = 10  # 8N1: start bit, eight data bits, stop bit
# Release bytes in bursts of about this long, so that a module sending at full
# speed wakes its thread about 200 times a second rather than once per byte.
BURST_SECONDS = 0.005


class UartPacer:
    """Byte release times of a UART transmitter at a given baud rate."""

    def __init__(self, baud: int) -> None:
        """Create an idle transmitter.

        Args:
            baud: Line rate in bits per second.
        """
        if baud <= 0:
            raise ValueError("baud rate must be positive")
        self.byte_time = BITS_PER_BYTE / baud
        self.burst = max(1, int(BURST_SECONDS / self.byte_time))
        self._epoch = 0.0
        self._released = 0

    def start(self, now: float) -> None:
        """The transmitter goes busy at ``now`` (it was idle)."""
        self._epoch = now
        self._released = 0

    def due(self, now: float) -> int:
        """How many more bytes have finished transmitting by ``now``."""
        done = math.floor((now - self._epoch) / self.byte_time + 1e-9)
        return max(0, done - self._released)

    def released(self, count: int) -> None:
        """Record that ``count`` bytes were handed to the host."""
        self._released += count

    def next_release(self, pending: int) -> float:
        """When the next burst (or the last ``pending`` bytes) will be due."""
        count = min(self.burst, pending)
        return self._epoch + (self._released + count) * self.byte_time

    def duration(self, count: int) -> float:
        """Seconds ``count`` bytes take on the wire."""
        return count * self.byte_time
