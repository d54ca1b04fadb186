"""The identity a module reports, checked against the field rules of DESIGN 3.

Nothing a module says becomes a file name, a CSV cell or part of a URN without
passing these rules, so they are applied as soon as ``AT+PVID?`` is parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from device_io.errors import IdentityError
from device_io.pv import RawIdentity, SlotState

_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "serial": (re.compile(r"[A-Za-z0-9]{1,24}"), "1 to 24 of A-Z a-z 0-9"),
    "mac": (
        re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}"),
        "six colon-separated hex pairs",
    ),
    "model": (re.compile(r"[A-Za-z0-9.]{1,16}"), "1 to 16 of A-Z a-z 0-9 ."),
    "lot": (re.compile(r"[A-Za-z0-9._-]{1,20}"), "1 to 20 of A-Z a-z 0-9 . _ -"),
    "firmware": (re.compile(r"[A-Za-z0-9._-]{1,20}"), "1 to 20 of A-Z a-z 0-9 . _ -"),
}


def check_field(name: str, value: str) -> str:
    """Return ``value`` if it obeys the rule for identity field ``name``.

    Raises:
        IdentityError: The value breaks the rule; the message names the rule.
    """
    pattern, rule = _RULES[name]
    if not pattern.fullmatch(value):
        raise IdentityError(f"module reported an invalid {name} {value!r}: {rule}")
    return value


def normalise_mac(mac: str) -> str:
    """The MAC as 12 lowercase hex digits, as used in ``urn:dev:mac:``."""
    return check_field("mac", mac).replace(":", "").lower()


@dataclass(frozen=True)
class ModuleIdentity:
    """A module's identity as read over UART, every field validated.

    Attributes:
        serial: Module serial number.
        mac: MAC address as the module prints it (``00:e0:4c:87:00:01``).
        model: Model name.
        lot: Manufacturing lot.
        firmware: Firmware version.
        state: State of credential slot 0.
    """

    serial: str
    mac: str
    model: str
    lot: str
    firmware: str
    state: SlotState

    @classmethod
    def from_raw(cls, raw: RawIdentity) -> ModuleIdentity:
        """Apply the identity rules to a parsed ``+PVID`` reply.

        Raises:
            IdentityError: A field breaks its rule or the state is unknown.
        """
        try:
            state = SlotState(raw.state)
        except ValueError:
            raise IdentityError(
                f"module reported an unknown slot state {raw.state!r}"
            ) from None
        return cls(
            serial=check_field("serial", raw.serial),
            mac=check_field("mac", raw.mac).lower(),
            model=check_field("model", raw.model),
            lot=check_field("lot", raw.lot),
            firmware=check_field("firmware", raw.firmware),
            state=state,
        )

    @property
    def mac_hex(self) -> str:
        """The MAC as 12 lowercase hex digits."""
        return normalise_mac(self.mac)

    def same_module(self, other: ModuleIdentity) -> bool:
        """True when both reads name the same module (the state may differ)."""
        return (self.serial, self.mac, self.model, self.lot, self.firmware) == (
            other.serial,
            other.mac,
            other.model,
            other.lot,
            other.firmware,
        )
