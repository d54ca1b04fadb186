"""Configuration: one TOML file, validated, with errors that name the key."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from station.config import find_config, load_config
from station.errors import ConfigError, SecretError
from station.secrets import read_secret

EXAMPLE = Path(__file__).parents[2] / "fixtures" / "station.example.toml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(text)
    return path


def test_documented_example_loads_and_resolves_paths_from_its_folder() -> None:
    config = load_config(EXAMPLE)

    assert config.station.name == "station-01"
    assert config.station.state_dir == EXAMPLE.parent / "state"
    assert config.product_line.lot_oid == "1.3.6.1.4.1.32473.1.1"
    assert config.trust.root_certificate == EXAMPLE.parent / "state/pki/root.pem"
    assert [slot.name for slot in config.slots] == ["slot-1", "slot-2"]


def test_bad_value_is_reported_with_its_dotted_key(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("validity_days = 3650", "validity_days = -1")

    with pytest.raises(ConfigError, match=r"product_line\.validity_days: Input"):
        load_config(_write(tmp_path, text))


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("[link]", "[link]\nbuad = 9600")

    with pytest.raises(ConfigError, match=r"link\.buad: Extra inputs"):
        load_config(_write(tmp_path, text))


def test_bad_oid_arc_is_refused(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace('"1.3.6.1.4.1.32473"', '"1.3.six"')

    with pytest.raises(ConfigError) as refused:
        load_config(_write(tmp_path, text))

    assert (
        "product_line.oid_arc: '1.3.six' is not a dotted OID such as "
        "1.3.6.1.4.1.32473" in str(refused.value)
    )


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_a_timeout_that_is_not_a_finite_number_is_refused(
    tmp_path: Path, value: str
) -> None:
    text = EXAMPLE.read_text().replace(
        "command_timeout = 2.0", f"command_timeout = {value}"
    )

    with pytest.raises(ConfigError, match=r"link\.command_timeout: Input should be"):
        load_config(_write(tmp_path, text))


def test_two_models_with_one_hardware_type_are_refused(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("BW16 = 2", "BW16 = 1")

    with pytest.raises(ConfigError) as refused:
        load_config(_write(tmp_path, text))

    assert "models AMB82 and BW16 share hwType 1; each model needs its own" in str(
        refused.value
    )


def test_duplicate_slot_names_are_refused(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace('name = "slot-2"', 'name = "slot-1"')

    with pytest.raises(ConfigError, match="slot names used twice: slot-1"):
        load_config(_write(tmp_path, text))


def test_local_hsm_without_pin_source_is_refused(tmp_path: Path) -> None:
    text = "\n".join(
        line
        for line in EXAMPLE.read_text().splitlines()
        if not line.startswith(("pin_env", "pin_file"))
    )

    with pytest.raises(ConfigError, match="set pin_env or pin_file"):
        load_config(_write(tmp_path, text))


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(_write(tmp_path, "[station\n"))


def test_config_is_found_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, EXAMPLE.read_text())
    monkeypatch.setenv("STATION_CONFIG", str(path))
    monkeypatch.chdir(tmp_path.parent)

    assert find_config(None) == path


def test_missing_config_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STATION_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)

    with pytest.raises(ConfigError, match=r"no configuration file station\.toml"):
        find_config(None)


def test_secret_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    pin = tmp_path / "pin"
    pin.write_text("123456\n")
    os.chmod(pin, 0o644)

    with pytest.raises(SecretError, match="mode 0644"):
        read_secret(what="HSM PIN", file=pin)


def test_secret_comes_from_environment_before_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pin = tmp_path / "pin"
    pin.write_text("from-file\n")
    os.chmod(pin, stat.S_IRUSR | stat.S_IWUSR)
    monkeypatch.setenv("TEST_PIN", "from-env")

    secret = read_secret(what="HSM PIN", env="TEST_PIN", file=pin)

    assert secret.get_secret_value() == "from-env"
    assert "from-env" not in repr(secret)


def test_a_baud_rate_no_adapter_reaches_is_refused(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("baud = 115200", "baud = 99999999999")

    with pytest.raises(ConfigError, match=r"link\.baud: Input should be less than"):
        load_config(_write(tmp_path, text))


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("command_timeout = 1e308", "link.command_timeout: Input should be less than"),
        ("keygen_timeout = 1e20", "link.keygen_timeout: Input should be less than"),
        ("baud = true", "link.baud: Input should be a valid integer"),
        ("command_timeout = 1e-300", "link.command_timeout: Input should be greater"),
        ("command_timeout = true", "link.command_timeout: Input should be a valid"),
        ('command_timeout = "2"', "link.command_timeout: Input should be a valid"),
    ],
)
def test_a_link_value_no_line_can_use_is_refused(
    tmp_path: Path, line: str, key: str
) -> None:
    name = line.split(" = ")[0]
    text = "\n".join(
        line if row.startswith(f"{name} = ") else row
        for row in EXAMPLE.read_text().splitlines()
    )

    with pytest.raises(ConfigError, match=key):
        load_config(_write(tmp_path, text))


def test_two_slots_on_one_port_are_refused(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        'port = "/dev/provision/slot-2"', 'port = "/dev/provision/slot-1"'
    )

    with pytest.raises(
        ConfigError, match="ports used by two slots: /dev/provision/slot-1"
    ):
        load_config(_write(tmp_path, text))


def test_two_slots_on_one_port_spelt_two_ways_are_refused(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        'port = "/dev/provision/slot-2"', 'port = "/dev/provision//slot-1"'
    )

    with pytest.raises(ConfigError, match="ports used by two slots"):
        load_config(_write(tmp_path, text))


def test_an_empty_port_is_refused(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace('port = "/dev/provision/slot-2"', 'port = ""')

    with pytest.raises(
        ConfigError, match=r"slots\.1\.port: String should have at least"
    ):
        load_config(_write(tmp_path, text))


def test_a_relative_port_is_taken_from_the_configuration_folder(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        'port = "/dev/provision/slot-2"', 'port = "sim/ports/slot-2"'
    )

    config = load_config(_write(tmp_path, text))

    assert config.slots[1].port == str(tmp_path / "sim/ports/slot-2")


def test_a_port_with_spaces_at_its_ends_is_refused(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace('port = "/dev/provision/slot-2"', 'port = " "')

    with pytest.raises(ConfigError, match="port ' ' has spaces at its ends"):
        load_config(_write(tmp_path, text))
