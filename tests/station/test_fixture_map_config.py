"""The fixture map as the ``[fixture]`` section of the station configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from station.config import StationConfig, load_config
from station.errors import ConfigError
from station.fixture_map import (
    STATION_SECTIONS,
    FixtureMapError,
    load_fixture_map,
    parse_fixture_map,
)

EXAMPLE = Path(__file__).parents[2] / "fixtures" / "station.example.toml"
FIXTURE = """
[[fixture.slots]]
name = "slot-1"
usb_path = "1-1.1"

[[fixture.slots]]
name = "slot-2"
usb_path = "1-1.2"
vid = "10c4"
"""
STATION_SLOTS = '\n[[slots]]\nname = "slot-1"\n'


def _config(tmp_path: Path, tail: str) -> Path:
    """The example configuration with its [[slots]] replaced by ``tail``."""
    head, _, _ = EXAMPLE.read_text().partition("# The fixture: which")
    path = tmp_path / "station.toml"
    path.write_text(head + tail)
    return path


def test_slots_without_a_port_use_their_stable_link(tmp_path: Path) -> None:
    tail = FIXTURE + '\n[[slots]]\nname = "slot-2"\n\n[[slots]]\nname = "slot-1"\n'

    config = load_config(_config(tmp_path, tail))

    assert [(slot.name, slot.port) for slot in config.slots] == [
        ("slot-2", "/dev/provision/slot-2"),
        ("slot-1", "/dev/provision/slot-1"),
    ]
    assert config.fixture is not None
    assert config.fixture.slots[1].vid == "10c4"


def test_without_slots_every_fixture_slot_is_a_station_slot(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, FIXTURE))

    assert [(slot.name, slot.port) for slot in config.slots] == [
        ("slot-1", "/dev/provision/slot-1"),
        ("slot-2", "/dev/provision/slot-2"),
    ]


def test_an_explicit_port_wins_over_the_stable_link(tmp_path: Path) -> None:
    tail = FIXTURE + '\n[[slots]]\nname = "slot-1"\nport = "/tmp/sim/ports/slot-1"\n'

    config = load_config(_config(tmp_path, tail))

    assert [(slot.name, slot.port) for slot in config.slots] == [
        ("slot-1", "/tmp/sim/ports/slot-1")
    ]


def test_a_slot_outside_the_fixture_map_still_needs_a_port(tmp_path: Path) -> None:
    tail = FIXTURE + '\n[[slots]]\nname = "slot-9"\n'

    with pytest.raises(ConfigError, match=r"slots\.0\.port: Field required"):
        load_config(_config(tmp_path, tail))


def test_configuration_without_a_fixture_map_is_unchanged(tmp_path: Path) -> None:
    tail = "".join(
        f'\n[[slots]]\nname = "slot-{n}"\nport = "/dev/provision/slot-{n}"\n'
        for n in (1, 2)
    )

    config = load_config(_config(tmp_path, tail))

    assert config.fixture is None
    assert [slot.port for slot in config.slots] == [
        "/dev/provision/slot-1",
        "/dev/provision/slot-2",
    ]


def test_a_bad_fixture_map_is_reported_with_its_dotted_key(tmp_path: Path) -> None:
    tail = FIXTURE.replace('"1-1.2"', '"1-1.2\\", MODE=\\"0666"')

    with pytest.raises(ConfigError, match=r"fixture\.slots\.1\.usb_path: .*not a USB"):
        load_config(_config(tmp_path, tail))


def test_duplicate_fixture_paths_are_refused_in_the_config(tmp_path: Path) -> None:
    tail = FIXTURE.replace('"1-1.2"', '"1-1.1"')

    with pytest.raises(ConfigError, match="'slot-1' and 'slot-2' both use USB path"):
        load_config(_config(tmp_path, tail))


STANDALONE = FIXTURE.replace("[[fixture.slots]]", "[[slots]]")


def test_a_station_configuration_is_read_as_its_fixture_map(tmp_path: Path) -> None:
    station = load_fixture_map(_config(tmp_path, FIXTURE + STATION_SLOTS))

    assert station == parse_fixture_map(STANDALONE, source="map.toml")


def test_an_error_in_the_configurations_fixture_names_its_key_and_line(
    tmp_path: Path,
) -> None:
    path = _config(tmp_path, FIXTURE.replace('"1-1.2"', '"1-1.2.0"'))
    line = path.read_text().splitlines().index('usb_path = "1-1.2.0"') + 1

    with pytest.raises(FixtureMapError) as refused:
        load_fixture_map(path)

    assert str(refused.value).startswith(
        f"{path}: line {line}: fixture.slots.1.usb_path (slot 'slot-2'): "
        "'1-1.2.0' is not a USB path"
    )


def test_a_station_configuration_without_a_fixture_is_refused_as_such(
    tmp_path: Path,
) -> None:
    path = _config(tmp_path, STATION_SLOTS.replace('name = "slot-1"', 'port = "x"'))

    with pytest.raises(FixtureMapError) as refused:
        load_fixture_map(path)

    assert str(refused.value) == (
        f"{path}: a station configuration with no [fixture] table: add the map "
        "as [[fixture.slots]] tables, or name a fixture map file"
    )


def test_every_section_of_a_station_configuration_tells_it_from_a_map() -> None:
    sections = set(StationConfig.model_fields) - {"fixture", "slots"}

    assert sections == STATION_SECTIONS
