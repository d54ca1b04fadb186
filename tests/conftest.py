"""Fixtures shared by every test package.

``dev_pki`` is one development PKI per test session: a root CA key in its own
SoftHSM2 configuration and an issuing CA key in a second token, both under
pytest's base temporary folder, never the system SoftHSM2 configuration.
"""

from __future__ import annotations

import datetime
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from pki.ca_store import CaStore
from pki.devpki import DevPki, init_dev_pki
from pki.product_line import ProductLine

DEV_PKI_DIR = "dev-pki"
PRODUCT_LINE_FILE = Path(__file__).parents[1] / "fixtures" / "pki" / "product_line.toml"


@pytest.fixture(scope="session")
def dev_pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    """Root (own SoftHSM2 config), issuing CA token, PINs and certificates."""
    return init_dev_pki(tmp_path_factory.getbasetemp() / DEV_PKI_DIR)


@pytest.fixture(scope="session")
def issuing_certificate(dev_pki: DevPki) -> x509.Certificate:
    """The development PKI's issuing CA certificate."""
    return x509.load_pem_x509_certificate(dev_pki.issuing.certificate.read_bytes())


@pytest.fixture
def issue_time(issuing_certificate: x509.Certificate) -> datetime.datetime:
    """A fixed issuance time: one day into the issuing CA's life."""
    return issuing_certificate.not_valid_before_utc + datetime.timedelta(days=1)


@pytest.fixture
def product_line() -> ProductLine:
    """The product line of fixtures/pki/product_line.toml."""
    with PRODUCT_LINE_FILE.open("rb") as file:
        return ProductLine.model_validate(tomllib.load(file))


@pytest.fixture
def ca_store(tmp_path: Path) -> Iterator[CaStore]:
    """A fresh, empty CA store."""
    store = CaStore.open_sqlite(tmp_path / "ca-store.sqlite3")
    yield store
    store.close()
