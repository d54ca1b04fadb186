"""The issuing CA: device certificates signed by a key inside a token.

:class:`IssuingCa` checks each CSR itself, issues to the device profile under
one lock, records every certificate in the CA store, and is idempotent: the
same module with the same key gets back the certificate already issued.

A serial, MAC or key already bound to another unrevoked key is a clone and is
refused. DESIGN 7 lets an authorised rework or rotation campaign cover such a
module; that decision comes in through :class:`BindingOverride`.
"""

from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pki.ca_profiles import signature_hash
from pki.ca_store import CaStore, IssuedRecord, StoreTransaction
from pki.csr_check import DeviceCsr, check_device_csr
from pki.device_identity import DeviceIdentity
from pki.device_profile import device_certificate
from pki.errors import (
    CloneRefused,
    IdentityRejected,
    PkiError,
    ProfileError,
    RevokedKey,
    SecretFileError,
)
from pki.hsm_key import HsmPrivateKey
from pki.product_line import ProductLine
from pki.secret_file import read_pin
from pki.serial_number import new_serial_number
from pki.token import Token, TokenRef
from pki.validity import clamped_validity

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime.datetime]


def utc_now() -> datetime.datetime:
    """The current time, UTC."""
    return datetime.datetime.now(datetime.UTC)


@dataclass(frozen=True)
class IssuingCaSource:
    """Where the issuing CA's key and certificate are: what a station config
    names to open it.

    Attributes:
        module: PKCS#11 library path.
        token_label: Label of the token holding the key.
        key_label: Label of the CA key pair on the token.
        certificate: PEM file of the issuing CA certificate.
        softhsm_conf: SoftHSM2 configuration file, or None for a real HSM.
        pin_file: File (mode 0600) holding the token's user PIN, when the
            PIN is not handed over by the caller.
    """

    module: Path
    token_label: str
    key_label: str
    certificate: Path
    softhsm_conf: Path | None = None
    pin_file: Path | None = None

    @property
    def token(self) -> TokenRef:
        """The token holding the key."""
        return TokenRef(self.module, self.token_label, self.softhsm_conf)


@dataclass(frozen=True)
class IssueResult:
    """A device certificate with what the caller needs around it.

    Attributes:
        certificate: The device certificate.
        chain: The certificates after it in the module's chain (the issuing
            CA; never the root).
        record: The store's record of it.
        reused: True when it was issued before for the same module and key.
    """

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    record: IssuedRecord
    reused: bool

    @property
    def clamped_from(self) -> datetime.datetime | None:
        """The notAfter asked for, when it was clamped to the CA's."""
        return self.record.clamped_from


@dataclass(frozen=True)
class BindingConflict:
    """A request whose serial, MAC or key is bound to another key or module.

    Attributes:
        identity: The identity asked for.
        spki_sha256: SHA-256 of the requested key's SubjectPublicKeyInfo.
        existing: The unrevoked records holding the bindings.
    """

    identity: DeviceIdentity
    spki_sha256: str
    existing: tuple[IssuedRecord, ...]


class BindingOverride(Protocol):
    """Decides whether an authorised campaign covers a binding conflict."""

    def permits(self, conflict: BindingConflict) -> bool:
        """True to issue despite the conflict (rework, forced rotation)."""
        ...


class NoOverride:
    """No campaign: every binding conflict is refused as a clone."""

    def permits(self, conflict: BindingConflict) -> bool:
        """Never."""
        return False


class IssuingCa:
    """Issues device certificates with an HSM (or any EC) key.

    Args:
        key: The CA's private key, normally an :class:`HsmPrivateKey`.
        certificate: The CA's certificate; its key must be ``key``'s.
        store: Where issued certificates are recorded.
        product_line: The device profile's settings.
        clock: Source of the issuance time.
        binding_override: The campaign seam for binding conflicts.

    Raises:
        ProfileError: The certificate is not a CA certificate for ``key``.
    """

    def __init__(
        self,
        *,
        key: ec.EllipticCurvePrivateKey,
        certificate: x509.Certificate,
        store: CaStore,
        product_line: ProductLine,
        clock: Clock = utc_now,
        binding_override: BindingOverride | None = None,
    ) -> None:
        _check_ca_certificate(certificate, key)
        self._key = key
        self._hash = signature_hash(key.curve)
        self._certificate = certificate
        self._store = store
        self._product_line = product_line
        self._clock = clock
        self._override: BindingOverride = binding_override or NoOverride()
        self._lock = threading.Lock()
        self._token: Token | None = None

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
    ) -> IssuingCa:
        """Log in to the token and open the CA key and certificate.

        Args:
            source: Where the key and certificate are.
            store: Where issued certificates are recorded.
            product_line: The device profile's settings.
            pin: The token's user PIN; read from ``source.pin_file`` when
                None.
            clock: Source of the issuance time.
            binding_override: The campaign seam for binding conflicts.

        Raises:
            SecretFileError: No PIN, or a PIN file readable by others.
            TokenError: The token, the login or the key is not available.
            ProfileError: The certificate is unreadable or not the key's.
        """
        certificate = _load_certificate(source.certificate)
        token = Token.open(source.token, pin or _pin_from_file(source))
        try:
            ca = cls(
                key=HsmPrivateKey(token, source.key_label),
                certificate=certificate,
                store=store,
                product_line=product_line,
                clock=clock,
                binding_override=binding_override,
            )
        except PkiError:
            token.close()
            raise
        ca._token = token
        logger.info("opened %s", ca.description)
        return ca

    @property
    def certificate(self) -> x509.Certificate:
        """The issuing CA's certificate."""
        return self._certificate

    @property
    def product_line(self) -> ProductLine:
        """The product line this CA issues for."""
        return self._product_line

    @property
    def description(self) -> str:
        """The CA's subject, and its token when it has one."""
        name = self._certificate.subject.rfc4514_string()
        return f"{name} (token {self._token.label})" if self._token else name

    def issue(self, identity: DeviceIdentity, csr_der: bytes) -> IssueResult:
        """Issue a device certificate, or return the one already issued.

        Args:
            identity: The module's identity.
            csr_der: The module's DER PKCS#10 request.

        Raises:
            CsrRejected: The CSR fails the CA's checks.
            IdentityRejected: Unknown model, or this key was certified with
                other identity fields.
            CloneRefused: The serial, MAC or key is bound elsewhere.
            RevokedKey: The certificate for this module and key was revoked.
            ValidityRefused: Too little validity left under this CA.
            TokenError: The token failed to sign.
            StoreError: The CA store failed.
        """
        csr = check_device_csr(csr_der, serial=identity.serial)
        self._product_line.hw_type(identity.model)

        with self._lock, self._store.transaction() as transaction:
            result = self._reuse(
                transaction, identity, csr.spki_sha256
            ) or self._issue_new(transaction, identity, csr)
        return result

    def close(self) -> None:
        """Release the token handle, when this CA opened one."""
        if self._token is not None:
            self._token.close()

    def _reuse(
        self, transaction: StoreTransaction, identity: DeviceIdentity, spki: str
    ) -> IssueResult | None:
        record = transaction.find_issued(identity.serial, spki)
        if record is None:
            return None

        if record.revoked:
            raise RevokedKey(
                f"the {record.summary()} was revoked "
                f"({record.revocation_reason}); the module needs a new key",
                serial=identity.serial,
            )
        if (record.mac, record.model, record.lot) != (
            identity.mac,
            identity.model,
            identity.lot,
        ):
            raise IdentityRejected(
                f"this key is already certified with other identity fields: "
                f"{record.summary()}",
                serial=identity.serial,
            )

        logger.info(
            "returned certificate %s already issued to module %s",
            record.cert_serial,
            identity.serial,
        )
        return IssueResult(record.certificate, (self._certificate,), record, True)

    def _issue_new(
        self,
        transaction: StoreTransaction,
        identity: DeviceIdentity,
        csr: DeviceCsr,
    ) -> IssueResult:
        self._check_bindings(transaction, identity, csr.spki_sha256)

        certificate, clamped_from = self._sign(identity, csr.public_key)
        record = _record(
            identity, csr.spki_sha256, certificate, self._clock(), clamped_from
        )
        transaction.insert(record)

        logger.info(
            "issued certificate %s to module %s (model %s, lot %s)%s",
            record.cert_serial,
            identity.serial,
            identity.model,
            identity.lot,
            f", notAfter clamped from {clamped_from:%Y-%m-%d}" if clamped_from else "",
        )
        return IssueResult(certificate, (self._certificate,), record, False)

    def _check_bindings(
        self, transaction: StoreTransaction, identity: DeviceIdentity, spki: str
    ) -> None:
        existing = tuple(
            transaction.bindings(
                device_serial=identity.serial, mac=identity.mac, spki_sha256=spki
            )
        )
        if not existing:
            return

        conflict = BindingConflict(identity, spki, existing)
        if not self._override.permits(conflict):
            raise CloneRefused(
                "; ".join(_binding_reason(identity, spki, r) for r in existing),
                existing=existing,
                serial=identity.serial,
            )
        logger.warning(
            "issuing to module %s over %d existing binding(s), as an override allows",
            identity.serial,
            len(existing),
        )

    def _sign(
        self, identity: DeviceIdentity, public_key: ec.EllipticCurvePublicKey
    ) -> tuple[x509.Certificate, datetime.datetime | None]:
        validity = clamped_validity(
            self._clock(),
            days=self._product_line.validity_days,
            minimum_days=self._product_line.min_validity_days,
            issuer=self._certificate,
        )
        builder = device_certificate(
            identity=identity,
            public_key=public_key,
            product_line=self._product_line,
            issuer=self._certificate,
            validity=validity,
            serial_number=new_serial_number(),
        )
        return builder.sign(self._key, self._hash), validity.clamped_from


def _binding_reason(identity: DeviceIdentity, spki: str, record: IssuedRecord) -> str:
    if record.spki_sha256 == spki:
        return f"this key is already certified for another module: {record.summary()}"
    if record.device_serial == identity.serial:
        return f"serial {identity.serial} is bound to another key: {record.summary()}"
    return f"MAC {identity.mac} is bound to another key: {record.summary()}"


def _record(
    identity: DeviceIdentity,
    spki: str,
    certificate: x509.Certificate,
    issued_at: datetime.datetime,
    clamped_from: datetime.datetime | None,
) -> IssuedRecord:
    return IssuedRecord(
        cert_serial=f"{certificate.serial_number:x}",
        device_serial=identity.serial,
        mac=identity.mac,
        model=identity.model,
        lot=identity.lot,
        spki_sha256=spki,
        not_after=certificate.not_valid_after_utc,
        issued_at=issued_at,
        der=certificate.public_bytes(serialization.Encoding.DER),
        clamped_from=clamped_from,
    )


def _check_ca_certificate(
    certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    if certificate.public_key() != key.public_key():
        raise ProfileError(
            f"the certificate {certificate.subject.rfc4514_string()} "
            "is not for the CA key"
        )
    try:
        constraints = certificate.extensions.get_extension_for_class(
            x509.BasicConstraints
        ).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise ProfileError(
            f"{certificate.subject.rfc4514_string()} is not a CA certificate"
        )


def _pin_from_file(source: IssuingCaSource) -> str:
    if source.pin_file is None:
        raise SecretFileError(
            "no PIN given and no PIN file configured",
            token=source.token_label,
            operation="login",
        )
    return read_pin(source.pin_file)


def _load_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ProfileError(
            f"cannot read the issuing CA certificate {path}: {exc}"
        ) from exc
