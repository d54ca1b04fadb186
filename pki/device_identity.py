"""The identity a device certificate is issued to, checked on the CA side.

The station checks these fields when it reads them from a module, but the CA
trusts no caller: they become parts of URNs and subject names, so the rules of
DESIGN section 3 are applied again here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pki.errors import IdentityRejected

_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "serial": (re.compile(r"[A-Za-z0-9]{1,24}"), "1 to 24 of A-Z a-z 0-9"),
    "mac": (
        re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{12}"),
        "six colon-separated hex pairs",
    ),
    "model": (re.compile(r"[A-Za-z0-9.]{1,16}"), "1 to 16 of A-Z a-z 0-9 ."),
    "lot": (re.compile(r"[A-Za-z0-9._-]{1,20}"), "1 to 20 of A-Z a-z 0-9 . _ -"),
}


@dataclass(frozen=True)
class DeviceIdentity:
    """A module's identity as the CA will certify it.

    Attributes:
        serial: Module serial number.
        mac: MAC address, colon-separated as modules print it, or 12 hex
            digits; kept as 12 lowercase hex digits.
        model: Model name; selects the hwType of the product line.
        lot: Manufacturing lot.

    Raises:
        IdentityRejected: A field breaks its rule.
    """

    serial: str
    mac: str
    model: str
    lot: str

    def __post_init__(self) -> None:
        for name in ("serial", "mac", "model", "lot"):
            pattern, rule = _RULES[name]
            value = getattr(self, name)
            if not pattern.fullmatch(value):
                raise IdentityRejected(
                    f"invalid {name} {value!r}: {rule}",
                    serial=self.serial if name != "serial" else None,
                )
        object.__setattr__(self, "mac", self.mac.replace(":", "").lower())

    @property
    def mac_urn(self) -> str:
        """``urn:dev:mac:`` and the 12 lowercase hex digits (RFC 9039)."""
        return f"urn:dev:mac:{self.mac}"

    def ops_urn(self, pen: int) -> str:
        """``urn:dev:ops:<PEN>-<model>-<serial>`` (RFC 9039)."""
        return f"urn:dev:ops:{pen}-{self.model}-{self.serial}"
