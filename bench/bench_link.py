"""Link cost: round trips, a module's provisioning, and what recovery costs.

Everything runs against the module simulator on real pseudo-terminals, paced
at 115200 baud 8N1 like a real module's UART, with key generation made
instant so that the figures are the link's own. Peers in the same run:

- round trips: ``Link.command`` against bare pyserial writing the same
  command and reading to ``OK`` on the same pty;
- a module's provisioning over a ``ModuleSession`` (capabilities, identity,
  key, CSR and PUB read, chain write and commit, read-back, challenge, lock)
  against the wire floor: the bytes the module sent, at 11,520 bytes a second;
- the same provisioning with one reset mid-write, with bit errors, and with
  an unplug and replug mid-write, against the clean run: the recovery's cost;
- one resync on a quiet line.

Run: .venv/bin/python bench/bench_link.py [--modules N] [--round-trips N]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import serial
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from device_io.conformance_ca import ThrowawayCa
from device_io.link import Link
from device_io.pv import PvObject
from device_io.serial_port import PortSettings, SerialPort
from device_io.session import ModuleSession, SessionSettings
from device_io.simulator import (
    FirmwareLimits,
    Nameplate,
    Simulator,
    SimulatorConfig,
    build_plans,
)

BAUD = 115200
BYTES_PER_SECOND = BAUD / 10  # 8N1: ten bits a byte
BOOT_SETTLE = 0.05
SETTINGS = SessionSettings()
# The simulator's answer with its default limits, echo off.
CAP_REPLY = b"+PVCAP:1,120,4096\r\nOK\r\n"


@contextmanager
def simulated(
    modules: int, misbehave: tuple[str, ...] = (), *, first: int = 0
) -> Iterator[Simulator]:
    """``modules`` simulated modules, each with the given misbehaviours."""
    plates = [
        Nameplate(
            f"BENCH{n:06d}",
            f"02:00:00:02:{n >> 8:02x}:{n & 0xFF:02x}",
            "AMB82",
            "LOT-BENCH",
        )
        for n in range(first, first + modules)
    ]
    specs = [f"{slot}={kind}" for slot in range(1, modules + 1) for kind in misbehave]
    with tempfile.TemporaryDirectory() as state:
        config = SimulatorConfig(
            state_dir=Path(state),
            nameplates=plates,
            baud=BAUD,
            limits=FirmwareLimits(keygen_delay=0.0),
            faults=build_plans(specs, slots=modules),
            seed=first,
        )
        with Simulator(config) as simulator:
            # Let every module finish its boot banner before the first open.
            time.sleep(BOOT_SETTLE)
            yield simulator


def summary(seconds: list[float], unit: float = 1e3, label: str = "ms") -> str:
    """Median and 95th percentile of ``seconds``, in ``label``."""
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"median {statistics.median(ordered) * unit:7.2f} {label}, "
        f"p95 {p95 * unit:7.2f} {label}"
    )


# --- round trips --------------------------------------------------------------------


def raw_round_trips(path: str, count: int) -> list[float]:
    """Bare pyserial: write AT+PVCAP?, read until OK."""
    times = []
    with serial.Serial(path, BAUD, timeout=2, exclusive=True) as port:
        for _ in range(count):
            started = time.perf_counter()
            port.write(b"AT+PVCAP?\r\n")
            reply = port.read_until(b"OK\r\n")
            times.append(time.perf_counter() - started)
            if reply != CAP_REPLY:
                raise RuntimeError(f"unexpected reply from the simulator: {reply!r}")
    return times


def link_round_trips(path: str, count: int) -> list[float]:
    """The station's link: the same command through ``Link.command``."""
    times = []
    with SerialPort.open(path, settings=SETTINGS.port_settings()) as port:
        link = Link(port, SETTINGS.link_settings())
        for _ in range(count):
            started = time.perf_counter()
            link.command("AT+PVCAP?", timeout=2)
            times.append(time.perf_counter() - started)
    return times


def resyncs(path: str, count: int) -> list[float]:
    """One resync on a quiet line: CRLF, drain until quiet, one AT+PVSYNC."""
    times = []
    with SerialPort.open(path, settings=SETTINGS.port_settings()) as port:
        link = Link(port, SETTINGS.link_settings())
        for _ in range(count):
            started = time.perf_counter()
            link.resync()
            times.append(time.perf_counter() - started)
    return times


# --- a module's provisioning -------------------------------------------------------


@dataclass
class Provisioned:
    """One module's provisioning over the link."""

    seconds: float
    received: int
    sent: int
    recoveries: int


def module_key(csr_der: bytes) -> ec.EllipticCurvePublicKey:
    key = x509.load_der_x509_csr(csr_der).public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise RuntimeError("the simulator made a key that is not EC")
    return key


class CountingPort(SerialPort):
    """A serial port that counts the bytes it writes and reads."""

    sent = 0
    received = 0

    @classmethod
    def open(
        cls,
        path: str,
        *,
        slot: str | None = None,
        settings: PortSettings | None = None,
    ) -> CountingPort:
        port = super().open(path, slot=slot, settings=settings)
        if not isinstance(port, CountingPort):
            raise TypeError(f"SerialPort.open made a {type(port).__name__}")
        return port

    def write(self, data: bytes) -> None:
        self.sent += len(data)
        super().write(data)

    def read(self, deadline: float) -> bytes:
        data = super().read(deadline)
        self.received += len(data)
        return data


def provision(path: str, ca: ThrowawayCa) -> Provisioned:
    """The device side of a provisioning run, timed, with its byte counts."""
    port = CountingPort.open(path, slot="bench", settings=SETTINGS.port_settings())
    started = time.perf_counter()
    with ModuleSession(
        Link(port, SETTINGS.link_settings()), settings=SETTINGS
    ) as session:
        session.capabilities()
        identity = session.identify()
        session.generate_key(0)
        leaf_key = module_key(session.read_object(PvObject.CSR))
        session.read_object(PvObject.PUB)
        session.write_object(PvObject.CHAIN, ca.chain_for(leaf_key, identity.serial))
        session.read_object(PvObject.CHAIN)
        session.sign_challenge(0, os.urandom(32), public_key=leaf_key)
        session.lock()
        recoveries = len(session.recoveries)
    seconds = time.perf_counter() - started
    return Provisioned(
        seconds, received=port.received, sent=port.sent, recoveries=recoveries
    )


def provision_all(
    modules: int,
    misbehave: tuple[str, ...],
    ca: ThrowawayCa,
    first: int,
) -> list[Provisioned]:
    with simulated(modules, misbehave, first=first) as simulator:
        return [provision(port.link, ca) for port in simulator.ports]


# --- report -------------------------------------------------------------------------


def report_round_trips(count: int) -> None:
    with simulated(1) as simulator:
        path = simulator.port(1).link
        raw = raw_round_trips(path, count)
        linked = link_round_trips(path, count)
        synced = resyncs(path, max(3, count // 20))
    print(f"round trip AT+PVCAP? ({len(CAP_REPLY)} bytes back), {count} each:")
    print(f"  bare pyserial        {summary(raw)}")
    print(f"  Link.command         {summary(linked)}")
    wire = len(CAP_REPLY) / BYTES_PER_SECOND
    print(f"  wire time of reply   {wire * 1e3:7.2f} ms")
    print(f"resync on a quiet line ({len(synced)}): {summary(synced)}")
    print(f"  of which the drain's quiet time {SETTINGS.drain_quiet * 1e3:.0f} ms")


SCENARIOS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("clean", ()),
    ("one reset mid-write", ("reset-mid-command:PVW#2",)),
    ("bit errors 1e-4", ("bit-errors:0.0001",)),
    ("bit errors 1e-3", ("bit-errors:0.001",)),
    ("unplug at PVW#3, back in 0.5 s", ("unplug:PVW#3",)),
)


def report_provisioning(modules: int) -> None:
    ca = ThrowawayCa()
    print(
        f"\nprovisioning, device side, {modules} modules each, key generation instant:"
    )
    print(f"  {'scenario':<32}{'per module':>30}  {'over clean':>10}  recoveries")
    clean: float | None = None
    for index, (name, misbehave) in enumerate(SCENARIOS):
        runs = provision_all(modules, misbehave, ca, first=index * modules)
        median = statistics.median(run.seconds for run in runs)
        clean = clean if clean is not None else median
        print(
            f"  {name:<32}{summary([r.seconds for r in runs], 1, 's'):>30}"
            f"  {median - clean:+9.2f}s  {sum(r.recoveries for r in runs):>10}"
        )
        if not misbehave:
            report_wire_floor(runs)


def report_wire_floor(runs: list[Provisioned]) -> None:
    received = statistics.median(run.received for run in runs)
    sent = statistics.median(run.sent for run in runs)
    print(
        f"  {'  wire floor (module to station)':<32}"
        f"{received / BYTES_PER_SECOND:>12.2f} s for {received:.0f} bytes"
        f" ({sent:.0f} bytes sent)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=5)
    parser.add_argument("--round-trips", type=int, default=200)
    args = parser.parse_args()
    # Recoveries are the point of several scenarios; their warnings are not.
    logging.basicConfig(level=logging.ERROR)
    report_round_trips(args.round_trips)
    report_provisioning(args.modules)


if __name__ == "__main__":
    main()
