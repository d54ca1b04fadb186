"""Certificate serial numbers: unpredictable, positive, at most 20 octets."""

from __future__ import annotations

import secrets

# RFC 5280 caps serials at 20 octets and CA/B practice asks for at least 64
# random bits. With the top bit of 159 fixed, every serial is 159 bits long:
# positive, exactly 20 octets in DER, with 158 bits from the CSPRNG.
SERIAL_BITS = 159


def new_serial_number() -> int:
    """A fresh certificate serial number with 158 random bits."""
    return (1 << (SERIAL_BITS - 1)) | secrets.randbits(SERIAL_BITS - 1)
