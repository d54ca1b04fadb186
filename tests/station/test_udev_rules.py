"""udev rules from a fixture map: golden files, determinism and refused injections."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from station.fixture_map import (
    SLOT_NAME,
    USB_ID,
    USB_INTERFACE_PATH,
    FixtureMap,
    FixtureMapError,
    FixtureSlot,
    load_fixture_map,
    parse_fixture_map,
)
from station.udev_rules import UdevRuleError, render_rules, write_rules

ROOT = Path(__file__).parents[2]
GOLDEN = Path(__file__).parent / "golden" / "udev"
EXAMPLE_MAP = ROOT / "fixtures" / "fixture-map.example.toml"
EXAMPLE_RULES = ROOT / "udev" / "70-provision-slots.rules"

# The whole grammar a generated file may use: comments, blank lines, and these.
_RULE_LINE = re.compile(
    r'ACTION=="remove", GOTO="provision_slots_end"'
    r'|SUBSYSTEM=="tty", SUBSYSTEMS=="usb", IMPORT\{builtin\}="usb_id"'
    r'|SUBSYSTEM=="tty", KERNELS=="[0-9.:-]+"'
    r'(, ENV\{ID_VENDOR_ID\}=="[0-9a-f]{4}")?(, ENV\{ID_MODEL_ID\}=="[0-9a-f]{4}")?'
    r', SYMLINK\+="provision/[A-Za-z0-9][A-Za-z0-9._-]*"'
    r', GROUP="[A-Za-z_][A-Za-z0-9_-]*", MODE="0[0-7]{3}"'
    r'|LABEL="provision_slots_end"'
)


def _golden(name: str, **options: str) -> tuple[str, str]:
    fixture = load_fixture_map(GOLDEN / f"{name}.toml")
    made = render_rules(fixture, source=f"{name}.toml", **options)
    return made, (GOLDEN / f"{name}.rules").read_text()


def test_example_fixture_map_makes_the_shipped_rules() -> None:
    made = render_rules(
        load_fixture_map(EXAMPLE_MAP), source="fixtures/fixture-map.example.toml"
    )

    assert made == EXAMPLE_RULES.read_text(), (
        "udev/70-provision-slots.rules is stale: station udev-rules --fixture "
        "fixtures/fixture-map.example.toml --output udev/70-provision-slots.rules"
    )


def test_minimal_map_with_group_and_mode_matches_golden() -> None:
    made, golden = _golden("minimal", group="provision", mode="600")

    assert made == golden
    assert "usb_id" not in made


def test_slots_are_sorted_by_name_with_numbers_in_order() -> None:
    made, golden = _golden("ordering")

    assert made == golden
    links = re.findall(r'SYMLINK\+="provision/([^"]+)"', made)
    assert links == ["bench", "slot-1", "slot-2", "slot-10"]


def test_every_rule_line_has_the_expected_shape() -> None:
    made = EXAMPLE_RULES.read_text()

    rules = [line for line in made.splitlines() if line and not line.startswith("#")]

    assert all(_RULE_LINE.fullmatch(line) for line in rules), rules
    assert len([line for line in rules if "SYMLINK" in line]) == 8


def test_order_of_the_map_does_not_change_the_rules() -> None:
    fixture = load_fixture_map(EXAMPLE_MAP)
    reversed_map = FixtureMap(slots=list(reversed(fixture.slots)))

    assert render_rules(reversed_map, source="x") == render_rules(fixture, source="x")


@pytest.mark.parametrize(
    "group", ['dialout", RUN+="/bin/sh', "dial out", "dialout\n", "", "1abc", "a,b"]
)
def test_groups_that_could_change_a_rule_are_refused(group: str) -> None:
    with pytest.raises(UdevRuleError, match="is not a group name"):
        render_rules(load_fixture_map(EXAMPLE_MAP), source="x", group=group)


@pytest.mark.parametrize("mode", ["4755", "0666\n", "rw", "66", "0o660", '0660"'])
def test_modes_other_than_three_octal_digits_are_refused(mode: str) -> None:
    with pytest.raises(UdevRuleError, match="is not a device mode"):
        render_rules(load_fixture_map(EXAMPLE_MAP), source="x", mode=mode)


def test_a_source_name_with_a_line_break_cannot_start_a_rule() -> None:
    source = 'map.toml\nSUBSYSTEM=="tty", RUN+="/bin/sh"'

    with pytest.raises(UdevRuleError, match="control characters"):
        render_rules(load_fixture_map(EXAMPLE_MAP), source=source)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("usb_path", '1-1", RUN+="/bin/sh'),
        ("name", 'x", MODE="0666'),
        ("name", "../../etc/x"),
        ("vid", '10c4"'),
        ("pid", "ea60\nRUN"),
    ],
)
def test_unvalidated_slot_values_are_still_refused(field: str, value: str) -> None:
    # model_construct skips validation: the renderer must not trust its input.
    fields = {"name": "slot-1", "usb_path": "1-1", "vid": "10c4", "pid": "ea60"}
    slot = FixtureSlot.model_construct(**{**fields, field: value})
    fixture = FixtureMap.model_construct(slots=[slot])

    with pytest.raises(UdevRuleError, match="cannot go into a udev rule"):
        render_rules(fixture, source="x")


def _or_valid(
    pattern: re.Pattern[str], noise: st.SearchStrategy[str]
) -> st.SearchStrategy[str]:
    return st.one_of(st.from_regex(pattern, fullmatch=True), noise)


@settings(max_examples=300, deadline=None)
@given(
    name=_or_valid(SLOT_NAME, st.text(max_size=40)),
    usb_path=_or_valid(USB_INTERFACE_PATH, st.text(alphabet='0123456789.:-"\n, ')),
    vid=st.one_of(st.none(), _or_valid(USB_ID, st.text(alphabet='0123abcDEFg"\n'))),
    group=_or_valid(re.compile(r"[a-z_][a-z0-9_-]{0,31}"), st.text(max_size=12)),
)
def test_any_map_either_is_refused_or_makes_only_wellformed_rules(
    name: str, usb_path: str, vid: str | None, group: str
) -> None:
    table = f"name = {json.dumps(name)}\nusb_path = {json.dumps(usb_path)}\n"
    if vid is not None:
        table += f"vid = {json.dumps(vid)}\n"
    try:
        fixture = parse_fixture_map(f"[[slots]]\n{table}", source="map.toml")
        made = render_rules(fixture, source="map.toml", group=group)
    except (FixtureMapError, UdevRuleError):
        return

    rules = [line for line in made.splitlines() if line and not line.startswith("#")]
    assert all(_RULE_LINE.fullmatch(line) for line in rules), rules
    assert sum("SYMLINK" in line for line in rules) == 1


def test_rules_file_is_written_whole_and_readable_by_udev(tmp_path: Path) -> None:
    target = tmp_path / "70-provision-slots.rules"
    target.write_text("old rules\n")

    write_rules(target, "new rules\n")

    assert target.read_text() == "new rules\n"
    assert target.stat().st_mode & 0o777 == 0o644
    assert [path.name for path in tmp_path.iterdir()] == [target.name]


def test_unwritable_rules_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UdevRuleError, match=r"cannot write rules to .*no-such-dir"):
        write_rules(tmp_path / "no-such-dir" / "x.rules", "rules\n")
