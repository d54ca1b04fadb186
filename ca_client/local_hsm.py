"""The local HSM issuer: the issuing CA in this process, its key in a token.

:class:`LocalHsmIssuer` puts :class:`pki.issuing_ca.IssuingCa` behind the
:class:`ca_client.issuer.Issuer` interface and turns the CA side's errors into
the two the workflow acts on: a refusal is permanent (the module fails), an
unavailable token or store is transient (the CSR is queued).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from ca_client.errors import BindingRefused, IssuanceRefused, IssuerUnavailable
from ca_client.issuer import DeviceRequest, IssuedCertificate
from pki.ca_store import CaStore
from pki.device_identity import DeviceIdentity
from pki.errors import CloneRefused, IssuanceRefusal, PkiError
from pki.issuing_ca import BindingOverride, Clock, IssuingCa, IssuingCaSource, utc_now
from pki.product_line import ProductLine

logger = logging.getLogger(__name__)


class LocalHsmIssuer:
    """An :class:`~ca_client.issuer.Issuer` over an in-process issuing CA.

    Args:
        ca: The issuing CA; the issuer closes it on :meth:`close`.
        token_label: Label of the CA's token, for error context.
    """

    def __init__(self, ca: IssuingCa, *, token_label: str) -> None:
        self._ca = ca
        self._token_label = token_label

    @classmethod
    def open(
        cls,
        source: IssuingCaSource,
        *,
        store: CaStore,
        product_line: ProductLine,
        pin: str | None = None,
        clock: Clock = utc_now,
        binding_override: BindingOverride | None = None,
    ) -> LocalHsmIssuer:
        """Log in to the CA's token and open the issuing CA.

        Args:
            source: Where the CA key and certificate are.
            store: Where issued certificates are recorded.
            product_line: The device profile's settings.
            pin: The token's user PIN; read from ``source.pin_file`` when
                None.
            clock: Source of the issuance time.
            binding_override: Decides on serial, MAC or key conflicts.

        Raises:
            IssuerUnavailable: The token, its PIN file, the key or the CA
                certificate cannot be opened.
        """
        try:
            ca = IssuingCa.open(
                source,
                store=store,
                product_line=product_line,
                pin=pin,
                clock=clock,
                binding_override=binding_override,
            )
        except PkiError as exc:
            raise IssuerUnavailable(
                f"cannot open the issuing CA: {exc}", issuer=source.token_label
            ) from exc
        return cls(ca, token_label=source.token_label)

    @property
    def description(self) -> str:
        """The issuing CA's subject and token."""
        return f"local HSM: {self._ca.description}"

    def issue(self, request: DeviceRequest) -> IssuedCertificate:
        """Issue, or return the certificate already issued, for ``request``.

        Raises:
            IssuanceRefused: The CA refuses: bad CSR, identity, clone,
                revoked key or too little validity left.
            IssuerUnavailable: The token or the CA store failed.
        """
        with self._translated(request.serial):
            identity = DeviceIdentity(
                serial=request.serial,
                mac=request.mac,
                model=request.model,
                lot=request.lot,
            )
            result = self._ca.issue(identity, request.csr_der)

        return IssuedCertificate(
            leaf=result.certificate,
            chain=result.chain,
            reused=result.reused,
            clamped_from=result.clamped_from,
        )

    def close(self) -> None:
        """Release the CA's token handle."""
        self._ca.close()

    @contextmanager
    def _translated(self, serial: str) -> Iterator[None]:
        try:
            yield
        except CloneRefused as exc:
            raise BindingRefused(
                exc.message, serial=serial, issuer=self._token_label
            ) from exc
        except IssuanceRefusal as exc:
            raise IssuanceRefused(
                exc.message, serial=serial, issuer=self._token_label
            ) from exc
        except PkiError as exc:
            logger.warning("issuing CA unavailable for module %s: %s", serial, exc)
            # The token error names the token and the operation already.
            raise IssuerUnavailable(str(exc), serial=serial) from exc
