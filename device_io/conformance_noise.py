"""Telling link damage from the firmware's own answer, in a conformance run.

Over a noisy link a check can see a reply the firmware never sent. Some of
that damage shows: a reply that is not a valid reply (noise, a CRC-32 that
does not match its chunk, a reply of the wrong shape), a query's answer that
is not the one the check requires, or a refusal the check does not expect
(the command's bytes may have been changed on the way in). When asking again
is safe (the command changes nothing, or the module refused it), such a
command is asked up to ``ASKS`` times in all, each time after a resync.

The rule that tells the link from the firmware: the firmware answers the same
command the same way each time, so only an answer that changes when asked
again proves link damage. Hence:

- a good answer after a failure is taken, and the damage noted for the report;
- failures that differ keep the check from a verdict (``DamagedReply``):
  a reply that reads well but contradicts the contract by what it says, an
  unreadable one (noise, a CRC-32 mismatch) also by its bytes, so that two
  damages that read alike ("65 characters of hex") still differ;
- the same failure every time is the firmware's answer, and is judged (no
  link noise is noted for it) -- except a refusal or silence over a link that
  has been seen to damage bytes during the run: those carry nothing that would
  differ with the damage (the module refuses a command line damaged on the way
  in with the same code however it was damaged), so there the same answer each
  time proves nothing and the check has no verdict either.

A value the contract wants the same each time (capabilities, identity, an
object's hash before a command that must not change it) is read until two
reads agree (``settled``).

A command that cannot be sent again unchanged (``AT+PVW``, ``AT+PVWCOMMIT``,
``AT+PVKEYGEN``, ``AT+PVPROMOTE``) whose reply cannot be read, is of the wrong
shape, or is cut off in the middle of a line also leaves the check without a
verdict: on a clean link that is the firmware's doing, and the transcript
shows it. Damage that leaves a valid line (a flipped digit) cannot be told from
the firmware's own answer: a verdict still needs a clean link.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from device_io.conformance_tap import Recorder
from device_io.errors import (
    DeviceError,
    IntegrityError,
    LinkNoise,
    LinkTimeout,
    ModuleError,
    PvErrorCode,
)
from device_io.link import Link
from device_io.pv import command_verb

# Askings of one command in all before a repeated failure is the firmware's.
ASKS = 3
# Commands that may be sent again with the effect of once: queries, and those
# that set a state outright.
REPEATABLE = frozenset(
    {
        "AT+PVCAP?",
        "AT+PVSYNC",
        "AT+PVID?",
        "AT+PVHASH",
        "AT+PVREAD",
        "AT+PVWSTAT?",
        "AT+PVSIGN",
        "AT+PVWBEGIN",
        "AT+PVWABORT",
        "AT+PVRESET",
        "AT+PVLOCK",
    }
)

_T = TypeVar("_T")


class WrongAnswer(DeviceError):
    """The module answered, but not as the check requires (a contract breach
    to the runner); a reading of a reply raises it, or a subclass, to have the
    command asked again when the link may be to blame."""


class DamagedReply(DeviceError):
    """Link damage kept a check from a verdict: one command's answers failed
    in different ways, or an unreadable reply came to a command that cannot
    be sent again. The firmware is neither passed nor failed."""


class NoiseJudge:
    """Asks a command again when link damage may explain its failure."""

    def __init__(self, link: Link, recorder: Recorder | None = None) -> None:
        """Judge the exchanges over ``link``, resynchronising it between asks.

        Args:
            link: The link to the module.
            recorder: The link's tap, whose reply bytes tell failures that
                read alike apart; without it, only their messages do.
        """
        self._link = link
        self._recorder = recorder
        self.noted: list[str] = []
        """Link damage seen (what was asked again and why), since the list
        was last cleared."""
        self.damage_seen = False
        """Whether the link has been seen to damage an exchange: an answer
        changed when asked again. Kept for the whole run."""

    def judged(
        self, line: str, ask: Callable[[], _T], *, refusal: PvErrorCode | None = None
    ) -> _T:
        """The result of ``ask``, one exchange of ``line`` and the reading of
        its reply, asked again as the module docstring says.

        Args:
            line: The command ``ask`` sends.
            ask: Sends it once and reads the reply.
            refusal: The error code the check expects, which is an answer,
                not damage.

        Raises:
            DamagedReply: The check cannot get a verdict over this link.
            DeviceError: The firmware's answer, when it failed the same way
                each time, or a failure the link cannot explain.
        """
        try:
            return ask()
        except DeviceError as exc:
            if not suspect(exc, line, refusal):
                raise
            first = self._failure(exc)
        if command_verb(line) in REPEATABLE or isinstance(first.error, ModuleError):
            return self._asked_again(line, ask, first, refusal)
        raise DamagedReply(
            f"the reply to {command_verb(line)} was damaged ({first.message}); "
            "the command cannot be sent again unchanged, so this check has no "
            "verdict"
        ) from first.error

    def settled(self, read: Callable[[], _T], what: str) -> _T:
        """A value read until two reads agree.

        A digit changed on the link leaves a valid answer, so one read
        cannot tell it from the firmware's; of reads that differ, the first
        value read twice is taken, and the others noted.

        Args:
            read: Reads the value once (itself judged as ``judged`` does).
            what: What is read, for the note.

        Raises:
            DamagedReply: ``ASKS + 1`` reads gave no two alike.
        """
        seen = [read()]
        while len(seen) <= ASKS:
            value = read()
            if value in seen:
                if len(seen) > 1:
                    self._damaged(f"{len(seen) + 1} reads of {what} before two agreed")
                return value
            seen.append(value)
        self._damaged()
        raise DamagedReply(f"{len(seen)} reads of {what} all differ")

    def _asked_again(
        self,
        line: str,
        ask: Callable[[], _T],
        first: _Failure,
        refusal: PvErrorCode | None,
    ) -> _T:
        verb = command_verb(line)
        repeatable = verb in REPEATABLE
        failures = [first]
        while len(failures) < ASKS:
            if not (repeatable or isinstance(failures[-1].error, ModuleError)):
                break  # the last asking may have taken effect
            self._link.resync()
            try:
                answer = ask()
            except DeviceError as exc:
                if not suspect(exc, line, refusal):
                    raise
                failures.append(self._failure(exc))
            else:
                self._damaged(*_asked_again_after(verb, failures))
                return answer
        raise self._verdict(verb, failures)

    def _verdict(self, verb: str, failures: list[_Failure]) -> DeviceError:
        """What failures of every asking of one command come to."""
        last = failures[-1].error
        if len(set(failures)) > 1:
            self._damaged(*_asked_again_after(verb, failures[:-1]))
            messages = dict.fromkeys(failure.message for failure in failures)
            damaged = DamagedReply(
                f"{verb} failed {len(failures)} times, not the same way each time: "
                + "; ".join(messages)
            )
        elif isinstance(last, (ModuleError, LinkTimeout)) and self.damage_seen:
            damaged = DamagedReply(
                f"{verb} failed the same way each of {len(failures)} times "
                f"({last.message}), but this link has damaged other exchanges, "
                "and a command line damaged on the way in is refused alike; "
                "no verdict"
            )
        else:
            return last
        damaged.__cause__ = last
        return damaged

    def _failure(self, exc: DeviceError) -> _Failure:
        """A failure, with the reply bytes when the reply could not be read.

        A reply that read well but says the wrong thing is compared by what
        it says: its bytes may differ each time (a fresh ECDSA signature).
        """
        last = self._recorder.last() if self._recorder else None
        if last is None or isinstance(exc, (WrongAnswer, ModuleError)):
            return _Failure(exc, ())
        return _Failure(exc, tuple(last.reply))

    def _damaged(self, *notes: str) -> None:
        self.damage_seen = True
        self.noted.extend(notes)


@dataclass(frozen=True)
class _Failure:
    """One asking's failure and the reply bytes it was made on."""

    error: DeviceError = field(compare=False)
    heard: tuple[bytes, ...]
    message: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", self.error.message)


def _asked_again_after(verb: str, failures: list[_Failure]) -> list[str]:
    return [f"{verb} asked again after: {failure.message}" for failure in failures]


def suspect(exc: DeviceError, line: str, refusal: PvErrorCode | None) -> bool:
    """Whether the link may have caused ``exc`` rather than the firmware."""
    if isinstance(exc, ModuleError):
        # A changed digit can turn a command into another valid one that
        # the module refuses for another reason (an offset it does not
        # expect), so any refusal but the one the check expects is suspect.
        return exc.code != refusal
    if isinstance(exc, LinkTimeout):
        # A reply whose line end was lost leaves an unfinished line; a silent
        # module may have lost the command's own line end, which only a
        # command that can be repeated is worth asking again for.
        return exc.unfinished > 0 or command_verb(line) in REPEATABLE
    return isinstance(exc, (LinkNoise, IntegrityError, WrongAnswer))
