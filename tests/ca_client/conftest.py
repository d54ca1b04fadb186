"""Fixtures for the issuers; the development PKI, product line, issue time and
CA store come from tests/conftest.py."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest

from ca_client.local_hsm import LocalHsmIssuer
from pki.ca_store import CaStore
from pki.devpki import DevPki
from pki.product_line import ProductLine


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
