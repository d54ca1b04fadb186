"""The PV conformance runner: checks a module's firmware against the contract.

``run_conformance`` opens the module's port through the station's own serial
stack (``SerialPort`` with a tap, ``Link``) and runs every check of
docs/pv-commands.md in order, reporting each one as it finishes. The checks
live by concept in ``conformance_checks_link``, ``_keys``, ``_writes`` and
``_life``; a ``Probe`` drives the module for them.

The run starts with ``AT+PVRESET=<serial>`` (a locked module cannot be tested)
and, unless it was allowed to lock, ends with it too, so the module is left
EMPTY. Locking is irreversible on real hardware: the lock checks run only with
``ConformanceOptions(lock=True)``.

A reply the link may have damaged is asked again once where that is safe
(``conformance_probe``); a check that link damage keeps from a verdict ends
as NOISE, neither passed nor failed, and the run resyncs and goes on.

A failed check keeps its transcript: every command it sent with the lines
the link read as the reply (``conformance_tap``), then whatever the module
still sent, drained so it cannot pass for the next check's reply. A check
that fails with a link error (timeout, noise, a reset banner) is followed by
a resync; a module that stops answering ends the run, and the checks left
are reported as skipped. So does a port that disappears: the report's
``port_failure`` names the port and the check it went during.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from device_io.conformance_ca import ThrowawayCa
from device_io.conformance_check import Check, When, check_plan
from device_io.conformance_checks_keys import KEY_CHECKS
from device_io.conformance_checks_life import LIFE_CHECKS
from device_io.conformance_checks_link import LINK_CHECKS
from device_io.conformance_checks_writes import WRITE_CHECKS
from device_io.conformance_noise import DamagedReply
from device_io.conformance_probe import (
    ContractBreach,
    Evidence,
    ModuleNotTestable,
    Probe,
    Timeouts,
)
from device_io.conformance_tap import Exchange, Recorder
from device_io.errors import DeviceError, LinkError, PortError
from device_io.link import Link, LinkSettings
from device_io.serial_port import PortSettings, SerialPort

logger = logging.getLogger(__name__)

__all__ = [
    "PLAN",
    "CheckResult",
    "ConformanceOptions",
    "ConformanceReport",
    "ContractBreach",
    "DamagedReply",
    "Evidence",
    "ModuleNotTestable",
    "PortLoss",
    "Timeouts",
    "Verdict",
    "run_conformance",
]

PLAN: tuple[Check, ...] = check_plan(
    [
        *LINK_CHECKS.checks,
        *KEY_CHECKS.checks,
        *WRITE_CHECKS.checks,
        *LIFE_CHECKS.checks,
    ]
)
"""Every check, in the order a run performs them."""


class Verdict(StrEnum):
    """The outcome of one check."""

    # A verdict, not a password.
    PASS = "PASS"  # noqa: S105
    FAIL = "FAIL"
    SKIP = "SKIP"
    # Link damage kept the check from a verdict on the firmware.
    NOISE = "NOISE"


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome.

    Attributes:
        check: The check.
        verdict: Pass, fail, skip or noise.
        detail: What a pass found, why it failed, why it was skipped, or what
            link damage kept it from a verdict.
        exchanges: On a failure or noise, the bytes the check exchanged with
            the module.
        evidence: On a failure, bytes read earlier that the verdict was made
            on, if any.
        noted: Commands asked again after link damage during the check.
    """

    check: Check
    verdict: Verdict
    detail: str = ""
    exchanges: tuple[Exchange, ...] = ()
    evidence: Evidence | None = None
    noted: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The check's name."""
        return self.check.name


@dataclass(frozen=True)
class PortLoss:
    """The module's port disappeared mid-run (unplugged, or its other end closed).

    Attributes:
        port: The port's path.
        slot: The fixture slot, when the run was given one.
        check: The check that was running when the port went, or the failed
            check whose leftover replies were being read.
        after: True when the port went after ``check`` had ended, while its
            leftover replies were read or the link was resynchronised.
    """

    port: str
    slot: str | None
    check: str
    after: bool = False


@dataclass(frozen=True)
class ConformanceReport:
    """The outcome of a run.

    Attributes:
        port: The port the module was on.
        lock: Whether the run was allowed to lock the module.
        results: Every check's result, in run order.
        serial: The module's serial, once read.
        final_state: Slot 0 state at the end (``EMPTY``, ``LOCKED``...), or
            None when the module could not be asked.
        port_failure: Where the port disappeared mid-run, if it did.
    """

    port: str
    lock: bool
    results: tuple[CheckResult, ...]
    serial: str | None = None
    final_state: str | None = None
    port_failure: PortLoss | None = None

    def count(self, verdict: Verdict) -> int:
        """How many checks ended with ``verdict``."""
        return sum(result.verdict is verdict for result in self.results)

    @property
    def failed(self) -> list[CheckResult]:
        """The checks that failed."""
        return [result for result in self.results if result.verdict is Verdict.FAIL]

    @property
    def damaged(self) -> list[CheckResult]:
        """The checks link damage kept from a verdict."""
        return [result for result in self.results if result.verdict is Verdict.NOISE]

    @property
    def passed(self) -> bool:
        """True when no check failed or went without a verdict, and the port
        held to the end."""
        return not self.failed and not self.damaged and self.port_failure is None


@dataclass(frozen=True, kw_only=True)
class ConformanceOptions:
    """How a run drives the module.

    Attributes:
        lock: Run the lock checks, which lock the module for good.
        slot: Fixture slot name, for logs and errors.
        timeouts: Reply timeouts per kind of command.
        port: How the port is opened.
        link: Resynchronisation after a link error.
    """

    lock: bool = False
    slot: str | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    port: PortSettings = field(default_factory=PortSettings)
    link: LinkSettings = field(default_factory=LinkSettings)


ResultListener = Callable[[CheckResult], None]


def run_conformance(
    port: str,
    options: ConformanceOptions | None = None,
    *,
    listener: ResultListener | None = None,
) -> ConformanceReport:
    """Run every check against the module on ``port``.

    Args:
        port: Device path of the module's serial port.
        options: Locking, timeouts and port settings.
        listener: Called with each result as soon as its check ends.

    Returns:
        The report; ``report.passed`` says whether the module conforms.

    Raises:
        PortError: The port cannot be opened.
        ModuleNotTestable: No module answers on the port, or it is locked,
            so it cannot be tested.
    """
    options = options or ConformanceOptions()
    recorder = Recorder()
    with SerialPort.open(port, slot=options.slot, settings=options.port) as opened:
        probe = Probe(
            Link(opened, options.link, tap=recorder),
            recorder,
            timeouts=options.timeouts,
            ca=ThrowawayCa(),
        )
        report = _Run(port, probe, options, listener).run()
    logger.info(
        "conformance run on %s: %d passed, %d failed, %d skipped",
        port,
        report.count(Verdict.PASS),
        report.count(Verdict.FAIL),
        report.count(Verdict.SKIP),
    )
    return report


class _Run:
    """One pass through the plan against one module."""

    def __init__(
        self,
        port: str,
        probe: Probe,
        options: ConformanceOptions,
        listener: ResultListener | None,
    ) -> None:
        self._port = port
        self._probe = probe
        self._options = options
        self._listener = listener
        self._results: dict[str, CheckResult] = {}
        self._stopped: str | None = None
        self._port_failure: PortLoss | None = None

    def run(self) -> ConformanceReport:
        for check in PLAN:
            result = self._result(check)
            self._results[check.name] = result
            logger.debug("%s: %s %s", check.name, result.verdict, result.detail)
            if self._listener is not None:
                self._listener(result)

        identity = self._probe.learnt.identity
        return ConformanceReport(
            port=self._port,
            lock=self._options.lock,
            results=tuple(self._results.values()),
            serial=identity.serial if identity else None,
            final_state=self._final_state(),
            port_failure=self._port_failure,
        )

    def _result(self, check: Check) -> CheckResult:
        reason = self._skip_reason(check)
        if reason:
            return CheckResult(check, Verdict.SKIP, reason)

        self._probe.recorder.clear()
        self._probe.judge.noted.clear()
        try:
            detail = check.run(self._probe)
        except ModuleNotTestable:
            raise
        except PortError as exc:
            # A vanished port says nothing about the firmware: no verdict.
            self._lose_port(exc, check, after=False)
            return CheckResult(
                check,
                Verdict.SKIP,
                "no verdict: the port disappeared during this check",
                tuple(self._probe.recorder.exchanges),
            )
        except (LinkError, DamagedReply) as exc:
            if not self._results and isinstance(exc, LinkError):
                raise _silent_module(exc) from exc
            self._drain(check)
            failure = self._failure(check, exc)
            self._resync(check)
            return failure
        except DeviceError as exc:
            self._drain(check)
            return self._failure(check, exc)
        return CheckResult(
            check, Verdict.PASS, detail or "", noted=tuple(self._probe.judge.noted)
        )

    def _drain(self, check: Check) -> None:
        """Read what the module still sends after a check failed.

        Those lines belong in the failing check's transcript, after the
        exchange that failed, not among the next check's replies.
        """
        try:
            self._probe.link.drain()
        except PortError as exc:
            self._lose_port(exc, check, after=True)

    def _skip_reason(self, check: Check) -> str | None:
        if self._stopped:
            return self._stopped
        if check.when is When.LOCKING and not self._options.lock:
            return "needs --lock (locking is irreversible)"
        if check.when is When.NOT_LOCKING and self._options.lock:
            return "not run when the run locks the module"
        for name in check.requires:
            if self._results[name].verdict is not Verdict.PASS:
                return f"needs {name}"
        return None

    def _failure(self, check: Check, exc: DeviceError) -> CheckResult:
        verdict = Verdict.NOISE if isinstance(exc, DamagedReply) else Verdict.FAIL
        exchanges = tuple(self._probe.recorder.exchanges)
        evidence = exc.evidence if isinstance(exc, ContractBreach) else None
        noted = tuple(self._probe.judge.noted)
        return CheckResult(check, verdict, exc.message, exchanges, evidence, noted)

    def _resync(self, check: Check) -> None:
        if self._stopped:
            return
        try:
            self._probe.link.resync()
        except PortError as exc:
            self._lose_port(exc, check, after=True)
        except LinkError as exc:
            self._stopped = f"the module stopped answering after {check.name}"
            logger.warning("%s: %s", self._stopped, exc.message)

    def _lose_port(self, exc: PortError, check: Check, *, after: bool) -> None:
        """Stop the run: the port is gone, so no later check can run."""
        exc.with_context(port=self._port, slot=self._options.slot, step=check.name)
        when = "after" if after else "during"
        self._stopped = f"the port disappeared {when} {check.name}"
        # The driver's own words are for the log; the report says where the
        # port went in the station's words.
        logger.info("%s: %s", self._stopped, exc)

        self._port_failure = PortLoss(
            port=exc.port or self._port, slot=exc.slot, check=check.name, after=after
        )

    def _final_state(self) -> str | None:
        if self._port_failure is not None or self._probe.learnt.identity is None:
            return None
        try:
            return self._probe.identity().state
        except DeviceError as exc:
            logger.warning("cannot read the module's final state: %s", exc.message)
            return None


def _silent_module(exc: LinkError) -> ModuleNotTestable:
    """The first check got no answer: there is no module to test."""
    return ModuleNotTestable(
        f"no module answers AT+PVSYNC: {exc.message}",
        port=exc.port,
        slot=exc.slot,
        step="link.sync",
    )
