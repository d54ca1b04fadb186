"""SoftHSM2 configurations owned by the project, and token initialisation."""

from __future__ import annotations

import logging
import stat
import subprocess
from pathlib import Path

import pytest
from pytest_mock import MockerFixture

from pki.errors import HsmSetupError
from pki.softhsm import MODULE_ENV, SoftHsmConfig, find_module
from pki.token import Token, TokenRef


def test_create_writes_a_private_token_dir_and_a_conf_pointing_at_it(
    tmp_path: Path,
) -> None:
    config = SoftHsmConfig.create(tmp_path / "hsm")

    assert stat.S_IMODE(config.token_dir.stat().st_mode) == 0o700
    assert f"directories.tokendir = {config.token_dir}\n" in (
        config.conf_path.read_text()
    )


def test_create_twice_on_one_directory_is_harmless(tmp_path: Path) -> None:
    first = SoftHsmConfig.create(tmp_path / "hsm")

    assert SoftHsmConfig.create(tmp_path / "hsm") == first


def test_create_refuses_to_overwrite_a_foreign_conf(tmp_path: Path) -> None:
    (tmp_path / "softhsm2.conf").write_text("directories.tokendir = /elsewhere\n")

    with pytest.raises(HsmSetupError, match="refusing to overwrite"):
        SoftHsmConfig.create(tmp_path)


def test_environment_selects_this_conf_and_not_the_system_one(tmp_path: Path) -> None:
    config = SoftHsmConfig.create(tmp_path / "hsm")

    assert config.environment()["SOFTHSM2_CONF"] == str(config.conf_path)


def test_find_module_returns_an_installed_softhsm2_library() -> None:
    module = find_module()

    assert module.is_file()
    assert module.name == "libsofthsm2.so"


def test_find_module_prefers_the_environment_and_names_what_it_tried(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(MODULE_ENV, str(tmp_path / "nowhere.so"))

    with pytest.raises(HsmSetupError, match=r"nowhere\.so"):
        find_module()


def test_init_token_makes_a_token_that_accepts_its_user_pin(tmp_path: Path) -> None:
    config = SoftHsmConfig.create(tmp_path / "hsm")

    config.init_token("fresh", so_pin="so-secret-1", user_pin="user-secret-1")

    assert config.token_labels() == ["fresh"]
    ref = TokenRef(find_module(), "fresh", config.conf_path)
    with Token.open(ref, "user-secret-1") as token:
        assert not token.has_key("anything")


def test_init_token_keeps_pins_off_the_command_line_and_out_of_logs(
    tmp_path: Path, mocker: MockerFixture, caplog: pytest.LogCaptureFixture
) -> None:
    config = SoftHsmConfig.create(tmp_path / "hsm")
    spawned = mocker.spy(subprocess, "run")
    caplog.set_level(logging.DEBUG)

    config.init_token("quiet", so_pin="so-WXYZ-1234", user_pin="user-QRST-5678")

    command_lines = [" ".join(call.args[0]) for call in spawned.call_args_list]
    assert any("--init-token" in line for line in command_lines)
    for secret in ("so-WXYZ-1234", "user-QRST-5678"):
        assert all(secret not in line for line in command_lines)
        assert secret not in caplog.text


def test_init_token_refuses_a_label_already_in_use(tmp_path: Path) -> None:
    config = SoftHsmConfig.create(tmp_path / "hsm")
    config.init_token("twice", so_pin="so-pin-1", user_pin="user-pin-1")

    with pytest.raises(HsmSetupError, match="already exists") as raised:
        config.init_token("twice", so_pin="so-pin-2", user_pin="user-pin-2")

    assert raised.value.token == "twice"


@pytest.mark.parametrize(
    ("label", "so_pin", "user_pin", "message"),
    [
        ("x" * 33, "so-pin-1", "user-pin-1", "label"),
        ("", "so-pin-1", "user-pin-1", "label"),
        ("short-pin", "so", "user-pin-1", "SO PIN"),
        ("newline-pin", "so-pin-1", "user\npin", "user PIN"),
    ],
)
def test_init_token_refuses_bad_labels_and_pins_before_running_the_tool(
    tmp_path: Path, label: str, so_pin: str, user_pin: str, message: str
) -> None:
    config = SoftHsmConfig.create(tmp_path / "hsm")

    with pytest.raises(HsmSetupError, match=message) as raised:
        config.init_token(label, so_pin=so_pin, user_pin=user_pin)

    assert user_pin not in str(raised.value)
    assert config.token_labels() == []
