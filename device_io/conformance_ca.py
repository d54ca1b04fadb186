"""A throwaway CA that certifies module keys during a conformance run.

The commit checks need chains a module must accept (its own key in the leaf)
and chains it must refuse (another key in the leaf). The runner makes them
with a CA whose key exists only in memory for one run and whose name says what
it is, so no production CA is involved and nothing it signs can be trusted
anywhere.
"""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from device_io.chain import encode_chain

CA_NAME = "PV conformance throwaway CA (not for production)"
# Long enough for a slow run on a module whose clock is off, short enough that
# a chain left on a module is useless by the time anyone could misuse it.
VALIDITY = datetime.timedelta(days=2)


class ThrowawayCa:
    """A P-256 CA with a key in memory, made fresh for one run."""

    def __init__(self) -> None:
        """Make the key and the self-signed CA certificate."""
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._now = datetime.datetime.now(datetime.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
        self.certificate = self._sign(
            x509.CertificateBuilder()
            .subject_name(name)
            .public_key(self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        )

    def chain_for(self, public_key: ec.EllipticCurvePublicKey, serial: str) -> bytes:
        """The CHAIN object for a module key: a leaf naming ``serial``, then
        this CA."""
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, serial),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, serial),
            ]
        )
        leaf = self._sign(
            x509.CertificateBuilder()
            .subject_name(subject)
            .public_key(public_key)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        )
        return encode_chain([leaf, self.certificate])

    def chain_for_another_key(self, serial: str) -> bytes:
        """A well-formed CHAIN object whose leaf certifies a key no module has."""
        stranger = ec.generate_private_key(ec.SECP256R1()).public_key()
        return self.chain_for(stranger, serial)

    def _sign(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
        return (
            builder.issuer_name(issuer)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._now - datetime.timedelta(hours=1))
            .not_valid_after(self._now + VALIDITY)
            .sign(self._key, hashes.SHA256())
        )
