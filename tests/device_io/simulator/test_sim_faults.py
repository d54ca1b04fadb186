"""Misbehaviour specs and the link faults they switch on."""

from __future__ import annotations

from pathlib import Path

import pytest
from sim_bench import NAMEPLATE

from device_io.simulator.command import PV_COMMANDS
from device_io.simulator.crypto_engine import CryptoEngine
from device_io.simulator.errors import FaultSpecError
from device_io.simulator.faults import (
    DESCRIPTIONS,
    CommandTrigger,
    FaultPlan,
    Misbehaviour,
    build_plans,
    parse_misbehave,
)
from device_io.simulator.firmware import Firmware, FirmwareLimits
from device_io.simulator.flash import Flash
from device_io.simulator.link_faults import STRAY_LINES, LinkEvent, LinkFaults

REPLY = [b"+PVCAP:1,120,4096", b"OK"]


def test_spec_splits_into_slot_kind_and_argument() -> None:
    assert parse_misbehave("3=rsa-key") == (3, Misbehaviour.RSA_KEY, None)
    assert parse_misbehave("12=bit-errors:0.01") == (
        12,
        Misbehaviour.BIT_ERRORS,
        "0.01",
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("rsa-key", "SLOT=KIND"),
        ("1=teleport", "unknown misbehaviour 'teleport'"),
        ("1=rsa-key:2", "takes no argument"),
        ("1=bit-errors:2", "within 0..1"),
        ("1=bit-errors:lots", "needs a number"),
        ("1=slow-keygen:-1", "needs a number|non-negative"),
        ("1=clone-of", "needs the slot"),
        ("1=clone-of:1", "clone of itself"),
        ("1=clone-of:9", "no such slot"),
        ("1=reset-mid-command:pvw", "COMMAND"),
        ("1=unplug:PVW#0", "COMMAND"),
        ("5=echo", "slot 5 is not in 1..4"),
        ("0=echo", "slot 0 is not in 1..4"),
    ],
)
def test_malformed_spec_is_refused_with_a_reason(spec: str, message: str) -> None:
    with pytest.raises(FaultSpecError, match=message):
        build_plans([spec], slots=4)


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("9=echo", "slot 9 is not in 1..4"),
        ("2=nope", "unknown misbehaviour 'nope'"),
        ("2=clone-of:2", "slot 2 cannot be a clone of itself"),
        ("2=clone-of:7", "slot 2 clones slot 7: no such slot"),
        ("2=clone-of:\u0663", "needs the slot to copy"),
        ("2=unplug:XYZ", "no PV command 'XYZ'"),
        ("2=reset-mid-command:PVWX#2", "no PV command 'PVWX'"),
        ("2=unplug:PVW#", "needs COMMAND[#N]"),
        ("2=slow-keygen:inf", "finite"),
        ("2=slow-keygen:1e400", "finite"),
        ("2=bit-errors:nan", "non-negative"),
        ("2=echo:", "SLOT=KIND"),
        ("\u0662=echo", "SLOT=KIND"),
    ],
)
def test_every_refused_spec_is_named_with_its_reason(spec: str, reason: str) -> None:
    with pytest.raises(FaultSpecError) as caught:
        build_plans(["1=echo", spec], slots=4)

    assert str(caught.value).startswith(f"{spec!r}: ")
    assert reason in str(caught.value)


def test_a_trigger_can_name_every_command_the_firmware_knows(tmp_path: Path) -> None:
    firmware = Firmware(
        nameplate=NAMEPLATE,
        flash=Flash(tmp_path / "flash.json"),
        limits=FirmwareLimits(keygen_delay=0),
        engine=CryptoEngine(frozenset()),
    )

    assert firmware.commands == PV_COMMANDS
    for name in firmware.commands:
        plan = build_plans([f"1=unplug:{name}#3"], slots=1)[1]
        assert plan.unplug_on == CommandTrigger(name, 3)


def test_plans_collect_every_kind_per_slot() -> None:
    plans = build_plans(
        [
            "1=rsa-key",
            "1=bad-challenge-signature",
            "2=slow-keygen",
            "2=flash-full",
            "3=clone-of:1",
            "3=wrong-identity",
            "4=stray-lines",
            "4=bit-errors:0.5",
            "4=drop-bytes",
            "4=repeat-bytes:0.25",
            "4=reset-mid-command:PVWCOMMIT",
            "4=unplug",
            "4=echo",
        ],
        slots=5,
    )

    assert plans[1].flaws == {
        Misbehaviour.RSA_KEY,
        Misbehaviour.BAD_CHALLENGE_SIGNATURE,
    }
    assert (plans[2].keygen_delay, plans[2].flash_full) == (30.0, True)
    assert (plans[3].clone_of, plans[3].wrong_identity) == (1, True)
    assert plans[4].stray_rate == 0.2
    assert (plans[4].bit_error_rate, plans[4].drop_rate) == (0.5, 0.001)
    assert plans[4].repeat_rate == 0.25
    assert plans[4].reset_on == CommandTrigger("PVWCOMMIT", 1)
    assert plans[4].unplug_on == CommandTrigger("PVW", 2)
    assert plans[4].echo
    assert plans[5] == FaultPlan()


def test_every_kind_has_a_description_and_an_application() -> None:
    args = {
        Misbehaviour.CLONE_OF: "2",
    }

    for kind in Misbehaviour:
        assert DESCRIPTIONS[kind]
        plan = FaultPlan().with_fault(kind, args.get(kind))
        assert plan != FaultPlan(), kind


def test_good_module_link_passes_bytes_and_lines_unchanged() -> None:
    faults = LinkFaults(FaultPlan(), seed=1)

    assert faults.inbound(b"AT+PVID?\r\n") == b"AT+PVID?\r\n"
    assert faults.outbound(b"OK\r\n") == b"OK\r\n"
    assert faults.echo(b"AT+PVID?") == []
    assert faults.shape(REPLY) == REPLY
    assert faults.trigger("PVW") is None


def test_echo_repeats_the_command_line() -> None:
    faults = LinkFaults(FaultPlan(echo=True), seed=1)

    assert faults.echo(b"AT+PVCAP?") == [b"AT+PVCAP?"]


def test_stray_lines_are_whole_lines_between_and_inside_replies() -> None:
    faults = LinkFaults(FaultPlan(stray_rate=0.5), seed=7)

    shaped = [faults.shape(REPLY) for _ in range(200)]

    assert all([line for line in s if line not in STRAY_LINES] == REPLY for s in shaped)
    positions = {s.index(b"+PVCAP:1,120,4096") for s in shaped}
    assert positions == {0, 1}
    assert any(s[-1] in STRAY_LINES for s in shaped)
    assert any(s[-2] in STRAY_LINES for s in shaped)


def test_bit_errors_flip_one_bit_in_about_the_rate_of_bytes() -> None:
    faults = LinkFaults(FaultPlan(bit_error_rate=0.01), seed=3)
    data = bytes(100_000)

    damaged = faults.outbound(data)

    assert len(damaged) == len(data)
    assert all(bin(byte).count("1") <= 1 for byte in damaged)
    assert 700 < sum(1 for byte in damaged if byte) < 1300


def test_dropped_and_repeated_bytes_change_the_length_at_their_rates() -> None:
    dropping = LinkFaults(FaultPlan(drop_rate=0.01), seed=4)
    repeating = LinkFaults(FaultPlan(repeat_rate=0.01), seed=4)
    data = bytes(range(256)) * 400

    assert 102_400 - 1300 < len(dropping.inbound(data)) < 102_400 - 700
    assert 102_400 + 700 < len(repeating.inbound(data)) < 102_400 + 1300


def test_same_seed_gives_the_same_noise() -> None:
    plan = FaultPlan(bit_error_rate=0.05, drop_rate=0.05, repeat_rate=0.05)
    data = b"AT+PVREAD=CSR,0,60\r\n" * 50

    assert LinkFaults(plan, seed=9).inbound(data) == LinkFaults(plan, seed=9).inbound(
        data
    )


def test_trigger_fires_once_on_the_chosen_occurrence() -> None:
    plan = FaultPlan(
        reset_on=CommandTrigger("PVW", 2), unplug_on=CommandTrigger("PVWCOMMIT", 1)
    )
    faults = LinkFaults(plan, seed=1)

    events = [
        faults.trigger(name)
        for name in ("PVW", "PVID", "PVW", "PVW", "PVWCOMMIT", "PVWCOMMIT")
    ]

    assert events == [None, None, LinkEvent.RESET, None, LinkEvent.UNPLUG, None]
