"""The steps of the jobs a station runs on a module: provisioning and QA."""

from __future__ import annotations

from enum import StrEnum


class Step(StrEnum):
    """One step of the provisioning workflow; the value is what records show."""

    CONNECT = "connect"
    IDENTIFY = "identify"
    PLAN_CHECK = "plan-check"
    KEYGEN = "keygen"
    CSR_READ = "csr-read"
    CSR_CHECK = "csr-check"
    CLONE_CHECK = "clone-check"
    ISSUE = "issue"
    CHAIN_CHECK = "chain-check"
    WRITE = "write"
    READBACK = "readback"
    CHALLENGE = "challenge"
    LOCK = "lock"
    CHAIN_READ = "chain-read"
    RECORD_CHECK = "record-check"
    STATE_CHECK = "state-check"

    @property
    def label(self) -> str:
        """Short human label for the console and reports."""
        return _LABELS[self]


_LABELS = {
    Step.CONNECT: "connect",
    Step.IDENTIFY: "read identity",
    Step.PLAN_CHECK: "check lot plan",
    Step.KEYGEN: "generate key",
    Step.CSR_READ: "read CSR",
    Step.CSR_CHECK: "check CSR",
    Step.CLONE_CHECK: "check for clones",
    Step.ISSUE: "issue certificate",
    Step.CHAIN_CHECK: "check chain",
    Step.WRITE: "write chain",
    Step.READBACK: "read back chain",
    Step.CHALLENGE: "proof of possession",
    Step.LOCK: "lock",
    Step.CHAIN_READ: "read chain",
    Step.RECORD_CHECK: "check record",
    Step.STATE_CHECK: "check lock",
}

PROVISION_STEPS = (
    Step.CONNECT,
    Step.IDENTIFY,
    Step.PLAN_CHECK,
    Step.KEYGEN,
    Step.CSR_READ,
    Step.CSR_CHECK,
    Step.CLONE_CHECK,
    Step.ISSUE,
    Step.CHAIN_CHECK,
    Step.WRITE,
    Step.READBACK,
    Step.CHALLENGE,
    Step.LOCK,
)
"""The steps of provisioning a module, in order."""

QA_STEPS = (
    Step.CONNECT,
    Step.IDENTIFY,
    Step.CHAIN_READ,
    Step.CHAIN_CHECK,
    Step.RECORD_CHECK,
    Step.CHALLENGE,
    Step.STATE_CHECK,
)
"""The steps of re-verifying a provisioned module in QA, in order."""
