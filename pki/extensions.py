"""X.509 extensions shared by the certificate profiles."""

from __future__ import annotations

from cryptography import x509

from pki.errors import ProfileError


def key_usage(
    *,
    digital_signature: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    """A keyUsage with only the named bits set; the profiles use no others."""
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def authority_key_identifier(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """An AKI carrying the issuer's subjectKeyIdentifier.

    Raises:
        ProfileError: The issuer certificate has no subjectKeyIdentifier.
    """
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound as exc:
        raise ProfileError(
            f"issuer {issuer.subject.rfc4514_string()} has no subjectKeyIdentifier"
        ) from exc
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)


def crl_distribution_points(url: str) -> x509.CRLDistributionPoints:
    """One distribution point whose full name is ``url``."""
    return x509.CRLDistributionPoints(
        [
            x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(url)],
                relative_name=None,
                reasons=None,
                crl_issuer=None,
            )
        ]
    )
