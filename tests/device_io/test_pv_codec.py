"""The PV codec: command builders against reply parsing, byte for byte."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_io import pv
from device_io.errors import IntegrityError, LinkNoise
from device_io.pv import (
    Capabilities,
    Final,
    InfoLine,
    KeyGenResult,
    ObjectHash,
    PvObject,
    RawIdentity,
    ReadChunk,
    WriteProgress,
    WriteStatus,
)

printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E))
unquoted_field = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters=',"'),
)
quoted_field = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"'),
)
objects = st.sampled_from(list(PvObject))


def info(line: str) -> InfoLine:
    parsed = pv.parse_line(line)
    assert isinstance(parsed, InfoLine)
    return parsed


def module_read_reply(obj: str, offset: int, total: int, data: bytes) -> str:
    """A ``+PVREAD`` line as DESIGN section 3 spells it."""
    return f'+PVREAD:{obj},{offset},{total},{pv.crc32_hex(data)},"{pv.b64encode(data)}"'


# --- chunk rule ---------------------------------------------------------------


@pytest.mark.parametrize(("max_line", "size"), [(120, 60), (512, 354)])
def test_chunk_size_follows_the_design_examples(max_line: int, size: int) -> None:
    assert pv.chunk_size(max_line) == size


def test_chunk_size_refuses_a_line_limit_without_room_for_a_chunk() -> None:
    with pytest.raises(ValueError, match="no room"):
        pv.chunk_size(43)


@given(
    max_line=st.integers(min_value=44, max_value=8192),
    total=st.integers(min_value=1, max_value=999_999),
    obj=objects,
)
def test_longest_read_reply_and_write_command_fit_the_line_limit(
    max_line: int, total: int, obj: PvObject
) -> None:
    size = pv.chunk_size(max_line)
    chunk = b"\xff" * size
    offset = max(0, total - 1)

    assert pv.read_reply_overhead(total) <= pv.LINE_OVERHEAD
    assert len(module_read_reply(obj.value, offset, total, chunk)) <= max_line
    assert len(pv.cmd_write(offset, chunk)) <= max_line


def test_an_object_of_a_million_bytes_breaks_the_chunk_rule() -> None:
    assert pv.read_reply_overhead(1_000_000) > pv.LINE_OVERHEAD


# --- fields and lines -------------------------------------------------------------


@given(
    st.lists(
        st.one_of(
            unquoted_field.map(lambda text: (text, text)),
            quoted_field.map(lambda text: (f'"{text}"', text)),
        ),
        min_size=1,
    )
)
def test_split_fields_returns_the_fields_that_were_joined(
    fields: list[tuple[str, str]],
) -> None:
    line = ",".join(encoded for encoded, _ in fields)

    assert pv.split_fields(line) == tuple(value for _, value in fields)


@given(printable)
def test_split_fields_accepts_or_raises_link_noise_on_any_text(text: str) -> None:
    try:
        fields = pv.split_fields(text)
    except LinkNoise:
        return
    assert all('"' not in field for field in fields)


@pytest.mark.parametrize(
    "text", ['"unterminated', 'a"b', '"quoted"tail', '"a",b"', '""x']
)
def test_split_fields_refuses_misplaced_quotes(text: str) -> None:
    with pytest.raises(LinkNoise):
        pv.split_fields(text)


@given(st.text())
def test_parse_line_accepts_or_raises_link_noise_on_any_text(text: str) -> None:
    try:
        parsed = pv.parse_line(text)
    except LinkNoise:
        return
    assert isinstance(parsed, InfoLine | Final)


@pytest.mark.parametrize(
    ("line", "final"),
    [
        ("OK", Final(ok=True)),
        ("ERROR: 7", Final(False, 7)),
        ("ERROR:4", Final(False, 4)),
    ],
)
def test_parse_line_reads_final_lines(line: str, final: Final) -> None:
    assert pv.parse_line(line) == final


@pytest.mark.parametrize(
    "line", ["ERROR: \u0663", "ERROR: 1234", "ok", "+pvid:1", "ATCMD READY", "+:x"]
)
def test_parse_line_refuses_lines_of_no_reply(line: str) -> None:
    with pytest.raises(LinkNoise):
        pv.parse_line(line)


# --- integrity helpers ------------------------------------------------------------


def test_crc32_and_sha256_match_their_standard_check_values() -> None:
    assert pv.crc32_hex(b"123456789") == "cbf43926"
    assert pv.sha256_hex(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


@given(st.binary())
def test_base64_round_trips(data: bytes) -> None:
    assert pv.b64decode(pv.b64encode(data)) == data


@pytest.mark.parametrize("text", ["QR==", "QQ", "QQ=\n=", "Q Q==", "QQ==QQ==", "é"])
def test_b64decode_refuses_anything_but_canonical_padded_base64(text: str) -> None:
    with pytest.raises(LinkNoise):
        pv.b64decode(text)


def test_challenge_message_is_prefix_zero_byte_and_challenge() -> None:
    message = pv.challenge_message(bytes(range(32)))

    assert message == b"PV-CHALLENGE-V1\x00" + bytes(range(32))
    assert len(message) == 48


# --- commands against the module's view of them ------------------------------------


@given(offset=st.integers(min_value=0, max_value=999_999), chunk=st.binary(min_size=1))
def test_write_command_carries_offset_crc_and_chunk(offset: int, chunk: bytes) -> None:
    line = pv.cmd_write(offset, chunk)
    name, _, args = line.partition("=")
    sent_offset, crc, payload = pv.split_fields(args)

    assert name == "AT+PVW"
    assert int(sent_offset) == offset
    assert base64.b64decode(payload, validate=True) == chunk
    assert crc == pv.crc32_hex(chunk)


@given(st.binary(min_size=32, max_size=32), st.sampled_from(pv.KEY_SLOTS))
def test_sign_command_carries_the_challenge_as_hex(challenge: bytes, slot: int) -> None:
    assert pv.cmd_sign(slot, challenge) == f"AT+PVSIGN={slot},{challenge.hex()}"


def test_commands_match_the_design_table() -> None:
    digest = "ab" * 32

    assert pv.cmd_keygen(0) == "AT+PVKEYGEN=0,P256"
    assert pv.cmd_keygen(1, new=True) == "AT+PVKEYGEN=1,P256,NEW"
    assert pv.cmd_read(PvObject.CSR, 60, 60) == "AT+PVREAD=CSR,60,60"
    assert pv.cmd_wbegin(PvObject.CHAIN1, 900, digest) == (
        f"AT+PVWBEGIN=CHAIN1,900,{digest}"
    )
    assert pv.cmd_hash(PvObject.PUB1) == "AT+PVHASH=PUB1"
    assert pv.cmd_sync("0badf00d") == "AT+PVSYNC=0badf00d"
    assert pv.cmd_reset("AMB82D001001") == "AT+PVRESET=AMB82D001001"


@pytest.mark.parametrize(
    "build",
    [
        lambda: pv.cmd_reset("AMB1\r\nAT+PVLOCK"),
        lambda: pv.cmd_reset("A,B"),
        lambda: pv.cmd_reset(""),
        lambda: pv.cmd_sign(0, b"short"),
        lambda: pv.cmd_sign(2, bytes(32)),
        lambda: pv.cmd_keygen(2),
        lambda: pv.cmd_sync("XYZ"),
        lambda: pv.cmd_read(PvObject.CSR, -1, 10),
        lambda: pv.cmd_read(PvObject.CSR, 0, 0),
        lambda: pv.cmd_wbegin(PvObject.CSR, 10, "ab" * 32),
        lambda: pv.cmd_wbegin(PvObject.CHAIN, 10, "AB" * 32),
        lambda: pv.cmd_wbegin(PvObject.CHAIN, 0, "ab" * 32),
        lambda: pv.cmd_write(0, b""),
    ],
)
def test_builders_refuse_arguments_that_would_break_the_line(
    build: Callable[[], str],
) -> None:
    with pytest.raises(ValueError, match=r"must|cannot"):
        build()


# --- typed replies ----------------------------------------------------------------


@given(
    obj=objects,
    offset=st.integers(min_value=0, max_value=999_999),
    total=st.integers(min_value=0, max_value=999_999),
    data=st.binary(max_size=354),
)
def test_read_reply_round_trips(
    obj: PvObject, offset: int, total: int, data: bytes
) -> None:
    chunk = ReadChunk.parse(info(module_read_reply(obj.value, offset, total, data)))

    assert chunk == ReadChunk(obj.value, offset, total, data)


def test_read_reply_with_a_wrong_crc_is_an_integrity_error() -> None:
    line = module_read_reply("CSR", 0, 3, b"abc").replace(pv.crc32_hex(b"abc"), "0" * 8)

    with pytest.raises(IntegrityError, match="CRC-32 mismatch"):
        ReadChunk.parse(info(line))


def test_typed_replies_parse_design_examples() -> None:
    digest = "cd" * 32

    assert Capabilities.parse(info("+PVCAP:1,120,4096")) == Capabilities(1, 120, 4096)
    assert KeyGenResult.parse(info("+PVKEYGEN:1,1")) == KeyGenResult(1, True)
    assert ObjectHash.parse(info(f"+PVHASH:CHAIN,900,{digest}")) == ObjectHash(
        "CHAIN", 900, digest
    )
    assert WriteProgress.parse(info("+PVW:120")) == WriteProgress(120)
    assert WriteStatus.parse(info("+PVWSTAT:NONE")) == WriteStatus(None)
    assert WriteStatus.parse(info(f"+PVWSTAT:CHAIN,900,{digest},180")) == (
        WriteStatus("CHAIN", 900, digest, 180)
    )
    assert pv.parse_commit(info(f"+PVWCOMMIT:{digest}")) == digest
    assert pv.parse_sync(info("+PVSYNC:0badf00d")) == "0badf00d"
    assert pv.parse_sign(info('+PVSIGN:"MAYCAQECAQE="')) == bytes.fromhex(
        "3006020101020101"
    )


def test_identity_reply_unquotes_its_fields() -> None:
    line = '+PVID:"AMB82D001001","00:e0:4c:87:00:01","AMB82","LOT-1","1.4.2",KEY'

    assert RawIdentity.parse(info(line)) == RawIdentity(
        "AMB82D001001", "00:e0:4c:87:00:01", "AMB82", "LOT-1", "1.4.2", "KEY"
    )


@pytest.mark.parametrize(
    ("parse", "line"),
    [
        (Capabilities.parse, "+PVCAP:1,120"),
        (Capabilities.parse, "+PVCAP:1,\u0661\u0662\u0660,4096"),
        (Capabilities.parse, "+PVCAP:1,12345678901,4096"),
        (KeyGenResult.parse, "+PVKEYGEN:0,2"),
        (ObjectHash.parse, "+PVHASH:CSR,10," + "AB" * 32),
        (WriteProgress.parse, "+PVW:-1"),
        (WriteStatus.parse, "+PVWSTAT:CHAIN,10"),
        (pv.parse_commit, "+PVWCOMMIT:1234"),
        (RawIdentity.parse, '+PVID:"A","B"'),
        (ReadChunk.parse, '+PVREAD:CSR,0,3,352441c2,"YWJj"'.replace("3", "x", 1)),
    ],
)
def test_malformed_replies_are_link_noise(
    parse: Callable[[InfoLine], object], line: str
) -> None:
    with pytest.raises(LinkNoise):
        parse(info(line))


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (pv.parse_line, "ZQXJ garbage"),
        (pv.split_fields, '"ZQXJ'),
        (pv.split_fields, 'ZQ"XJ'),
        (pv.split_fields, '"ZQ"XJ'),
        (lambda text: Capabilities.parse(info(text)), "+PVCAP:1,ZQXJ,4096"),
        (lambda text: ObjectHash.parse(info(text)), "+PVHASH:CSR,12,ZQXJ"),
        (lambda text: KeyGenResult.parse(info(text)), "+PVKEYGEN:0,ZQXJ"),
    ],
)
def test_link_noise_describes_the_damage_without_quoting_the_frame(
    parse: Callable[[str], object], text: str
) -> None:
    with pytest.raises(LinkNoise) as caught:
        parse(text)

    assert "ZQ" not in caught.value.message
