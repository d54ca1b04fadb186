"""Errors raised by the CA side.

Every error names what an operator needs to act on it: the token and the
operation for HSM failures, the module serial for refusals.

    PkiError
    ├── HsmSetupError           a SoftHSM2 configuration or token cannot be set up
    ├── SecretFileError         a PIN file is missing, unreadable or too open
    ├── TokenError              a PKCS#11 operation on a token failed
    │   ├── TokenUnavailable    the library, the token or the login is not there
    │   └── KeyNotFound         no key with that label on the token
    ├── KeyNotExportable        someone asked an HSM key for its private value
    ├── ProfileError            a certificate cannot be built to its profile
    ├── IssuanceRefusal         the CA will not issue for this request
    │   ├── CsrRejected         bad signature, key type or subject in the CSR
    │   ├── IdentityRejected    a field breaks its rule, or the model is unknown
    │   ├── ValidityRefused     too little validity left under the issuing CA
    │   ├── CloneRefused        the serial, MAC or key is bound to another key
    │   └── RevokedKey          the certificate for this key was revoked
    ├── StoreError              the CA store cannot be read or written
    ├── CeremonyError           a root operation in its own process failed
    └── DevPkiError             a directory holds something other than a dev PKI

Issuers translate ``IssuanceRefusal`` into a permanent refusal and
``TokenError`` or ``StoreError`` into a transient outage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pki.ca_store import IssuedRecord


class PkiError(Exception):
    """Base of every CA-side error.

    Attributes:
        token: Label of the token involved, when there is one.
        operation: The operation that failed (``sign``, ``login``, ...).
        serial: Serial number of the module concerned, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        token: str | None = None,
        operation: str | None = None,
        serial: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.token = token
        self.operation = operation
        self.serial = serial

    def __str__(self) -> str:
        where = [
            f"{name} {value}"
            for name, value in (
                ("module", self.serial),
                ("token", self.token),
                ("operation", self.operation),
            )
            if value
        ]
        return f"{self.message} ({', '.join(where)})" if where else self.message


class HsmSetupError(PkiError):
    """A SoftHSM2 configuration or token cannot be set up."""


class SecretFileError(PkiError):
    """A PIN file is missing, unreadable, or readable by others."""


class TokenError(PkiError):
    """A PKCS#11 operation on a token failed."""


class TokenUnavailable(TokenError):
    """The PKCS#11 library, the token or the login is not available."""


class KeyNotFound(TokenError):
    """The token holds no key with the requested label."""


class KeyNotExportable(PkiError):
    """An HSM-held private key was asked for its private value."""


class ProfileError(PkiError):
    """A certificate cannot be built to its profile (wrong key, bad name)."""


class IssuanceRefusal(PkiError):
    """The CA will not issue for this request; retrying will not help."""


class CsrRejected(IssuanceRefusal):
    """The CSR fails the CA's own checks: signature, key type or subject."""


class IdentityRejected(IssuanceRefusal):
    """An identity field breaks its rule, or the model is not in the table."""


class ValidityRefused(IssuanceRefusal):
    """The validity left under the issuing CA is below the minimum."""


class CloneRefused(IssuanceRefusal):
    """The serial, MAC or public key is already bound to another key or module.

    Attributes:
        existing: The records that hold the binding.
    """

    def __init__(
        self,
        message: str,
        *,
        existing: tuple[IssuedRecord, ...],
        serial: str | None = None,
    ) -> None:
        super().__init__(message, serial=serial)
        self.existing = existing


class RevokedKey(IssuanceRefusal):
    """The certificate issued for this identity and key was revoked."""


class StoreError(PkiError):
    """The CA store cannot be read or written."""


class CeremonyError(PkiError):
    """A root CA operation, run in its own process, failed."""


class DevPkiError(PkiError):
    """A directory holds files that are not a finished development PKI."""
