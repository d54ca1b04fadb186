"""Keeping SoftHSM2's file token store whole across power cuts.

SoftHSM2's file backend rewrites a token's ``token.object`` (and its
``generation`` counter) in place, by truncating and writing, on every login.
A process killed inside that window leaves the file empty, and the token
vanishes from the slot list with its keys still on disk. A hardware HSM has no
such window; a station on SoftHSM2 needs one of its own.

After each successful login the two files are copied aside (atomically, in the
configuration's ``token-backup`` folder, outside the token directory that
SoftHSM2 scans). Before the library reads the store, a file that is missing or
shorter than its copy was torn, and the copy is put back. Only these two
per-token files are rewritten at login; key objects live in files of their own
that login does not touch.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

# The per-token files SoftHSM2's file backend rewrites in place at login.
_REWRITTEN = ("token.object", "generation")
_BACKUP_DIR = "token-backup"


def _token_dirs(conf: Path) -> list[Path]:
    tokens = conf.parent / "tokens"
    if not tokens.is_dir():
        return []
    return sorted(path for path in tokens.iterdir() if path.is_dir())


def _backup_of(conf: Path, token_dir: Path, name: str) -> Path:
    return conf.parent / _BACKUP_DIR / token_dir.name / name


def repair_torn_tokens(conf: Path) -> list[Path]:
    """Put back token files a killed process left torn.

    Args:
        conf: A project-owned ``softhsm2.conf`` (its ``tokens`` folder sits
            beside it).

    Returns:
        The files restored.
    """
    restored = []
    for token_dir in _token_dirs(conf):
        for name in _REWRITTEN:
            current = token_dir / name
            backup = _backup_of(conf, token_dir, name)
            if backup.is_file() and _torn(current, backup):
                _copy_atomically(backup, current)
                restored.append(current)
                logger.warning("restored %s, torn by an interrupted login", current)
    return restored


def remember_good_tokens(conf: Path) -> None:
    """Copy aside the per-token files of a store that just served a login."""
    for token_dir in _token_dirs(conf):
        for name in _REWRITTEN:
            current = token_dir / name
            if current.is_file() and current.stat().st_size > 0:
                _copy_atomically(current, _backup_of(conf, token_dir, name))


def _torn(current: Path, backup: Path) -> bool:
    try:
        size = current.stat().st_size
    except FileNotFoundError:
        return True
    return size < backup.stat().st_size


def _copy_atomically(source: Path, target: Path) -> None:
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    data = source.read_bytes()
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
