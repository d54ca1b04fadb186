"""The firmware's AT command line parser.

This is the module's own reading of DESIGN section 3, written the way console
firmware parses its input: check the bytes, split off the command name and its
form (``AT+X``, ``AT+X?``, ``AT+X=...``), then cut the parameters at commas.
It shares no code with the station's reply parser, so that tests between the
two sides check two independent readings of the contract.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from device_io.errors import PvErrorCode

_PRINTABLE = bytes(range(0x20, 0x7F))

# The PV command names of DESIGN section 3, without ``AT+``.
PV_COMMANDS = frozenset(
    {
        "PVCAP",
        "PVSYNC",
        "PVID",
        "PVKEYGEN",
        "PVHASH",
        "PVREAD",
        "PVWBEGIN",
        "PVW",
        "PVWSTAT",
        "PVWCOMMIT",
        "PVWABORT",
        "PVSIGN",
        "PVPROMOTE",
        "PVLOCK",
        "PVRESET",
    }
)
_NAME = re.compile(r"[A-Z][A-Z0-9]*")


class CommandError(Exception):
    """A command the firmware refuses; becomes ``ERROR: <code>``.

    Attributes:
        code: The PV error code sent back to the host.
    """

    def __init__(self, code: PvErrorCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def bad_parameter(reason: str) -> CommandError:
    """The error for a malformed command or parameter (code 1)."""
    return CommandError(PvErrorCode.BAD_PARAMETER, reason)


class Form(Enum):
    """How a command was written."""

    EXECUTE = "execute"  # AT+NAME
    QUERY = "query"  # AT+NAME?
    SET = "set"  # AT+NAME=params


@dataclass(frozen=True)
class Param:
    """One parameter: its text and whether it was written in double quotes."""

    text: str
    quoted: bool = False


@dataclass(frozen=True)
class AtCommand:
    """A parsed command line. Plain ``AT`` has the empty name."""

    name: str
    form: Form
    params: tuple[Param, ...] = ()


def parse_command(line: bytes) -> AtCommand:
    """Parse one input line (without its line end).

    Raises:
        CommandError: The line is not printable ASCII or not an AT command
            (code 1).
    """
    if line.translate(None, _PRINTABLE):
        raise bad_parameter("line holds bytes outside printable ASCII")
    text = line.decode("ascii")
    if text == "AT":
        return AtCommand("", Form.EXECUTE)
    if not text.startswith("AT+"):
        raise bad_parameter(f"not an AT+ command: {text[:20]!r}")
    return _parse_extended(text[3:])


def command_name(line: bytes) -> str:
    """The command name of a line, or ``""`` when it has none.

    Used where only the name matters (fault triggers), so it never raises.
    """
    if not line.startswith(b"AT+"):
        return ""
    match = re.match(rb"[A-Z][A-Z0-9]*", line[3:])
    return match.group().decode("ascii") if match else ""


def _parse_extended(body: str) -> AtCommand:
    name_match = _NAME.match(body)
    if name_match is None:
        raise bad_parameter("missing command name")
    name, rest = name_match.group(), body[name_match.end() :]
    if rest == "":
        return AtCommand(name, Form.EXECUTE)
    if rest == "?":
        return AtCommand(name, Form.QUERY)
    if rest.startswith("=") and rest != "=?":
        return AtCommand(name, Form.SET, split_params(rest[1:]))
    raise bad_parameter(f"unexpected text after {name}: {rest[:20]!r}")


def split_params(text: str) -> tuple[Param, ...]:
    """Cut a parameter list at commas; a quoted parameter is one whole field.

    Raises:
        CommandError: A quote opens or closes anywhere but at a field's edges,
            or a quoted field holds a quote (code 1).
    """
    params: list[Param] = []
    for field in _fields(text):
        if field.startswith('"'):
            params.append(_quoted(field))
        elif '"' in field:
            raise bad_parameter(f"stray quote in parameter {field[:20]!r}")
        else:
            params.append(Param(field))
    return tuple(params)


def _fields(text: str) -> list[str]:
    """Split at commas outside quotes; quote balance is checked by callers."""
    fields: list[str] = []
    start, inside = 0, False
    for index, char in enumerate(text):
        if char == '"':
            inside = not inside
        elif char == "," and not inside:
            fields.append(text[start:index])
            start = index + 1
    fields.append(text[start:])
    return fields


def _quoted(field: str) -> Param:
    if len(field) < 2 or not field.endswith('"') or '"' in field[1:-1]:
        raise bad_parameter(f"badly quoted parameter {field[:20]!r}")
    return Param(field[1:-1], quoted=True)


# --- parameter values -------------------------------------------------------

_DECIMAL = re.compile(r"[0-9]{1,10}")
_HEX = re.compile(r"[0-9A-Fa-f]+")


def param_count(command: AtCommand, low: int, high: int | None = None) -> None:
    """Check that a command has between ``low`` and ``high`` parameters.

    Raises:
        CommandError: Too few or too many parameters (code 1).
    """
    count = len(command.params)
    if count < low or count > (low if high is None else high):
        raise bad_parameter(f"{command.name} takes {low} to {high or low} params")


def decimal(param: Param, what: str) -> int:
    """An unquoted decimal number of at most ten digits.

    Raises:
        CommandError: Anything else (code 1).
    """
    if param.quoted or not _DECIMAL.fullmatch(param.text):
        raise bad_parameter(f"{what} is not a decimal number: {param.text[:20]!r}")
    return int(param.text)


def hex_digits(param: Param, digits: int, what: str) -> str:
    """Exactly ``digits`` unquoted hex digits, returned as written.

    Raises:
        CommandError: Anything else (code 1).
    """
    if param.quoted or len(param.text) != digits or not _HEX.fullmatch(param.text):
        raise bad_parameter(f"{what} is not {digits} hex digits")
    return param.text


def word(param: Param, choices: tuple[str, ...], what: str) -> str:
    """An unquoted keyword out of ``choices``.

    Raises:
        CommandError: Any other text (code 1).
    """
    if param.quoted or param.text not in choices:
        raise bad_parameter(f"{what} must be one of {', '.join(choices)}")
    return param.text


def quoted(param: Param, what: str) -> str:
    """The text of a parameter that must be written in double quotes.

    Raises:
        CommandError: The parameter is not quoted (code 1).
    """
    if not param.quoted:
        raise bad_parameter(f"{what} must be in double quotes")
    return param.text
