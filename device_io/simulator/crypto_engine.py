"""The module's crypto: key generation, the stored CSR, challenge signatures.

A good module makes a P-256 key, a CSR with subject
``CN=<serial>, serialNumber=<serial>`` signed with ECDSA-SHA256, and signs
``PV-CHALLENGE-V1\\0 || challenge`` with ECDSA-SHA256 (DER). The crypto flaws of
``faults.Misbehaviour`` change exactly one of those things each, so that the
station's refusal of each can be tested on its own.
"""

from __future__ import annotations

import logging

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from device_io.pv import CHALLENGE_BYTES, CHALLENGE_PREFIX
from device_io.simulator.credential import Credential, ModuleKey
from device_io.simulator.faults import Misbehaviour
from device_io.simulator.nameplate import neighbour_serial

logger = logging.getLogger(__name__)

RSA_BITS = 2048
# A torn flash write loses the end of the CSR: enough to break its DER framing.
CORRUPT_TAIL_BYTES = 16


class CryptoEngine:
    """Makes keys, CSRs and signatures the way one module's firmware does."""

    def __init__(self, flaws: frozenset[Misbehaviour] = frozenset()) -> None:
        """Create the engine of one module.

        Args:
            flaws: Crypto misbehaviours of this module (see ``CRYPTO_FLAWS``).
        """
        self._flaws = flaws
        self._decoy: ModuleKey | None = None

    def generate(self, serial: str) -> Credential:
        """Make a new key pair and its CSR for the module ``serial``."""
        key = self._new_key()
        csr = self._csr(key, serial)
        logger.debug("made a %s key and a %d-byte CSR", _key_kind(key), len(csr))
        return Credential(key=key, csr=csr)

    def sign_challenge(self, key: ModuleKey, challenge: bytes) -> bytes:
        """Sign ``PV-CHALLENGE-V1\\0 || challenge``; the DER signature.

        Raises:
            ValueError: The challenge is not 32 bytes.
        """
        if len(challenge) != CHALLENGE_BYTES:
            raise ValueError(f"challenge must be {CHALLENGE_BYTES} bytes")
        if Misbehaviour.BAD_CHALLENGE_SIGNATURE in self._flaws:
            key = self._decoy_like(key)
        return _sign(key, CHALLENGE_PREFIX + challenge, hashes.SHA256())

    def _new_key(self) -> ModuleKey:
        if Misbehaviour.RSA_KEY in self._flaws:
            return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        if Misbehaviour.P384_KEY in self._flaws:
            return ec.generate_private_key(ec.SECP384R1())
        return ec.generate_private_key(ec.SECP256R1())

    def _csr(self, key: ModuleKey, serial: str) -> bytes:
        if Misbehaviour.CSR_WRONG_SERIAL in self._flaws:
            serial = neighbour_serial(serial)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, serial),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, serial),
            ]
        )
        request = x509.CertificateSigningRequestBuilder().subject_name(subject)
        der = request.sign(key, _csr_hash(key)).public_bytes(Encoding.DER)
        return self._damage(der)

    def _damage(self, der: bytes) -> bytes:
        if Misbehaviour.BAD_CSR_SIGNATURE in self._flaws:
            # The DER ends with the last byte of the signature value; flipping
            # its low bit keeps the encoding valid and breaks the signature.
            der = der[:-1] + bytes([der[-1] ^ 0x01])
        if Misbehaviour.CORRUPT_CSR in self._flaws:
            der = der[:-CORRUPT_TAIL_BYTES]
        return der

    def _decoy_like(self, key: ModuleKey) -> ModuleKey:
        """A key of the same type as ``key`` that is not ``key``."""
        if self._decoy is None or _key_kind(self._decoy) != _key_kind(key):
            self._decoy = _fresh_key_like(key)
        return self._decoy


def _csr_hash(key: ModuleKey) -> hashes.SHA256 | hashes.SHA384:
    # A P-384 module would hash its own requests to match its curve.
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


def _sign(key: ModuleKey, message: bytes, digest: hashes.HashAlgorithm) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(message, padding.PKCS1v15(), digest)
    return key.sign(message, ec.ECDSA(digest))


def _fresh_key_like(key: ModuleKey) -> ModuleKey:
    if isinstance(key, rsa.RSAPrivateKey):
        return rsa.generate_private_key(public_exponent=65537, key_size=key.key_size)
    return ec.generate_private_key(key.curve)


def _key_kind(key: ModuleKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return f"RSA-{key.key_size}"
    return key.curve.name
