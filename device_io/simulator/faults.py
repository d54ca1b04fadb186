"""Misbehaviours a simulated module can be switched to, per slot.

A misbehaviour is written ``KIND`` or ``KIND:ARG`` and given to a slot as
``SLOT=KIND[:ARG]`` (slots are 1-based). Each kind acts at one seam:

- crypto: how the module makes keys, CSRs and signatures (``CryptoEngine``);
- storage: what its flash accepts and how long key generation takes;
- identity: which nameplate it reports (set up by the simulator);
- line: whole lines added to its replies (``LinkFaults.shape``);
- byte: bytes damaged on the wire in either direction (``LinkFaults``);
- event: a reset or an unplug fired by a command (``LinkFaults.trigger``);
- contract: an answer of the firmware that departs from the PV contract
  (``ContractBreaks``), so that each check of the conformance runner can be
  shown to catch the firmware bug it is there for.

Adding a kind means one enum member, one line in ``_APPLY`` and the code at
its seam; nothing else has to change.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import StrEnum

from device_io.errors import PvErrorCode
from device_io.simulator.command import PV_COMMANDS
from device_io.simulator.errors import FaultSpecError


class Misbehaviour(StrEnum):
    """The kinds of misbehaviour, by the name used on the command line."""

    BAD_CSR_SIGNATURE = "bad-csr-signature"
    CSR_WRONG_SERIAL = "csr-wrong-serial"
    RSA_KEY = "rsa-key"
    P384_KEY = "p384-key"
    BAD_CHALLENGE_SIGNATURE = "bad-challenge-signature"
    CORRUPT_CSR = "corrupt-csr"
    FLASH_FULL = "flash-full"
    SLOW_KEYGEN = "slow-keygen"
    WRONG_IDENTITY = "wrong-identity"
    CLONE_OF = "clone-of"
    ECHO = "echo"
    STRAY_LINES = "stray-lines"
    BIT_ERRORS = "bit-errors"
    DROP_BYTES = "drop-bytes"
    REPEAT_BYTES = "repeat-bytes"
    RESET_MID_COMMAND = "reset-mid-command"
    UNPLUG = "unplug"
    WRONG_ERROR_CODE = "wrong-error-code"
    BAD_READ_CRC = "bad-read-crc"
    LONG_LAST_CHUNK = "long-last-chunk"
    LYING_WRITE_STATUS = "lying-write-status"
    COMMIT_SKIPS_HASH = "commit-skips-hash"
    COMMIT_SKIPS_KEY_CHECK = "commit-skips-key-check"
    REKEY_OVER_CHAIN = "rekey-over-chain"


# What each kind does, as the command line's help prints it.
DESCRIPTIONS: dict[Misbehaviour, str] = {
    Misbehaviour.BAD_CSR_SIGNATURE: "the CSR parses but its signature fails",
    Misbehaviour.CSR_WRONG_SERIAL: "the CSR subject names the neighbouring serial",
    Misbehaviour.RSA_KEY: "makes an RSA-2048 key and CSR when asked for P-256",
    Misbehaviour.P384_KEY: "makes a P-384 key and CSR when asked for P-256",
    Misbehaviour.BAD_CHALLENGE_SIGNATURE: "AT+PVSIGN signs with another key",
    Misbehaviour.CORRUPT_CSR: "the stored CSR lost its tail and does not parse",
    Misbehaviour.FLASH_FULL: "every flash write fails with ERROR 6",
    Misbehaviour.SLOW_KEYGEN: "key generation takes ARG seconds (30)",
    Misbehaviour.WRONG_IDENTITY: "reports the neighbouring serial as its own",
    Misbehaviour.CLONE_OF: "reports the nameplate of slot ARG",
    Misbehaviour.ECHO: "repeats each command line before its reply",
    Misbehaviour.STRAY_LINES: "[$] lines between and inside replies, rate ARG (0.2)",
    Misbehaviour.BIT_ERRORS: "one bit flipped per byte at rate ARG (0.001), both ways",
    Misbehaviour.DROP_BYTES: "bytes lost at rate ARG (0.001), both ways",
    Misbehaviour.REPEAT_BYTES: "bytes doubled at rate ARG (0.001), both ways",
    Misbehaviour.RESET_MID_COMMAND: "resets instead of answering command ARG (PVW#2)",
    Misbehaviour.UNPLUG: "port vanishes at command ARG (PVW#2), then returns",
    Misbehaviour.WRONG_ERROR_CODE: (
        "answers ERROR: TO where the contract says FROM, ARG FROM-TO (5-1)"
    ),
    Misbehaviour.BAD_READ_CRC: "every +PVREAD reply carries a wrong CRC-32",
    Misbehaviour.LONG_LAST_CHUNK: (
        "a read reaching the end is padded with zeros to the length asked"
    ),
    Misbehaviour.LYING_WRITE_STATUS: (
        "AT+PVWSTAT? reports next offset 0, whatever has arrived"
    ),
    Misbehaviour.COMMIT_SKIPS_HASH: "AT+PVWCOMMIT does not check the SHA-256",
    Misbehaviour.COMMIT_SKIPS_KEY_CHECK: (
        "AT+PVWCOMMIT accepts a chain whose leaf key is not the slot key"
    ),
    Misbehaviour.REKEY_OVER_CHAIN: (
        "AT+PVKEYGEN NEW replaces a key that has a committed chain"
    ),
}

# The misbehaviours of the crypto seam: they change what the module makes at
# key generation or signing time.
CRYPTO_FLAWS = frozenset(
    {
        Misbehaviour.BAD_CSR_SIGNATURE,
        Misbehaviour.CSR_WRONG_SERIAL,
        Misbehaviour.RSA_KEY,
        Misbehaviour.P384_KEY,
        Misbehaviour.BAD_CHALLENGE_SIGNATURE,
        Misbehaviour.CORRUPT_CSR,
    }
)

# The misbehaviours of the contract seam that are simply on or off.
CONTRACT_FLAWS = frozenset(
    {
        Misbehaviour.BAD_READ_CRC,
        Misbehaviour.LONG_LAST_CHUNK,
        Misbehaviour.LYING_WRITE_STATUS,
        Misbehaviour.COMMIT_SKIPS_HASH,
        Misbehaviour.COMMIT_SKIPS_KEY_CHECK,
        Misbehaviour.REKEY_OVER_CHAIN,
    }
)

DEFAULT_SLOW_KEYGEN = 30.0
# Reporting "bad parameter" for an offset error is the slip a parser that
# validates numbers late makes most easily.
DEFAULT_CODE_SWAP = "5-1"
DEFAULT_STRAY_RATE = 0.2
DEFAULT_BYTE_RATE = 0.001


@dataclass(frozen=True)
class CommandTrigger:
    """Fires on the ``occurrence``-th line of ``command`` since start.

    Attributes:
        command: Command name without ``AT+`` (``PVW``).
        occurrence: Which occurrence fires, counting from 1.
    """

    command: str
    occurrence: int = 1


@dataclass(frozen=True)
class ContractBreaks:
    """Where a module's firmware departs from the PV contract.

    Attributes:
        kinds: The on/off departures (see ``CONTRACT_FLAWS``).
        code_swap: ``(contract, answered)``: the firmware answers the second
            code wherever the contract says the first.
    """

    kinds: frozenset[Misbehaviour] = frozenset()
    code_swap: tuple[PvErrorCode, PvErrorCode] | None = None

    def __contains__(self, kind: Misbehaviour) -> bool:
        return kind in self.kinds

    def error_code(self, code: PvErrorCode) -> PvErrorCode:
        """The code this firmware answers where the contract says ``code``."""
        if self.code_swap is not None and code is self.code_swap[0]:
            return self.code_swap[1]
        return code


@dataclass(frozen=True)
class FaultPlan:
    """Everything that is wrong with one module; the default is a good module."""

    flaws: frozenset[Misbehaviour] = frozenset()
    flash_full: bool = False
    keygen_delay: float | None = None
    wrong_identity: bool = False
    clone_of: int | None = None
    echo: bool = False
    stray_rate: float = 0.0
    bit_error_rate: float = 0.0
    drop_rate: float = 0.0
    repeat_rate: float = 0.0
    reset_on: CommandTrigger | None = None
    unplug_on: CommandTrigger | None = None
    breaks: ContractBreaks = ContractBreaks()
    kinds: tuple[str, ...] = field(default=(), compare=False)

    def with_fault(self, kind: Misbehaviour, arg: str | None) -> FaultPlan:
        """This plan with one more misbehaviour.

        Raises:
            FaultSpecError: ``arg`` is missing, extra or malformed for ``kind``.
        """
        label = kind.value if arg is None else f"{kind.value}:{arg}"
        changed = _APPLY[kind](self, kind, arg)
        return replace(changed, kinds=(*self.kinds, label))

    @property
    def byte_faults(self) -> bool:
        """True when bytes on the wire can be damaged."""
        return any((self.bit_error_rate, self.drop_rate, self.repeat_rate))


def parse_misbehave(spec: str) -> tuple[int, Misbehaviour, str | None]:
    """Split ``SLOT=KIND[:ARG]`` into its parts.

    Raises:
        FaultSpecError: The text does not have that shape or names no kind;
            the message starts with the spec.
    """
    match = re.fullmatch(r"([0-9]{1,4})=([a-z0-9-]+)(?::(.+))?", spec.strip())
    if match is None:
        raise FaultSpecError(f"{spec!r}: not of the form SLOT=KIND[:ARG]")
    slot, kind_name, arg = int(match[1]), match[2], match[3]
    try:
        kind = Misbehaviour(kind_name)
    except ValueError:
        known = ", ".join(member.value for member in Misbehaviour)
        raise FaultSpecError(
            f"{spec!r}: unknown misbehaviour {kind_name!r}; known: {known}"
        ) from None
    return slot, kind, arg


def check_misbehave(spec: str) -> None:
    """Check one spec on its own: its shape, kind and argument.

    Whether its slot exists, or the slot it clones, depends on the fixture
    and is checked by ``build_plans``.

    Raises:
        FaultSpecError: The spec is malformed; the message starts with it.
    """
    _slot, kind, arg = parse_misbehave(spec)
    with _about(spec):
        FaultPlan().with_fault(kind, arg)


def build_plans(specs: Iterable[str], *, slots: int) -> dict[int, FaultPlan]:
    """A fault plan for every slot from 1 to ``slots``.

    Every argument is checked, so a spec that would do nothing (a trigger on
    a command the firmware does not have) is refused rather than ignored.

    Raises:
        FaultSpecError: A spec is malformed, names a slot outside the range,
            or clones a slot that does not exist or itself; the message
            starts with the spec.
    """
    plans = {slot: FaultPlan() for slot in range(1, slots + 1)}
    for spec in specs:
        slot, kind, arg = parse_misbehave(spec)
        with _about(spec):
            if slot not in plans:
                raise FaultSpecError(f"slot {slot} is not in 1..{slots}")
            plans[slot] = plans[slot].with_fault(kind, arg)
            _check_clone(slot, plans[slot], slots)
    return plans


@contextmanager
def _about(spec: str) -> Iterator[None]:
    """Name ``spec`` at the head of any refusal raised inside the block."""
    try:
        yield
    except FaultSpecError as exc:
        raise FaultSpecError(f"{spec!r}: {exc}") from None


def _check_clone(slot: int, plan: FaultPlan, slots: int) -> None:
    if plan.clone_of is not None and not (1 <= plan.clone_of <= slots):
        raise FaultSpecError(f"slot {slot} clones slot {plan.clone_of}: no such slot")
    if plan.clone_of == slot:
        raise FaultSpecError(f"slot {slot} cannot be a clone of itself")


# --- argument parsing per kind ----------------------------------------------


def _switched_on(kind: Misbehaviour, arg: str | None) -> bool:
    """A kind that is simply on: it takes no argument."""
    if arg is not None:
        raise FaultSpecError(f"{kind.value} takes no argument, got {arg!r}")
    return True


def _rate(kind: Misbehaviour, arg: str | None, default: float) -> float:
    value = _number(kind, arg, default)
    if not 0.0 <= value <= 1.0:
        raise FaultSpecError(f"{kind.value} rate must be within 0..1, got {arg}")
    return value


def _number(kind: Misbehaviour, arg: str | None, default: float) -> float:
    if arg is None:
        return default
    try:
        value = float(arg)
    except ValueError:
        raise FaultSpecError(f"{kind.value} needs a number, got {arg!r}") from None
    if not value >= 0:
        raise FaultSpecError(f"{kind.value} needs a non-negative number, got {arg}")
    if not math.isfinite(value):
        raise FaultSpecError(f"{kind.value} needs a finite number, got {arg}")
    return value


def _trigger(kind: Misbehaviour, arg: str | None) -> CommandTrigger:
    match = re.fullmatch(r"([A-Z][A-Z0-9]*)(?:#([0-9]{1,6}))?", arg or "PVW#2")
    if match is None or (match[2] or "1").startswith("0"):
        raise FaultSpecError(f"{kind.value} needs COMMAND[#N], got {arg!r}")
    if match[1] not in PV_COMMANDS:
        known = ", ".join(sorted(PV_COMMANDS))
        raise FaultSpecError(
            f"{kind.value}: no PV command {match[1]!r} to fire on; known: {known}"
        )
    return CommandTrigger(match[1], int(match[2] or 1))


def _code_swap(kind: Misbehaviour, arg: str | None) -> tuple[PvErrorCode, PvErrorCode]:
    match = re.fullmatch(r"(\d{1,2})-(\d{1,2})", arg or DEFAULT_CODE_SWAP)
    known = {code.value for code in PvErrorCode}
    if match is None or not {int(match[1]), int(match[2])} <= known:
        raise FaultSpecError(f"{kind.value} needs FROM-TO error codes, got {arg!r}")
    if match[1] == match[2]:
        raise FaultSpecError(f"{kind.value} needs two different codes, got {arg!r}")
    return PvErrorCode(int(match[1])), PvErrorCode(int(match[2]))


def _slot(kind: Misbehaviour, arg: str | None) -> int:
    if arg is None or not re.fullmatch(r"[0-9]{1,4}", arg):
        raise FaultSpecError(f"{kind.value} needs the slot to copy, got {arg!r}")
    return int(arg)


_Apply = Callable[[FaultPlan, Misbehaviour, str | None], FaultPlan]


def _flaw(plan: FaultPlan, kind: Misbehaviour, arg: str | None) -> FaultPlan:
    _switched_on(kind, arg)
    return replace(plan, flaws=plan.flaws | {kind})


def _contract_flaw(plan: FaultPlan, kind: Misbehaviour, arg: str | None) -> FaultPlan:
    _switched_on(kind, arg)
    breaks = replace(plan.breaks, kinds=plan.breaks.kinds | {kind})
    return replace(plan, breaks=breaks)


_APPLY: dict[Misbehaviour, _Apply] = {
    **dict.fromkeys(CRYPTO_FLAWS, _flaw),
    **dict.fromkeys(CONTRACT_FLAWS, _contract_flaw),
    Misbehaviour.WRONG_ERROR_CODE: lambda plan, kind, arg: replace(
        plan, breaks=replace(plan.breaks, code_swap=_code_swap(kind, arg))
    ),
    Misbehaviour.FLASH_FULL: lambda plan, kind, arg: replace(
        plan, flash_full=_switched_on(kind, arg)
    ),
    Misbehaviour.SLOW_KEYGEN: lambda plan, kind, arg: replace(
        plan, keygen_delay=_number(kind, arg, DEFAULT_SLOW_KEYGEN)
    ),
    Misbehaviour.WRONG_IDENTITY: lambda plan, kind, arg: replace(
        plan, wrong_identity=_switched_on(kind, arg)
    ),
    Misbehaviour.CLONE_OF: lambda plan, kind, arg: replace(
        plan, clone_of=_slot(kind, arg)
    ),
    Misbehaviour.ECHO: lambda plan, kind, arg: replace(
        plan, echo=_switched_on(kind, arg)
    ),
    Misbehaviour.STRAY_LINES: lambda plan, kind, arg: replace(
        plan, stray_rate=_rate(kind, arg, DEFAULT_STRAY_RATE)
    ),
    Misbehaviour.BIT_ERRORS: lambda plan, kind, arg: replace(
        plan, bit_error_rate=_rate(kind, arg, DEFAULT_BYTE_RATE)
    ),
    Misbehaviour.DROP_BYTES: lambda plan, kind, arg: replace(
        plan, drop_rate=_rate(kind, arg, DEFAULT_BYTE_RATE)
    ),
    Misbehaviour.REPEAT_BYTES: lambda plan, kind, arg: replace(
        plan, repeat_rate=_rate(kind, arg, DEFAULT_BYTE_RATE)
    ),
    Misbehaviour.RESET_MID_COMMAND: lambda plan, kind, arg: replace(
        plan, reset_on=_trigger(kind, arg)
    ),
    Misbehaviour.UNPLUG: lambda plan, kind, arg: replace(
        plan, unplug_on=_trigger(kind, arg)
    ),
}
