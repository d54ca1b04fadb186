"""A development PKI in one directory: what ``station pki init`` creates.

Layout under ``DIR``::

    root-hsm/       the root's own SoftHSM2 configuration and token (P-384 key)
    hsm/            the station's SoftHSM2 configuration: the issuing CA token
    secrets/        random SO and user PINs, one per file, mode 0600
    root.pem        the root CA certificate (what modules and QA pin)
    issuing.pem     the issuing CA certificate
    pki.json        the manifest, written last: its presence means "finished"

The root token is named only by the manifest, never by a station config: the
station gets :attr:`DevPki.issuing` and :attr:`DevPki.root_certificate`.
Calling :func:`init_dev_pki` on a finished directory returns it unchanged; a
directory holding anything else is refused.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from pki.ca_profiles import CaRole
from pki.ceremony import RootCeremony, RootToken
from pki.errors import DevPkiError
from pki.issuing_ca import IssuingCaSource
from pki.product_line import Publication
from pki.secret_file import read_pin, write_new_pin
from pki.softhsm import SoftHsmConfig, find_module
from pki.token import Token

logger = logging.getLogger(__name__)

# The demo and the tests publish the CA's certificate, CRLs and OCSP responder
# on this loopback address.
DEFAULT_BASE_URL = "http://127.0.0.1:8480"
DEFAULT_ORGANIZATION = "Example IoT Devices"

# Token labels, then key labels.
ROOT_HSM_LABEL = "root-ca"
ISSUING_HSM_LABEL = "issuing-ca"
ROOT_KEY_LABEL = "root-ca"
ISSUING_KEY_LABEL = "issuing-ca"
MANIFEST = "pki.json"
_CN_MAX = 64  # ub-common-name of RFC 5280
_MANIFEST_VERSION = 1


@dataclass(frozen=True)
class DevPki:
    """A finished development PKI.

    Attributes:
        directory: Where it lives.
        root_certificate: PEM file of the root CA certificate.
        issuing: What a station config names to open the issuing CA.
        root: The root token, for ceremonies only.
        organization: Subject O of the CA certificates.
        publication: The publication base the CA certificates point to.
    """

    directory: Path
    root_certificate: Path
    issuing: IssuingCaSource
    root: RootToken
    organization: str
    publication: Publication

    @classmethod
    def load(cls, directory: Path) -> DevPki:
        """Read the PKI a finished ``directory`` holds.

        Raises:
            DevPkiError: No manifest, an unreadable one, or missing files.
        """
        directory = directory.resolve()
        try:
            manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
            pki = cls._from_manifest(directory, manifest)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DevPkiError(
                f"{directory} does not hold a readable development PKI: {exc}"
            ) from exc

        missing = [path for path in pki._files() if path and not path.exists()]
        if missing:
            raise DevPkiError(
                f"{directory} lacks {', '.join(str(path) for path in missing)}"
            )
        return pki

    def _files(self) -> list[Path | None]:
        return [
            self.root_certificate,
            self.issuing.certificate,
            self.issuing.pin_file,
            self.root.pin_file,
            self.root.softhsm_conf,
        ]

    @classmethod
    def _from_manifest(cls, directory: Path, manifest: dict[str, object]) -> DevPki:
        if manifest.get("version") != _MANIFEST_VERSION:
            raise ValueError(f"manifest version {manifest.get('version')!r}")
        layout = _Layout(directory)
        return layout.pki(
            module=Path(str(manifest["module"])),
            organization=str(manifest["organization"]),
            publication=Publication(base_url=str(manifest["base_url"])),
        )


def init_dev_pki(
    directory: Path,
    *,
    organization: str = DEFAULT_ORGANIZATION,
    base_url: str = DEFAULT_BASE_URL,
    root_validity_days: int = 7300,
    issuing_validity_days: int = 3650,
    module: Path | None = None,
) -> DevPki:
    """Create a development PKI in ``directory``, or return the one there.

    Args:
        directory: Where to create it; it must be absent, empty, or hold a
            PKI made by this function.
        organization: Subject O of the root and issuing CA certificates.
        base_url: Publication base for the CRL distribution points.
        root_validity_days: Lifetime of the root CA certificate.
        issuing_validity_days: Lifetime of the issuing CA certificate.
        module: The SoftHSM2 library; found automatically when None.

    Raises:
        DevPkiError: ``directory`` holds something else.
        HsmSetupError: SoftHSM2 is missing or a token cannot be initialised.
        CeremonyError: The root ceremony failed.
    """
    directory = directory.resolve()
    if (directory / MANIFEST).exists():
        logger.info("development PKI already in %s", directory)
        return DevPki.load(directory)
    publication = _checked_settings(organization, base_url)
    _refuse_unless_empty(directory)

    layout = _Layout(directory)
    pki = layout.pki(
        module=find_module(module),
        organization=organization,
        publication=publication,
    )
    layout.create_tokens()
    issuing_key = _generate_issuing_key(pki.issuing, layout.issuing_pin)
    _run_root_ceremony(pki, issuing_key, root_validity_days, issuing_validity_days)
    _write_manifest(pki)

    logger.info("created development PKI in %s", directory)
    return pki


class _Layout:
    """File names under a development PKI directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.root_hsm = SoftHsmConfig(directory / "root-hsm")
        self.station_hsm = SoftHsmConfig(directory / "hsm")
        self.secrets = directory / "secrets"
        self.issuing_pin = self.secrets / f"{ISSUING_HSM_LABEL}.pin"
        self.root_pin = self.secrets / f"{ROOT_HSM_LABEL}.pin"

    def pki(
        self, *, module: Path, organization: str, publication: Publication
    ) -> DevPki:
        return DevPki(
            directory=self.directory,
            root_certificate=self.directory / "root.pem",
            issuing=IssuingCaSource(
                module=module,
                token_label=ISSUING_HSM_LABEL,
                key_label=ISSUING_KEY_LABEL,
                certificate=self.directory / "issuing.pem",
                softhsm_conf=self.station_hsm.conf_path,
                pin_file=self.issuing_pin,
            ),
            root=RootToken(
                module=module,
                softhsm_conf=self.root_hsm.conf_path,
                token_label=ROOT_HSM_LABEL,
                pin_file=self.root_pin,
                key_label=ROOT_KEY_LABEL,
            ),
            organization=organization,
            publication=publication,
        )

    def create_tokens(self) -> None:
        """Both SoftHSM2 configurations, their tokens, and the PIN files."""
        self.secrets.mkdir(mode=0o700, parents=True)
        self.secrets.chmod(0o700)
        for config, label in (
            (self.root_hsm, ROOT_HSM_LABEL),
            (self.station_hsm, ISSUING_HSM_LABEL),
        ):
            SoftHsmConfig.create(config.directory).init_token(
                label,
                so_pin=write_new_pin(self.secrets / f"{label}-so.pin"),
                user_pin=write_new_pin(self.secrets / f"{label}.pin"),
            )


def _checked_settings(organization: str, base_url: str) -> Publication:
    """Refuse settings the CA certificates cannot carry, before making anything."""
    longest = max(len(f" {role.value}") for role in CaRole)
    if not organization.strip() or not organization.isprintable():
        raise DevPkiError(f"organization {organization!r} must be printable text")
    if len(organization) + longest > _CN_MAX:
        raise DevPkiError(
            f"organization is {len(organization)} characters; at most "
            f"{_CN_MAX - longest} fit in the CA names"
        )
    try:
        return Publication(base_url=base_url)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise DevPkiError(f"base URL: {reason}") from None


def _refuse_unless_empty(directory: Path) -> None:
    if directory.exists() and any(directory.iterdir()):
        raise DevPkiError(
            f"{directory} is not empty and holds no finished development PKI "
            f"({MANIFEST} is missing): remove it or choose another directory"
        )


def _generate_issuing_key(
    source: IssuingCaSource, pin_file: Path
) -> ec.EllipticCurvePublicKey:
    with Token.open(source.token, read_pin(pin_file)) as token:
        return token.generate_ec_key(source.key_label, ec.SECP256R1())


def _run_root_ceremony(
    pki: DevPki,
    issuing_key: ec.EllipticCurvePublicKey,
    root_validity_days: int,
    issuing_validity_days: int,
) -> None:
    ceremony = RootCeremony(pki.root)
    root = ceremony.create_root(
        organization=pki.organization, validity_days=root_validity_days
    )
    _write_pem(pki.root_certificate, root)

    issuing = ceremony.sign_subordinate(
        root_certificate=root,
        role=CaRole.ISSUING,
        organization=pki.organization,
        public_key=issuing_key,
        publication=pki.publication,
        validity_days=issuing_validity_days,
    )
    _write_pem(pki.issuing.certificate, issuing)


def _write_pem(path: Path, certificate: x509.Certificate) -> None:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def _write_manifest(pki: DevPki) -> None:
    """Write the manifest atomically: it marks the directory as finished."""
    manifest = {
        "version": _MANIFEST_VERSION,
        "module": str(pki.issuing.module),
        "organization": pki.organization,
        "base_url": pki.publication.base_url,
    }
    staged = pki.directory / f"{MANIFEST}.tmp"
    staged.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(staged, pki.directory / MANIFEST)
