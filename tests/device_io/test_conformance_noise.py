"""Telling link damage from the firmware's answer, against a module scripted in
the test on a real pty: each command has a list of answers, one per asking."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pty_module import PtyPair, Responder

from device_io.conformance import CheckResult, ConformanceReport, Verdict
from device_io.conformance_check import Check
from device_io.conformance_noise import ASKS, DamagedReply, NoiseJudge, WrongAnswer
from device_io.conformance_report import format_result, format_summary
from device_io.errors import LinkNoise, LinkTimeout, ModuleError, PvErrorCode
from device_io.link import Link, LinkSettings
from device_io.pv import Capabilities, WriteProgress
from device_io.serial_port import SerialPort

Start = Callable[[Callable[[str], bytes]], Responder]
CAP = b"+PVCAP:1,120,4096\r\nOK\r\n"
SETTINGS = LinkSettings(sync_timeout=0.3, drain_quiet=0.02, drain_limit=0.3)


class Scripted:
    """Answers each command with its next scripted answer (the last repeats);
    sync always echoes."""

    def __init__(self, script: dict[str, list[bytes]]) -> None:
        self.script = script
        self.asked: list[str] = []

    def __call__(self, line: str) -> bytes:
        if not line:
            return b""  # the CRLF a resync starts with
        if line.startswith("AT+PVSYNC="):
            return f"+PVSYNC:{line.split('=')[1]}\r\nOK\r\n".encode()
        self.asked.append(line)
        answers = self.script.get(line, [b""])
        return answers.pop(0) if len(answers) > 1 else answers[0]


@pytest.fixture
def link(pty_pair: PtyPair) -> Iterator[Link]:
    with SerialPort.open(pty_pair.path, slot="A1") as port:
        yield Link(port, SETTINGS)


def _caps(link: Link) -> Callable[[], Capabilities]:
    def ask() -> Capabilities:
        (info,) = link.command("AT+PVCAP?", timeout=1)
        return Capabilities.parse(info)

    return ask


def test_a_reply_damaged_once_is_asked_again_and_noted(
    link: Link, respond: Start
) -> None:
    module = Scripted({"AT+PVCAP?": [b"+PVCAP:1,1\xb020,4096\r\nOK\r\n", CAP]})
    respond(module)
    judge = NoiseJudge(link)

    caps = judge.judged("AT+PVCAP?", _caps(link))

    assert caps == Capabilities(1, 120, 4096)
    assert module.asked == ["AT+PVCAP?", "AT+PVCAP?"]
    assert judge.noted == [
        "AT+PVCAP? asked again after: line of 18 bytes with 1 non-printable or "
        "non-ASCII byte, in the reply to AT+PVCAP?"
    ]


def test_the_same_malformed_reply_every_time_is_the_firmwares(
    link: Link, respond: Start
) -> None:
    module = Scripted({"AT+PVCAP?": [b"+PVCAP:1,120\r\nOK\r\n"]})
    respond(module)

    with pytest.raises(LinkNoise, match="expected \\+PVCAP with 3 fields"):
        NoiseJudge(link).judged("AT+PVCAP?", _caps(link))

    assert len(module.asked) == ASKS


def test_replies_bad_in_different_ways_leave_no_verdict(
    link: Link, respond: Start
) -> None:
    module = Scripted(
        {
            "AT+PVCAP?": [
                b"+PVCAP:1,120\r\nOK\r\n",
                b"+PVCAP:1\r\nOK\r\n",
                b"+PVCAP:x,120,4096\r\nOK\r\n",
            ]
        }
    )
    respond(module)

    with pytest.raises(DamagedReply, match="AT\\+PVCAP\\? failed 3 times, not the"):
        NoiseJudge(link).judged("AT+PVCAP?", _caps(link))


def test_an_unexpected_refusal_is_asked_again_and_the_expected_one_is_taken(
    link: Link, respond: Start
) -> None:
    line = "AT+PVREAD=CSR,999,60"
    module = Scripted({line: [b"ERROR: 1\r\n", b"ERROR: 5\r\n"]})
    respond(module)
    judge = NoiseJudge(link)

    with pytest.raises(ModuleError) as answered:
        judge.judged(
            line, lambda: link.command(line, timeout=1), refusal=PvErrorCode.OFFSET
        )

    assert answered.value.code is PvErrorCode.OFFSET
    assert len(module.asked) == 2


def test_the_wrong_refusal_every_time_is_the_firmwares(
    link: Link, respond: Start
) -> None:
    line = "AT+PVREAD=CSR,999,60"
    module = Scripted({line: [b"ERROR: 1\r\n"]})
    respond(module)

    with pytest.raises(ModuleError) as answered:
        NoiseJudge(link).judged(
            line, lambda: link.command(line, timeout=1), refusal=PvErrorCode.OFFSET
        )

    assert answered.value.code is PvErrorCode.BAD_PARAMETER
    assert len(module.asked) == ASKS


def test_an_unreadable_reply_to_a_write_is_not_asked_again_and_has_no_verdict(
    link: Link, respond: Start
) -> None:
    line = 'AT+PVW=0,352441c2,"YWJj"'
    module = Scripted({line: [b"+PVW:\xb3\r\nOK\r\n"]})
    respond(module)

    def ask() -> WriteProgress:
        (info,) = link.command(line, timeout=1)
        return WriteProgress.parse(info)

    with pytest.raises(DamagedReply, match="cannot be sent again unchanged"):
        NoiseJudge(link).judged(line, ask)

    assert module.asked == [line]


def test_a_reply_of_the_wrong_shape_to_a_write_has_no_verdict(
    link: Link, respond: Start
) -> None:
    line = 'AT+PVW=0,352441c2,"YWJj"'
    module = Scripted({line: [b"+PRW:3\r\nOK\r\n"]})
    respond(module)

    def ask() -> None:
        infos = link.command(line, timeout=1)
        if [info.name for info in infos] != ["PVW"]:
            raise WrongAnswer(f"expected one +PVW line, got +{infos[0].name}")

    with pytest.raises(DamagedReply, match="got \\+PRW"):
        NoiseJudge(link).judged(line, ask)

    assert module.asked == [line]


def test_a_write_cut_off_mid_line_has_no_verdict(link: Link, respond: Start) -> None:
    line = 'AT+PVW=0,352441c2,"YWJj"'
    module = Scripted({line: [b"+PVW:3\r"]})
    respond(module)

    with pytest.raises(DamagedReply, match="7 bytes of an unfinished line"):
        NoiseJudge(link).judged(line, lambda: link.command(line, timeout=0.2))

    assert module.asked == [line]


def test_a_silent_module_fails_a_write_at_once(link: Link, respond: Start) -> None:
    line = 'AT+PVW=0,352441c2,"YWJj"'
    module = Scripted({})
    respond(module)

    with pytest.raises(LinkTimeout):
        NoiseJudge(link).judged(line, lambda: link.command(line, timeout=0.2))

    assert module.asked == [line]


def test_a_value_is_read_until_two_reads_agree(link: Link) -> None:
    reads = iter([1, 2, 1])
    judge = NoiseJudge(link)

    assert judge.settled(lambda: next(reads), "AT+PVCAP?") == 1
    assert judge.noted == ["3 reads of AT+PVCAP? before two agreed"]


def test_a_value_whose_reads_never_agree_has_no_verdict(link: Link) -> None:
    reads = iter(range(10))
    judge = NoiseJudge(link)

    with pytest.raises(DamagedReply, match=f"{ASKS + 1} reads of PUB hash all"):
        judge.settled(lambda: next(reads), "PUB hash")


def _result(verdict: Verdict, detail: str, noted: tuple[str, ...] = ()) -> CheckResult:
    check = Check("pvx.demo", "a demonstration", lambda probe: None)
    return CheckResult(check, verdict, detail, noted=noted)


def test_a_check_without_a_verdict_is_reported_as_noise_not_failure() -> None:
    noise = _result(Verdict.NOISE, "the reply to AT+PVW was damaged")
    passed = _result(Verdict.PASS, "", noted=("AT+PVCAP? asked again after: x",))
    report = ConformanceReport(port="/dev/x", lock=False, results=(noise, passed))

    summary = format_summary(report)

    assert not report.passed
    assert report.failed == []
    assert format_result(noise).startswith("NOISE pvx.demo ")
    assert "link noise: AT+PVCAP? asked again after: x" in format_result(passed)
    assert summary.startswith(
        "2 checks: 1 passed, 0 failed, 0 skipped, 1 without a verdict (link noise)"
    )
    assert "no verdict: pvx.demo" in summary
    assert "run again over a clean link" in summary


def test_the_same_refusal_every_time_over_a_link_seen_damaging_has_no_verdict(
    link: Link, respond: Start
) -> None:
    line = 'AT+PVW=0,352441c2,"YWJj"'
    module = Scripted(
        {
            "AT+PVCAP?": [b"+PVCAP:1,1\xb020,4096\r\nOK\r\n", CAP],
            line: [b"ERROR: 1\r\n"],
        }
    )
    respond(module)
    judge = NoiseJudge(link)
    judge.judged("AT+PVCAP?", _caps(link))

    with pytest.raises(DamagedReply, match="failed the same way each of 3 times"):
        judge.judged(line, lambda: link.command(line, timeout=1))

    assert module.asked.count(line) == ASKS


def test_the_same_refusal_every_time_over_a_clean_link_is_the_firmwares(
    link: Link, respond: Start
) -> None:
    line = 'AT+PVW=0,352441c2,"YWJj"'
    respond(Scripted({"AT+PVCAP?": [CAP], line: [b"ERROR: 1\r\n"]}))
    judge = NoiseJudge(link)
    judge.judged("AT+PVCAP?", _caps(link))

    with pytest.raises(ModuleError):
        judge.judged(line, lambda: link.command(line, timeout=1))

    assert not judge.damage_seen


def test_the_same_wrong_answer_every_time_is_not_noted_as_link_noise(
    link: Link, respond: Start
) -> None:
    respond(Scripted({"AT+PVCAP?": [b"+PVCAP:1,120\r\nOK\r\n"]}))
    judge = NoiseJudge(link)

    with pytest.raises(LinkNoise):
        judge.judged("AT+PVCAP?", _caps(link))

    assert judge.noted == []
    assert not judge.damage_seen
