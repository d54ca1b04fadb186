"""Whole sessions against the product's module simulator, over its ptys."""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pty_module import FAST

from device_io.chain import encode_chain
from device_io.errors import (
    IdentityError,
    ModuleBusy,
    ModuleError,
    PortGone,
    PvErrorCode,
)
from device_io.pv import PvObject, SlotState
from device_io.session import ModuleSession, SessionSettings, open_session
from device_io.simulator.faults import CommandTrigger, FaultPlan
from device_io.simulator.firmware import FirmwareLimits
from device_io.simulator.nameplate import Nameplate
from device_io.simulator.simulator import Simulator, SimulatorConfig

NOW = datetime.datetime.now(datetime.UTC)
ISSUER = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Issuing CA")])
# Faulty modules per 1-based slot; slot 1 is a good module.
PLANS = {
    2: FaultPlan(echo=True, stray_rate=0.3),
    3: FaultPlan(reset_on=CommandTrigger("PVW", 3)),
    4: FaultPlan(bit_error_rate=2e-4, drop_rate=1e-4, repeat_rate=1e-4),
    5: FaultPlan(flash_full=True),
    6: FaultPlan(unplug_on=CommandTrigger("PVREAD", 2)),
    7: FaultPlan(unplug_on=CommandTrigger("PVW", 3)),
    8: FaultPlan(keygen_delay=1.0),
}
# Real timing except key generation, which would cost a second per module.
SETTINGS = replace(FAST, command_timeout=1.0, keygen_timeout=2.0, commit_timeout=2.0)


@pytest.fixture(scope="module")
def issuer_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[Simulator]:
    plates = [
        Nameplate(f"AMB82D00100{n}", f"00:e0:4c:87:00:0{n}", "AMB82", "LOT-2026-0042")
        for n in range(1, 9)
    ]
    config = SimulatorConfig(
        state_dir=tmp_path / "sim",
        nameplates=plates,
        limits=FirmwareLimits(keygen_delay=0.05),
        faults=PLANS,
        seed=11,
    )
    with Simulator(config) as running:
        yield running


def open_slot(
    simulator: Simulator, slot: int, settings: SessionSettings = SETTINGS
) -> ModuleSession:
    """A session on the slot's stable link, as a station opens it."""
    return open_session(simulator.port(slot).link, slot=f"S{slot}", settings=settings)


def unplugged(simulator: Simulator, slot: int) -> None:
    """Pull the module out for good and wait until its port has gone."""
    simulator.unplug(slot, replug_after=None)
    deadline = time.monotonic() + 5
    while simulator.port(slot).port:
        assert time.monotonic() < deadline, "the module did not go"
        time.sleep(0.01)


def certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePublicKey,
    signer: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ISSUER)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .sign(signer, hashes.SHA256())
    )


def chain_for(csr_der: bytes, issuer_key: ec.EllipticCurvePrivateKey) -> bytes:
    """A leaf for the CSR's key and its issuer, as the station would write."""
    csr = x509.load_der_x509_csr(csr_der)
    leaf_key = csr.public_key()
    assert isinstance(leaf_key, ec.EllipticCurvePublicKey)
    return encode_chain(
        [
            certificate(csr.subject, leaf_key, issuer_key),
            certificate(ISSUER, issuer_key.public_key(), issuer_key),
        ]
    )


def provision(session: ModuleSession, issuer_key: ec.EllipticCurvePrivateKey) -> None:
    """The whole flow, checking each result as the station does."""
    session.capabilities()
    assert session.identify().state is SlotState.EMPTY
    assert session.generate_key(0) is True
    csr_der = session.read_object(PvObject.CSR)
    leaf_key = x509.load_der_x509_csr(csr_der).public_key()
    assert isinstance(leaf_key, ec.EllipticCurvePublicKey)

    chain = chain_for(csr_der, issuer_key)
    session.write_object(PvObject.CHAIN, chain)
    assert session.read_object(PvObject.CHAIN) == chain

    session.sign_challenge(0, os.urandom(32), public_key=leaf_key)
    session.lock()
    assert session.identify().state is SlotState.LOCKED


@pytest.mark.parametrize(
    "slot",
    [
        pytest.param(1, id="good"),
        pytest.param(2, id="echo-and-stray-lines"),
        pytest.param(3, id="reset-mid-write"),
        pytest.param(4, id="bit-errors-dropped-and-repeated-bytes"),
    ],
)
def test_a_module_is_provisioned_end_to_end(
    simulator: Simulator, issuer_key: ec.EllipticCurvePrivateKey, slot: int
) -> None:
    with open_slot(simulator, slot) as session:
        provision(session, issuer_key)

    assert simulator.firmware(slot).state == "LOCKED"


def test_a_second_session_finds_the_module_provisioned(
    simulator: Simulator, issuer_key: ec.EllipticCurvePrivateKey
) -> None:
    with open_slot(simulator, 1) as session:
        provision(session, issuer_key)

    with open_slot(simulator, 1) as session:
        assert session.identify().state is SlotState.LOCKED
        assert session.generate_key(0) is False
        with pytest.raises(ModuleError) as caught:
            session.reset("AMB82D001001")

    assert caught.value.code is PvErrorCode.LOCKED


def test_a_full_flash_refuses_key_generation(simulator: Simulator) -> None:
    with open_slot(simulator, 5) as session:
        session.identify()
        with pytest.raises(ModuleError) as caught:
            session.generate_key(0)

    assert caught.value.code is PvErrorCode.STORAGE
    assert (caught.value.slot, caught.value.step) == ("S5", "keygen slot 0")


def test_a_key_generation_slower_than_its_timeout_fails_as_such_not_as_sync(
    simulator: Simulator,
) -> None:
    settings = replace(SETTINGS, keygen_timeout=0.3)
    with open_slot(simulator, 8, settings) as session:
        session.identify()
        with pytest.raises(ModuleBusy) as caught:
            session.generate_key(0)

    assert caught.value.message.startswith(
        "key generation (AT+PVKEYGEN) did not finish within 0.3 s: the module "
        "is still busy"
    )
    assert (caught.value.slot, caught.value.serial, caught.value.step) == (
        "S8",
        "AMB82D001008",
        "keygen slot 0",
    )


def test_an_unplugged_module_is_reopened_and_the_read_resumes(
    simulator: Simulator,
) -> None:
    with open_slot(simulator, 6) as session:
        session.identify()
        session.generate_key(0)
        csr_der = session.read_object(PvObject.CSR)

        reopened = [r for r in session.recoveries if r.reopened]
    assert [r.step for r in reopened] == ["read CSR"]
    assert "serial port failed during read" in reopened[0].cause
    assert x509.load_der_x509_csr(csr_der).is_signature_valid


def test_an_unplugged_module_is_reopened_and_the_write_starts_over(
    simulator: Simulator, issuer_key: ec.EllipticCurvePrivateKey
) -> None:
    with open_slot(simulator, 7) as session:
        provision(session, issuer_key)

        reopened = [r.step for r in session.recoveries if r.reopened]
    assert reopened == ["write CHAIN"]
    assert simulator.firmware(7).state == "LOCKED"


def test_a_module_not_back_within_the_wait_fails_naming_slot_module_and_step(
    simulator: Simulator,
) -> None:
    settings = replace(SETTINGS, reopen_wait=0.2)
    with open_slot(simulator, 1, settings) as session:
        session.identify()
        unplugged(simulator, 1)

        with pytest.raises(PortGone) as caught:
            session.generate_key(0)

    assert caught.value.message == "module unplugged and not back within 0.2 s"
    assert (caught.value.slot, caught.value.serial, caught.value.step) == (
        "S1",
        "AMB82D001001",
        "keygen slot 0",
    )
    assert simulator.firmware(1).state == "EMPTY"


def test_a_module_replugged_within_the_wait_is_resumed(simulator: Simulator) -> None:
    with open_slot(simulator, 1) as session:
        session.identify()
        unplugged(simulator, 1)
        simulator.replug(1)

        assert session.generate_key(0) is True

    assert simulator.firmware(1).state == "KEY"


def test_a_different_module_seated_in_the_slot_is_refused(
    simulator: Simulator, tmp_path: Path
) -> None:
    link = tmp_path / "slot-S1"
    link.symlink_to(simulator.port(1).port)
    with open_session(str(link), slot="S1", settings=SETTINGS) as session:
        session.identify()
        unplugged(simulator, 1)
        # The operator seats the module of slot 2 where slot 1's was.
        link.unlink()
        link.symlink_to(simulator.port(2).port)

        with pytest.raises(IdentityError) as caught:
            session.generate_key(0)

    assert caught.value.message.startswith(
        "a different module was seated: AMB82D001002 (00:e0:4c:87:00:02) answers "
        "where AMB82D001001 (00:e0:4c:87:00:01) was identified"
    )
    assert (caught.value.slot, caught.value.step) == ("S1", "keygen slot 0")
    assert simulator.firmware(2).state == "EMPTY"


def test_a_module_busy_with_a_command_left_by_another_station_is_waited_for(
    simulator: Simulator,
) -> None:
    with open(simulator.port(8).link, "r+b", buffering=0) as left_behind:
        banner = b""
        while not banner.endswith(b"READY\r\n"):
            banner += left_behind.read(64)
        left_behind.write(b"AT+PVKEYGEN=0,P256\r\n")
    # The module now generates for a second; the new session finds it busy.
    settings = replace(SETTINGS, keygen_timeout=5.0)
    with open_slot(simulator, 8, settings) as session:
        session.capabilities()
        identity = session.identify()

    assert identity.state is SlotState.KEY
    assert [r.step for r in session.recoveries] == ["capabilities"]
    assert "ERROR: 2 (busy)" in session.recoveries[0].cause
