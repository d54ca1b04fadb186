"""Device validity clamped to the issuing CA, the clamp recorded, short ones refused."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from device_requests import device_csr, identity

from pki.ca_store import CaStore
from pki.devpki import DevPki
from pki.errors import ValidityRefused
from pki.issuing_ca import IssuingCa
from pki.product_line import ProductLine
from pki.validity import Validity, clamped_validity


def _ca(
    dev_pki: DevPki,
    store: CaStore,
    product_line: ProductLine,
    now: datetime.datetime,
    **changes: int,
) -> IssuingCa:
    return IssuingCa.open(
        dev_pki.issuing,
        store=store,
        product_line=product_line.model_copy(update=changes),
        clock=lambda: now,
    )


def test_a_lifetime_past_the_ca_is_clamped_and_the_clamp_recorded(
    dev_pki: DevPki,
    ca_store: CaStore,
    product_line: ProductLine,
    issue_time: datetime.datetime,
    issuing_certificate: x509.Certificate,
) -> None:
    ca = _ca(dev_pki, ca_store, product_line, issue_time, validity_days=5000)

    result = ca.issue(identity(1), device_csr(identity(1).serial))
    ca.close()

    asked = issue_time.replace(microsecond=0) + datetime.timedelta(days=5000)
    assert result.certificate.not_valid_after_utc == (
        issuing_certificate.not_valid_after_utc
    )
    assert result.clamped_from == asked
    stored = ca_store.find(result.record.cert_serial)
    assert stored is not None
    assert stored.clamped_from == asked


def test_an_unclamped_certificate_records_no_clamp(
    issuing_ca: IssuingCa, ca_store: CaStore
) -> None:
    result = issuing_ca.issue(identity(1), device_csr(identity(1).serial))

    assert result.clamped_from is None
    assert ca_store.records_for_device(identity(1).serial)[0].clamped_from is None


def test_too_little_validity_left_is_refused_and_nothing_recorded(
    dev_pki: DevPki,
    ca_store: CaStore,
    product_line: ProductLine,
    issuing_certificate: x509.Certificate,
) -> None:
    late = issuing_certificate.not_valid_after_utc - datetime.timedelta(days=200)
    ca = _ca(dev_pki, ca_store, product_line, late, min_validity_days=365)

    with pytest.raises(ValidityRefused, match="leaving 200 days; at least 365"):
        ca.issue(identity(1), device_csr(identity(1).serial))
    ca.close()

    assert ca_store.records_for_device(identity(1).serial) == []


def test_issuance_outside_the_ca_validity_is_refused(
    issuing_certificate: x509.Certificate,
) -> None:
    before = issuing_certificate.not_valid_before_utc - datetime.timedelta(days=1)

    with pytest.raises(ValidityRefused, match="issuing CA is valid from"):
        clamped_validity(before, days=10, minimum_days=1, issuer=issuing_certificate)


def test_the_window_starts_on_a_whole_second() -> None:
    moment = datetime.datetime(2026, 6, 1, 8, 30, 15, 999_999, tzinfo=datetime.UTC)

    window = Validity.starting(moment, days=2)

    assert window.not_before == moment.replace(microsecond=0)
    assert window.not_after == window.not_before + datetime.timedelta(days=2)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Validity.starting(datetime.datetime(2026, 6, 1), days=1)
