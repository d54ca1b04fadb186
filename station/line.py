"""Running many fixture slots at once.

Each slot gets its own thread, the one owner of its serial port for the length
of a module. Slots share the provisioner; the HSM behind the issuer keeps its
own single owner, and the journal serialises its writers.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from station.workflow import ModuleResult, Provisioner, Slot


def provision_all(
    provisioner: Provisioner, slots: Sequence[Slot]
) -> list[ModuleResult]:
    """Provision the module in every slot concurrently.

    Returns:
        One result per slot, in the order of ``slots``.
    """
    if not slots:
        return []
    with ThreadPoolExecutor(max_workers=len(slots), thread_name_prefix="slot") as pool:
        return list(pool.map(provisioner.provision, slots))
