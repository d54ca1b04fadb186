"""Proof of possession: the module signs a fresh challenge with its key.

The station never lets a module sign data the station chooses freely: the
module signs ``PV-CHALLENGE-V1\\0 || challenge`` over 32 fresh random bytes, and
the signature must verify against the certificate the module holds.
"""

from __future__ import annotations

import secrets

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from device_io.errors import IntegrityError
from device_io.pv import CHALLENGE_BYTES, challenge_message
from device_io.session import ModuleSession
from station.errors import PossessionFailed

_REFUSED = "challenge signature does not verify against the certificate key"


def prove_possession(
    session: ModuleSession, certificate: x509.Certificate, *, slot: int = 0
) -> None:
    """Have the module sign a fresh challenge and verify it with ``certificate``.

    Raises:
        PossessionFailed: The certificate key is not EC, or the signature does
            not verify against it.
    """
    key = certificate.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise PossessionFailed("certificate key is not an EC key")
    challenge = secrets.token_bytes(CHALLENGE_BYTES)

    try:
        # With the key, the link sends the challenge again when a bit error on
        # the way made the module sign other bytes.
        signature = session.sign_challenge(slot, challenge, public_key=key)
    except IntegrityError:
        raise PossessionFailed(_REFUSED) from None

    # Checked here as well: the proof must not rest on the link layer's retry.
    try:
        key.verify(signature, challenge_message(challenge), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise PossessionFailed(_REFUSED) from None
