"""Test doubles for a module on the far end of a real pseudo-terminal.

``PtyPair`` is a raw pty: the station opens ``path`` as its serial port, the
double reads and writes ``master``. ``Responder`` is a thread that answers each
CRLF line the station sends with bytes from a handler. ``ModuleDouble`` is such
a handler with just enough PV firmware behind it to run sessions, plus faults
injected per command. It is a test double written for these tests, not the
product simulator.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import select
import threading
import tty
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, auto

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from device_io.session import SessionSettings

BANNER = b"ATCMD READY\r\n"

# Short timeouts keep the fault tests fast; the pty answers in microseconds.
FAST = SessionSettings(
    command_timeout=0.3,
    keygen_timeout=0.5,
    commit_timeout=0.3,
    drain_quiet=0.02,
    drain_limit=0.5,
)


class PtyPair:
    """A pseudo-terminal made raw as soon as it exists."""

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        # Raw at once, or bytes written before the station opens the port are
        # echoed back and CR arrives as LF.
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self._open = {self.master, self._slave}

    def hang_up(self) -> None:
        """Close the module's end, as an unplugged adapter would."""
        self._close(self.master)

    def close(self) -> None:
        """Close both ends; the pty node disappears."""
        self._close(self.master)
        self._close(self._slave)

    def _close(self, fd: int) -> None:
        if fd in self._open:
            self._open.remove(fd)
            os.close(fd)


class Responder(threading.Thread):
    """Answers every CRLF-terminated line from the station with handler(line)."""

    def __init__(self, pty: PtyPair, handler: Callable[[str], bytes]) -> None:
        super().__init__(daemon=True)
        self._pty = pty
        self._handler = handler
        self._stop_r, self._stop_w = os.pipe()
        self._buffer = b""
        self.received = bytearray()

    def run(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self._pty.master, self._stop_r], [], [])
                if self._stop_r in ready:
                    return
                data = os.read(self._pty.master, 4096)
            except OSError:
                return  # the test hung up the module's end
            self.received += data
            self._buffer += data
            self._answer_complete_lines()

    def write(self, data: bytes) -> None:
        """Write to the station, giving up if the test is stopping."""
        view = memoryview(data)
        while view:
            _, ready, _ = select.select([self._stop_r], [self._pty.master], [])
            if not ready:
                return
            try:
                written = os.write(self._pty.master, view)
            except OSError:
                return
            view = view[written:]

    def stop(self) -> None:
        os.write(self._stop_w, b"x")
        self.join(timeout=5)
        os.close(self._stop_r)
        os.close(self._stop_w)

    def _answer_complete_lines(self) -> None:
        while b"\r\n" in self._buffer:
            raw, self._buffer = self._buffer.split(b"\r\n", 1)
            reply = self._handler(raw.decode("ascii", "replace"))
            if reply:
                self.write(reply)


class Fault(Enum):
    """What the double does instead of answering a command normally."""

    LOSE_REPLY = auto()  # carry the command out, send nothing back
    IGNORE = auto()  # neither carry it out nor answer
    RESET = auto()  # reboot: drop the staged write, print the banner
    NOISE = auto()  # garbage first, then the normal reply
    BAD_CRC = auto()  # a +PVREAD reply whose CRC does not match its data
    FLIP_SERIAL = auto()  # a +PVID reply with the last serial character changed
    REFUSE = auto()  # answer ERROR: <code> without carrying the command out
    SIGN_OTHER = auto()  # sign another challenge, as if it arrived damaged
    BUMP_DIGIT = auto()  # the first digit of the reply's first line, plus one


@dataclass
class _Armed:
    prefix: str
    fault: Fault
    times: int
    code: int


@dataclass
class _Staged:
    obj: str
    total: int
    sha256: str
    data: bytearray = field(default_factory=bytearray)


@dataclass
class _Slot:
    key: ec.EllipticCurvePrivateKey
    csr: bytes
    pub: bytes
    chain: bytes | None = None


def _crc(data: bytes) -> str:
    return f"{zlib.crc32(data) & 0xFFFFFFFF:08x}"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class ModuleDouble:
    """A scripted PV module: enough firmware for sessions, faults on demand."""

    def __init__(
        self,
        *,
        serial: str = "AMB82D001001",
        mac: str = "00:e0:4c:87:00:01",
        model: str = "AMB82",
        lot: str = "LOT-2026-0042",
        firmware: str = "1.4.2",
        version: int = 1,
        max_line: int = 120,
        max_object: int = 4096,
        echo: bool = False,
        chatter: bool = False,
    ) -> None:
        self.serial = serial
        self.identity_fields = (serial, mac, model, lot, firmware)
        self.version = version
        self.max_line = max_line
        self.max_object = max_object
        self.echo = echo
        self.chatter = chatter
        self.slots: dict[int, _Slot] = {}
        self.locked = False
        self.staged: _Staged | None = None
        self.commands: list[str] = []
        self._armed: list[_Armed] = []
        self._flips = 0
        self._lock = threading.Lock()

    def arm(self, prefix: str, fault: Fault, *, times: int = 1, code: int = 0) -> None:
        """Apply ``fault`` to the next ``times`` commands starting with prefix.

        ``code`` is the error code ``Fault.REFUSE`` answers with.
        """
        with self._lock:
            self._armed.append(_Armed(prefix, fault, times, code))

    def disarm(self) -> None:
        """Drop every fault still armed."""
        with self._lock:
            self._armed.clear()

    def sent(self, prefix: str) -> list[str]:
        """Commands received that start with ``prefix``."""
        with self._lock:
            return [line for line in self.commands if line.startswith(prefix)]

    def give_key(self, slot: int = 0) -> None:
        """Generate a key in ``slot`` as ``AT+PVKEYGEN`` would."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, self.serial),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, self.serial),
            ]
        )
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(name)
            .sign(key, hashes.SHA256())
        )
        pub = key.public_key().public_bytes(
            Encoding.DER, PublicFormat.SubjectPublicKeyInfo
        )
        self.slots[slot] = _Slot(key, csr.public_bytes(Encoding.DER), pub)

    # --- the handler ----------------------------------------------------------

    def __call__(self, line: str) -> bytes:
        if not line:
            return b""
        with self._lock:
            self.commands.append(line)
            armed = self._take_fault(line)
        fault = armed.fault if armed else None
        if fault is Fault.IGNORE:
            return b""
        if fault is Fault.RESET:
            self.staged = None
            return BANNER
        if armed and fault is Fault.REFUSE:
            return self._frame(line, [f"ERROR: {armed.code}"])
        reply = self._execute(line, fault)
        if fault is Fault.LOSE_REPLY:
            return b""
        if fault is Fault.BUMP_DIGIT:
            reply[0] = re.sub(r"\d", _bump, reply[0], count=1)
        framed = self._frame(line, reply)
        return b"\x00\xfe garbage\r\n" + framed if fault is Fault.NOISE else framed

    def _take_fault(self, line: str) -> _Armed | None:
        for armed in self._armed:
            if armed.times > 0 and line.startswith(armed.prefix):
                armed.times -= 1
                return armed
        return None

    def _frame(self, line: str, reply: list[str]) -> bytes:
        lines = ([line] if self.echo else []) + ["[$] wifi: idle"] * self.chatter
        lines += [""] * self.chatter + reply
        return "".join(f"{text}\r\n" for text in lines).encode("ascii")

    def _execute(self, line: str, fault: Fault | None) -> list[str]:
        name, _, args = line.partition("=")
        handler = _HANDLERS.get(name)
        if handler is None:
            return ["ERROR: 1"]
        try:
            return handler(self, args.split(",") if args else [], fault)
        except _Refused as refused:
            return [f"ERROR: {refused.code}"]

    # --- commands -------------------------------------------------------------

    def _cap(self, args: list[str], fault: Fault | None) -> list[str]:
        return [f"+PVCAP:{self.version},{self.max_line},{self.max_object}", "OK"]

    def _sync(self, args: list[str], fault: Fault | None) -> list[str]:
        return [f"+PVSYNC:{args[0]}", "OK"]

    def _id(self, args: list[str], fault: Fault | None) -> list[str]:
        fields = list(self.identity_fields)
        if fault is Fault.FLIP_SERIAL:
            # A different wrong letter each time, so two flipped reads differ.
            self._flips += 1
            fields[0] = fields[0][:-1] + "XYZ"[self._flips % 3]
        quoted = ",".join(f'"{value}"' for value in fields)
        return [f"+PVID:{quoted},{self._state()}", "OK"]

    def _state(self) -> str:
        if self.locked:
            return "LOCKED"
        slot = self.slots.get(0)
        if slot is None:
            return "EMPTY"
        return "CERT" if slot.chain else "KEY"

    def _keygen(self, args: list[str], fault: Fault | None) -> list[str]:
        slot = int(args[0])
        new = len(args) > 2 and args[2] == "NEW"
        existing = self.slots.get(slot)
        if existing and not new:
            return [f"+PVKEYGEN:{slot},0", "OK"]
        if existing and existing.chain:
            raise _Refused(7)
        self.give_key(slot)
        return [f"+PVKEYGEN:{slot},1", "OK"]

    def _object(self, name: str) -> bytes:
        slot = self.slots.get(1 if name.endswith("1") else 0)
        if slot is None:
            raise _Refused(8)
        data = {"CSR": slot.csr, "PUB": slot.pub, "CHAIN": slot.chain}[name.rstrip("1")]
        if data is None:
            raise _Refused(3)
        return data

    def _hash(self, args: list[str], fault: Fault | None) -> list[str]:
        data = self._object(args[0])
        return [f"+PVHASH:{args[0]},{len(data)},{_sha(data)}", "OK"]

    def _read(self, args: list[str], fault: Fault | None) -> list[str]:
        data = self._object(args[0])
        offset, length = int(args[1]), int(args[2])
        if offset > len(data):
            raise _Refused(5)
        chunk = data[offset : offset + length]
        crc = _crc(chunk + b"!") if fault is Fault.BAD_CRC else _crc(chunk)
        reply = f'+PVREAD:{args[0]},{offset},{len(data)},{crc},"{_b64(chunk)}"'
        return [reply, "OK"]

    def _wbegin(self, args: list[str], fault: Fault | None) -> list[str]:
        if self.locked and args[0] == "CHAIN":
            raise _Refused(10)
        if int(args[1]) > self.max_object:
            raise _Refused(6)
        self.staged = _Staged(args[0], int(args[1]), args[2])
        return ["OK"]

    def _write(self, args: list[str], fault: Fault | None) -> list[str]:
        if self.staged is None:
            raise _Refused(3)
        chunk = base64.b64decode(args[2].strip('"'))
        if _crc(chunk) != args[1]:
            raise _Refused(4)
        if int(args[0]) != len(self.staged.data):
            raise _Refused(5)
        self.staged.data += chunk
        return [f"+PVW:{len(self.staged.data)}", "OK"]

    def _wstat(self, args: list[str], fault: Fault | None) -> list[str]:
        staged = self.staged
        if staged is None:
            return ["+PVWSTAT:NONE", "OK"]
        status = f"{staged.obj},{staged.total},{staged.sha256},{len(staged.data)}"
        return [f"+PVWSTAT:{status}", "OK"]

    def _commit(self, args: list[str], fault: Fault | None) -> list[str]:
        staged = self.staged
        if staged is None:
            raise _Refused(3)
        if len(staged.data) != staged.total:
            raise _Refused(5)
        if _sha(bytes(staged.data)) != staged.sha256:
            raise _Refused(4)
        slot = self.slots.get(1 if staged.obj == "CHAIN1" else 0)
        if slot is None:
            raise _Refused(8)
        slot.chain = bytes(staged.data)
        self.staged = None
        return [f"+PVWCOMMIT:{staged.sha256}", "OK"]

    def _sign(self, args: list[str], fault: Fault | None) -> list[str]:
        slot = self.slots.get(int(args[0]))
        if slot is None:
            raise _Refused(8)
        challenge = bytes.fromhex(args[1])
        if fault is Fault.SIGN_OTHER:
            challenge = bytes(byte ^ 0x01 for byte in challenge)
        message = b"PV-CHALLENGE-V1\x00" + challenge
        signature = slot.key.sign(message, ec.ECDSA(hashes.SHA256()))
        return [f'+PVSIGN:"{_b64(signature)}"', "OK"]

    def _lock_slot(self, args: list[str], fault: Fault | None) -> list[str]:
        slot = self.slots.get(0)
        if slot is None or slot.chain is None:
            raise _Refused(3)
        self.locked = True
        return ["OK"]

    def _promote(self, args: list[str], fault: Fault | None) -> list[str]:
        successor = self.slots.get(1)
        if successor is None or successor.chain is None:
            raise _Refused(3)
        self.slots = {0: successor}
        return ["OK"]

    def _reset(self, args: list[str], fault: Fault | None) -> list[str]:
        if args != [self.serial]:
            raise _Refused(1)
        if self.locked:
            raise _Refused(10)
        self.slots.clear()
        self.staged = None
        return ["OK"]


def _bump(digit: re.Match[str]) -> str:
    return str((int(digit[0]) + 1) % 10)


class _Refused(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


_HANDLERS: dict[str, Callable[[ModuleDouble, list[str], Fault | None], list[str]]] = {
    "AT+PVCAP?": ModuleDouble._cap,
    "AT+PVSYNC": ModuleDouble._sync,
    "AT+PVID?": ModuleDouble._id,
    "AT+PVKEYGEN": ModuleDouble._keygen,
    "AT+PVHASH": ModuleDouble._hash,
    "AT+PVREAD": ModuleDouble._read,
    "AT+PVWBEGIN": ModuleDouble._wbegin,
    "AT+PVW": ModuleDouble._write,
    "AT+PVWSTAT?": ModuleDouble._wstat,
    "AT+PVWCOMMIT": ModuleDouble._commit,
    "AT+PVSIGN": ModuleDouble._sign,
    "AT+PVLOCK": ModuleDouble._lock_slot,
    "AT+PVPROMOTE": ModuleDouble._promote,
    "AT+PVRESET": ModuleDouble._reset,
}
