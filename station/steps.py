"""The steps of provisioning one module, in order (DESIGN section 1)."""

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

    @property
    def label(self) -> str:
        """Short human label for the console and reports."""
        return _LABELS[self]

    @property
    def position(self) -> int:
        """Zero-based position of the step in the workflow."""
        return list(Step).index(self)


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
}
