"""PIN files: random secrets kept in files only their owner can read.

HSM PINs reach the station from a file of mode 0600 (or the environment), never
from the command line or a config file, so they stay out of process lists,
shell histories and backups of the configuration.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from pki.errors import SecretFileError

# 24 random bytes give 32 URL-safe characters: well inside the 4..255 PIN
# length SoftHSM2 accepts, and free of characters a terminal would interpret.
_PIN_BYTES = 24


def write_new_pin(path: Path) -> str:
    """Create ``path`` holding a fresh random PIN, readable by its owner only.

    Args:
        path: File to create; it must not exist yet.

    Returns:
        The PIN written.

    Raises:
        SecretFileError: The file exists or cannot be created.
    """
    pin = secrets.token_urlsafe(_PIN_BYTES)

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise SecretFileError(f"cannot create PIN file {path}: {exc}") from exc

    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(pin + "\n")
    return pin


def read_pin(path: Path) -> str:
    """Read a PIN from ``path``, refusing a file others could read.

    Raises:
        SecretFileError: The file is missing, empty, or has group or other
            permission bits set.
    """
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SecretFileError(f"cannot read PIN file {path}: {exc}") from exc

    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretFileError(
            f"PIN file {path} has mode {stat.S_IMODE(mode):04o}; "
            "it must be readable by its owner only (chmod 600)"
        )

    pin = text.strip()
    if not pin:
        raise SecretFileError(f"PIN file {path} is empty")
    return pin
