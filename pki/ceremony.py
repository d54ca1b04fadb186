"""Root CA ceremonies, each run in a process of its own.

The root key sits in its own token in its own SoftHSM2 configuration, named by
no station or service config. A process loads its PKCS#11 library once, bound
to one configuration, so root work never shares a process with the station:
:class:`RootCeremony` starts a Python process for each operation, sends it a
JSON request on stdin and reads the certificate back on stdout. The root PIN
travels only as the path of its 0600 file.

The child is started with ``-c`` calling :func:`main` rather than with ``-m``:
``pki`` re-exports this module, and running an already imported module as
``__main__`` would load it twice.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pki.ca_profiles import CaRole
from pki.errors import CeremonyError, PkiError
from pki.hsm_key import HsmPrivateKey
from pki.product_line import Publication
from pki.root_ca import create_root_certificate, sign_subordinate_ca
from pki.secret_file import read_pin
from pki.softhsm import CONF_ENV
from pki.token import Token, TokenRef

logger = logging.getLogger(__name__)

_TIMEOUT_S = 120.0
_CHILD = "import sys; from pki.ceremony import main; sys.exit(main())"


@dataclass(frozen=True)
class RootToken:
    """Where the root CA key is.

    Attributes:
        module: PKCS#11 library path.
        softhsm_conf: The root's own SoftHSM2 configuration file.
        token_label: Label of the root token.
        pin_file: File (mode 0600) holding the root token's user PIN.
        key_label: Label of the root key pair.
    """

    module: Path
    softhsm_conf: Path
    token_label: str
    pin_file: Path
    key_label: str

    def to_json(self) -> dict[str, str]:
        """The fields as JSON-ready strings."""
        return {
            "module": str(self.module),
            "softhsm_conf": str(self.softhsm_conf),
            "token_label": self.token_label,
            "pin_file": str(self.pin_file),
            "key_label": self.key_label,
        }

    @classmethod
    def from_json(cls, data: dict[str, str]) -> RootToken:
        """The inverse of :meth:`to_json`."""
        return cls(
            module=Path(data["module"]),
            softhsm_conf=Path(data["softhsm_conf"]),
            token_label=data["token_label"],
            pin_file=Path(data["pin_file"]),
            key_label=data["key_label"],
        )


class RootCeremony:
    """Root CA operations, each in a child process bound to the root token.

    Args:
        root: The root token and key.
    """

    def __init__(self, root: RootToken) -> None:
        self._root = root

    def create_root(self, *, organization: str, validity_days: int) -> x509.Certificate:
        """Generate the root key (EC P-384) and self-sign its certificate.

        Raises:
            CeremonyError: The key exists already, or the operation failed.
        """
        certificate = self._run(
            "create-root",
            {"organization": organization, "validity_days": validity_days},
        )
        logger.info("created root CA %s", certificate.subject.rfc4514_string())
        return certificate

    def sign_subordinate(
        self,
        *,
        root_certificate: x509.Certificate,
        role: CaRole,
        organization: str,
        public_key: ec.EllipticCurvePublicKey,
        publication: Publication,
        validity_days: int,
    ) -> x509.Certificate:
        """Sign a CA certificate under the root for ``public_key``.

        Raises:
            CeremonyError: The operation failed; the message says why.
        """
        certificate = self._run(
            "sign-subordinate",
            {
                "root_certificate": _pem(root_certificate),
                "role": role.name,
                "organization": organization,
                "public_key": public_key.public_bytes(
                    serialization.Encoding.PEM,
                    serialization.PublicFormat.SubjectPublicKeyInfo,
                ).decode("ascii"),
                "base_url": publication.base_url,
                "validity_days": validity_days,
            },
        )
        logger.info("root signed %s", certificate.subject.rfc4514_string())
        return certificate

    def _run(self, operation: str, arguments: dict[str, Any]) -> x509.Certificate:
        request = {
            "root": self._root.to_json(),
            "operation": operation,
            "arguments": arguments,
        }
        completed = self._spawn(operation, json.dumps(request))

        try:
            reply = json.loads(completed.stdout)
        except json.JSONDecodeError:
            reply = {"error": completed.stderr.strip() or "no reply"}
        if completed.returncode != 0 or "certificate" not in reply:
            raise CeremonyError(
                f"root ceremony step failed: {reply.get('error', 'no reply')}",
                token=self._root.token_label,
                operation=operation,
            )
        return x509.load_pem_x509_certificate(reply["certificate"].encode("ascii"))

    def _spawn(self, operation: str, request: str) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, CONF_ENV: str(self._root.softhsm_conf)}
        try:
            return subprocess.run(
                [sys.executable, "-c", _CHILD],
                input=request,
                capture_output=True,
                text=True,
                env=environment,
                timeout=_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CeremonyError(
                f"cannot run the root ceremony process: {exc}",
                token=self._root.token_label,
                operation=operation,
            ) from exc


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _perform(request: dict[str, Any]) -> x509.Certificate:
    """Carry out one request inside the ceremony process."""
    root = RootToken.from_json(request["root"])
    arguments = request["arguments"]
    ref = TokenRef(root.module, root.token_label, root.softhsm_conf)
    now = datetime.datetime.now(datetime.UTC)

    with Token.open(ref, read_pin(root.pin_file)) as token:
        if request["operation"] == "create-root":
            token.generate_ec_key(root.key_label, ec.SECP384R1())
            return create_root_certificate(
                HsmPrivateKey(token, root.key_label),
                organization=arguments["organization"],
                validity_days=arguments["validity_days"],
                now=now,
            )
        if request["operation"] == "sign-subordinate":
            return _sign_subordinate(
                HsmPrivateKey(token, root.key_label), arguments, now
            )
    raise CeremonyError(f"unknown ceremony operation {request['operation']!r}")


def _sign_subordinate(
    key: HsmPrivateKey, arguments: dict[str, Any], now: datetime.datetime
) -> x509.Certificate:
    public_key = serialization.load_pem_public_key(
        arguments["public_key"].encode("ascii")
    )
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise CeremonyError("CA keys are EC keys")

    return sign_subordinate_ca(
        key,
        x509.load_pem_x509_certificate(arguments["root_certificate"].encode("ascii")),
        role=CaRole[arguments["role"]],
        organization=arguments["organization"],
        public_key=public_key,
        publication=Publication(base_url=arguments["base_url"]),
        validity_days=arguments["validity_days"],
        now=now,
    )


def main() -> int:
    """Entry point of the ceremony process: one JSON request in, one reply out."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        certificate = _perform(json.load(sys.stdin))
    except (PkiError, KeyError, ValueError) as exc:
        json.dump({"error": str(exc)}, sys.stdout)
        return 1

    json.dump({"certificate": _pem(certificate)}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
