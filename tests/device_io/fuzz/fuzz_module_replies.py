"""Fuzz harness: any bytes a module may send, through the station's link.

Run by ``tests/device_io/test_fuzz_harness.py`` for a bounded number of
inputs, or by hand for longer::

    .venv/bin/python tests/device_io/fuzz/fuzz_module_replies.py -runs=1000000

An input is three header bytes, then the bytes the module answers with: the
command the station sent, how many times the answer repeats (so that one
input can stand for an endless line) and the size of the pieces the port
delivers it in. ``seeds/`` holds a well-formed reply to each command and
``module_replies.dict`` the protocol's words, so the fuzzer starts from
replies the station accepts and works outwards. The bytes go through line
assembly, the link's reply handling and every typed reply parser, identity
rules included. Only the package's own errors may come out; anything else is
a crash. Line assembly must hold back at most one line's worth of bytes
however long the stream runs.
"""

from __future__ import annotations

import contextlib
import sys
import time

import atheris

with atheris.instrument_imports():
    from device_io.errors import DeviceError
    from device_io.identity import ModuleIdentity
    from device_io.lines import LineAssembler
    from device_io.link import Link, LinkSettings
    from device_io.pv import (
        Capabilities,
        InfoLine,
        KeyGenResult,
        ObjectHash,
        RawIdentity,
        ReadChunk,
        WriteProgress,
        WriteStatus,
        parse_commit,
        parse_sign,
        parse_sync,
    )

LINE_LIMIT = 120
HEADER = 3
MAX_REPEAT = 64
COMMANDS = (
    "AT+PVCAP?",
    "AT+PVID?",
    "AT+PVSYNC=0a1b2c3d",
    "AT+PVHASH=CSR",
    "AT+PVREAD=CSR,0,60",
    'AT+PVW=0,00000000,""',
    "AT+PVWSTAT?",
    "AT+PVWCOMMIT",
    "AT+PVLOCK",
)


def _identity(info: InfoLine) -> ModuleIdentity:
    return ModuleIdentity.from_raw(RawIdentity.parse(info))


PARSERS = (
    Capabilities.parse,
    _identity,
    KeyGenResult.parse,
    ObjectHash.parse,
    ReadChunk.parse,
    WriteProgress.parse,
    WriteStatus.parse,
    parse_commit,
    parse_sign,
    parse_sync,
)


class ReplayPort:
    """Stands where a ``SerialPort`` does: hands out the module's bytes in
    pieces of one size, then nothing (a silent module), never waiting."""

    path = "fuzz"
    slot = "F1"

    def __init__(self, stream: bytes, piece: int) -> None:
        self._stream = stream
        self._piece = piece
        self._offset = 0

    def write(self, data: bytes) -> None:
        pass

    def read(self, deadline: float) -> bytes:
        data = self._stream[self._offset : self._offset + self._piece]
        self._offset += len(data)
        return data

    def present(self) -> bool:
        return True


def assemble(stream: bytes, piece: int) -> None:
    """Line assembly alone: whatever comes in, memory stays bounded."""
    assembler = LineAssembler(limit=LINE_LIMIT)
    port = ReplayPort(stream, piece)
    while data := port.read(time.monotonic()):
        assembler.feed(data)
        assert assembler.pending <= LINE_LIMIT + 1, assembler.pending
        while True:
            try:
                if assembler.pop() is None:
                    break
            except DeviceError:
                continue


def exchange(command: str, stream: bytes, piece: int) -> None:
    """One command over the link, its reply through every parser."""
    link = Link(ReplayPort(stream, piece), LinkSettings(line_limit=LINE_LIMIT))
    try:
        infos = link.command(command, timeout=1.0)
    except DeviceError:
        return
    for info in infos:
        for parse in PARSERS:
            with contextlib.suppress(DeviceError):
                parse(info)


def one_input(data: bytes) -> None:
    if len(data) < HEADER:
        return
    command = COMMANDS[data[0] % len(COMMANDS)]
    repeat = 1 + data[1] % MAX_REPEAT
    piece = 1 + data[2]
    stream = data[HEADER:] * repeat

    assemble(stream, piece)
    exchange(command, stream, piece)


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
