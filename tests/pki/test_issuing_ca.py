"""Issuance through the issuing CA: checks, idempotency, clones, concurrency."""

from __future__ import annotations

import datetime
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from device_requests import device_csr, device_key, identity, with_broken_signature

from pki.ca_store import CaStore
from pki.device_identity import DeviceIdentity
from pki.devpki import DevPki
from pki.errors import (
    CloneRefused,
    CsrRejected,
    IdentityRejected,
    ProfileError,
    RevokedKey,
    SecretFileError,
    TokenUnavailable,
)
from pki.issuing_ca import BindingConflict, IssuingCa, IssuingCaSource
from pki.product_line import ProductLine


def test_issue_records_the_certificate_in_the_store(
    issuing_ca: IssuingCa, ca_store: CaStore
) -> None:
    module = identity(1)
    key = device_key()

    result = issuing_ca.issue(module, device_csr(module.serial, key))

    record = ca_store.find(f"{result.certificate.serial_number:x}")
    assert record == result.record
    assert record is not None
    assert (record.device_serial, record.mac, record.model, record.lot) == (
        "AMB82D001001",
        "00e04c870001",
        "AMB82",
        "LOT-2026-0042",
    )
    assert record.certificate == result.certificate
    assert not result.reused
    assert result.chain == (issuing_ca.certificate,)


def test_the_same_module_and_key_get_the_same_certificate_back(
    issuing_ca: IssuingCa, ca_store: CaStore
) -> None:
    module = identity(1)
    key = device_key()
    first = issuing_ca.issue(module, device_csr(module.serial, key))

    # A new CSR for the same key: ECDSA signatures differ, the key does not.
    again = issuing_ca.issue(module, device_csr(module.serial, key))

    assert again.reused
    assert again.certificate == first.certificate
    assert ca_store.records_for_device(module.serial) == [first.record]


def test_a_serial_bound_to_another_key_is_refused_as_a_clone(
    issuing_ca: IssuingCa,
) -> None:
    module = identity(1)
    first = issuing_ca.issue(module, device_csr(module.serial))

    with pytest.raises(CloneRefused, match="serial AMB82D001001 is bound") as raised:
        issuing_ca.issue(module, device_csr(module.serial))

    assert raised.value.existing == (first.record,)
    assert raised.value.serial == module.serial
    assert first.record.cert_serial in str(raised.value)


def test_a_mac_bound_to_another_module_is_refused_as_a_clone(
    issuing_ca: IssuingCa,
) -> None:
    original = identity(1)
    issuing_ca.issue(original, device_csr(original.serial))
    copycat = DeviceIdentity(
        serial="AMB82D009999", mac=original.mac, model="AMB82", lot=original.lot
    )

    with pytest.raises(CloneRefused, match="MAC 00e04c870001 is bound") as raised:
        issuing_ca.issue(copycat, device_csr(copycat.serial))

    assert "module AMB82D001001" in str(raised.value)


def test_a_key_certified_for_one_module_is_refused_for_another(
    issuing_ca: IssuingCa,
) -> None:
    key = device_key()
    issuing_ca.issue(identity(1), device_csr(identity(1).serial, key))

    with pytest.raises(CloneRefused, match="already certified for another module"):
        issuing_ca.issue(identity(2), device_csr(identity(2).serial, key))


def test_the_same_key_with_other_identity_fields_is_refused(
    issuing_ca: IssuingCa,
) -> None:
    module = identity(1)
    key = device_key()
    issuing_ca.issue(module, device_csr(module.serial, key))
    relabelled = DeviceIdentity(
        serial=module.serial, mac=module.mac, model="AMB82", lot="LOT-OTHER"
    )

    with pytest.raises(IdentityRejected, match="other identity fields"):
        issuing_ca.issue(relabelled, device_csr(module.serial, key))


def test_a_revoked_certificate_is_not_handed_out_again(
    issuing_ca: IssuingCa, ca_store: CaStore, issue_time: datetime.datetime
) -> None:
    module = identity(1)
    key = device_key()
    first = issuing_ca.issue(module, device_csr(module.serial, key))
    ca_store.revoke(first.record.cert_serial, when=issue_time, reason="keyCompromise")

    with pytest.raises(RevokedKey, match="keyCompromise"):
        issuing_ca.issue(module, device_csr(module.serial, key))


def test_a_module_whose_certificate_was_revoked_can_be_certified_with_a_new_key(
    issuing_ca: IssuingCa, ca_store: CaStore, issue_time: datetime.datetime
) -> None:
    module = identity(1)
    first = issuing_ca.issue(module, device_csr(module.serial))
    ca_store.revoke(first.record.cert_serial, when=issue_time, reason="superseded")

    second = issuing_ca.issue(module, device_csr(module.serial))

    assert second.certificate != first.certificate


class _Campaign:
    """Covers the modules a rework campaign names."""

    def __init__(self, serials: set[str]) -> None:
        self.serials = serials
        self.seen: list[BindingConflict] = []

    def permits(self, conflict: BindingConflict) -> bool:
        self.seen.append(conflict)
        return conflict.identity.serial in self.serials


def test_a_binding_override_lets_a_covered_module_be_rekeyed(
    dev_pki: DevPki,
    ca_store: CaStore,
    product_line: ProductLine,
    issue_time: datetime.datetime,
) -> None:
    campaign = _Campaign({"AMB82D001001"})
    ca = IssuingCa.open(
        dev_pki.issuing,
        store=ca_store,
        product_line=product_line,
        clock=lambda: issue_time,
        binding_override=campaign,
    )
    first = ca.issue(identity(1), device_csr(identity(1).serial))
    ca.issue(identity(2), device_csr(identity(2).serial))

    rekeyed = ca.issue(identity(1), device_csr(identity(1).serial))
    with pytest.raises(CloneRefused):
        ca.issue(identity(2), device_csr(identity(2).serial))
    ca.close()

    assert rekeyed.certificate != first.certificate
    assert campaign.seen[0].existing == (first.record,)


@pytest.mark.parametrize(
    ("make_csr", "reason"),
    [
        (lambda s: with_broken_signature(device_csr(s)), "signature does not verify"),
        (lambda s: device_csr(s, rsa.generate_private_key(65537, 2048)), "RSA"),
        (lambda s: device_csr(s, device_key(ec.SECP384R1())), "secp384r1"),
        (lambda s: device_csr(s, common_name="AMB82D001002"), "is not CN="),
        (lambda s: b"\x30\x03garbage", "not a DER PKCS#10"),
    ],
    ids=["bad-signature", "rsa-key", "p384-key", "other-subject", "not-der"],
)
def test_the_ca_rejects_a_bad_csr_itself(
    issuing_ca: IssuingCa, ca_store: CaStore, make_csr: object, reason: str
) -> None:
    module = identity(1)

    with pytest.raises(CsrRejected, match=reason) as raised:
        issuing_ca.issue(module, make_csr(module.serial))  # type: ignore[operator]

    assert raised.value.serial == module.serial
    assert ca_store.records_for_device(module.serial) == []


def test_an_unknown_model_is_refused_with_the_known_ones(
    issuing_ca: IssuingCa,
) -> None:
    module = identity(1, model="RTL8720")

    with pytest.raises(IdentityRejected, match=r"'RTL8720'.*AMB82, BW16"):
        issuing_ca.issue(module, device_csr(module.serial))


def test_many_threads_issuing_at_once_get_distinct_certificates(
    issuing_ca: IssuingCa, ca_store: CaStore
) -> None:
    modules = [identity(number) for number in range(1, 65)]
    requests = [(module, device_csr(module.serial)) for module in modules]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda r: issuing_ca.issue(*r), requests))

    serials = {result.certificate.serial_number for result in results}
    assert len(serials) == len(modules)
    for (module, _), result in zip(requests, results, strict=True):
        result.certificate.verify_directly_issued_by(issuing_ca.certificate)
        assert ca_store.records_for_device(module.serial) == [result.record]


def test_repeats_racing_each_other_still_yield_one_certificate(
    issuing_ca: IssuingCa, ca_store: CaStore
) -> None:
    module = identity(1)
    key = device_key()
    csrs = [device_csr(module.serial, key) for _ in range(12)]

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda csr: issuing_ca.issue(module, csr), csrs))

    assert len({result.certificate.serial_number for result in results}) == 1
    assert sum(not result.reused for result in results) == 1
    assert len(ca_store.records_for_device(module.serial)) == 1


def test_open_refuses_a_certificate_that_is_not_the_token_key(
    dev_pki: DevPki, ca_store: CaStore, product_line: ProductLine
) -> None:
    wrong = IssuingCaSource(
        module=dev_pki.issuing.module,
        token_label=dev_pki.issuing.token_label,
        key_label=dev_pki.issuing.key_label,
        certificate=dev_pki.root_certificate,
        softhsm_conf=dev_pki.issuing.softhsm_conf,
        pin_file=dev_pki.issuing.pin_file,
    )

    with pytest.raises(ProfileError, match="not for the CA key"):
        IssuingCa.open(wrong, store=ca_store, product_line=product_line)


def test_open_refuses_a_pin_file_others_can_read(
    dev_pki: DevPki, ca_store: CaStore, product_line: ProductLine, tmp_path: Path
) -> None:
    assert dev_pki.issuing.pin_file is not None
    loose = tmp_path / "loose.pin"
    loose.write_text(dev_pki.issuing.pin_file.read_text())
    loose.chmod(0o644)
    source = IssuingCaSource(
        module=dev_pki.issuing.module,
        token_label=dev_pki.issuing.token_label,
        key_label=dev_pki.issuing.key_label,
        certificate=dev_pki.issuing.certificate,
        softhsm_conf=dev_pki.issuing.softhsm_conf,
        pin_file=loose,
    )

    with pytest.raises(SecretFileError, match="0644"):
        IssuingCa.open(source, store=ca_store, product_line=product_line)


def test_open_with_a_wrong_pin_names_the_token(
    dev_pki: DevPki, ca_store: CaStore, product_line: ProductLine
) -> None:
    with pytest.raises(TokenUnavailable) as raised:
        IssuingCa.open(
            dev_pki.issuing, store=ca_store, product_line=product_line, pin="wrong-pin"
        )

    assert raised.value.token == "issuing-ca"


def test_description_names_the_ca_and_its_token(issuing_ca: IssuingCa) -> None:
    assert issuing_ca.description == (
        "CN=Example IoT Devices Device Issuing CA,O=Example IoT Devices "
        "(token issuing-ca)"
    )
