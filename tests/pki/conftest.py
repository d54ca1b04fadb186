"""Fixtures for the CA side: one development PKI per session, a CA per test.

``dev_pki`` is session-scoped and builds the PKI in
``<pytest basetemp>/dev-pki``. Other test packages reuse it by declaring the
same fixture in their own conftest::

    @pytest.fixture(scope="session")
    def dev_pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
        return init_dev_pki(tmp_path_factory.getbasetemp() / DEV_PKI_DIR)

``init_dev_pki`` returns the PKI already in that directory, so however many
packages declare it, a session creates one PKI (see tests/ca_client/conftest.py).
The tests here do not share one conftest module with other packages because
``tests/`` is not a package: pytest imports each conftest on its own.
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
from pki.issuing_ca import IssuingCa
from pki.product_line import ProductLine
from pki.softhsm import SoftHsmConfig

DEV_PKI_DIR = "dev-pki"
PRODUCT_LINE_FILE = Path(__file__).parents[2] / "fixtures" / "pki" / "product_line.toml"


@pytest.fixture(scope="session")
def dev_pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    """Root (own SoftHSM2 config), issuing CA token, PINs and certificates."""
    return init_dev_pki(tmp_path_factory.getbasetemp() / DEV_PKI_DIR)


@pytest.fixture(scope="session")
def issuing_certificate(dev_pki: DevPki) -> x509.Certificate:
    return x509.load_pem_x509_certificate(dev_pki.issuing.certificate.read_bytes())


@pytest.fixture(scope="session")
def root_certificate(dev_pki: DevPki) -> x509.Certificate:
    return x509.load_pem_x509_certificate(dev_pki.root_certificate.read_bytes())


@pytest.fixture
def product_line() -> ProductLine:
    """The product line of fixtures/pki/product_line.toml."""
    with PRODUCT_LINE_FILE.open("rb") as file:
        return ProductLine.model_validate(tomllib.load(file))


@pytest.fixture
def issue_time(issuing_certificate: x509.Certificate) -> datetime.datetime:
    """A fixed issuance time: one day into the issuing CA's life."""
    return issuing_certificate.not_valid_before_utc + datetime.timedelta(days=1)


@pytest.fixture
def ca_store(tmp_path: Path) -> Iterator[CaStore]:
    store = CaStore.open_sqlite(tmp_path / "ca-store.sqlite3")
    yield store
    store.close()


@pytest.fixture
def issuing_ca(
    dev_pki: DevPki,
    ca_store: CaStore,
    product_line: ProductLine,
    issue_time: datetime.datetime,
) -> Iterator[IssuingCa]:
    """The dev PKI's issuing CA over a fresh store, with a pinned clock."""
    ca = IssuingCa.open(
        dev_pki.issuing,
        store=ca_store,
        product_line=product_line,
        clock=lambda: issue_time,
    )
    yield ca
    ca.close()


@pytest.fixture(scope="module")
def scratch_hsm(tmp_path_factory: pytest.TempPathFactory) -> SoftHsmConfig:
    """A SoftHSM2 configuration of its own, for tests that make tokens."""
    return SoftHsmConfig.create(tmp_path_factory.mktemp("scratch-hsm"))
