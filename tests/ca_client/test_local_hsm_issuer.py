"""The local HSM issuer behind the Issuer interface, on a real SoftHSM2 token."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ca_client.errors import IssuanceRefused, IssuerUnavailable
from ca_client.issuer import DeviceRequest, Issuer
from ca_client.local_hsm import LocalHsmIssuer
from pki.ca_store import CaStore
from pki.devpki import DevPki
from pki.product_line import ProductLine


def _request(
    number: int,
    key: ec.EllipticCurvePrivateKey | None = None,
    **changes: str,
) -> DeviceRequest:
    serial = changes.pop("serial", f"AMB82D001{number:03d}")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, serial),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, serial),
        ]
    )
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .sign(key or ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    )
    fields = {
        "serial": serial,
        "mac": f"00:e0:4c:87:00:{number:02x}",
        "model": "AMB82",
        "lot": "LOT-2026-0042",
    }
    fields.update(changes)
    return DeviceRequest(csr_der=csr.public_bytes(serialization.Encoding.DER), **fields)


def test_local_hsm_issuer_is_an_issuer(issuer: LocalHsmIssuer) -> None:
    as_interface: Issuer = issuer

    assert "token issuing-ca" in as_interface.description
    assert as_interface.description.startswith("local HSM: ")


def test_issue_returns_the_leaf_and_the_issuing_ca_without_the_root(
    issuer: LocalHsmIssuer, dev_pki: DevPki
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    issuing = x509.load_pem_x509_certificate(dev_pki.issuing.certificate.read_bytes())

    issued = issuer.issue(_request(1, key))

    assert issued.leaf.public_key() == key.public_key()
    assert issued.chain == (issuing,)
    assert not issued.reused
    assert issued.clamped_from is None
    assert issued.serial_hex == f"{issued.leaf.serial_number:x}"


def test_a_repeated_request_gets_the_same_certificate_marked_reused(
    issuer: LocalHsmIssuer,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    first = issuer.issue(_request(1, key))

    again = issuer.issue(_request(1, key))

    assert again.reused
    assert again.leaf == first.leaf


def test_a_clone_is_refused_naming_the_module_and_the_token(
    issuer: LocalHsmIssuer,
) -> None:
    issuer.issue(_request(1))

    with pytest.raises(IssuanceRefused, match="is bound to another key") as raised:
        issuer.issue(_request(1))

    assert raised.value.serial == "AMB82D001001"
    assert raised.value.issuer == "issuing-ca"
    assert str(raised.value).endswith("(module AMB82D001001, issuer issuing-ca)")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"mac": "00:e0:4c:87:00"}, "invalid mac"),
        ({"model": "UNKNOWN1"}, "not in the product line"),
        ({"lot": "LOT 42"}, "invalid lot"),
    ],
)
def test_bad_identity_fields_are_refused(
    issuer: LocalHsmIssuer, changes: dict[str, str], reason: str
) -> None:
    with pytest.raises(IssuanceRefused, match=reason):
        issuer.issue(_request(1, **changes))


def test_a_csr_from_another_module_is_refused(issuer: LocalHsmIssuer) -> None:
    request = _request(1)
    mismatched = DeviceRequest(
        csr_der=request.csr_der,
        serial="AMB82D001002",
        mac=request.mac,
        model=request.model,
        lot=request.lot,
    )

    with pytest.raises(IssuanceRefused, match="CSR subject"):
        issuer.issue(mismatched)


def test_a_clamped_validity_is_passed_on(
    dev_pki: DevPki,
    ca_store: CaStore,
    product_line: ProductLine,
    issue_time: datetime.datetime,
) -> None:
    long_lived = product_line.model_copy(update={"validity_days": 9000})
    issuer = LocalHsmIssuer.open(
        dev_pki.issuing,
        store=ca_store,
        product_line=long_lived,
        clock=lambda: issue_time,
    )

    issued = issuer.issue(_request(1))
    issuer.close()

    assert issued.clamped_from == (
        issue_time.replace(microsecond=0) + datetime.timedelta(days=9000)
    )


def test_too_short_a_validity_is_refused(
    dev_pki: DevPki, ca_store: CaStore, product_line: ProductLine
) -> None:
    issuing = x509.load_pem_x509_certificate(dev_pki.issuing.certificate.read_bytes())
    late = issuing.not_valid_after_utc - datetime.timedelta(days=30)
    issuer = LocalHsmIssuer.open(
        dev_pki.issuing, store=ca_store, product_line=product_line, clock=lambda: late
    )

    with pytest.raises(IssuanceRefused, match="leaving 30 days"):
        issuer.issue(_request(1))
    issuer.close()


def test_a_wrong_pin_makes_the_issuer_unavailable(
    dev_pki: DevPki, ca_store: CaStore, product_line: ProductLine
) -> None:
    with pytest.raises(IssuerUnavailable, match="the PIN is wrong") as raised:
        LocalHsmIssuer.open(
            dev_pki.issuing,
            store=ca_store,
            product_line=product_line,
            pin="not-the-pin",
        )

    assert raised.value.issuer == "issuing-ca"
    assert "not-the-pin" not in str(raised.value)


def test_a_closed_token_makes_issuance_unavailable_not_refused(
    issuer: LocalHsmIssuer,
) -> None:
    issuer.close()

    with pytest.raises(IssuerUnavailable, match="closed") as raised:
        issuer.issue(_request(1))

    assert raised.value.serial == "AMB82D001001"


def test_a_failing_store_makes_issuance_unavailable(
    issuer: LocalHsmIssuer, ca_store: CaStore
) -> None:
    ca_store.close()

    with pytest.raises(IssuerUnavailable, match="CA store"):
        issuer.issue(_request(1))
