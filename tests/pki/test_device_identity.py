"""The CA applies the identity field rules itself before building URNs."""

from __future__ import annotations

import pytest

from pki.device_identity import DeviceIdentity
from pki.errors import IdentityRejected


def test_the_mac_is_kept_as_twelve_lowercase_hex_digits() -> None:
    module = DeviceIdentity("AMB82D001001", "00:E0:4C:87:00:01", "AMB82", "L1")

    assert module.mac == "00e04c870001"
    assert module.mac_urn == "urn:dev:mac:00e04c870001"
    assert module == DeviceIdentity("AMB82D001001", "00e04c870001", "AMB82", "L1")


def test_the_ops_urn_joins_pen_model_and_serial() -> None:
    module = DeviceIdentity("AMB82D001001", "00e04c870001", "AMB82", "L1")

    assert module.ops_urn(32473) == "urn:dev:ops:32473-AMB82-AMB82D001001"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("serial", "AMB82/001"),
        ("serial", "A" * 25),
        ("mac", "00:e0:4c:87:00"),
        ("mac", "00-e0-4c-87-00-01"),
        ("model", "AMB82:x"),
        ("lot", 'LOT"1'),
        ("lot", ""),
    ],
)
def test_a_field_breaking_its_rule_is_refused_by_name(field: str, value: str) -> None:
    fields = {"serial": "AMB82D001001", "mac": "00e04c870001", "model": "AMB82"}
    fields["lot"] = "L1"
    fields[field] = value

    with pytest.raises(IdentityRejected, match=f"invalid {field}"):
        DeviceIdentity(**fields)
