"""The one interface through which the station gets certificates issued.

A local HSM issuer and a remote EST issuer both implement :class:`Issuer`, so
the provisioning workflow, the offline queue and QA never know which is in use.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509


@dataclass(frozen=True)
class DeviceRequest:
    """What the station asks the CA to certify.

    Attributes:
        csr_der: The module's DER PKCS#10 request, already checked by the
            station (proof of possession, key type, subject).
        serial: Module serial number.
        mac: MAC address as the module prints it.
        model: Model name, which selects the hwType OID of the product line.
        lot: Manufacturing lot.
    """

    csr_der: bytes
    serial: str
    mac: str
    model: str
    lot: str


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate issued for a module, with the chain to send it.

    Attributes:
        leaf: The device certificate.
        chain: The certificates that follow the leaf in the module's CHAIN
            object, issuing CA first; the root is never included.
        reused: True when the CA returned a certificate it had already issued
            for the same identity and public key (an idempotent repeat).
        clamped_from: The notAfter the product line asked for, when it was
            clamped to the issuing CA's own notAfter; otherwise None.
    """

    leaf: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    reused: bool = False
    clamped_from: datetime.datetime | None = None

    @property
    def serial_hex(self) -> str:
        """The certificate serial number as lowercase hex."""
        return f"{self.leaf.serial_number:x}"


class Issuer(Protocol):
    """Something that signs device CSRs: an HSM in process or a remote CA."""

    @property
    def description(self) -> str:
        """Short text naming the issuer for logs and the console header."""
        ...

    def issue(self, request: DeviceRequest) -> IssuedCertificate:
        """Issue, or return the certificate already issued, for ``request``.

        The same identity with the same public key always gets back the same
        certificate, so a request repeated after a crash or a lost reply is safe.

        Raises:
            IssuanceRefused: The CA will not issue for this request.
            IssuerUnavailable: The CA cannot be reached now.
        """
        ...

    def close(self) -> None:
        """Release the issuer's resources (token sessions, connections)."""
        ...
