"""The firmware's own command line parser."""

from __future__ import annotations

import pytest

from device_io.errors import PvErrorCode
from device_io.simulator.command import (
    AtCommand,
    CommandError,
    Form,
    Param,
    command_name,
    parse_command,
)


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        (b"AT", AtCommand("", Form.EXECUTE)),
        (b"AT+PVLOCK", AtCommand("PVLOCK", Form.EXECUTE)),
        (b"AT+PVCAP?", AtCommand("PVCAP", Form.QUERY)),
        (
            b"AT+PVKEYGEN=1,P256,NEW",
            AtCommand("PVKEYGEN", Form.SET, (Param("1"), Param("P256"), Param("NEW"))),
        ),
        (
            b'AT+PVW=0,0a1b2c3d,"YW,Jj"',
            AtCommand(
                "PVW",
                Form.SET,
                (Param("0"), Param("0a1b2c3d"), Param("YW,Jj", quoted=True)),
            ),
        ),
        (b"AT+PVHASH=", AtCommand("PVHASH", Form.SET, (Param(""),))),
        (b'AT+PVX=""', AtCommand("PVX", Form.SET, (Param("", quoted=True),))),
    ],
)
def test_command_line_parses_into_name_form_and_params(
    line: bytes, parsed: AtCommand
) -> None:
    assert parse_command(line) == parsed


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"ATZ",
        b"AT+",
        b"AT+pvcap?",
        b"AT+PVCAP??",
        b"AT+PVCAP=?",
        b'AT+PVW="abc',
        b'AT+PVW=ab"c"',
        b'AT+PVW="a"b',
        b'AT+PVW="a"b"',
        b"AT+PVID?\xff",
        b"AT+PVID?\t",
    ],
)
def test_malformed_line_is_a_bad_parameter(line: bytes) -> None:
    with pytest.raises(CommandError) as refusal:
        parse_command(line)

    assert refusal.value.code is PvErrorCode.BAD_PARAMETER


@pytest.mark.parametrize(
    ("line", "name"),
    [
        (b"AT+PVW=0,1,2", "PVW"),
        (b"AT+PVWCOMMIT", "PVWCOMMIT"),
        (b"AT+PVID?", "PVID"),
        (b"AT", ""),
        (b"\xffAT+PVW=", ""),
    ],
)
def test_command_name_is_found_without_parsing_parameters(
    line: bytes, name: str
) -> None:
    assert command_name(line) == name
