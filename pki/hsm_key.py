"""An EC private key that lives in a token and signs through its owner.

:class:`HsmPrivateKey` is a ``cryptography`` private key, so the x509 builders
(certificates, CRLs, OCSP responses, CSRs) sign with it directly. It hashes the
data itself and has the token sign the digest with CKM_ECDSA.

The builders accepting a Python subclass is behaviour ``cryptography`` does not
document; the version is pinned in ``pyproject.toml`` and ``tests/pki`` pins the
behaviour for each builder.
"""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.utils import Buffer

from pki.errors import KeyNotExportable
from pki.token import Token


class HsmPrivateKey(ec.EllipticCurvePrivateKey):
    """A token-held EC private key usable wherever ``cryptography`` wants one.

    Args:
        token: The token holding the key.
        label: The key pair's label on the token.

    Raises:
        KeyNotFound: The token holds no such key.
        TokenError: The token failed.
    """

    def __init__(self, token: Token, label: str) -> None:
        self._token = token
        self._label = label
        self._public = token.public_key(label)

    @property
    def label(self) -> str:
        """The key pair's label on the token."""
        return self._label

    @property
    def token_label(self) -> str:
        """The label of the token holding the key."""
        return self._token.label

    @property
    def curve(self) -> ec.EllipticCurve:
        """The key's curve."""
        return self._public.curve

    @property
    def key_size(self) -> int:
        """Bit length of the curve's order."""
        return self._public.key_size

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The public half, exported from the token when the key was opened."""
        return self._public

    def sign(
        self, data: Buffer, signature_algorithm: ec.EllipticCurveSignatureAlgorithm
    ) -> bytes:
        """Sign ``data`` with ECDSA: hashed here, signed on the token.

        Args:
            data: The message, or its digest when the algorithm is
                ``ECDSA(Prehashed(...))``.
            signature_algorithm: Must be ``ec.ECDSA``.

        Returns:
            A DER-encoded ECDSA signature.

        Raises:
            UnsupportedAlgorithm: The algorithm is not ECDSA.
            ValueError: A prehashed digest has the wrong length.
            TokenError: The token failed to sign.
        """
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise UnsupportedAlgorithm(
                f"HSM key {self._label} signs with ECDSA only, "
                f"not {type(signature_algorithm).__name__}"
            )
        return self._token.sign_digest(
            self._label, _digest(bytes(data), signature_algorithm.algorithm)
        )

    def exchange(
        self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey
    ) -> bytes:
        """Not offered: CA keys sign and do nothing else."""
        raise UnsupportedAlgorithm(f"HSM key {self._label} is for signing only")

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        """Always raises: the private value never leaves the token."""
        raise KeyNotExportable(
            f"key {self._label} is held by the token and cannot be exported",
            token=self._token.label,
            operation="export private key",
        )

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        """Always raises: the private value never leaves the token."""
        raise KeyNotExportable(
            f"key {self._label} is held by the token and cannot be exported",
            token=self._token.label,
            operation="export private key",
        )

    def __copy__(self) -> HsmPrivateKey:
        # A handle on a token key has no state of its own worth duplicating.
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> HsmPrivateKey:
        return self


def _digest(data: bytes, algorithm: hashes.HashAlgorithm | Prehashed) -> bytes:
    if isinstance(algorithm, Prehashed):
        if len(data) != algorithm.digest_size:
            raise ValueError(
                f"prehashed data is {len(data)} bytes; {algorithm.digest_size} expected"
            )
        return data

    hasher = hashes.Hash(algorithm)
    hasher.update(data)
    return hasher.finalize()
