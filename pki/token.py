"""The one owner of every call into a PKCS#11 token.

This is the only module of ``pki`` that imports python-pkcs11. Its errors
become :class:`~pki.errors.TokenError` here, naming the token and the
operation.

Two facts about SoftHSM2 under python-pkcs11 shape this module:

- Several threads calling into one token at once crash the process. Every
  call therefore runs under one lock per PKCS#11 library, whichever
  :class:`Token` handle it comes through.
- The library reads ``SOFTHSM2_CONF`` when it is initialised, and a process
  loads it once. Switching configuration means re-initialising it, which ends
  every open session. The library here remembers which configuration it is
  bound to, re-binds when a handle for another one calls in (setting
  ``SOFTHSM2_CONF`` in this process's environment), and every handle logs in
  again on its next call. Normal station work uses one configuration,
  so this happens only in tools and tests; root CA work, which must never share
  a process with the station, runs in a child process (see ``pki.ceremony``).

A token is logged in once per process: all handles on the same token share one
session, and a second handle must bring the same PIN.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pkcs11
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.util.ec import (
    encode_ec_public_key,
    encode_ecdsa_signature,
    encode_named_curve_parameters,
)

from pki.errors import KeyNotFound, TokenError, TokenUnavailable
from pki.softhsm import CONF_ENV
from pki.token_store import remember_good_tokens, repair_torn_tokens

logger = logging.getLogger(__name__)

T = TypeVar("T")

_CURVE_OIDS = {
    ec.SECP256R1.name: "1.2.840.10045.3.1.7",
    ec.SECP384R1.name: "1.3.132.0.34",
}

# Errors that mean the token cannot be used now, as opposed to one operation
# failing on a working token.
_UNAVAILABLE: tuple[type[pkcs11.PKCS11Error], ...] = (
    pkcs11.NoSuchToken,
    pkcs11.TokenNotPresent,
    pkcs11.TokenNotRecognised,
    pkcs11.DeviceRemoved,
    pkcs11.DeviceError,
    pkcs11.PinIncorrect,
    pkcs11.PinLocked,
    pkcs11.PinExpired,
    pkcs11.UserPinNotInitialized,
    pkcs11.UserNotLoggedIn,
    pkcs11.SessionClosed,
    pkcs11.SessionHandleInvalid,
)


@dataclass(frozen=True)
class TokenRef:
    """Where a token is: its PKCS#11 library, its label, its configuration.

    Attributes:
        module: Path of the PKCS#11 library.
        label: Token label.
        softhsm_conf: SoftHSM2 configuration file holding the token, or None
            for a library that needs no configuration file (a real HSM).
    """

    module: Path
    label: str
    softhsm_conf: Path | None = None


class Token:
    """A handle on one token; every call goes through its library's lock.

    Handles are cheap; several may refer to the same token. Use
    :meth:`open` to check the PIN at once, and close the handle when done.
    """

    def __init__(self, ref: TokenRef, pin: str) -> None:
        self._ref = ref
        self._pin = pin
        self._library = _library_for(ref.module)
        self._closed = False
        self._library.add_user(ref)

    @classmethod
    def open(cls, ref: TokenRef, pin: str) -> Token:
        """Open a handle and log in to the token now.

        Raises:
            TokenUnavailable: The library, the token or the login failed.
        """
        token = cls(ref, pin)
        try:
            token._call("login", lambda opened: None)
        except TokenError:
            token.close()
            raise
        logger.info("logged in to token %s", ref.label)
        return token

    @property
    def ref(self) -> TokenRef:
        """Where this token is."""
        return self._ref

    @property
    def label(self) -> str:
        """The token label."""
        return self._ref.label

    def generate_ec_key(
        self, label: str, curve: ec.EllipticCurve, *, key_id: bytes | None = None
    ) -> ec.EllipticCurvePublicKey:
        """Generate an EC key pair on the token, never extractable.

        Args:
            label: Label of both halves; it must not be in use on the token.
            curve: ``ec.SECP256R1()`` or ``ec.SECP384R1()``.
            key_id: CKA_ID of both halves; random when not given.

        Returns:
            The new public key.

        Raises:
            ValueError: The curve is not supported.
            TokenError: A key with this label exists, or generation failed.
        """
        if curve.name not in _CURVE_OIDS:
            raise ValueError(f"unsupported curve {curve.name}: use P-256 or P-384")
        public = self._call(
            "generate key",
            lambda opened: opened.generate(self._ref, label, curve, key_id),
        )
        logger.info(
            "generated %s key %s on token %s", curve.name, label, self._ref.label
        )
        return public

    def public_key(self, label: str) -> ec.EllipticCurvePublicKey:
        """Export the public half of the key pair labelled ``label``.

        Raises:
            KeyNotFound: No such public key on the token.
            TokenError: The token failed.
        """
        return self._call("export public key", lambda opened: opened.public(label))

    def has_key(self, label: str) -> bool:
        """True when the token holds a private key labelled ``label``."""
        return self._call("find key", lambda opened: opened.has_private(label))

    def sign_digest(self, label: str, digest: bytes) -> bytes:
        """Sign a digest with CKM_ECDSA and return a DER ECDSA signature.

        The digest is computed by the caller: SoftHSM2 has no CKM_ECDSA_SHA256.

        Raises:
            KeyNotFound: No private key labelled ``label``.
            TokenError: The token failed to sign.
        """
        return self._call("sign", lambda opened: opened.sign(label, digest))

    def close(self) -> None:
        """Release this handle; the session ends with the last handle."""
        if self._closed:
            return
        self._closed = True
        self._library.remove_user(self._ref)

    def __enter__(self) -> Token:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, operation: str, action: Callable[[_OpenToken], T]) -> T:
        if self._closed:
            raise TokenUnavailable(
                "the token handle is closed", token=self.label, operation=operation
            )
        with self._library.lock, self._library.translated(self._ref, operation):
            opened = self._library.open_token(self._ref, self._pin)
            return action(opened)


@dataclass
class _OpenToken:
    """A logged-in session on one token, with the keys found so far."""

    session: Any
    pin_digest: bytes
    private_keys: dict[str, Any] = field(default_factory=dict)
    public_keys: dict[str, ec.EllipticCurvePublicKey] = field(default_factory=dict)

    def generate(
        self,
        ref: TokenRef,
        label: str,
        curve: ec.EllipticCurve,
        key_id: bytes | None,
    ) -> ec.EllipticCurvePublicKey:
        if self.has_private(label):
            raise TokenError(
                f"a key labelled {label!r} already exists",
                token=ref.label,
                operation="generate key",
            )

        parameters = self.session.create_domain_parameters(
            KeyType.EC,
            {
                Attribute.EC_PARAMS: encode_named_curve_parameters(
                    _CURVE_OIDS[curve.name]
                )
            },
            local=True,
        )
        public, private = parameters.generate_keypair(
            store=True,
            label=label,
            id=key_id or secrets.token_bytes(8),
            capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
            private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
        )

        self.private_keys[label] = private
        self.public_keys[label] = _export(public)
        return self.public_keys[label]

    def public(self, label: str) -> ec.EllipticCurvePublicKey:
        if label not in self.public_keys:
            handle = self.session.get_key(
                object_class=ObjectClass.PUBLIC_KEY, key_type=KeyType.EC, label=label
            )
            self.public_keys[label] = _export(handle)
        return self.public_keys[label]

    def has_private(self, label: str) -> bool:
        found = self.session.get_objects(
            {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label}
        )
        return any(True for _ in found)

    def sign(self, label: str, digest: bytes) -> bytes:
        if label not in self.private_keys:
            self.private_keys[label] = self.session.get_key(
                object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.EC, label=label
            )
        # Always name the mechanism: python-pkcs11 defaults to ECDSA_SHA512.
        raw = self.private_keys[label].sign(digest, mechanism=Mechanism.ECDSA)
        return bytes(encode_ecdsa_signature(raw))


def _export(public: Any) -> ec.EllipticCurvePublicKey:
    key = serialization.load_der_public_key(bytes(encode_ec_public_key(public)))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise TokenError(f"token returned a non-EC public key {type(key).__name__}")
    return key


class _Library:
    """One PKCS#11 library in this process: its lock, binding and sessions."""

    def __init__(self, module: Path) -> None:
        self.module = module
        self.lock = threading.RLock()
        self._lib: Any = None
        self._conf: Path | None = None
        self._sessions: dict[str, _OpenToken] = {}
        self._users: dict[TokenRef, int] = {}

    def add_user(self, ref: TokenRef) -> None:
        with self.lock:
            self._users[ref] = self._users.get(ref, 0) + 1

    def remove_user(self, ref: TokenRef) -> None:
        with self.lock:
            self._users[ref] -= 1
            if self._users[ref] == 0:
                del self._users[ref]
                if self._conf == ref.softhsm_conf:
                    self._close_session(ref.label)

    def open_token(self, ref: TokenRef, pin: str) -> _OpenToken:
        """The logged-in session on ``ref``; the caller holds the lock."""
        self._bind(ref.softhsm_conf)
        opened = self._sessions.get(ref.label)

        if opened is None:
            session = self._find_token(ref.label).open(rw=True, user_pin=pin)
            opened = _OpenToken(session, _digest(pin))
            self._sessions[ref.label] = opened
            if ref.softhsm_conf is not None:
                remember_good_tokens(ref.softhsm_conf)
        elif not hmac.compare_digest(opened.pin_digest, _digest(pin)):
            raise TokenUnavailable(
                "the token is already open in this process with another PIN",
                token=ref.label,
                operation="login",
            )
        return opened

    @contextmanager
    def translated(self, ref: TokenRef, operation: str) -> Iterator[None]:
        """Turn python-pkcs11 errors into ``pki`` errors naming token and step."""
        try:
            yield
        except pkcs11.NoSuchKey as exc:
            raise KeyNotFound(
                "no such key on the token", token=ref.label, operation=operation
            ) from exc
        except _UNAVAILABLE as exc:
            # The session may be dead; the next call logs in afresh.
            self._close_session(ref.label)
            raise TokenUnavailable(
                _describe(exc), token=ref.label, operation=operation
            ) from exc
        except pkcs11.PKCS11Error as exc:
            raise TokenError(
                _describe(exc), token=ref.label, operation=operation
            ) from exc

    def _bind(self, conf: Path | None) -> None:
        if self._lib is not None and self._conf == conf:
            return

        if conf is not None:
            os.environ[CONF_ENV] = str(conf)
            repair_torn_tokens(conf)
        if self._lib is None:
            self._lib = self._load()
        else:
            self._reinitialize()
        self._conf = conf
        logger.info(
            "PKCS#11 library %s bound to %s", self.module, conf or "its own settings"
        )

    def _load(self) -> Any:
        try:
            return pkcs11.lib(str(self.module))
        except pkcs11.PKCS11Error as exc:
            raise TokenUnavailable(
                f"cannot load PKCS#11 library {self.module}: {_describe(exc)}",
                operation="load library",
            ) from exc

    def _find_token(self, label: str) -> Any:
        try:
            return self._lib.get_token(token_label=label)
        except pkcs11.NoSuchToken:
            # SoftHSM2 reads its token directory at initialisation, so a token
            # another process created since then is not visible until the
            # library is initialised again.
            logger.info("token %s not seen yet; re-reading the token store", label)
            if self._conf is not None:
                repair_torn_tokens(self._conf)
            self._reinitialize()
            return self._lib.get_token(token_label=label)

    def _reinitialize(self) -> None:
        for label in list(self._sessions):
            self._close_session(label)
        self._lib.reinitialize()

    def _close_session(self, label: str) -> None:
        opened = self._sessions.pop(label, None)
        if opened is None:
            return
        try:
            opened.session.close()
        except pkcs11.PKCS11Error:
            # Closing a session the library already ended is not a failure.
            logger.debug("session on token %s was already closed", label)


# What the token errors an operator meets mean, in words.
_MEANINGS: dict[type[pkcs11.PKCS11Error], str] = {
    pkcs11.NoSuchToken: "no token with that label",
    pkcs11.PinIncorrect: "the PIN is wrong",
    pkcs11.PinLocked: "the PIN is locked after too many wrong tries",
    pkcs11.PinExpired: "the PIN has expired",
    pkcs11.UserPinNotInitialized: "the token's user PIN was never set",
    pkcs11.TokenNotPresent: "the token is not present",
    pkcs11.DeviceRemoved: "the token was removed",
}


def _describe(exc: pkcs11.PKCS11Error) -> str:
    """Words for a token error: python-pkcs11 messages are often empty or
    internal, so known errors are described, others named by their class."""
    meaning = _MEANINGS.get(type(exc))
    if meaning is not None:
        return meaning
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _digest(pin: str) -> bytes:
    return hashlib.sha256(pin.encode("utf-8")).digest()


_LIBRARIES: dict[Path, _Library] = {}
_LIBRARIES_LOCK = threading.Lock()


def _library_for(module: Path) -> _Library:
    """The process's one :class:`_Library` for ``module`` (symlinks resolved)."""
    resolved = module.resolve()
    with _LIBRARIES_LOCK:
        if resolved not in _LIBRARIES:
            _LIBRARIES[resolved] = _Library(resolved)
        return _LIBRARIES[resolved]
