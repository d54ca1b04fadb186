"""The development PKI behind ``station pki init``."""

from __future__ import annotations

import dataclasses
import json
import stat
from pathlib import Path

import pytest

from pki.devpki import MANIFEST, DevPki, init_dev_pki
from pki.errors import DevPkiError
from pki.softhsm import SoftHsmConfig


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_pins_are_owner_only_files_in_an_owner_only_directory(
    dev_pki: DevPki,
) -> None:
    secrets = dev_pki.directory / "secrets"

    assert _mode(secrets) == 0o700
    assert sorted(path.name for path in secrets.iterdir()) == [
        "issuing-ca-so.pin",
        "issuing-ca.pin",
        "root-ca-so.pin",
        "root-ca.pin",
    ]
    assert all(_mode(path) == 0o600 for path in secrets.iterdir())


def test_root_and_issuing_tokens_live_in_separate_configurations(
    dev_pki: DevPki,
) -> None:
    station = SoftHsmConfig(dev_pki.directory / "hsm")
    root = SoftHsmConfig(dev_pki.directory / "root-hsm")

    assert station.token_labels() == ["issuing-ca"]
    assert root.token_labels() == ["root-ca"]
    assert _mode(station.token_dir) == 0o700
    assert _mode(root.token_dir) == 0o700
    assert dev_pki.issuing.softhsm_conf == station.conf_path
    assert dev_pki.root.softhsm_conf == root.conf_path


def test_what_a_station_config_needs_never_names_the_root_token(
    dev_pki: DevPki,
) -> None:
    station_view = [
        str(value)
        for value in (
            *dataclasses.asdict(dev_pki.issuing).values(),
            dev_pki.root_certificate,
        )
    ]

    assert dev_pki.root_certificate == dev_pki.directory / "root.pem"
    assert dev_pki.issuing.certificate == dev_pki.directory / "issuing.pem"
    assert not any("root-hsm" in value or "root-ca" in value for value in station_view)


def test_init_again_returns_the_same_pki_and_changes_nothing(dev_pki: DevPki) -> None:
    before = {
        path: path.read_bytes()
        for path in dev_pki.directory.rglob("*")
        if path.is_file() and "tokens" not in path.parts
    }

    again = init_dev_pki(dev_pki.directory)

    assert again == dev_pki
    assert {path: path.read_bytes() for path in before} == before


def test_load_reads_the_manifest_back(dev_pki: DevPki) -> None:
    manifest = json.loads((dev_pki.directory / MANIFEST).read_text())

    assert DevPki.load(dev_pki.directory) == dev_pki
    assert manifest["base_url"] == dev_pki.publication.base_url


def test_a_directory_holding_other_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a PKI")

    with pytest.raises(DevPkiError, match="not empty and holds no finished"):
        init_dev_pki(tmp_path)

    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]


def test_a_manifest_whose_files_are_gone_is_reported(tmp_path: Path) -> None:
    (tmp_path / MANIFEST).write_text(
        json.dumps(
            {
                "version": 1,
                "module": "/usr/lib/softhsm/libsofthsm2.so",
                "organization": "Org",
                "base_url": "http://127.0.0.1:8480",
            }
        )
    )

    with pytest.raises(DevPkiError, match=r"lacks .*root\.pem"):
        DevPki.load(tmp_path)


def test_an_unreadable_manifest_is_reported(tmp_path: Path) -> None:
    (tmp_path / MANIFEST).write_text("{not json")

    with pytest.raises(DevPkiError, match="does not hold a readable"):
        DevPki.load(tmp_path)


def test_a_fresh_pki_in_an_existing_empty_directory(tmp_path: Path) -> None:
    made = init_dev_pki(
        tmp_path, organization="Fresh Org", base_url="https://pki.example.test"
    )

    assert made.organization == "Fresh Org"
    assert DevPki.load(tmp_path) == made
    assert b"BEGIN CERTIFICATE" in made.root_certificate.read_bytes()
