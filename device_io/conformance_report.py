"""How a conformance run reads on a terminal.

One line per check with its verdict, name and what it proves; under it what a
pass found, why a check failed or was skipped (or what link damage kept it
from a verdict), any command asked again after link noise, and for a failure
the bytes
exchanged: ``>`` the command sent, ``<`` each line exactly as received, in
the order the link read it, so the last exchange shown is the one the check
failed on.
"""

from __future__ import annotations

from device_io.conformance import (
    CheckResult,
    ConformanceReport,
    Evidence,
    PortLoss,
    Verdict,
)
from device_io.conformance_tap import CRLF, Exchange, printable
from device_io.pv import b64encode

NAME_WIDTH = 27
INDENT = " " * (6 + NAME_WIDTH)
# A failing check's transcript ends where it failed; the start rarely matters.
SHOWN_EXCHANGES = 6
# Sent lines longer than this (a deliberately over-long line) are cut.
SHOWN_COMMAND = 120
PROJECT_RULE = " [project rule]"
# Marks lines read after the reply only to be discarded.
DRAINED = "  (read after the reply, discarded)"
BASE64_WIDTH = 64
NOISY_LINK = (
    "the link damaged replies: checks it kept from a verdict are not failures "
    "of the firmware; run again over a clean link (a damaged digit that still "
    "reads as a valid reply cannot be told from the firmware's own answer)"
)


def format_header(port: str, *, lock: bool) -> str:
    """The line that opens a run."""
    if lock:
        return (
            f"PV conformance run on {port}, lock checks on: the module will be LOCKED"
        )
    return f"PV conformance run on {port} (lock checks need --lock)"


def format_result(result: CheckResult) -> str:
    """One check: the verdict line, then indented detail and bytes exchanged."""
    check = result.check
    title = check.title + (PROJECT_RULE if check.project_rule else "")
    lines = [f"{result.verdict.value:<6}{check.name:<{NAME_WIDTH}}{title}"]
    if result.detail:
        lines.append(INDENT + result.detail)
    lines.extend(INDENT + f"link noise: {note}" for note in result.noted)
    lines.extend(INDENT + line for line in _transcript(result.exchanges))
    if result.evidence is not None:
        lines.extend(INDENT + line for line in _evidence(result.evidence))
    return "\n".join(lines)


def format_summary(report: ConformanceReport) -> str:
    """The lines that close a run: counts, the state left behind, and last,
    where the port disappeared if it did, since that ended the run."""
    counts = (
        f"{len(report.results)} checks: {report.count(Verdict.PASS)} passed, "
        f"{report.count(Verdict.FAIL)} failed, {report.count(Verdict.SKIP)} skipped"
    )
    if report.damaged:
        counts += f", {len(report.damaged)} without a verdict (link noise)"
    lines = [counts]
    if report.failed:
        lines.append("failed: " + ", ".join(result.name for result in report.failed))
    if report.damaged:
        names = ", ".join(result.name for result in report.damaged)
        lines.append(f"no verdict: {names}")
    if report.damaged or any(result.noted for result in report.results):
        lines.append(NOISY_LINK)
    lines.append(_left_behind(report))
    if any(result.check.project_rule for result in report.results):
        lines.append(
            f"{PROJECT_RULE.strip()}: a rule docs/pv-commands.md sets where "
            "DESIGN section 3 is silent"
        )
    if report.port_failure:
        lines.append(_port_lost(report.port_failure))
    return "\n".join(lines)


def _port_lost(loss: PortLoss) -> str:
    port = f"the port {loss.port}" + (f" (slot {loss.slot})" if loss.slot else "")
    when = "just after" if loss.after else "during"
    return (
        f"{port} disappeared {when} check {loss.check} (unplugged, or its "
        "other end closed): no check after it ran"
    )


def _left_behind(report: ConformanceReport) -> str:
    module = f"module {report.serial}" if report.serial else "the module"
    state = report.final_state
    if state is None:
        return f"{module}: state at the end unknown"
    if state == "EMPTY":
        return f"{module} left EMPTY (reset with AT+PVRESET={report.serial})"
    if state == "LOCKED":
        how = "by this run, as --lock asked" if report.lock else "against the contract"
        return f"{module} left LOCKED ({how}); it cannot be reset"
    return f"{module} left {state}: the final reset did not happen"


def _evidence(evidence: Evidence) -> list[str]:
    """The bytes as base64 lines, ready for ``base64 -d | openssl ...``."""
    text = b64encode(evidence.data)
    lines = [f"{evidence.label} ({len(evidence.data)} bytes, base64):"]
    lines.extend(text[i : i + BASE64_WIDTH] for i in range(0, len(text), BASE64_WIDTH))
    return lines


def _transcript(exchanges: tuple[Exchange, ...]) -> list[str]:
    hidden = max(0, len(exchanges) - SHOWN_EXCHANGES)
    lines = [f"({hidden} earlier exchanges not shown)"] if hidden else []
    for exchange in exchanges[hidden:]:
        lines.extend(_exchange(exchange))
    return lines


def _exchange(exchange: Exchange) -> list[str]:
    lines = []
    if exchange.sent:
        command = exchange.command or "(CRLF)"
        if len(command) > SHOWN_COMMAND:
            command = f"{command[:SHOWN_COMMAND]}... ({len(exchange.sent)} bytes)"
        lines.append(f"> {command}")
    lines.extend(f"< {_received(line)}" for line in exchange.reply)
    if not exchange.reply:
        lines.append("< (nothing)")
    lines.extend(f"< {_received(line)}{DRAINED}" for line in exchange.drained)
    return lines


def _received(frame: bytes) -> str:
    """A line as received: CRLF implied, a bare LF shown, an unfinished line
    said to be one."""
    if frame.endswith(CRLF):
        return printable(frame.removesuffix(CRLF))
    if frame.endswith(b"\n"):
        return printable(frame)
    return printable(frame) + "  (unfinished line)"
