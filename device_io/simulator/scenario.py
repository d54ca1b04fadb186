"""Scenario files: a named set of misbehaving slots for a demo or a drill.

A scenario is a small TOML file kept under ``fixtures/scenarios``::

    description = "Two bad modules on an otherwise clean line"
    misbehave = ["3=rsa-key", "6=bad-challenge-signature"]

Each entry is the same ``SLOT=KIND[:ARG]`` the ``--misbehave`` option takes.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from device_io.simulator.errors import FaultSpecError
from device_io.simulator.faults import check_misbehave


@dataclass(frozen=True)
class Scenario:
    """A scenario file's content.

    Attributes:
        description: What the scenario trains or demonstrates.
        misbehave: ``SLOT=KIND[:ARG]`` entries, each already checked.
    """

    description: str
    misbehave: tuple[str, ...]


def read_scenario(path: Path) -> Scenario:
    """Read and check a scenario file.

    Raises:
        FaultSpecError: The file cannot be read, is not TOML of the expected
            shape, or holds a malformed misbehaviour.
    """
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise FaultSpecError(f"cannot read scenario {path}: {exc}") from exc
    description = document.get("description", "")
    entries = document.get("misbehave", [])
    if not isinstance(description, str) or not isinstance(entries, list):
        raise FaultSpecError(
            f"scenario {path}: description must be text and misbehave a list"
        )
    unknown = set(document) - {"description", "misbehave"}
    if unknown:
        raise FaultSpecError(f"scenario {path}: unknown keys {sorted(unknown)}")
    for entry in entries:
        if not isinstance(entry, str):
            raise FaultSpecError(f"scenario {path}: entry {entry!r} is not text")
        try:
            check_misbehave(entry)
        except FaultSpecError as exc:
            raise FaultSpecError(f"scenario {path}: {exc}") from None
    return Scenario(description, tuple(entries))
