"""Fixtures shared by every test package.

``dev_pki`` is one development PKI per test session: a root CA key in its own
SoftHSM2 configuration and an issuing CA key in a second token, both under
pytest's base temporary folder, never the system SoftHSM2 configuration.
"""

from __future__ import annotations

import pytest

from pki.devpki import DevPki, init_dev_pki

DEV_PKI_DIR = "dev-pki"


@pytest.fixture(scope="session")
def dev_pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    """Root (own SoftHSM2 config), issuing CA token, PINs and certificates."""
    return init_dev_pki(tmp_path_factory.getbasetemp() / DEV_PKI_DIR)
