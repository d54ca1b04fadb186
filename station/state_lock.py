"""One station process per state folder.

Two processes running the same station would each take the other's live runs
for runs a crash left behind, and drive the same serial ports. A station
holds an exclusive lock on ``<state_dir>/station.lock`` for as long as it is
open; the kernel drops it when the process dies, however it dies.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from station.errors import StationError

LOCK_NAME = "station.lock"


class StationBusy(StationError):
    """Another process already runs the station on this state folder."""


class StateLock:
    """The exclusive lock on a station's state folder.

    Raises:
        StationBusy: Another process holds it.
    """

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_NAME
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StationError(
                f"cannot use the state folder {state_dir}: {exc.strerror}"
            ) from exc
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 64, 0).decode("ascii", "replace").strip()
            os.close(self._fd)
            raise StationBusy(
                f"another station process (pid {holder or 'unknown'}) is running "
                f"on {state_dir}; stop it first"
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode("ascii"), 0)

    def release(self) -> None:
        """Release the lock."""
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> StateLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
