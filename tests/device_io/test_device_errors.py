"""Device errors print their context and survive copying."""

from __future__ import annotations

import copy
import pickle

from device_io.errors import (
    LinkTimeout,
    ModuleError,
    PvErrorCode,
    describe_code,
)


def test_an_error_names_slot_module_step_and_port() -> None:
    error = LinkTimeout("no reply", port="/dev/ttyUSB0", slot="A1")
    error.with_context(serial="AMB82D001001", step="identify", slot="B2")

    assert str(error) == (
        "no reply (slot A1, module AMB82D001001, step identify, port /dev/ttyUSB0)"
    )


def test_a_module_error_keeps_known_codes_as_enum_members_and_others_as_ints() -> None:
    assert ModuleError("refused", 7).code is PvErrorCode.KEY_EXISTS
    assert ModuleError("refused", 99).code == 99
    assert describe_code(7) == " (key exists)"
    assert describe_code(99) == ""


def test_a_module_error_survives_copy_and_pickle_with_its_context() -> None:
    error = ModuleError("refused", 10, slot="A1", step="reset")

    # The bytes unpickled here were pickled by this test.
    restored = pickle.loads(pickle.dumps(error))  # noqa: S301
    for clone in (copy.copy(error), restored):
        assert clone.code is PvErrorCode.LOCKED
        assert str(clone) == "refused (slot A1, step reset)"
