"""A token file torn by a process killed during login is put back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pki.softhsm import SoftHsmConfig
from pki.token_store import remember_good_tokens, repair_torn_tokens

PIN = "store-pin-1"

# Each step runs in a process of its own, as a restarted station would: the
# PKCS#11 library reads the token store when it starts.
_SIGN = """
import sys
from pathlib import Path
from cryptography.hazmat.primitives.asymmetric import ec
from pki.softhsm import find_module
from pki.token import Token, TokenRef
ref = TokenRef(find_module(), "torn", Path(sys.argv[1]))
with Token.open(ref, sys.argv[2]) as token:
    if not token.has_key("k"):
        token.generate_ec_key("k", ec.SECP256R1())
    print(len(token.sign_digest("k", bytes(32))))
"""


def _sign(conf: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _SIGN, str(conf), PIN],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _token_object(hsm: SoftHsmConfig) -> Path:
    (token_dir,) = hsm.token_dir.iterdir()
    return token_dir / "token.object"


def test_token_emptied_by_a_killed_login_is_restored_with_its_keys(
    tmp_path: Path,
) -> None:
    hsm = SoftHsmConfig.create(tmp_path / "hsm")
    hsm.init_token("torn", so_pin="store-so-1", user_pin=PIN)
    first = _sign(hsm.conf_path)
    token_object = _token_object(hsm)
    size = token_object.stat().st_size

    token_object.write_bytes(b"")
    second = _sign(hsm.conf_path)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert token_object.stat().st_size == size


def test_whole_files_are_left_alone(tmp_path: Path) -> None:
    hsm = SoftHsmConfig.create(tmp_path / "hsm")
    hsm.init_token("torn", so_pin="store-so-1", user_pin=PIN)
    remember_good_tokens(hsm.conf_path)

    assert repair_torn_tokens(hsm.conf_path) == []


def test_a_store_never_logged_in_has_nothing_to_restore(tmp_path: Path) -> None:
    hsm = SoftHsmConfig.create(tmp_path / "hsm")
    hsm.init_token("torn", so_pin="store-so-1", user_pin=PIN)
    _token_object(hsm).write_bytes(b"")

    assert repair_torn_tokens(hsm.conf_path) == []
