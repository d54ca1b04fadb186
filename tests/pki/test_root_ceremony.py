"""Root operations run in their own process against the root's own token."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from pki.ca_profiles import CaRole
from pki.ceremony import RootCeremony
from pki.devpki import DevPki
from pki.errors import CeremonyError


def test_the_root_signs_a_station_ca_under_the_same_profile(
    dev_pki: DevPki, root_certificate: x509.Certificate
) -> None:
    station_key = ec.generate_private_key(ec.SECP384R1()).public_key()

    station_ca = RootCeremony(dev_pki.root).sign_subordinate(
        root_certificate=root_certificate,
        role=CaRole.STATION,
        organization=dev_pki.organization,
        public_key=station_key,
        publication=dev_pki.publication,
        validity_days=365,
    )

    station_ca.verify_directly_issued_by(root_certificate)
    assert station_ca.public_key() == station_key
    assert station_ca.extensions.get_extension_for_class(
        x509.BasicConstraints
    ).value == x509.BasicConstraints(ca=True, path_length=0)


def test_a_ca_outliving_the_root_is_refused(
    dev_pki: DevPki, root_certificate: x509.Certificate
) -> None:
    lifetime = root_certificate.not_valid_after_utc - datetime.datetime.now(
        datetime.UTC
    )

    with pytest.raises(CeremonyError, match="at least") as raised:
        RootCeremony(dev_pki.root).sign_subordinate(
            root_certificate=root_certificate,
            role=CaRole.SERVICE,
            organization=dev_pki.organization,
            public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
            publication=dev_pki.publication,
            validity_days=lifetime.days + 30,
        )

    assert raised.value.operation == "sign-subordinate"
    assert raised.value.token == "root-ca"


def test_creating_a_second_root_key_in_the_same_token_is_refused(
    dev_pki: DevPki,
) -> None:
    with pytest.raises(CeremonyError, match="already exists"):
        RootCeremony(dev_pki.root).create_root(organization="Again", validity_days=1)


def test_a_certificate_that_is_not_the_root_keys_is_refused(
    dev_pki: DevPki, issuing_certificate: x509.Certificate
) -> None:
    with pytest.raises(CeremonyError, match="not the root key's"):
        RootCeremony(dev_pki.root).sign_subordinate(
            root_certificate=issuing_certificate,
            role=CaRole.SERVICE,
            organization=dev_pki.organization,
            public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
            publication=dev_pki.publication,
            validity_days=30,
        )


def test_a_root_pin_file_others_can_read_stops_the_ceremony(
    dev_pki: DevPki, tmp_path: Path
) -> None:
    loose = tmp_path / "root.pin"
    loose.write_text(dev_pki.root.pin_file.read_text())
    loose.chmod(0o640)
    root = dataclasses.replace(dev_pki.root, pin_file=loose)

    with pytest.raises(CeremonyError, match="chmod 600"):
        RootCeremony(root).create_root(organization="Org", validity_days=1)
