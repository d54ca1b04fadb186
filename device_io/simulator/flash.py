"""A module's flash: its credential slots and lock bit, kept in one file.

Each module has its own file under the state directory, so that provisioning
state survives a simulator restart the way it survives a power cycle on a real
module. The file holds private keys: it is created with mode 0600 and replaced
atomically (temporary file, fsync, rename, fsync of the directory), so a crash
leaves either the old image or the new one, never half of each.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from device_io.simulator.credential import Credential, load_key
from device_io.simulator.errors import FlashError, FlashFull

FORMAT = 1
SLOTS = 2


@dataclass(frozen=True)
class FlashImage:
    """Everything a module keeps across power cycles, besides its nameplate.

    Attributes:
        slots: Credential slot 0 (identity) and slot 1 (next key), or None.
        locked: Whether slot 0 has been sealed by ``AT+PVLOCK``.
    """

    slots: tuple[Credential | None, Credential | None] = (None, None)
    locked: bool = False

    def slot(self, index: int) -> Credential | None:
        """The credential in slot ``index``, if any."""
        return self.slots[index]

    def with_slot(self, index: int, credential: Credential | None) -> FlashImage:
        """This image with slot ``index`` replaced."""
        slots = list(self.slots)
        slots[index] = credential
        return replace(self, slots=(slots[0], slots[1]))


class Flash:
    """The flash file of one module."""

    def __init__(self, path: Path, *, full: bool = False) -> None:
        """Bind to a flash file; nothing is read until ``load``.

        Args:
            path: The module's flash file. Its directory must exist.
            full: Simulate a full flash: every ``store`` fails.
        """
        self.path = path
        self._full = full

    def load(self) -> FlashImage:
        """Read the image; a module that has never stored anything is blank.

        Raises:
            FlashError: The file exists but cannot be read or is damaged.
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return FlashImage()
        except OSError as exc:
            raise FlashError(f"cannot read: {exc}", path=str(self.path)) from exc
        try:
            return _decode(json.loads(text))
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise FlashError(f"damaged image: {exc}", path=str(self.path)) from exc

    def store(self, image: FlashImage) -> None:
        """Replace the image atomically.

        Raises:
            FlashFull: The flash is simulated as full.
            FlashError: The file cannot be written.
        """
        if self._full:
            raise FlashFull("no room left", path=str(self.path))
        data = json.dumps(_encode(image), indent=1).encode("utf-8")
        try:
            _replace_atomically(self.path, data)
        except OSError as exc:
            raise FlashError(f"cannot write: {exc}", path=str(self.path)) from exc


def _replace_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _encode(image: FlashImage) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "locked": image.locked,
        "slots": [_encode_slot(credential) for credential in image.slots],
    }


def _encode_slot(credential: Credential | None) -> dict[str, str | None] | None:
    if credential is None:
        return None
    return {
        "key": _b64(credential.private_der()),
        "csr": _b64(credential.csr),
        "chain": None if credential.chain is None else _b64(credential.chain),
    }


def _decode(document: dict[str, Any]) -> FlashImage:
    if document["format"] != FORMAT:
        raise ValueError(f"unknown format {document['format']!r}")
    slots = [_decode_slot(entry) for entry in document["slots"]]
    if len(slots) != SLOTS:
        raise ValueError(f"expected {SLOTS} slots, found {len(slots)}")
    return FlashImage(slots=(slots[0], slots[1]), locked=bool(document["locked"]))


def _decode_slot(entry: dict[str, str | None] | None) -> Credential | None:
    if entry is None:
        return None
    chain = entry["chain"]
    return Credential(
        key=load_key(_unb64(entry["key"])),
        csr=_unb64(entry["csr"]),
        chain=None if chain is None else _unb64(chain),
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str | None) -> bytes:
    if not isinstance(text, str):
        raise TypeError("expected base64 text")
    return base64.b64decode(text, validate=True)
