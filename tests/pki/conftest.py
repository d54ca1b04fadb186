"""Fixtures for the CA side: scratch SoftHSM2 configurations and CA stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pki.ca_store import CaStore
from pki.softhsm import SoftHsmConfig


@pytest.fixture
def ca_store(tmp_path: Path) -> Iterator[CaStore]:
    store = CaStore.open_sqlite(tmp_path / "ca-store.sqlite3")
    yield store
    store.close()


@pytest.fixture(scope="module")
def scratch_hsm(tmp_path_factory: pytest.TempPathFactory) -> SoftHsmConfig:
    """A SoftHSM2 configuration of its own, for tests that make tokens."""
    return SoftHsmConfig.create(tmp_path_factory.mktemp("scratch-hsm"))
