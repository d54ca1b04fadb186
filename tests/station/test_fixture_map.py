"""The fixture map: slots by USB path, its rules, and errors naming file, key, line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from device_io.discovery import UsbAttachment
from station.fixture_map import (
    FixtureMapError,
    load_fixture_map,
    parse_fixture_map,
    stable_link,
)

EXAMPLE = Path(__file__).parents[2] / "fixtures" / "fixture-map.example.toml"


def _slots(*tables: str) -> str:
    return "\n".join(f"[[slots]]\n{table}\n" for table in tables)


def _toml(value: str) -> str:
    """A TOML basic string: JSON's escapes are a subset of TOML's."""
    return json.dumps(value)


def _refusal(text: str) -> str:
    with pytest.raises(FixtureMapError) as refused:
        parse_fixture_map(text, source="map.toml")
    return str(refused.value)


def _attached(interface: str, vid: int = 0x10C4, pid: int = 0xEA60) -> UsbAttachment:
    bus, ports = interface.split(":")[0].split("-")
    chain = ports.split(".")
    parents = [f"{bus}-{'.'.join(chain[: n + 1])}" for n in range(len(chain))]
    return UsbAttachment(
        path=interface,
        device_path=parents[-1],
        ancestry=(*parents, interface),
        vid=vid,
        pid=pid,
    )


def test_documented_example_loads_with_a_stable_link_per_slot() -> None:
    fixture = load_fixture_map(EXAMPLE)

    assert [slot.name for slot in fixture.slots] == [
        "slot-1",
        "slot-2",
        "slot-3",
        "slot-4",
        "slot-5",
        "slot-6",
        "slot-7",
        "rework",
    ]
    slot_4 = fixture.slot_named("slot-4")
    assert slot_4 is not None
    assert (slot_4.usb_path, slot_4.vid, slot_4.pid) == ("1-1.4:1.0", "0403", "6011")
    assert slot_4.link == "/dev/provision/slot-4"
    assert fixture.slot_named("slot-9") is None


def test_stable_link_is_named_after_the_slot() -> None:
    assert stable_link("slot-12") == "/dev/provision/slot-12"
    assert stable_link("rework") == "/dev/provision/rework"


def test_usb_ids_are_kept_in_lowercase_as_sysfs_writes_them() -> None:
    fixture = parse_fixture_map(
        _slots('name = "a"\nusb_path = "1-2"\nvid = "10C4"\npid = "EA60"'),
        source="map.toml",
    )

    assert (fixture.slots[0].vid, fixture.slots[0].pid) == ("10c4", "ea60")


def test_a_port_is_in_the_slot_whose_path_is_its_device_or_interface() -> None:
    fixture = load_fixture_map(EXAMPLE)

    def slot_of(usb: UsbAttachment) -> str | None:
        found = fixture.slot_for(usb)
        return None if found is None else found.name

    assert slot_of(_attached("1-1.2:1.0")) == "slot-2"
    assert slot_of(_attached("1-1.4:1.2", 0x0403, 0x6011)) == "slot-6"
    assert slot_of(_attached("1-1.7.1:1.0")) == "rework"
    assert slot_of(_attached("1-1.5:1.0")) is None
    assert fixture.slot_for(None) is None


def test_a_slot_narrowed_by_usb_ids_refuses_another_device() -> None:
    fixture = load_fixture_map(EXAMPLE)

    assert fixture.slot_for(_attached("1-1.3:1.0", 0x10C4, 0xEA60)) is not None
    assert fixture.slot_for(_attached("1-1.3:1.0", 0x0403, 0x6001)) is None
    assert fixture.slot_for(_attached("1-1.3:1.0", 0x10C4, 0xEA70)) is None


def test_bad_usb_path_names_file_line_key_and_slot() -> None:
    text = _slots(
        'name = "slot-1"\nusb_path = "1-1.2"', 'name = "slot-2"\nusb_path = "1-1.x"'
    )

    message = _refusal(text)

    assert message.startswith(
        "map.toml: line 7: slots.1.usb_path (slot 'slot-2'): '1-1.x' is not a USB path"
    )


@pytest.mark.parametrize(
    "usb_path",
    [
        "ttyUSB0",
        "1-1.2:1",
        "0-1",
        "1-0",
        "1-1..2",
        "1-1.2.3.4.5.6.7",
        "usb1",
        " 1-1",
        "1-1\n",
        '1-1", MODE="0666',
    ],
)
def test_strings_that_are_not_kernel_usb_paths_are_refused(usb_path: str) -> None:
    text = _slots(f'name = "slot-1"\nusb_path = {_toml(usb_path)}')

    assert "is not a USB path" in _refusal(text)


@pytest.mark.parametrize(
    "usb_path", ["1-1", "1-1.2", "12-3.4.1", "1-1.2:1.0", "2-1.4.4.4.4.4:2.13"]
)
def test_kernel_usb_paths_are_accepted(usb_path: str) -> None:
    fixture = parse_fixture_map(
        _slots(f'name = "slot-1"\nusb_path = "{usb_path}"'), source="map.toml"
    )

    assert fixture.slots[0].usb_path == usb_path


def test_duplicate_names_are_refused_naming_both_lines() -> None:
    text = _slots(
        'name = "slot-1"\nusb_path = "1-1.2"', 'name = "slot-1"\nusb_path = "1-1.3"'
    )

    assert _refusal(text) == (
        "map.toml: lines 1 and 5: slots: slots.0 and slots.1 are both named 'slot-1'"
    )


def test_duplicate_usb_paths_are_refused_naming_both_slots() -> None:
    text = _slots(
        'name = "slot-1"\nusb_path = "1-1.2"',
        'name = "slot-2"\nusb_path = "1-1.3"',
        'name = "slot-3"\nusb_path = "1-1.2"',
    )

    assert _refusal(text) == (
        "map.toml: lines 1 and 9: slots: slots 'slot-1' and 'slot-3' both use "
        "USB path 1-1.2"
    )


def test_a_path_below_another_slots_path_is_refused() -> None:
    text = _slots(
        'name = "bench"\nusb_path = "1-1.4:1.0"', 'name = "hub"\nusb_path = "1-1.4"'
    )

    assert "USB path 1-1.4 of slot 'hub' contains 1-1.4:1.0 of slot 'bench'" in (
        _refusal(text)
    )


def test_sibling_paths_that_share_digits_do_not_overlap() -> None:
    fixture = parse_fixture_map(
        _slots('name = "a"\nusb_path = "1-1.2"', 'name = "b"\nusb_path = "1-1.23"'),
        source="map.toml",
    )

    assert len(fixture.slots) == 2


def test_product_id_without_vendor_id_is_refused() -> None:
    text = _slots('name = "slot-1"\nusb_path = "1-1.2"\npid = "6001"')

    assert "line 1: slots.0 (slot 'slot-1'): pid needs vid too" in _refusal(text)


@pytest.mark.parametrize("vid", ["6001", '"60011"', '"10g4"', '"0x10"'])
def test_usb_ids_must_be_four_quoted_hex_digits(vid: str) -> None:
    text = _slots(f'name = "slot-1"\nusb_path = "1-1.2"\nvid = {vid}')

    assert "line 4: slots.0.vid (slot 'slot-1')" in _refusal(text)


@pytest.mark.parametrize(
    "name",
    [
        'slot"1',
        "slot,1",
        "slot 1",
        'slot-1\nRUN+="/bin/sh"',
        "..",
        ".x",
        "a/b",
        "s" * 33,
    ],
)
def test_slot_names_that_could_break_out_of_a_rule_are_refused(name: str) -> None:
    text = _slots(f'name = {_toml(name)}\nusb_path = "1-1.2"')

    assert "line 2: slots.0.name: slot name" in _refusal(text)


def test_unknown_keys_are_refused() -> None:
    text = _slots('name = "slot-1"\nusb_path = "1-1.2"\nmode = "0666"')

    assert "line 4: slots.0.mode (slot 'slot-1'): Extra inputs" in _refusal(text)


def test_a_map_without_slots_is_refused() -> None:
    assert "slots: Field required" in _refusal("")
    assert "slots: List should have at least 1 item" in _refusal("slots = []\n")


def test_missing_usb_path_points_at_the_slots_header() -> None:
    text = _slots('name = "slot-1"\nusb_path = "1-1.2"', 'name = "slot-2"')

    assert "line 5: slots.1.usb_path (slot 'slot-2'): Field required" in (
        _refusal(text)
    )


def test_inline_tables_still_get_a_line() -> None:
    text = 'slots = [\n  { name = "a", usb_path = "1-1" },\n  { name = "b" },\n]\n'

    assert "line 1: slots.1.usb_path (slot 'b'): Field required" in _refusal(text)


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "map.toml"
    path.write_text('[[slots]]\nname = "slot-1\n')

    with pytest.raises(FixtureMapError, match=r"map\.toml: not valid TOML: .*line 2"):
        load_fixture_map(path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FixtureMapError, match=r"cannot read fixture map .*nope\.toml"):
        load_fixture_map(tmp_path / "nope.toml")


def test_an_empty_slots_table_is_reported_at_its_own_header() -> None:
    text = '[[slots]]\n[[slots]]\nname = "slot-2"\nusb_path = "1-1.2"\n'

    assert _refusal(text) == (
        "map.toml: line 1: slots.0.name: Field required; "
        "line 1: slots.0.usb_path: Field required"
    )
