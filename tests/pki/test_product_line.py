"""Product line settings: validation, derived OIDs and publication URLs."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from pki.errors import IdentityRejected
from pki.product_line import ProductLine, Publication


def _settings(**changes: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "organization": "Example Devices Ltd",
        "models": {"AMB82": 1, "BW16": 2},
        "validity_days": 3650,
        "min_validity_days": 1825,
        "publication": {"base_url": "http://127.0.0.1:8480/"},
    }
    settings.update(changes)
    return settings


def test_the_fixture_file_loads(product_line: ProductLine) -> None:
    assert product_line.models == {"AMB82": 1, "BW16": 2}


def test_the_default_arc_is_the_documentation_pen() -> None:
    line = ProductLine.model_validate(_settings())

    assert line.oid_arc == "1.3.6.1.4.1.32473"
    assert line.pen == 32473
    assert line.lot_oid.dotted_string == "1.3.6.1.4.1.32473.1.1"


def test_hw_type_comes_from_the_model_table_under_a_production_arc() -> None:
    line = ProductLine.model_validate(_settings(oid_arc="1.3.6.1.4.1.99999"))

    assert line.hw_type("BW16").dotted_string == "1.3.6.1.4.1.99999.2.2"
    assert line.pen == 99999


def test_an_unknown_model_is_refused_naming_the_known_ones() -> None:
    line = ProductLine.model_validate(_settings())

    with pytest.raises(IdentityRejected, match=r"'X1' is not .*AMB82, BW16"):
        line.hw_type("X1")


def test_publication_urls_hang_off_one_base_without_its_trailing_slash() -> None:
    publication = Publication(base_url="https://pki.example.test/base/")

    assert publication.ocsp_url == "https://pki.example.test/base/ocsp"
    assert publication.issuing_crl_url == (
        "https://pki.example.test/base/crl/issuing.crl"
    )
    assert publication.issuing_certificate_url == (
        "https://pki.example.test/base/ca/issuing.cer"
    )
    assert publication.root_crl_url == "https://pki.example.test/base/crl/root.crl"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"oid_arc": "1.3.6.x"}, "not a dotted OID"),
        ({"models": {"AMB-82": 1}}, "model 'AMB-82'"),
        ({"models": {"A": 1, "B": 1}}, "share one hwType"),
        ({"models": {"A": 0}}, "positive number"),
        ({"models": {}}, "at least 1"),
        ({"min_validity_days": 4000}, "exceeds validity_days"),
        ({"publication": {"base_url": "ftp://host/x"}}, "http or https"),
        ({"publication": {"base_url": "http://host/x?q=1"}}, "query or fragment"),
        ({"surprise": 1}, "Extra inputs"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        ProductLine.model_validate(_settings(**changes))
