"""Identity fields are checked against their rules as soon as they are read."""

from __future__ import annotations

import pytest

from device_io.errors import IdentityError
from device_io.identity import ModuleIdentity, normalise_mac
from device_io.pv import RawIdentity, SlotState

GOOD = RawIdentity(
    "AMB82D001001", "00:E0:4c:87:00:01", "AMB82", "LOT-2026-0042", "1.4.2", "KEY"
)


def test_a_valid_identity_is_kept_with_a_lowercase_mac() -> None:
    identity = ModuleIdentity.from_raw(GOOD)

    assert identity.mac == "00:e0:4c:87:00:01"
    assert identity.mac_hex == "00e04c870001"
    assert identity.state is SlotState.KEY


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("serial", "AMB82/../../etc"),
        ("serial", "A" * 25),
        ("serial", ""),
        ("mac", "00:e0:4c:87:00"),
        ("mac", "00-e0-4c-87-00-01"),
        ("model", "=cmd|' /C calc'!A0"),
        ("lot", "LOT 42"),
        ("firmware", "1.4.2\n"),
    ],
)
def test_a_field_outside_its_rule_is_refused_by_name(field: str, value: str) -> None:
    raw = RawIdentity(**{**GOOD.__dict__, field: value})

    with pytest.raises(IdentityError, match=f"invalid {field}"):
        ModuleIdentity.from_raw(raw)


def test_an_unknown_slot_state_is_refused() -> None:
    with pytest.raises(IdentityError, match="unknown slot state"):
        ModuleIdentity.from_raw(RawIdentity(**{**GOOD.__dict__, "state": "BROKEN"}))


def test_same_module_ignores_the_slot_state_but_not_the_serial() -> None:
    first = ModuleIdentity.from_raw(GOOD)
    later = ModuleIdentity.from_raw(RawIdentity(**{**GOOD.__dict__, "state": "CERT"}))
    other = ModuleIdentity.from_raw(
        RawIdentity(**{**GOOD.__dict__, "serial": "AMB82D001002"})
    )

    assert first.same_module(later)
    assert not first.same_module(other)


def test_normalise_mac_refuses_a_malformed_mac() -> None:
    with pytest.raises(IdentityError):
        normalise_mac("00:e0:4c:87:00:0g")
