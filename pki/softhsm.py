"""SoftHSM2 configurations owned by the project, and token initialisation.

The system configuration (``/etc/softhsm/softhsm2.conf``) is root-only and
shared; the station never uses it. Each configuration here lives in its own
directory with its own token directory (mode 0700), and processes select it
through ``SOFTHSM2_CONF``.

``softhsm2-util`` reads PINs from its command line or from a terminal. The
command line is visible to every user through the process list, so PINs are
typed into a pseudo-terminal that serves as the tool's standard input.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sysconfig
import termios
from dataclasses import dataclass
from pathlib import Path

from pki.errors import HsmSetupError

logger = logging.getLogger(__name__)

MODULE_ENV = "SOFTHSM2_MODULE"
CONF_ENV = "SOFTHSM2_CONF"
_UTIL = "softhsm2-util"
_UTIL_TIMEOUT_S = 30.0
_LABEL_MAX = 32  # CK_TOKEN_INFO.label is 32 bytes
_PIN_MIN, _PIN_MAX = 4, 255  # what softhsm2-util accepts


def find_module(explicit: Path | None = None) -> Path:
    """Locate the SoftHSM2 PKCS#11 library.

    Args:
        explicit: A path chosen by configuration; it wins when given.

    Returns:
        ``explicit``, else ``$SOFTHSM2_MODULE``, else the Debian path or the
        multiarch path, whichever exists.

    Raises:
        HsmSetupError: No candidate exists.
    """
    candidates = _module_candidates(explicit)
    for candidate in candidates:
        if candidate.is_file():
            return candidate

    tried = ", ".join(str(candidate) for candidate in candidates)
    raise HsmSetupError(
        f"SoftHSM2 library not found (tried {tried}); install the softhsm2 package"
    )


def _module_candidates(explicit: Path | None) -> list[Path]:
    if explicit is not None:
        return [explicit]
    if os.environ.get(MODULE_ENV):
        return [Path(os.environ[MODULE_ENV])]

    candidates = [Path("/usr/lib/softhsm/libsofthsm2.so")]
    multiarch = sysconfig.get_config_var("MULTIARCH")
    if multiarch:
        candidates.append(Path(f"/usr/lib/{multiarch}/softhsm/libsofthsm2.so"))
    candidates.append(Path("/usr/local/lib/softhsm/libsofthsm2.so"))
    return candidates


@dataclass(frozen=True)
class SoftHsmConfig:
    """A SoftHSM2 configuration file and its token directory.

    Attributes:
        directory: Directory holding ``softhsm2.conf`` and ``tokens/``.
    """

    directory: Path

    @property
    def conf_path(self) -> Path:
        """The configuration file to point ``SOFTHSM2_CONF`` at."""
        return self.directory / "softhsm2.conf"

    @property
    def token_dir(self) -> Path:
        """Where SoftHSM2 keeps this configuration's tokens."""
        return self.directory / "tokens"

    @classmethod
    def create(cls, directory: Path) -> SoftHsmConfig:
        """Write the configuration and its token directory, mode 0700.

        Calling it again on the same directory is harmless.

        Raises:
            HsmSetupError: The directory cannot be created, or holds a
                configuration file this function did not write.
        """
        config = cls(directory.resolve())
        text = config._conf_text()

        try:
            config.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            config.token_dir.mkdir(mode=0o700, exist_ok=True)
            # mkdir's mode is filtered by the umask; the token directory must
            # end up private whatever the umask is.
            config.token_dir.chmod(0o700)
            existing = config._read_existing_conf()
            if existing is None:
                config.conf_path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise HsmSetupError(
                f"cannot create SoftHSM2 configuration in {directory}: {exc}"
            ) from exc

        if existing is not None and existing != text:
            raise HsmSetupError(
                f"{config.conf_path} exists with other settings; "
                "refusing to overwrite it"
            )
        return config

    def environment(self) -> dict[str, str]:
        """A copy of this process's environment selecting this configuration."""
        return {**os.environ, CONF_ENV: str(self.conf_path)}

    def token_labels(self) -> list[str]:
        """Labels of the initialised tokens in this configuration.

        Raises:
            HsmSetupError: ``softhsm2-util`` cannot list the slots.
        """
        result = self._run_util(["--show-slots"], step="list tokens")
        labels = []
        for line in result.splitlines():
            name, _, value = line.strip().partition(":")
            if name == "Label" and value.strip():
                labels.append(value.strip())
        return labels

    def init_token(self, label: str, *, so_pin: str, user_pin: str) -> None:
        """Initialise a new token in the first free slot.

        The PINs are typed into a pseudo-terminal, never passed as arguments,
        and never logged.

        Args:
            label: Token label, 1 to 32 characters, unique in this
                configuration.
            so_pin: Security officer PIN, 4 to 255 characters.
            user_pin: User PIN, 4 to 255 characters.

        Raises:
            HsmSetupError: A bad label or PIN, a label already in use, or
                ``softhsm2-util`` failed.
        """
        _check_label(label)
        _check_pin(so_pin, label, "SO PIN")
        _check_pin(user_pin, label, "user PIN")
        if label in self.token_labels():
            raise HsmSetupError(
                f"a token labelled {label!r} already exists in {self.conf_path}",
                token=label,
                operation="init token",
            )

        typed = f"{so_pin}\n{so_pin}\n{user_pin}\n{user_pin}\n"
        self._run_util(
            ["--init-token", "--free", "--label", label],
            step="init token",
            token=label,
            typed=typed,
        )
        logger.info("initialised token %s in %s", label, self.conf_path)

    def _conf_text(self) -> str:
        if "\n" in str(self.directory):
            raise HsmSetupError(f"unusable directory name {str(self.directory)!r}")
        return (
            "# SoftHSM2 configuration owned by the provisioning station.\n"
            f"directories.tokendir = {self.token_dir}\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = false\n"
        )

    def _read_existing_conf(self) -> str | None:
        try:
            return self.conf_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def _run_util(
        self,
        arguments: list[str],
        *,
        step: str,
        token: str | None = None,
        typed: str | None = None,
    ) -> str:
        """Run ``softhsm2-util`` on this configuration and return its output.

        ``typed`` is written to the tool's terminal, for the prompts that
        only read from one.
        """
        master, slave = os.openpty()
        try:
            # No echo: what is typed (PINs) must not come back on the master.
            attributes = termios.tcgetattr(slave)
            attributes[3] &= ~termios.ECHO
            termios.tcsetattr(slave, termios.TCSANOW, attributes)
            if typed:
                os.write(master, typed.encode("utf-8"))
            result = self._spawn(arguments, slave, step=step, token=token)
        finally:
            os.close(slave)
            os.close(master)

        if result.returncode != 0:
            raise HsmSetupError(
                f"{_UTIL} failed with exit code {result.returncode}: "
                f"{_tool_message(result)}",
                token=token,
                operation=step,
            )
        return result.stdout

    def _spawn(
        self, arguments: list[str], terminal: int, *, step: str, token: str | None
    ) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                [_UTIL, *arguments],
                stdin=terminal,
                capture_output=True,
                text=True,
                env=self.environment(),
                timeout=_UTIL_TIMEOUT_S,
                check=False,
                # Its own session: the pty becomes the tool's terminal, not ours.
                start_new_session=True,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise HsmSetupError(
                f"cannot run {_UTIL}: {exc}", token=token, operation=step
            ) from exc


def _tool_message(result: subprocess.CompletedProcess[str]) -> str:
    """The tool's own error lines; prompts (which echo PIN lengths) are left out."""
    lines = [
        line.strip()
        for line in (result.stderr + result.stdout).splitlines()
        if line.strip() and "PIN" not in line
    ]
    return "; ".join(lines[-3:]) or "no message"


def _check_label(label: str) -> None:
    if not 1 <= len(label.encode("utf-8")) <= _LABEL_MAX or not label.isprintable():
        raise HsmSetupError(
            f"token label {label!r} must be 1 to {_LABEL_MAX} printable bytes",
            operation="init token",
        )


def _check_pin(pin: str, label: str, what: str) -> None:
    if not _PIN_MIN <= len(pin) <= _PIN_MAX or "\n" in pin or "\r" in pin:
        raise HsmSetupError(
            f"{what} must be {_PIN_MIN} to {_PIN_MAX} characters on one line",
            token=label,
            operation="init token",
        )
