"""The station's configuration: one TOML file validated by pydantic.

The file is found from ``--config``, then ``$STATION_CONFIG``, then
``./station.toml``. Relative paths in it are taken from the file's own folder,
so a configuration and its state can move together. A bad value is reported
with its dotted key and why; secrets are never stored in the file itself, only
where to find them (an environment variable or a 0600 file).

See ``fixtures/station.example.toml`` for a documented example.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from station.errors import ConfigError
from station.fixture_map import FixtureMap, default_slot_ports

CONFIG_ENV = "STATION_CONFIG"
DEFAULT_CONFIG = Path("station.toml")

# Anchored: pydantic's pattern constraint searches rather than matches.
_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
_MODEL = re.compile(r"^[A-Za-z0-9.]{1,16}$")


_URL = re.compile(r"^https?://[^\s/]+(/[^\s]*)?$")
# What each pattern means, for messages: a regular expression is no answer.
_PATTERN_RULES = {
    _OID.pattern: "a dotted OID such as 1.3.6.1.4.1.32473",
    _NAME.pattern: "a name of 1 to 32 of A-Z a-z 0-9 . _ -",
    _URL.pattern: "an http:// or https:// URL with a host",
}


class _Section(BaseModel):
    # No inf or nan: a timeout of inf would wait for ever on a dead module.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _resolve(value: Path | None, info: ValidationInfo) -> Path | None:
    """Make a relative path absolute against the config file's folder."""
    base = (info.context or {}).get("base_dir")
    if value is None or value.is_absolute() or base is None:
        return value
    return Path(base) / value


class StationSection(_Section):
    """``[station]``: who this station is and where it keeps its state."""

    name: Annotated[str, Field(pattern=_NAME.pattern)] = "station-1"
    state_dir: Path = Path("state")

    _paths = field_validator("state_dir")(_resolve)


class ProductLineSection(_Section):
    """``[product_line]``: the device certificate profile (DESIGN section 4)."""

    name: str = "default"
    organization: Annotated[str, Field(min_length=1, max_length=64)]
    oid_arc: Annotated[str, Field(pattern=_OID.pattern)] = "1.3.6.1.4.1.32473"
    models: dict[str, Annotated[int, Field(ge=1)]]
    validity_days: Annotated[int, Field(ge=1, le=36500)] = 3650
    min_validity_days: Annotated[int, Field(ge=1)] = 1825

    @field_validator("models")
    @classmethod
    def _model_names(cls, models: dict[str, int]) -> dict[str, int]:
        if not models:
            raise ValueError("at least one model is needed")
        for name in models:
            if not _MODEL.fullmatch(name):
                raise ValueError(f"model name {name!r} is not 1 to 16 of A-Z a-z 0-9 .")
        by_type: dict[int, str] = {}
        for name, hw_type in models.items():
            if hw_type in by_type:
                raise ValueError(
                    f"models {by_type[hw_type]} and {name} share hwType {hw_type}; "
                    "each model needs its own (HardwareModuleName tells them apart)"
                )
            by_type[hw_type] = name
        return models

    @model_validator(mode="after")
    def _minimum_fits(self) -> ProductLineSection:
        if self.min_validity_days > self.validity_days:
            raise ValueError("min_validity_days is longer than validity_days")
        return self

    @property
    def lot_oid(self) -> str:
        """OID of the lot subject attribute."""
        return f"{self.oid_arc}.1.1"


class PublicationSection(_Section):
    """``[publication]``: the base URL of the CRL, OCSP and CA certificate."""

    base_url: Annotated[str, Field(pattern=_URL.pattern)]

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, url: str) -> str:
        return url.rstrip("/")


class TrustSection(_Section):
    """``[trust]``: the root CA the station pins."""

    root_certificate: Path

    _paths = field_validator("root_certificate")(_resolve)


class LocalHsmSection(_Section):
    """``[issuer.local_hsm]``: the issuing CA key in a PKCS#11 token."""

    module: Path | None = None
    softhsm2_conf: Path | None = None
    token_label: str
    key_label: str
    certificate: Path
    pin_env: str | None = None
    pin_file: Path | None = None
    # Issued certificates; default <state_dir>/ca/ca-store.sqlite.
    ca_store: Path | None = None

    _paths = field_validator(
        "module", "softhsm2_conf", "certificate", "pin_file", "ca_store"
    )(_resolve)

    @model_validator(mode="after")
    def _pin_source(self) -> LocalHsmSection:
        if self.pin_env is None and self.pin_file is None:
            raise ValueError("set pin_env or pin_file: where the token PIN comes from")
        return self


class IssuerSection(_Section):
    """``[issuer]``: how certificates are issued."""

    mode: Literal["local-hsm"] = "local-hsm"
    local_hsm: LocalHsmSection | None = None

    @model_validator(mode="after")
    def _mode_settings(self) -> IssuerSection:
        if self.mode == "local-hsm" and self.local_hsm is None:
            raise ValueError("mode local-hsm needs an [issuer.local_hsm] section")
        return self


class LinkSection(_Section):
    """``[link]``: serial line settings and step timeouts in seconds.

    ``reopen_wait`` is how long a step waits for a module that was unplugged
    to be seated again before it fails; 0 fails it at once.
    """

    # Up to what USB-serial adapters reach; a larger number overflows the
    # port driver rather than meaning anything.
    baud: Annotated[int, Field(gt=0, le=12_000_000, strict=True)] = 115200
    # Upper bounds: an operator waits this long on a dead module, and beyond
    # them a timeout no longer means a wait the platform can even express.
    command_timeout: Annotated[float, Field(ge=0.01, le=60, strict=True)] = 2.0
    keygen_timeout: Annotated[float, Field(ge=0.01, le=600, strict=True)] = 120.0
    commit_timeout: Annotated[float, Field(ge=0.01, le=120, strict=True)] = 10.0
    reopen_wait: Annotated[float, Field(ge=0, le=600, strict=True)] = 10.0


class SlotSection(_Section):
    """``[[slots]]``: one fixture slot and its serial port.

    With a ``[fixture]`` map, ``port`` may be left out: it is then the slot's
    stable link ``/dev/provision/<name>``; with no ``[[slots]]`` at all, every
    fixture slot is a station slot.
    """

    name: Annotated[str, Field(pattern=_NAME.pattern)]
    port: Annotated[str, Field(min_length=1)]

    @field_validator("port")
    @classmethod
    def _port_from_config_folder(cls, port: str, info: ValidationInfo) -> str:
        if port != port.strip():
            raise ValueError(f"port {port!r} has spaces at its ends")
        # A relative port is taken from the configuration's folder, as every
        # other path in it is, not from wherever the station was started.
        resolved = _resolve(Path(port), info)
        return port if resolved is None else str(resolved)


class StationConfig(_Section):
    """The whole configuration file."""

    station: StationSection = StationSection()
    product_line: ProductLineSection
    publication: PublicationSection
    trust: TrustSection
    issuer: IssuerSection
    link: LinkSection = LinkSection()
    fixture: FixtureMap | None = None
    slots: list[SlotSection] = []

    @model_validator(mode="before")
    @classmethod
    def _fixture_ports(cls, data: object) -> object:
        return default_slot_ports(data)

    @field_validator("slots")
    @classmethod
    def _unique_slots(cls, slots: list[SlotSection]) -> list[SlotSection]:
        names = [slot.name for slot in slots]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"slot names used twice: {', '.join(duplicates)}")
        # Compared as the files they lead to: a link and its target, or a
        # path spelt two ways, are one port.
        ports = [os.path.realpath(slot.port) for slot in slots]
        shared = sorted({port for port in ports if ports.count(port) > 1})
        if shared:
            raise ValueError(f"ports used by two slots: {', '.join(shared)}")
        return slots

    @property
    def journal_path(self) -> Path:
        """Where the station journal lives."""
        return self.station.state_dir / "journal.sqlite"

    @property
    def lots_path(self) -> Path:
        """Where the imported lot plans live."""
        return self.station.state_dir / "lots.sqlite"


def find_config(explicit: Path | None) -> Path:
    """The config file to use: ``explicit``, ``$STATION_CONFIG`` or ./station.toml.

    Raises:
        ConfigError: No configuration file is found.
    """
    if explicit is not None:
        candidate, source = explicit, "--config"
    elif os.environ.get(CONFIG_ENV):
        candidate, source = Path(os.environ[CONFIG_ENV]), f"${CONFIG_ENV}"
    else:
        candidate, source = DEFAULT_CONFIG, "the current folder"
    if candidate.is_dir():
        raise ConfigError(f"{candidate} (from {source}) is a folder, not a file")
    if not candidate.is_file():
        raise ConfigError(f"no configuration file {candidate} (from {source})")
    return candidate


def load_config(path: Path) -> StationConfig:
    """Read and validate a configuration file.

    Raises:
        ConfigError: The file cannot be read, is not TOML, or a value is bad;
            the message names the file, the dotted key and why.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text: {exc.reason}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    return parse_config(data, base_dir=path.resolve().parent, source=str(path))


def parse_config(
    data: dict[str, object], *, base_dir: Path, source: str = "configuration"
) -> StationConfig:
    """Validate configuration data already read from TOML.

    Raises:
        ConfigError: A value is bad; the message names the dotted key and why.
    """
    try:
        return StationConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        problems = "; ".join(_describe(error) for error in exc.errors())
        raise ConfigError(f"{source}: {problems}") from None


def _describe(error: ErrorDetails) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    rule = _PATTERN_RULES.get(str((error.get("ctx") or {}).get("pattern")))
    if error["type"] == "string_pattern_mismatch" and rule is not None:
        return f"{key}: {error['input']!r} is not {rule}"
    return f"{key}: {error['msg']}"
