"""Reading secrets (HSM PINs, TLS key passphrases) without leaking them.

A secret comes from an environment variable or from a file that only its owner
can read (mode 0600 or stricter). The value is wrapped in pydantic's
``SecretStr`` so that it never shows in a repr, a log line or an export.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pydantic import SecretStr

from station.errors import SecretError


def read_secret(
    *, what: str, env: str | None = None, file: Path | None = None
) -> SecretStr:
    """Read a secret from ``env`` if set there, else from ``file``.

    Args:
        what: What the secret is, for error messages (``"issuing CA PIN"``).
        env: Name of an environment variable that may hold the secret.
        file: Path of a file holding the secret on its first line.

    Raises:
        SecretError: Neither source holds it, or the file is readable or
            writable by group or others.
    """
    if env and os.environ.get(env):
        return SecretStr(os.environ[env])
    if file is None:
        source = f"environment variable {env}" if env else "no source configured"
        raise SecretError(f"{what} is not set ({source})")
    return SecretStr(_read_private_file(file, what))


def _read_private_file(path: Path, what: str) -> str:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise SecretError(f"cannot read {what} from {path}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretError(
            f"{what} file {path} has mode {stat.S_IMODE(mode):04o}; "
            f"it must not be readable by group or others (chmod 600)"
        )
    value = path.read_text(encoding="utf-8").splitlines()
    if not value or not value[0]:
        raise SecretError(f"{what} file {path} is empty")
    return value[0]
