"""The identity burned into a simulated module at manufacture.

Real modules hold serial, MAC, model and lot in efuses or a factory data page,
and the firmware version in their image. The simulator gives each module a
nameplate from the lot plan and reports it through ``AT+PVID?``.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, replace

DEFAULT_FIRMWARE = "1.4.2"


@dataclass(frozen=True)
class Nameplate:
    """What a module says it is.

    Attributes:
        serial: Serial number.
        mac: MAC address as the module prints it (``00:e0:4c:87:00:01``).
        model: Model name.
        lot: Manufacturing lot.
        firmware: Firmware version.
    """

    serial: str
    mac: str
    model: str
    lot: str
    firmware: str = DEFAULT_FIRMWARE

    def with_serial(self, serial: str) -> Nameplate:
        """The same nameplate naming another serial."""
        return replace(self, serial=serial)


_NEXT = {
    alphabet[index]: alphabet[(index + 1) % len(alphabet)]
    for alphabet in (string.digits, string.ascii_uppercase, string.ascii_lowercase)
    for index in range(len(alphabet))
}


def neighbour_serial(serial: str) -> str:
    """The serial one step away in its last character (``...009`` -> ``...000``).

    A single flipped digit is the plausible mistake: it names another module of
    the same lot rather than an obviously foreign one.
    """
    if not serial:
        return "0"
    last = serial[-1]
    return serial[:-1] + _NEXT.get(last, "0")
