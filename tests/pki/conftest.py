"""Fixtures for the CA side: a CA per test over the session's development PKI.

The development PKI, product line, issue time and CA store fixtures are shared
by every test package and live in tests/conftest.py.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest
from cryptography import x509

from pki.ca_store import CaStore
from pki.devpki import DevPki
from pki.issuing_ca import IssuingCa
from pki.product_line import ProductLine
from pki.softhsm import SoftHsmConfig


@pytest.fixture(scope="session")
def root_certificate(dev_pki: DevPki) -> x509.Certificate:
    return x509.load_pem_x509_certificate(dev_pki.root_certificate.read_bytes())


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
