"""The names ``pki`` exports are the ones its modules define."""

from __future__ import annotations

import pki


def test_every_exported_name_exists_and_comes_from_a_pki_module() -> None:
    for name in pki.__all__:
        exported = getattr(pki, name)

        assert exported.__module__.startswith("pki."), name


def test_the_export_list_is_sorted_and_free_of_duplicates() -> None:
    assert pki.__all__ == sorted(set(pki.__all__))
