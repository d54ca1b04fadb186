"""Helpers for the simulator tests: a module on the bench, a test CA, and a raw
serial wire to a simulated module (pyserial, none of the station's code)."""

from __future__ import annotations

import base64
import datetime
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import serial
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, load_der_public_key
from cryptography.x509.oid import NameOID

from device_io.pv import chunk_size, crc32_hex, sha256_hex
from device_io.simulator.firmware import Firmware, Reply
from device_io.simulator.nameplate import Nameplate

NAMEPLATE = Nameplate(
    serial="AMB82D001001",
    mac="00:e0:4c:87:00:01",
    model="AMB82",
    lot="LOT-2026-0042",
    firmware="1.4.2",
)
LOT_PLAN = Path(__file__).parents[3] / "fixtures" / "lots" / "LOT-2026-0042.csv"
NOW = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)


class TestCa:
    """A throwaway issuing CA that certifies whatever public key it is given."""

    __test__ = False

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Issuing CA")])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW)
            .not_valid_after(NOW + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
            .sign(self.key, hashes.SHA256())
        )

    def leaf_for(self, public_der: bytes, serial: str = NAMEPLATE.serial) -> bytes:
        """A DER leaf certificate for the SubjectPublicKeyInfo ``public_der``."""
        public_key = load_der_public_key(public_der)
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, serial)]))
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW)
            .not_valid_after(NOW + datetime.timedelta(days=365))
            .sign(self.key, hashes.SHA256())
        )
        return leaf.public_bytes(Encoding.DER)

    def chain_for(self, public_der: bytes) -> bytes:
        """The CHAIN object for a key: leaf, then this CA."""
        return self.leaf_for(public_der) + self.cert.public_bytes(Encoding.DER)


class Bench:
    """A module on the bench, driven line by line without any I/O."""

    def __init__(self, firmware: Firmware, ca: TestCa) -> None:
        self.firmware = firmware
        self.ca = ca

    def run(self, line: str | bytes) -> Reply:
        data = line.encode("ascii") if isinstance(line, str) else line
        return self.firmware.handle(data)

    def ok(self, line: str) -> tuple[str, ...]:
        """Run a command that must succeed; its info lines."""
        reply = self.run(line)
        assert reply.lines[-1] == "OK", (line, reply.lines)
        return reply.lines[:-1]

    def read_object(self, obj: str) -> bytes:
        (info,) = self.ok(f"AT+PVHASH={obj}")
        total = int(info.split(",")[1])
        data = b""
        step = chunk_size(self.firmware.limits.max_line)
        while len(data) < total:
            (line,) = self.ok(f"AT+PVREAD={obj},{len(data)},{step}")
            data += _b64_field(line)
        return data

    def stage(self, obj: str, data: bytes, digest: str | None = None) -> None:
        """Open a staged write and send every chunk of ``data``."""
        self.ok(f"AT+PVWBEGIN={obj},{len(data)},{digest or sha256_hex(data)}")
        step = chunk_size(self.firmware.limits.max_line)
        for offset in range(0, len(data), step):
            self.ok(write_command(offset, data[offset : offset + step]))

    def commit_chain(self, slot: int) -> bytes:
        """Certify the slot's key with the test CA and commit the chain."""
        suffix = "1" if slot else ""
        chain = self.ca.chain_for(self.read_object(f"PUB{suffix}"))
        self.stage(f"CHAIN{suffix}", chain)
        self.ok("AT+PVWCOMMIT")
        return chain

    def setup(self, steps: tuple[str, ...]) -> None:
        """Bring the module into a state by named steps."""
        actions: dict[str, Callable[[], object]] = {
            "key0": lambda: self.ok("AT+PVKEYGEN=0,P256"),
            "key1": lambda: self.ok("AT+PVKEYGEN=1,P256"),
            "chain0": lambda: self.commit_chain(0),
            "chain1": lambda: self.commit_chain(1),
            "lock": lambda: self.ok("AT+PVLOCK"),
            "begin0": lambda: self.ok(f"AT+PVWBEGIN=CHAIN,50,{'ab' * 32}"),
        }
        for step in steps:
            actions[step]()


def write_command(offset: int, chunk: bytes) -> str:
    return f'AT+PVW={offset},{crc32_hex(chunk)},"{base64.b64encode(chunk).decode()}"'


def _b64_field(line: str) -> bytes:
    return base64.b64decode(line.split('"')[1])


class Wire:
    """The station's end of a simulated module's port, as raw pyserial."""

    def __init__(self, port: str, *, timeout: float = 5.0, sync: bool = True) -> None:
        self.port = serial.Serial(port, 115200, timeout=timeout, exclusive=True)
        self.timeout = timeout
        if sync:
            self.sync()

    def sync(self) -> None:
        """Skip whatever is in flight (a banner being sent) up to a fresh echo,
        the way the station resynchronises."""
        token = secrets.token_hex(4)
        self.send(f"AT+PVSYNC={token}")
        while self.read_line() != f"+PVSYNC:{token}".encode():
            pass
        assert self.read_line() == b"OK"

    def drain(self, quiet: float = 0.2) -> None:
        """Read and drop bytes until the line has been quiet for ``quiet`` s
        (the boot banner still in flight when the port was opened)."""
        self.port.timeout = quiet
        while self.port.read(64):
            pass
        self.port.timeout = self.timeout

    def send(self, line: str | bytes) -> None:
        data = line.encode("ascii") if isinstance(line, str) else line
        self.port.write(data + b"\r\n")

    def read_line(self) -> bytes:
        line = self.port.read_until(b"\r\n")
        assert line.endswith(b"\r\n"), f"no complete line, got {line!r}"
        return line[:-2]

    def reply(self) -> list[str]:
        """Lines up to and including the final OK or ERROR line."""
        lines: list[str] = []
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            line = self.read_line().decode("ascii")
            lines.append(line)
            if line == "OK" or line.startswith("ERROR"):
                return lines
        raise AssertionError(f"no final line after {lines}")

    def command(self, line: str) -> list[str]:
        self.send(line)
        return self.reply()

    def ok(self, line: str) -> list[str]:
        """Run a command that must succeed; its info lines."""
        reply = self.command(line)
        assert reply[-1] == "OK", (line, reply)
        return reply[:-1]

    def read_object(self, obj: str, chunk: int = 60) -> bytes:
        """Read a whole object in chunks, checking each CRC and the SHA-256."""
        (info,) = self.ok(f"AT+PVHASH={obj}")
        _, total, digest = info.split(":", 1)[1].split(",")
        data = b""
        while len(data) < int(total):
            (line,) = self.ok(f"AT+PVREAD={obj},{len(data)},{chunk}")
            crc = line.split(",")[3]
            piece = _b64_field(line)
            assert crc32_hex(piece) == crc
            data += piece
        assert sha256_hex(data) == digest
        return data

    def write_object(self, obj: str, data: bytes, chunk: int = 60) -> None:
        """Stage ``data`` chunk by chunk and commit it."""
        self.ok(f"AT+PVWBEGIN={obj},{len(data)},{sha256_hex(data)}")
        for offset in range(0, len(data), chunk):
            piece = data[offset : offset + chunk]
            assert self.ok(write_command(offset, piece)) == [
                f"+PVW:{offset + len(piece)}"
            ]
        assert self.ok("AT+PVWCOMMIT") == [f"+PVWCOMMIT:{sha256_hex(data)}"]

    def close(self) -> None:
        self.port.close()
