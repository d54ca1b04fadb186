"""Product line settings: what the device certificates of one line say.

A product line names the manufacturer, its private OID arc, the models it makes
with their hwType numbers, how long device certificates live, and where the CA
publishes its certificate, CRL and OCSP responder.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from cryptography import x509
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pki.errors import IdentityRejected

DOCUMENTATION_ARC = "1.3.6.1.4.1.32473"  # RFC 5612 documentation enterprise number

_OID = re.compile(r"[0-2](?:\.(?:0|[1-9][0-9]*))+")
_MODEL = re.compile(r"[A-Za-z0-9.]{1,16}")


class Publication(BaseModel):
    """Where the CA publishes, under one base URL with fixed paths.

    Attributes:
        base_url: ``http`` or ``https`` URL without query or fragment; the
            trailing slash is dropped.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http or https URL with a host")
        if parts.query or parts.fragment:
            raise ValueError(f"{value!r} must not carry a query or fragment")
        return value.rstrip("/")

    @property
    def ocsp_url(self) -> str:
        """The OCSP responder."""
        return f"{self.base_url}/ocsp"

    @property
    def issuing_crl_url(self) -> str:
        """The issuing CA's CRL."""
        return f"{self.base_url}/crl/issuing.crl"

    @property
    def issuing_certificate_url(self) -> str:
        """The issuing CA's certificate, DER."""
        return f"{self.base_url}/ca/issuing.cer"

    @property
    def root_crl_url(self) -> str:
        """The root CA's CRL."""
        return f"{self.base_url}/crl/root.crl"


class ProductLine(BaseModel):
    """Settings of one product line's device certificates.

    Attributes:
        organization: Subject O of every device certificate.
        oid_arc: The manufacturer's private OID arc; its last arc is the
            IANA private enterprise number used in ``urn:dev:ops:``.
        models: Model name to ``n``, making the hwType OID ``<arc>.2.<n>``.
        validity_days: Lifetime asked for each device certificate.
        min_validity_days: Shortest lifetime accepted after clamping to
            the issuing CA's notAfter.
        publication: Where the CA publishes its certificate, CRL and OCSP.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    organization: str = Field(min_length=1, max_length=64)
    oid_arc: str = DOCUMENTATION_ARC
    models: dict[str, int] = Field(min_length=1)
    validity_days: int = Field(gt=0)
    min_validity_days: int = Field(gt=0)
    publication: Publication

    @field_validator("oid_arc")
    @classmethod
    def _check_arc(cls, value: str) -> str:
        if not _OID.fullmatch(value):
            raise ValueError(f"{value!r} is not a dotted OID")
        return value

    @field_validator("models")
    @classmethod
    def _check_models(cls, value: dict[str, int]) -> dict[str, int]:
        for name, number in value.items():
            if not _MODEL.fullmatch(name):
                raise ValueError(f"model {name!r} must be 1 to 16 of A-Z a-z 0-9 .")
            if number < 1:
                raise ValueError(f"model {name!r} needs a positive number")
        if len(set(value.values())) != len(value):
            raise ValueError("two models share one hwType number")
        return value

    @model_validator(mode="after")
    def _check_validity(self) -> ProductLine:
        if self.min_validity_days > self.validity_days:
            raise ValueError("min_validity_days exceeds validity_days")
        return self

    @property
    def pen(self) -> int:
        """The private enterprise number: the arc's last component."""
        return int(self.oid_arc.rsplit(".", 1)[1])

    @property
    def lot_oid(self) -> x509.ObjectIdentifier:
        """The subject attribute carrying the manufacturing lot."""
        return x509.ObjectIdentifier(f"{self.oid_arc}.1.1")

    def hw_type(self, model: str) -> x509.ObjectIdentifier:
        """The hwType OID of ``model``.

        Raises:
            IdentityRejected: The model is not in this product line.
        """
        if model not in self.models:
            known = ", ".join(sorted(self.models))
            raise IdentityRejected(
                f"model {model!r} is not in the product line (known: {known})"
            )
        return x509.ObjectIdentifier(f"{self.oid_arc}.2.{self.models[model]}")
