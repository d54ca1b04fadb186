"""The CA side: profiles, HSM signer, CAs, CRL, OCSP and the EST service.

The names most callers need are re-exported here; each lives in the module
named after its concept:

- ``pki.softhsm``: project-owned SoftHSM2 configurations and token set-up.
- ``pki.token``: the one owner of PKCS#11 calls (the only python-pkcs11 user).
- ``pki.hsm_key``: a ``cryptography`` private key that signs on a token.
- ``pki.product_line``, ``pki.device_identity``, ``pki.device_profile``,
  ``pki.ca_profiles``, ``pki.validity``: what certificates say.
- ``pki.ca_store``: the record of issued certificates.
- ``pki.issuing_ca``: issuance with its checks, lock and idempotency.
- ``pki.ceremony``, ``pki.root_ca``: root operations, in their own process.
- ``pki.devpki``: the development PKI behind ``station pki init``.
- ``pki.errors``: the error tree.
"""

from pki.ca_profiles import CaRole
from pki.ca_store import CaStore, IssuedRecord
from pki.ceremony import RootCeremony, RootToken
from pki.device_identity import DeviceIdentity
from pki.devpki import DevPki, init_dev_pki
from pki.errors import (
    CloneRefused,
    CsrRejected,
    IdentityRejected,
    IssuanceRefusal,
    PkiError,
    RevokedKey,
    TokenError,
    TokenUnavailable,
    ValidityRefused,
)
from pki.hsm_key import HsmPrivateKey
from pki.issuing_ca import (
    BindingConflict,
    BindingOverride,
    IssueResult,
    IssuingCa,
    IssuingCaSource,
)
from pki.product_line import ProductLine, Publication
from pki.softhsm import SoftHsmConfig, find_module
from pki.token import Token, TokenRef

__all__ = [
    "BindingConflict",
    "BindingOverride",
    "CaRole",
    "CaStore",
    "CloneRefused",
    "CsrRejected",
    "DevPki",
    "DeviceIdentity",
    "HsmPrivateKey",
    "IdentityRejected",
    "IssuanceRefusal",
    "IssueResult",
    "IssuedRecord",
    "IssuingCa",
    "IssuingCaSource",
    "PkiError",
    "ProductLine",
    "Publication",
    "RevokedKey",
    "RootCeremony",
    "RootToken",
    "SoftHsmConfig",
    "Token",
    "TokenError",
    "TokenRef",
    "TokenUnavailable",
    "ValidityRefused",
    "find_module",
    "init_dev_pki",
]
