"""Errors raised by issuers.

    IssuerError
    ├── IssuanceRefused     the CA will not issue for this request (permanent)
    │   └── BindingRefused  the serial, MAC or key is bound to another key there
    └── IssuerUnavailable   the CA cannot be reached now (transient: queue it)

The workflow fails a module on ``IssuanceRefused`` and queues its CSR on
``IssuerUnavailable``; nothing else needs to tell issuers apart.
"""

from __future__ import annotations


class IssuerError(Exception):
    """Base of every issuer error.

    Attributes:
        serial: Serial number of the module the request was for, when known.
        issuer: Short description of the issuer (token label or URL).
    """

    def __init__(
        self, message: str, *, serial: str | None = None, issuer: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.serial = serial
        self.issuer = issuer

    def __str__(self) -> str:
        where = [
            f"{name} {value}"
            for name, value in (("module", self.serial), ("issuer", self.issuer))
            if value
        ]
        return f"{self.message} ({', '.join(where)})" if where else self.message


class IssuanceRefused(IssuerError):
    """The CA refuses this request; retrying it will not help."""


class BindingRefused(IssuanceRefused):
    """The CA holds the serial, MAC or key bound to another key or module.

    The CA's own clone check: the station flags the module for QA, as it does
    for a clone it finds itself.
    """


class IssuerUnavailable(IssuerError):
    """The CA cannot be reached now; the request may be retried or queued."""
