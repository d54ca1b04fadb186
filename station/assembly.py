"""Building a working station from its configuration.

This is the wiring the command line and the console share: it opens the
journal, the issuer named by the configuration, and the pinned root, and hands
back a :class:`Station` whose provisioner the line runs. The issuer modes meet
here and nowhere else in ``station``: the workflow sees only the
:class:`ca_client.issuer.Issuer` interface.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from cryptography import x509

from ca_client.errors import IssuerUnavailable
from ca_client.issuer import Issuer
from ca_client.local_hsm import LocalHsmIssuer
from device_io.session import SessionSettings
from pki import CaStore, IssuingCaSource, PkiError, ProductLine, Publication
from pki.softhsm import find_module
from station.audit import AuditLog, open_audit_log
from station.badges import check_badge
from station.chain_checks import Trust
from station.config import LocalHsmSection, StationConfig
from station.errors import ConfigError
from station.events import EventListener, ignore_events
from station.job import JobContext
from station.journal import Clock, Journal, utc_now
from station.lot_import import check_models
from station.lot_store import LotStore
from station.qa import QaInspector
from station.secrets import read_secret
from station.state_lock import StateLock
from station.workflow import Provisioner, Slot

logger = logging.getLogger(__name__)


@dataclass
class Station:
    """A station ready to provision: its provisioner and what it holds open."""

    config: StationConfig
    journal: Journal
    audit: AuditLog
    issuer: Issuer
    provisioner: Provisioner
    inspector: QaInspector
    _resources: ExitStack

    @property
    def slots(self) -> list[Slot]:
        """The fixture slots of the configuration."""
        return [Slot(slot.name, slot.port) for slot in self.config.slots]

    def close(self) -> None:
        """Close the issuer and the journal."""
        self._resources.close()

    def __enter__(self) -> Station:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def open_station(
    config: StationConfig,
    *,
    operator: str,
    lot: str,
    listener: EventListener = ignore_events,
    clock: Clock = utc_now,
) -> Station:
    """Open the journal, issuer, trust anchor and lot plan a station runs with.

    Args:
        config: The validated configuration.
        operator: Badge id of the signed-in operator, written on every record.
        lot: The lot to run; its plan must have been imported.
        listener: Receives every slot event.
        clock: Source of time for the journal and the checks.

    Raises:
        BadgeError: ``operator`` is not a badge id.
        StationBusy: Another process runs this station already.
        LotPlanError: No plan was imported for ``lot``, or it plans a model
            the product line does not certify.
        ConfigError: A file the configuration names cannot be used.
        SecretError: The token PIN cannot be read safely.
        IssuerUnavailable: The issuing CA cannot be opened.
        JournalError: The journal cannot be opened.
    """
    check_badge(operator)
    with ExitStack() as resources:
        resources.enter_context(StateLock(config.station.state_dir))
        trust = load_trust(config)
        with LotStore(config.lots_path) as lots:
            plan = lots.plan(lot)
        # The product line may have changed since the import: refuse here,
        # not after every module's key generation.
        check_models(config, plan, f"lot {lot}")
        journal = resources.enter_context(
            Journal(config.journal_path, station=config.station.name, clock=clock)
        )
        audit = resources.enter_context(
            open_audit_log(config, operator=operator, journal=journal, clock=clock)
        )
        issuer = open_issuer(config, resources, clock=clock)
        context = JobContext(
            journal=journal,
            trust=trust,
            link=session_settings(config),
            operator=operator,
            listener=listener,
            clock=clock,
        )
        provisioner = Provisioner(context, issuer=issuer, plan=plan, audit=audit)
        inspector = QaInspector(context)
        logger.info(
            "station %s ready, issuer %s", config.station.name, issuer.description
        )
        return Station(
            config, journal, audit, issuer, provisioner, inspector, resources.pop_all()
        )
    raise AssertionError("unreachable")  # pragma: no cover


def load_trust(config: StationConfig) -> Trust:
    """The pinned root and profile expectations of a configuration.

    Raises:
        ConfigError: The root certificate cannot be read.
    """
    path = config.trust.root_certificate
    try:
        root = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"trust.root_certificate {path}: {exc}") from exc
    return Trust(
        root=root,
        organization=config.product_line.organization,
        lot_oid=config.product_line.lot_oid,
    )


def session_settings(config: StationConfig) -> SessionSettings:
    """Serial link settings from the ``[link]`` section."""
    link = config.link
    return SessionSettings(
        baudrate=link.baud,
        command_timeout=link.command_timeout,
        keygen_timeout=link.keygen_timeout,
        commit_timeout=link.commit_timeout,
        reopen_wait=link.reopen_wait,
    )


def open_issuer(
    config: StationConfig, resources: ExitStack, *, clock: Clock = utc_now
) -> Issuer:
    """Open the issuer the ``[issuer]`` section names.

    Args:
        config: The validated configuration.
        resources: Takes the callbacks that close what the issuer opened.
        clock: Source of the issuance time.

    Raises:
        ConfigError: The issuer's settings are unusable.
        IssuerUnavailable: The issuer cannot be opened.
    """
    section = config.issuer.local_hsm
    if section is None:
        raise ConfigError(f"issuer.mode {config.issuer.mode} needs its settings")
    pin = read_secret(
        what="issuing CA token PIN", env=section.pin_env, file=section.pin_file
    )
    source = _issuing_source(section)
    try:
        store = CaStore.open_sqlite(_ca_store_path(config, section))
        resources.callback(store.close)
        issuer = LocalHsmIssuer.open(
            source,
            store=store,
            product_line=product_line(config),
            pin=pin.get_secret_value(),
            clock=clock,
        )
        resources.callback(issuer.close)
        return issuer
    except PkiError as exc:
        raise IssuerUnavailable(
            f"cannot open the issuing CA: {exc}", issuer=section.token_label
        ) from exc


def product_line(config: StationConfig) -> ProductLine:
    """The CA-side product line settings of a configuration."""
    section = config.product_line
    return ProductLine(
        organization=section.organization,
        oid_arc=section.oid_arc,
        models=dict(section.models),
        validity_days=section.validity_days,
        min_validity_days=section.min_validity_days,
        publication=Publication(base_url=config.publication.base_url),
    )


def _issuing_source(section: LocalHsmSection) -> IssuingCaSource:
    try:
        module = find_module(section.module)
    except PkiError as exc:
        raise ConfigError(f"issuer.local_hsm.module: {exc}") from exc
    for key in ("softhsm2_conf", "certificate"):
        path = getattr(section, key)
        if path is not None and not path.is_file():
            raise ConfigError(f"issuer.local_hsm.{key}: no such file {path}")
    return IssuingCaSource(
        module=module,
        token_label=section.token_label,
        key_label=section.key_label,
        certificate=section.certificate,
        softhsm_conf=section.softhsm2_conf,
        pin_file=section.pin_file,
    )


def _ca_store_path(config: StationConfig, section: LocalHsmSection) -> Path:
    path = section.ca_store or config.station.state_dir / "ca" / "ca-store.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
