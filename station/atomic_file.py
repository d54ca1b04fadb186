"""Replacing a file as a whole: readers see the old content or the new, never half.

The new content goes to a temporary file in the same folder, is fsync'd, and
is renamed over the target; the folder is fsync'd too, so that the rename
itself survives a power cut. A reader that opened the old file keeps reading
the old content to its end.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` in one step, durably.

    Args:
        path: The file to replace or create.
        data: Its whole new content.
        mode: Permission bits of the new file.

    Raises:
        OSError: The folder cannot be written or the rename failed; the
            target is then unchanged and no temporary file is left behind.
    """
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed before rename
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    temporary = Path(handle.name)
    try:
        with handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise

    fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    """Make the entries of ``folder`` (new or renamed files) durable."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
