"""pkilint's RFC 5280 certificate checks, as lint_pkix_cert runs them."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pkilint import loader
from pkilint.pkix import certificate as pkix_certificate
from pkilint.pkix import extension, name
from pkilint.validation import ValidationFindingSeverity


def pkilint_findings(certificate: x509.Certificate) -> list[tuple[str, str, str]]:
    """(code, node path, value) of every finding at WARNING or worse."""
    validator = pkix_certificate.create_pkix_certificate_validator_container(
        pkix_certificate.create_decoding_validators(
            name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS
        ),
        [
            pkix_certificate.create_issuer_validator_container([]),
            pkix_certificate.create_validity_validator_container(),
            pkix_certificate.create_subject_validator_container([]),
            pkix_certificate.create_extensions_validator_container([]),
            pkix_certificate.create_spki_validator_container([]),
        ],
    )
    document = loader.RFC5280CertificateDocumentLoader().load_der_document(
        certificate.public_bytes(serialization.Encoding.DER), "leaf"
    )
    return [
        (description.finding.code, result.node.path, str(result.node.pdu))
        for result in validator.validate(document.root)
        for description in result.finding_descriptions
        if description.finding.severity <= ValidationFindingSeverity.WARNING
    ]
