"""The station's session against the simulator: two independent readings of
the PV contract meeting over a real pty."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sim_bench import TestCa

from device_io.errors import ModuleError, PvErrorCode
from device_io.pv import PvObject, SlotState
from device_io.session import SessionSettings, open_session
from device_io.simulator.simulator import Simulator

Simulate = Callable[..., Simulator]
SETTINGS = SessionSettings(command_timeout=1.0, keygen_timeout=5.0)


def _provision(link: str, ca: TestCa) -> SlotState:
    with open_session(link, slot="1", settings=SETTINGS) as session:
        session.capabilities()
        session.identify()
        session.generate_key()
        csr = x509.load_der_x509_csr(session.read_object(PvObject.CSR))
        public_key = csr.public_key()
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        session.write_object(
            PvObject.CHAIN, ca.chain_for(session.read_object(PvObject.PUB))
        )
        session.sign_challenge(0, secrets.token_bytes(32), public_key=public_key)
        session.lock()
        return session.identify().state


def test_session_provisions_a_simulated_module(simulate: Simulate, ca: TestCa) -> None:
    simulator = simulate()

    assert _provision(simulator.port(1).link, ca) is SlotState.LOCKED
    assert simulator.firmware(1).state == "LOCKED"


@pytest.mark.parametrize(
    "misbehave",
    [
        ("1=echo", "1=stray-lines:0.3"),
        ("1=reset-mid-command:PVW#2",),
        ("1=bit-errors:0.001",),
    ],
    ids=["echo and stray lines", "reset mid write", "bit errors"],
)
def test_session_provisions_through_link_faults(
    simulate: Simulate, ca: TestCa, misbehave: tuple[str, ...]
) -> None:
    simulator = simulate(misbehave=misbehave)

    assert _provision(simulator.port(1).link, ca) is SlotState.LOCKED


def test_session_sees_the_refusal_of_a_chain_for_another_key(
    simulate: Simulate, ca: TestCa
) -> None:
    simulator = simulate()
    stranger = ec.generate_private_key(ec.SECP256R1()).public_key()

    with open_session(simulator.port(1).link, slot="1", settings=SETTINGS) as session:
        session.generate_key()
        chain = ca.chain_for(
            stranger.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        )
        with pytest.raises(ModuleError) as refusal:
            session.write_object(PvObject.CHAIN, chain)

    assert refusal.value.code is PvErrorCode.CHAIN_INVALID
    assert simulator.firmware(1).state == "KEY"
