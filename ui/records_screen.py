"""The records screen: look a module up by serial or MAC.

It shows every run the journal holds for the module (provisioning and QA),
each with its steps, the certificate it got (serial, subject, notAfter,
fingerprint) and the QA flags raised on the module.
"""

from __future__ import annotations

import datetime
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from station.journal import Journal, QaFlag, RunStatus
from ui.module_record import ModuleRecord, RunHistory, look_up


class RecordsScreen(Screen[None]):
    """Find a module in the journal and show its records.

    Args:
        journal: The station journal.
    """

    DEFAULT_CSS = """
    RecordsScreen Input {
        margin: 0 1;
    }
    RecordsScreen #records {
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back to the line"),
    ]

    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self._journal = journal

    def compose(self) -> ComposeResult:
        yield Static(" Records: type a module serial or MAC, then Enter", id="title")
        yield Input(placeholder="serial or MAC", id="query")
        with VerticalScroll(id="records"):
            yield Static(id="result")
        yield Footer()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.show_module(event.value)

    def show_module(self, text: str) -> ModuleRecord:
        """Look up ``text`` and show what the journal holds."""
        record = look_up(self._journal, text)
        self.query_one("#result", Static).update(render_record(record))
        return record


def render_record(record: ModuleRecord) -> RenderableType:
    """The records of one module as Rich renderables."""
    if not record.query:
        return Text("Type a serial (AMB82D001001) or a MAC (00:e0:4c:87:00:01).")
    if not record.found:
        return Text(f"No module {record.query} in this station's journal.")
    parts: list[RenderableType] = [_run_block(history) for history in record.runs]
    if record.flags:
        parts.append(Text("QA flags", style="bold underline"))
        parts.extend(_flag_line(flag) for flag in record.flags)
    return Group(*parts)


def _flag_line(flag: QaFlag) -> Text:
    line = Text(f"  {_local(flag.flagged_at)}  run {flag.run_id}: ") + Text(flag.reason)
    if flag.cleared_at is not None:
        line += Text(
            f"  [cleared {_local(flag.cleared_at)} by {flag.cleared_by}: "
            f"{flag.clearance}]",
            style="dim",
        )
    return line


def _run_block(history: RunHistory) -> RenderableType:
    run = history.run
    kind = "QA re-verification" if history.is_qa else "provisioning"
    verdict = _verdict(run.status)
    head = Text()
    head.append(f"{kind} run {run.id}  ", style="bold underline")
    head.append(f" {verdict} ", style="bold reverse")
    head.append(
        f"  {run.serial or '-'}  {run.mac or '-'}  lot {run.lot or '-'}  "
        f"fw {run.firmware or '-'}\n"
        f"  station {run.station}  slot {run.slot} ({run.port})  "
        f"operator {run.operator}  started {_local(run.started_at)}"
    )
    parts: list[RenderableType] = [head]
    if run.status is RunStatus.FAIL:
        parts.append(
            Text(f"  failed at {run.failure_step}: {run.failure_reason}", style="bold")
        )
    if history.certificate is not None:
        parts.append(_certificate_table(history))
    parts.append(_steps_table(history))
    return Group(*parts, Text(""))


def _local(at: datetime.datetime) -> str:
    """A journal time (UTC) in the station's local time, as operators read it."""
    return f"{at.astimezone():%Y-%m-%d %H:%M:%S}"


def _verdict(status: RunStatus) -> str:
    glyphs = {RunStatus.PASS: "✔ ", RunStatus.FAIL: "✘ "}
    return glyphs.get(status, "") + status.value


def _certificate_table(history: RunHistory) -> Table:
    cert = history.certificate
    assert cert is not None
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim")
    table.add_column()
    table.add_row("  certificate", cert.serial)
    table.add_row("  subject", cert.subject)
    table.add_row("  notAfter", f"{cert.not_after:%Y-%m-%d %H:%M:%S} UTC")
    table.add_row("  SHA-256", cert.fingerprint)
    return table


def _steps_table(history: RunHistory) -> Table:
    table = Table(box=None, padding=(0, 1), show_edge=False, pad_edge=False)
    for column in ("  time", "step", "phase", "ok", "detail"):
        table.add_column(column, style="dim" if column == "  time" else "")
    for step in history.steps:
        ok = {None: "", True: "ok", False: "FAILED"}[step.ok]
        at = step.at.astimezone()
        table.add_row(f"  {at:%H:%M:%S}", step.step, step.phase, ok, step.detail)
    return table
