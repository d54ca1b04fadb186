"""Certificate validity windows, clamped to the issuer's own validity.

A certificate must not outlive its issuer. When a product line asks for more
than the issuing CA has left, the window is clamped to the CA's notAfter and
the clamp is recorded; when that leaves less than the line's minimum, issuance
is refused instead.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509

from pki.errors import ValidityRefused


@dataclass(frozen=True)
class Validity:
    """A certificate's validity window.

    Attributes:
        not_before: Start, UTC, whole seconds.
        not_after: End, UTC, whole seconds.
        clamped_from: The end first asked for, when it was clamped to the
            issuer's notAfter; otherwise None.
    """

    not_before: datetime.datetime
    not_after: datetime.datetime
    clamped_from: datetime.datetime | None = None

    @classmethod
    def starting(cls, now: datetime.datetime, *, days: int) -> Validity:
        """``days`` from ``now`` (whole seconds), for certificates without an
        issuer to clamp to, such as a self-signed root."""
        start = _whole_seconds(now)
        return cls(start, start + datetime.timedelta(days=days))


def clamped_validity(
    now: datetime.datetime,
    *,
    days: int,
    minimum_days: int,
    issuer: x509.Certificate,
) -> Validity:
    """``days`` from ``now``, clamped to the issuer's notAfter.

    Args:
        now: The issuance time, timezone-aware.
        days: Lifetime asked for.
        minimum_days: Shortest lifetime accepted after clamping.
        issuer: The issuing CA's certificate.

    Raises:
        ValidityRefused: The issuer is not valid at ``now``, or the clamped
            window is shorter than ``minimum_days``.
    """
    asked = Validity.starting(now, days=days)
    issuer_start = issuer.not_valid_before_utc
    issuer_end = issuer.not_valid_after_utc
    if not issuer_start <= asked.not_before < issuer_end:
        raise ValidityRefused(
            f"the issuing CA is valid from {issuer_start:%Y-%m-%d %H:%M:%SZ} "
            f"to {issuer_end:%Y-%m-%d %H:%M:%SZ}, not at "
            f"{asked.not_before:%Y-%m-%d %H:%M:%SZ}"
        )

    if asked.not_after <= issuer_end:
        return asked

    left = issuer_end - asked.not_before
    if left < datetime.timedelta(days=minimum_days):
        raise ValidityRefused(
            f"the issuing CA expires {issuer_end:%Y-%m-%d %H:%M:%SZ}, leaving "
            f"{left.days} days; at least {minimum_days} are needed"
        )
    return Validity(asked.not_before, issuer_end, clamped_from=asked.not_after)


def _whole_seconds(moment: datetime.datetime) -> datetime.datetime:
    if moment.tzinfo is None:
        raise ValueError("issuance times must be timezone-aware")
    return moment.astimezone(datetime.UTC).replace(microsecond=0)
