"""``station console`` and ``station`` alone find the configuration first."""

from __future__ import annotations

from pathlib import Path

import pytest

from station.cli import main
from station.commands import EXIT_ERROR
from station.config import CONFIG_ENV


@pytest.mark.parametrize("argv", [[], ["console"]])
def test_the_console_says_which_configuration_it_could_not_find(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(CONFIG_ENV, raising=False)

    status = main(argv)

    assert status == EXIT_ERROR
    assert "no configuration file station.toml (from the current folder)" in (
        capsys.readouterr().err
    )


def test_a_command_group_without_its_subcommand_still_prints_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["pki"])

    assert status == EXIT_ERROR
    assert "usage: station" in capsys.readouterr().out
