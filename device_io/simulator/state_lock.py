"""One simulator per state directory.

Two simulators on one state directory would re-point each other's port links
and serve the same flash files. A simulator holds an exclusive ``flock`` on
``<state dir>/simulator.lock`` while it serves; the kernel drops it when the
process ends, however it ends.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from device_io.simulator.errors import PortSetupError, StateDirInUse

LOCK_NAME = "simulator.lock"


class StateLock:
    """The exclusive hold on a state directory."""

    def __init__(self, state_dir: Path) -> None:
        """Take the lock on ``state_dir`` (which must exist).

        Raises:
            StateDirInUse: Another simulator holds it.
            PortSetupError: The lock file cannot be opened.
        """
        path = state_dir / LOCK_NAME
        try:
            self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise PortSetupError(f"cannot open {path}: {exc.strerror}") from exc
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise StateDirInUse(
                f"another simulator is serving from {state_dir}; stop it or "
                "give another --state-dir"
            ) from None

    def release(self) -> None:
        """Let the directory go (closing the file drops the lock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
