"""One credential slot of a module: its private key, CSR and committed chain.

Slot 0 holds the identity the module ships with; slot 1 holds the next key
during a rotation. A slot's key never leaves the simulator: the host sees only
the CSR, the public key and signatures.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TypeAlias

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_der_private_key,
)

# The firmware only ever makes P-256 keys; RSA and P-384 exist so that the
# misbehaving modules the station must refuse can be simulated.
ModuleKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class Credential:
    """A key pair with the CSR made when it was generated.

    Attributes:
        key: The private key.
        csr: The DER PKCS#10 request, made once at key generation.
        chain: The committed CHAIN object (DER certificates, leaf first), or
            None before a commit.
    """

    key: ModuleKey
    csr: bytes
    chain: bytes | None = None

    @property
    def public_der(self) -> bytes:
        """The PUB object: the DER SubjectPublicKeyInfo."""
        return self.key.public_key().public_bytes(
            Encoding.DER, PublicFormat.SubjectPublicKeyInfo
        )

    def with_chain(self, chain: bytes) -> Credential:
        """The same key and CSR with ``chain`` committed."""
        return replace(self, chain=chain)

    def private_der(self) -> bytes:
        """The key as unencrypted PKCS#8 DER, for the module's own flash only."""
        return self.key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())


def load_key(der: bytes) -> ModuleKey:
    """Load a key stored by ``Credential.private_der``.

    Raises:
        ValueError: The bytes are not a P-256, P-384 or RSA PKCS#8 key.
    """
    key = load_der_private_key(der, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"unexpected key type {type(key).__name__}")
    return key
