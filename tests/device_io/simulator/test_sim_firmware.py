"""The firmware model driven line by line: every command, state and error code."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
)
from sim_bench import NAMEPLATE, Bench, write_command

from device_io.pv import crc32_hex, sha256_hex
from device_io.simulator.firmware import (
    DEFAULT_KEYGEN_DELAY,
    Firmware,
    FirmwareLimits,
    longest_command,
)
from device_io.simulator.flash import Flash, FlashImage

SHA_AB = "ab" * 32
CHALLENGE = "5a" * 32

# (what is wrong, steps to reach the state, command, final line)
REFUSALS = [
    ("unknown command", (), "AT+PVFOO", "ERROR: 1"),
    ("not an AT command", (), "HELLO", "ERROR: 1"),
    ("lowercase command", (), "at+pvcap?", "ERROR: 1"),
    ("query form of a set command", (), "AT+PVKEYGEN?", "ERROR: 1"),
    ("set form of a query", (), "AT+PVCAP=1", "ERROR: 1"),
    ("test form", (), "AT+PVCAP=?", "ERROR: 1"),
    ("execute form of a query", (), "AT+PVID", "ERROR: 1"),
    ("parameter on plain AT", (), "AT=1", "ERROR: 1"),
    ("sync token too short", (), "AT+PVSYNC=1234", "ERROR: 1"),
    ("sync token not hex", (), "AT+PVSYNC=1234567g", "ERROR: 1"),
    ("sync token quoted", (), 'AT+PVSYNC="12345678"', "ERROR: 1"),
    ("keygen slot 2", (), "AT+PVKEYGEN=2,P256", "ERROR: 1"),
    ("keygen other curve", (), "AT+PVKEYGEN=0,P384", "ERROR: 1"),
    ("keygen unknown option", (), "AT+PVKEYGEN=0,P256,OLD", "ERROR: 1"),
    ("keygen extra parameter", (), "AT+PVKEYGEN=0,P256,NEW,1", "ERROR: 1"),
    ("keygen missing curve", (), "AT+PVKEYGEN=0", "ERROR: 1"),
    (
        "keygen NEW over a chain",
        ("key0", "chain0"),
        "AT+PVKEYGEN=0,P256,NEW",
        "ERROR: 7",
    ),
    (
        "keygen NEW over CHAIN1",
        ("key1", "chain1"),
        "AT+PVKEYGEN=1,P256,NEW",
        "ERROR: 7",
    ),
    (
        "keygen NEW when locked",
        ("key0", "chain0", "lock"),
        "AT+PVKEYGEN=0,P256,NEW",
        "ERROR: 10",
    ),
    ("hash without a key", (), "AT+PVHASH=CSR", "ERROR: 8"),
    ("hash of slot 1 without key", ("key0",), "AT+PVHASH=PUB1", "ERROR: 8"),
    ("hash of an unknown object", ("key0",), "AT+PVHASH=KEY", "ERROR: 1"),
    ("hash of an empty parameter", ("key0",), "AT+PVHASH=", "ERROR: 1"),
    ("hash of an uncommitted chain", ("key0",), "AT+PVHASH=CHAIN", "ERROR: 3"),
    ("read without a key", (), "AT+PVREAD=CSR,0,10", "ERROR: 8"),
    ("read of length zero", ("key0",), "AT+PVREAD=CSR,0,0", "ERROR: 5"),
    ("read longer than a chunk", ("key0",), "AT+PVREAD=CSR,0,61", "ERROR: 5"),
    ("read past the total", ("key0",), "AT+PVREAD=CSR,4000,10", "ERROR: 5"),
    ("read at a negative offset", ("key0",), "AT+PVREAD=CSR,-1,10", "ERROR: 1"),
    ("read with a hex offset", ("key0",), "AT+PVREAD=CSR,0x10,10", "ERROR: 1"),
    ("read with two parameters", ("key0",), "AT+PVREAD=CSR,0", "ERROR: 1"),
    ("write begin on CSR", ("key0",), f"AT+PVWBEGIN=CSR,10,{SHA_AB}", "ERROR: 1"),
    ("write begin without key", (), f"AT+PVWBEGIN=CHAIN,10,{SHA_AB}", "ERROR: 8"),
    (
        "write begin CHAIN1 without key",
        ("key0",),
        f"AT+PVWBEGIN=CHAIN1,10,{SHA_AB}",
        "ERROR: 8",
    ),
    (
        "write begin over max object",
        ("key0",),
        f"AT+PVWBEGIN=CHAIN,4097,{SHA_AB}",
        "ERROR: 6",
    ),
    ("write begin of nothing", ("key0",), f"AT+PVWBEGIN=CHAIN,0,{SHA_AB}", "ERROR: 5"),
    (
        "write begin short hash",
        ("key0",),
        f"AT+PVWBEGIN=CHAIN,10,{SHA_AB[:-1]}",
        "ERROR: 1",
    ),
    (
        "write begin when locked",
        ("key0", "chain0", "lock"),
        f"AT+PVWBEGIN=CHAIN,10,{SHA_AB}",
        "ERROR: 10",
    ),
    ("write chunk without begin", ("key0",), write_command(0, b"abc"), "ERROR: 3"),
    (
        "write chunk at wrong offset",
        ("key0", "begin0"),
        write_command(3, b"abc"),
        "ERROR: 5",
    ),
    ("write chunk bad crc", ("key0", "begin0"), 'AT+PVW=0,00000000,"YWJj"', "ERROR: 4"),
    (
        "write chunk unquoted",
        ("key0", "begin0"),
        f"AT+PVW=0,{crc32_hex(b'abc')},YWJj",
        "ERROR: 1",
    ),
    (
        "write chunk bad base64",
        ("key0", "begin0"),
        f'AT+PVW=0,{crc32_hex(b"abc")},"YWJ"',
        "ERROR: 1",
    ),
    (
        "write chunk empty",
        ("key0", "begin0"),
        f'AT+PVW=0,{crc32_hex(b"")},""',
        "ERROR: 5",
    ),
    (
        "write chunk past the total",
        ("key0", "begin0"),
        write_command(0, bytes(51)),
        "ERROR: 5",
    ),
    (
        "write chunk quote inside",
        ("key0", "begin0"),
        'AT+PVW=0,00000000,"YW"Jj"',
        "ERROR: 1",
    ),
    ("commit with nothing staged", ("key0",), "AT+PVWCOMMIT", "ERROR: 3"),
    ("commit an incomplete write", ("key0", "begin0"), "AT+PVWCOMMIT", "ERROR: 5"),
    ("sign without a key", (), f"AT+PVSIGN=0,{CHALLENGE}", "ERROR: 8"),
    ("sign with slot 1 empty", ("key0",), f"AT+PVSIGN=1,{CHALLENGE}", "ERROR: 8"),
    ("sign a short challenge", ("key0",), f"AT+PVSIGN=0,{CHALLENGE[:-2]}", "ERROR: 1"),
    ("sign with slot 3", ("key0",), f"AT+PVSIGN=3,{CHALLENGE}", "ERROR: 1"),
    ("promote without slot 1", ("key0", "chain0"), "AT+PVPROMOTE", "ERROR: 8"),
    ("promote without CHAIN1", ("key0", "chain0", "key1"), "AT+PVPROMOTE", "ERROR: 3"),
    ("lock without a key", (), "AT+PVLOCK", "ERROR: 3"),
    ("lock without a chain", ("key0",), "AT+PVLOCK", "ERROR: 3"),
    ("reset naming another serial", ("key0",), "AT+PVRESET=AMB82D001002", "ERROR: 1"),
    ("reset without a serial", ("key0",), "AT+PVRESET=", "ERROR: 1"),
    (
        "reset when locked",
        ("key0", "chain0", "lock"),
        f"AT+PVRESET={NAMEPLATE.serial}",
        "ERROR: 10",
    ),
    ("line over 120 bytes", (), "AT+PVSYNC=" + "1" * 111, "ERROR: 1"),
    ("bytes outside ASCII", (), b"AT+PVID\xbf", "ERROR: 1"),
    ("control byte in the line", (), b"AT+PV\x00ID?", "ERROR: 1"),
]


@pytest.mark.parametrize(
    ("steps", "command", "final"),
    [pytest.param(steps, cmd, final, id=what) for what, steps, cmd, final in REFUSALS],
)
def test_refusal_answers_its_error_code(
    bench: Bench, steps: tuple[str, ...], command: str | bytes, final: str
) -> None:
    bench.setup(steps)
    before = (bench.firmware.image, bench.firmware.state)

    reply = bench.run(command)

    assert reply.lines == (final,)
    assert (bench.firmware.image, bench.firmware.state) == before


def test_plain_at_answers_ok(bench: Bench) -> None:
    assert bench.run("AT").lines == ("OK",)


def test_capabilities_report_version_max_line_and_max_object(
    make_bench: Callable[..., Bench],
) -> None:
    bench = make_bench(limits=FirmwareLimits(max_line=512, max_object=8192))

    assert bench.ok("AT+PVCAP?") == ("+PVCAP:1,512,8192",)


def test_sync_echoes_the_token_as_sent(bench: Bench) -> None:
    assert bench.ok("AT+PVSYNC=00c0FFee") == ("+PVSYNC:00c0FFee",)


def test_identity_reports_the_nameplate_and_empty_state(bench: Bench) -> None:
    assert bench.ok("AT+PVID?") == (
        '+PVID:"AMB82D001001","00:e0:4c:87:00:01","AMB82","LOT-2026-0042",'
        '"1.4.2",EMPTY',
    )


@pytest.mark.parametrize(
    ("steps", "state"),
    [
        ((), "EMPTY"),
        (("key0",), "KEY"),
        (("key0", "chain0"), "CERT"),
        (("key0", "chain0", "lock"), "LOCKED"),
        (("key0", "key1"), "KEY"),
    ],
)
def test_identity_reports_slot_0_state(
    bench: Bench, steps: tuple[str, ...], state: str
) -> None:
    bench.setup(steps)

    (line,) = bench.ok("AT+PVID?")

    assert line.endswith(f",{state}")


def test_keygen_makes_a_key_once_and_keeps_it_without_new(bench: Bench) -> None:
    first = bench.run("AT+PVKEYGEN=0,P256")
    pub = bench.read_object("PUB")

    again = bench.run("AT+PVKEYGEN=0,P256")

    assert first.lines == ("+PVKEYGEN:0,1", "OK")
    assert again.lines == ("+PVKEYGEN:0,0", "OK")
    assert bench.read_object("PUB") == pub


def test_keygen_new_replaces_a_key_without_chain(bench: Bench) -> None:
    bench.setup(("key0",))
    pub = bench.read_object("PUB")

    assert bench.ok("AT+PVKEYGEN=0,P256,NEW") == ("+PVKEYGEN:0,1",)
    assert bench.read_object("PUB") != pub


def test_keygen_reply_carries_the_configured_delay(
    make_bench: Callable[..., Bench],
) -> None:
    bench = make_bench(limits=FirmwareLimits(keygen_delay=2.5))

    generated = bench.run("AT+PVKEYGEN=0,P256")
    kept = bench.run("AT+PVKEYGEN=0,P256")

    assert generated.delay == 2.5
    assert kept.delay == 0.0
    assert FirmwareLimits().keygen_delay == DEFAULT_KEYGEN_DELAY


def test_keygen_on_a_locked_module_without_new_keeps_the_key(bench: Bench) -> None:
    bench.setup(("key0", "chain0", "lock"))

    assert bench.ok("AT+PVKEYGEN=0,P256") == ("+PVKEYGEN:0,0",)


def test_pub_is_the_der_public_key_of_the_csr(bench: Bench) -> None:
    bench.setup(("key0",))

    csr = x509.load_der_x509_csr(bench.read_object("CSR"))
    pub = bench.read_object("PUB")

    assert (
        csr.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        == pub
    )


def test_csr_is_made_once_and_read_back_the_same(bench: Bench) -> None:
    bench.setup(("key0",))

    assert bench.read_object("CSR") == bench.read_object("CSR")


def test_hash_matches_the_bytes_read(bench: Bench) -> None:
    bench.setup(("key0",))
    csr = bench.read_object("CSR")

    assert bench.ok("AT+PVHASH=CSR") == (f"+PVHASH:CSR,{len(csr)},{sha256_hex(csr)}",)


def test_read_reaching_the_end_returns_the_short_last_chunk(bench: Bench) -> None:
    bench.setup(("key0",))
    csr = bench.read_object("CSR")
    offset = len(csr) - 7

    (line,) = bench.ok(f"AT+PVREAD=CSR,{offset},60")

    tail = csr[offset:]
    b64 = base64.b64encode(tail).decode()
    assert line == f'+PVREAD:CSR,{offset},{len(csr)},{crc32_hex(tail)},"{b64}"'


def test_read_at_the_total_returns_an_empty_chunk(bench: Bench) -> None:
    bench.setup(("key0",))
    total = len(bench.read_object("CSR"))

    (line,) = bench.ok(f"AT+PVREAD=CSR,{total},60")

    assert line == f'+PVREAD:CSR,{total},{total},00000000,""'


def test_read_chunk_limit_follows_max_line(make_bench: Callable[..., Bench]) -> None:
    bench = make_bench(limits=FirmwareLimits(max_line=512, keygen_delay=0))
    bench.setup(("key0",))

    assert bench.run("AT+PVREAD=CSR,0,354").lines[-1] == "OK"
    assert bench.run("AT+PVREAD=CSR,0,355").lines == ("ERROR: 5",)


def test_longest_reply_line_fits_the_line_limit(bench: Bench) -> None:
    bench.setup(("key0", "key1", "chain1"))

    (line,) = bench.ok("AT+PVREAD=CHAIN1,0,60")

    assert len(line) <= bench.firmware.limits.max_line


def test_staged_write_reports_progress_and_commits(bench: Bench) -> None:
    bench.setup(("key0",))
    chain = bench.ca.chain_for(bench.read_object("PUB"))
    digest = sha256_hex(chain)

    assert bench.ok("AT+PVWSTAT?") == ("+PVWSTAT:NONE",)
    bench.ok(f"AT+PVWBEGIN=CHAIN,{len(chain)},{digest}")
    assert bench.ok(write_command(0, chain[:60])) == ("+PVW:60",)
    assert bench.ok("AT+PVWSTAT?") == (f"+PVWSTAT:CHAIN,{len(chain)},{digest},60",)
    bench.stage("CHAIN", chain)
    assert bench.ok("AT+PVWCOMMIT") == (f"+PVWCOMMIT:{digest}",)

    assert bench.ok("AT+PVWSTAT?") == ("+PVWSTAT:NONE",)
    assert bench.read_object("CHAIN") == chain
    assert bench.firmware.state == "CERT"


def test_write_begin_replaces_a_staged_write(bench: Bench) -> None:
    bench.setup(("key0", "begin0"))
    bench.ok(write_command(0, b"abc"))

    bench.ok(f"AT+PVWBEGIN=CHAIN,50,{'cd' * 32}")

    assert bench.ok("AT+PVWSTAT?") == (f"+PVWSTAT:CHAIN,50,{'cd' * 32},0",)


def test_write_begin_stores_the_hash_in_lowercase(bench: Bench) -> None:
    bench.setup(("key0",))

    bench.ok(f"AT+PVWBEGIN=CHAIN,50,{'AB' * 32}")

    assert bench.ok("AT+PVWSTAT?") == (f"+PVWSTAT:CHAIN,50,{SHA_AB},0",)


def test_repeated_chunk_is_refused_and_the_write_resumes(bench: Bench) -> None:
    bench.setup(("key0", "begin0"))
    bench.ok(write_command(0, b"abc"))

    assert bench.run(write_command(0, b"abc")).lines == ("ERROR: 5",)
    assert bench.ok(write_command(3, b"def")) == ("+PVW:6",)


def test_abort_drops_the_staged_write(bench: Bench) -> None:
    bench.setup(("key0", "begin0"))

    assert bench.run("AT+PVWABORT").lines == ("OK",)
    assert bench.ok("AT+PVWSTAT?") == ("+PVWSTAT:NONE",)
    assert bench.run("AT+PVWABORT").lines == ("OK",)


def test_boot_drops_the_staged_write_and_prints_the_banner(bench: Bench) -> None:
    bench.setup(("key0", "begin0"))

    assert bench.firmware.boot().lines == ("ATCMD READY",)
    assert bench.ok("AT+PVWSTAT?") == ("+PVWSTAT:NONE",)


def test_commit_refuses_a_hash_mismatch(bench: Bench) -> None:
    bench.setup(("key0",))
    chain = bench.ca.chain_for(bench.read_object("PUB"))
    bench.stage("CHAIN", chain, digest="00" * 32)

    assert bench.run("AT+PVWCOMMIT").lines == ("ERROR: 4",)
    assert bench.firmware.state == "KEY"


def test_commit_refuses_bytes_that_are_not_certificates(bench: Bench) -> None:
    bench.setup(("key0",))
    bench.stage("CHAIN", b"\x30\x03\x02\x01\x01" * 20)

    assert bench.run("AT+PVWCOMMIT").lines == ("ERROR: 9",)
    assert bench.firmware.state == "KEY"


def test_commit_refuses_a_chain_whose_leaf_key_is_not_the_slot_key(
    bench: Bench,
) -> None:
    bench.setup(("key0",))
    stranger = ec.generate_private_key(ec.SECP256R1()).public_key()
    chain = bench.ca.chain_for(
        stranger.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    bench.stage("CHAIN", chain)

    assert bench.run("AT+PVWCOMMIT").lines == ("ERROR: 9",)
    identity = bench.firmware.image.slot(0)
    assert identity is not None
    assert identity.chain is None


def test_commit_refuses_slot_0_chain_for_the_slot_1_key(bench: Bench) -> None:
    bench.setup(("key0", "key1"))
    chain = bench.ca.chain_for(bench.read_object("PUB1"))
    bench.stage("CHAIN", chain)

    assert bench.run("AT+PVWCOMMIT").lines == ("ERROR: 9",)


def test_keygen_new_drops_a_staged_write_for_that_slot(bench: Bench) -> None:
    bench.setup(("key0", "begin0"))

    bench.ok("AT+PVKEYGEN=0,P256,NEW")

    assert bench.ok("AT+PVWSTAT?") == ("+PVWSTAT:NONE",)


def test_chain_can_be_rewritten_before_lock(bench: Bench) -> None:
    bench.setup(("key0", "chain0"))

    second = bench.commit_chain(0)

    assert bench.read_object("CHAIN") == second


def test_lock_is_idempotent_and_seals_the_identity(bench: Bench) -> None:
    bench.setup(("key0", "chain0"))

    assert bench.run("AT+PVLOCK").lines == ("OK",)
    assert bench.run("AT+PVLOCK").lines == ("OK",)
    assert bench.firmware.state == "LOCKED"
    assert bench.firmware.image.locked


def test_signature_verifies_over_the_challenge_message(bench: Bench) -> None:
    bench.setup(("key0",))
    public_key = load_der_public_key(bench.read_object("PUB"))
    assert isinstance(public_key, ec.EllipticCurvePublicKey)

    (line,) = bench.ok(f"AT+PVSIGN=0,{CHALLENGE}")

    assert re.fullmatch(r'\+PVSIGN:"[A-Za-z0-9+/]+=*"', line)
    signature = base64.b64decode(line.split('"')[1])
    message = b"PV-CHALLENGE-V1\x00" + bytes.fromhex(CHALLENGE)
    public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))


def test_rotation_promotes_slot_1_and_destroys_the_old_key(bench: Bench) -> None:
    bench.setup(("key0", "chain0", "lock", "key1"))
    old_pub = bench.read_object("PUB")
    new_pub = bench.read_object("PUB1")
    chain1 = bench.commit_chain(1)

    assert bench.run("AT+PVPROMOTE").lines == ("OK",)

    assert bench.read_object("PUB") == new_pub != old_pub
    assert bench.read_object("CHAIN") == chain1
    assert bench.run("AT+PVHASH=PUB1").lines == ("ERROR: 8",)
    assert bench.firmware.state == "LOCKED"


def test_chain1_can_be_written_while_locked(bench: Bench) -> None:
    bench.setup(("key0", "chain0", "lock", "key1"))

    chain1 = bench.commit_chain(1)

    assert bench.read_object("CHAIN1") == chain1


def test_factory_reset_clears_keys_chains_and_staged_write(bench: Bench) -> None:
    bench.setup(("key0", "chain0", "key1", "begin0"))

    assert bench.run(f"AT+PVRESET={NAMEPLATE.serial}").lines == ("OK",)

    assert bench.firmware.image == FlashImage()
    assert bench.firmware.state == "EMPTY"
    assert bench.ok("AT+PVWSTAT?") == ("+PVWSTAT:NONE",)


def test_full_flash_refuses_keygen_with_storage_error(
    make_bench: Callable[..., Bench],
) -> None:
    bench = make_bench(full=True)

    assert bench.run("AT+PVKEYGEN=0,P256").lines == ("ERROR: 6",)
    assert bench.firmware.state == "EMPTY"


def test_state_survives_a_power_cycle(bench: Bench, tmp_path: Path) -> None:
    bench.setup(("key0", "chain0", "lock", "key1"))
    pub, chain, pub1 = (bench.read_object(o) for o in ("PUB", "CHAIN", "PUB1"))

    bench.firmware = Firmware(
        nameplate=NAMEPLATE,
        flash=Flash(tmp_path / "module.json"),
        limits=FirmwareLimits(keygen_delay=0),
    )

    assert bench.firmware.state == "LOCKED"
    assert (bench.read_object("PUB"), bench.read_object("CHAIN")) == (pub, chain)
    assert bench.read_object("PUB1") == pub1


def test_limits_refuse_a_line_too_short_for_the_commands() -> None:
    needed = longest_command(4096)

    FirmwareLimits(max_line=needed)
    with pytest.raises(ValueError, match="too short"):
        FirmwareLimits(max_line=needed - 1)
