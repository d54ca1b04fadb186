"""Fixtures for the issuers: the session's development PKI and a fresh store.

``dev_pki`` is the same session-scoped fixture as in tests/pki/conftest.py:
``init_dev_pki`` returns the PKI already in ``<basetemp>/dev-pki``, so both
packages share one PKI per session.
"""

from __future__ import annotations

import datetime
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from ca_client.local_hsm import LocalHsmIssuer
from pki.ca_store import CaStore
from pki.devpki import DevPki, init_dev_pki
from pki.product_line import ProductLine

DEV_PKI_DIR = "dev-pki"
PRODUCT_LINE_FILE = Path(__file__).parents[2] / "fixtures" / "pki" / "product_line.toml"


@pytest.fixture(scope="session")
def dev_pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return init_dev_pki(tmp_path_factory.getbasetemp() / DEV_PKI_DIR)


@pytest.fixture
def product_line() -> ProductLine:
    with PRODUCT_LINE_FILE.open("rb") as file:
        return ProductLine.model_validate(tomllib.load(file))


@pytest.fixture
def issue_time(dev_pki: DevPki) -> datetime.datetime:
    issuing = x509.load_pem_x509_certificate(dev_pki.issuing.certificate.read_bytes())
    return issuing.not_valid_before_utc + datetime.timedelta(days=1)


@pytest.fixture
def ca_store(tmp_path: Path) -> Iterator[CaStore]:
    store = CaStore.open_sqlite(tmp_path / "ca-store.sqlite3")
    yield store
    store.close()


@pytest.fixture
def issuer(
    dev_pki: DevPki,
    ca_store: CaStore,
    product_line: ProductLine,
    issue_time: datetime.datetime,
) -> Iterator[LocalHsmIssuer]:
    opened = LocalHsmIssuer.open(
        dev_pki.issuing,
        store=ca_store,
        product_line=product_line,
        clock=lambda: issue_time,
    )
    yield opened
    opened.close()
