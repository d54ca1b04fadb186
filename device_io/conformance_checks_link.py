"""Conformance checks of the link, the capabilities, the identity and the
module's handling of malformed lines; and the reset that starts a run."""

from __future__ import annotations

import re
import secrets

from device_io.conformance_check import CheckList
from device_io.conformance_probe import ContractBreach, ModuleNotTestable, Probe
from device_io.errors import IdentityError, LinkNoise, PvErrorCode
from device_io.identity import ModuleIdentity
from device_io.link import UNSOLICITED_PREFIX
from device_io.pv import (
    LINE_OVERHEAD,
    PV_VERSION,
    Capabilities,
    InfoLine,
    PvObject,
    RawIdentity,
    SlotState,
    WriteStatus,
    cmd_cap,
    cmd_hash,
    cmd_id,
    cmd_read,
    cmd_sign,
    cmd_sync,
    cmd_wbegin,
    longest_command,
    parse_sync,
    read_reply_overhead,
)

LINK_CHECKS = CheckList()
check = LINK_CHECKS.check

# The five identity fields quoted, then the state, as DESIGN section 3 writes it.
_PVID_LINE = re.compile(rb'\+PVID:"[^"]*","[^"]*","[^"]*","[^"]*","[^"]*",[A-Z]+')
# Long enough to overflow any console buffer sized for its max line.
_OVERLONG_FACTOR = 4
_CHALLENGE = bytes(range(32))


@check("link.sync", "AT+PVSYNC=<8 hex> echoes the value it was sent, every time")
def _sync(probe: Probe) -> str:
    probe.link.resync()

    for _ in range(2):
        _echo(probe, secrets.token_hex(4), "")

    return _link_habits(probe)


def _echo(probe: Probe, token: str, after: str) -> None:
    """``AT+PVSYNC=<token>`` must echo the token."""

    def echoed(info: InfoLine) -> None:
        echo = parse_sync(info)
        if echo != token:
            raise ContractBreach(f"sent {token}{after}, +PVSYNC echoed {echo}")

    probe.reply(cmd_sync(token), "PVSYNC", echoed)


def _link_habits(probe: Probe) -> str:
    """Echo and unsolicited lines seen so far: allowed, and worth knowing."""
    echo = stray = 0
    for exchange in probe.recorder.exchanges:
        lines = exchange.reply_lines()
        command = exchange.sent.removesuffix(b"\r\n")
        # The bare CRLF of the resync has no echo to tell from a blank line.
        echo += bool(command) and command in lines
        stray += sum(line.startswith(UNSOLICITED_PREFIX.encode()) for line in lines)
    return f"echo {'on' if echo else 'off'}, {stray} [$] lines seen"


@check(
    "pvcap.format",
    "AT+PVCAP? answers +PVCAP:<version>,<max line>,<max object>, the same twice",
    requires=["link.sync"],
)
def _capabilities(probe: Probe) -> str:
    caps = probe.judge.settled(
        lambda: probe.reply(cmd_cap(), "PVCAP", Capabilities.parse), "AT+PVCAP?"
    )

    probe.learnt.caps = caps
    return (
        f"version {caps.version}, max line {caps.max_line}, "
        f"max object {caps.max_object}"
    )


@check("pvcap.version", f"the PV version is {PV_VERSION}", requires=["pvcap.format"])
def _version(probe: Probe) -> None:
    if probe.caps.version != PV_VERSION:
        raise ContractBreach(
            f"module speaks PV version {probe.caps.version}, not {PV_VERSION}"
        )


@check(
    "pvcap.limits",
    "max line and max object leave room for every command, a chunk and a "
    "two-certificate chain",
    requires=["pvcap.format"],
)
def _limits(probe: Probe) -> str:
    caps = probe.caps
    needed = max(longest_command(caps.max_object), LINE_OVERHEAD + 4)
    if caps.max_line < needed:
        raise ContractBreach(f"max line {caps.max_line} is below the {needed} needed")
    if read_reply_overhead(caps.max_object) > LINE_OVERHEAD:
        raise ContractBreach(
            f"max object {caps.max_object} is too large for the chunk rule"
        )

    sample = len(probe.ca.chain_for_another_key("0" * 24))
    if caps.max_object < sample:
        raise ContractBreach(
            f"max object {caps.max_object} cannot hold a {sample}-byte chain "
            "(leaf and issuing CA)"
        )
    return f"chunks of {probe.chunk} bytes"


@check(
    "pvid.format",
    'AT+PVID? answers +PVID:"<serial>","<mac>","<model>","<lot>","<fw>",<state>, '
    "each field within its rule, the same twice",
    requires=["link.sync"],
)
def _identity(probe: Probe) -> str:
    identity = probe.judge.settled(lambda: _read_identity(probe), "AT+PVID?")

    probe.learnt.identity = identity
    probe.learnt.start_state = identity.state
    return (
        f"{identity.serial}, MAC {identity.mac}, model {identity.model}, "
        f"lot {identity.lot}, firmware {identity.firmware}, {identity.state.value}"
    )


def _read_identity(probe: Probe) -> ModuleIdentity:
    """One ``AT+PVID?``, its reply checked by ``_valid_identity``."""
    return probe.reply(cmd_id(), "PVID", lambda info: _valid_identity(probe, info))


def _valid_identity(probe: Probe, info: InfoLine) -> ModuleIdentity:
    """The identity of a +PVID line written as the contract says, each field
    within its rule."""
    line = probe.raw_line("+PVID:")
    if not _PVID_LINE.fullmatch(line):
        raise ContractBreach(
            f"+PVID line is not five quoted fields and a state: {line!r}"
        )
    try:
        return ModuleIdentity.from_raw(RawIdentity.parse(info))
    except IdentityError as exc:
        raise ContractBreach(exc.message) from exc


@check(
    "pvreset.start",
    "AT+PVRESET=<serial> takes the module to EMPTY before the checks start",
    requires=["pvid.format", "pvcap.limits"],
)
def _reset_at_start(probe: Probe) -> str:
    was = probe.learnt.start_state
    if was is SlotState.LOCKED:
        raise ModuleNotTestable(
            f"module {probe.serial} is LOCKED: a conformance run needs a module "
            "that is not locked"
        )

    probe.reset()
    probe.expect_state(SlotState.EMPTY, "after AT+PVRESET")
    return f"was {was.value if was else 'unknown'}"


@check(
    "robust.unknown-command",
    "an unknown command (AT+PVNOSUCH) is refused with ERROR: 1",
    requires=["link.sync"],
)
def _unknown_command(probe: Probe) -> None:
    probe.refused("AT+PVNOSUCH", PvErrorCode.BAD_PARAMETER)


@check(
    "robust.wrong-form",
    "a command in the wrong form (AT+PVID=1, AT+PVCAP) is refused with ERROR: 1",
    requires=["link.sync"],
)
def _wrong_form(probe: Probe) -> None:
    probe.refused("AT+PVID=1", PvErrorCode.BAD_PARAMETER)
    probe.refused("AT+PVCAP", PvErrorCode.BAD_PARAMETER)


@check(
    "robust.overlong-line",
    "a line longer than max line is refused with ERROR: 1 and the module "
    "answers the next command",
    requires=["pvcap.format"],
    project_rule=True,
)
def _overlong_line(probe: Probe) -> str:
    line = "AT+PVSYNC=" + "0" * (probe.caps.max_line * _OVERLONG_FACTOR)
    try:
        probe.refused(line, PvErrorCode.BAD_PARAMETER)
    except LinkNoise:
        # An echo of what the console kept of the line is not the line sent;
        # the link cannot drop it, so the raw reply is judged here.
        probe.link.drain()
        _judge_overlong_reply(probe, line)

    _echo(probe, secrets.token_hex(4), " after the long line")
    return f"{len(line)} bytes sent"


def _judge_overlong_reply(probe: Probe, line: str) -> None:
    last = probe.recorder.last()
    replies = [
        text
        for text in (last.reply_lines() if last else [])
        if text
        and not text.startswith(UNSOLICITED_PREFIX.encode())
        and not line.encode().startswith(text)
    ]
    if replies[:1] != [b"ERROR: 1"]:
        raise ContractBreach(f"expected ERROR: 1 after any echo, got {replies[:2]}")


@check(
    "pvwstat.none",
    "AT+PVWSTAT? answers +PVWSTAT:NONE when nothing is staged",
    requires=["pvreset.start"],
)
def _nothing_staged(probe: Probe) -> None:
    probe.expect_write_status(WriteStatus(None), "on an EMPTY module")


@check(
    "empty.sign",
    "with no key, AT+PVSIGN=0 is refused with ERROR: 8",
    requires=["pvreset.start"],
)
def _sign_without_key(probe: Probe) -> None:
    probe.refused(cmd_sign(0, _CHALLENGE), PvErrorCode.NO_KEY)


@check(
    "empty.objects",
    "with no key, AT+PVHASH=CSR, AT+PVREAD=PUB and AT+PVWBEGIN=CHAIN are "
    "refused with ERROR: 8",
    requires=["pvreset.start"],
    project_rule=True,
)
def _objects_without_key(probe: Probe) -> None:
    probe.refused(cmd_hash(PvObject.CSR), PvErrorCode.NO_KEY)
    probe.refused(cmd_read(PvObject.PUB, 0, probe.chunk), PvErrorCode.NO_KEY)
    probe.refused(cmd_wbegin(PvObject.CHAIN, 100, "0" * 64), PvErrorCode.NO_KEY)


@check(
    "robust.syntax-first",
    "syntax is checked before state: AT+PVREAD=CSR,x,1 with no key is ERROR: 1",
    requires=["pvreset.start"],
    project_rule=True,
)
def _syntax_before_state(probe: Probe) -> None:
    probe.refused("AT+PVREAD=CSR,x,1", PvErrorCode.BAD_PARAMETER)
