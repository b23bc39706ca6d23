"""The low-level retry rule (p11.lowlevel.retry) and the fresh-module re-initialisation (Module.reinitialize_unused,
Library.until_found) that several processes starting at once on one SoftHSM store rely on
(tests/lowlevel/test_concurrent_start.py shows them at work)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from p11 import errors, lowlevel
from p11._cffi import lib
from p11.api.library import Library
from p11.lowlevel.retry import ATTEMPTS, with_retries
from p11.testing import SoftHSM


def _failing(rv: int, times: int) -> tuple[list[int], object]:
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise errors.error_class(rv)(rv, "C_GetTokenInfo")
        return "answer"

    return calls, call


def test_a_passing_error_is_asked_again_until_it_is_gone() -> None:
    calls, call = _failing(int(lib.CKR_GENERAL_ERROR), 3)
    assert with_retries(call, first_delay=0) == "answer"  # type: ignore[arg-type]
    assert len(calls) == 4


def test_the_retries_are_bounded_and_the_last_error_is_raised() -> None:
    calls, call = _failing(int(lib.CKR_GENERAL_ERROR), 100)
    with pytest.raises(errors.GeneralError):  # type: ignore[attr-defined]
        with_retries(call, first_delay=0)  # type: ignore[arg-type]
    assert len(calls) == ATTEMPTS


def test_other_errors_are_not_retried() -> None:
    calls, call = _failing(int(lib.CKR_SLOT_ID_INVALID), 1)
    with pytest.raises(errors.SlotIdInvalid):  # type: ignore[attr-defined]
        with_retries(call, first_delay=0)  # type: ignore[arg-type]
    assert len(calls) == 1


def test_read_only_calls_carry_the_retry_and_others_do_not() -> None:
    for name in ("C_GetInfo", "C_GetSlotList", "C_GetSlotInfo", "C_GetTokenInfo", "C_GetMechanismList",
                 "C_GetMechanismInfo", "C_GetSessionInfo"):
        assert getattr(getattr(lowlevel.Module, name), "read_only", False), name
    for name in ("C_Login", "C_InitToken", "C_OpenSession", "C_Sign"):
        assert not getattr(getattr(lowlevel.Module, name), "read_only", False), name


def test_only_a_module_nobody_has_used_is_initialised_again(softhsm: SoftHSM, tmp_path: Path) -> None:
    copy = tmp_path / "libsofthsm2-fresh.so"  # a module of its own: the session's one has sessions open
    shutil.copyfile(softhsm.module_path, copy)
    fresh = lowlevel.load(copy)
    try:
        generation = fresh.generation
        assert fresh.reinitialize_unused()
        assert fresh.generation > generation and fresh.initialized  # a new generation: old handles are refused
        generation = fresh.generation
        slot = fresh.C_GetSlotList(True)[0]
        fresh.C_CloseSession(fresh.C_OpenSession(slot))
        assert not fresh.reinitialize_unused()  # a session was opened: never again until re-initialised
        assert fresh.generation == generation
    finally:
        fresh.close()


def test_a_lookup_that_finds_nothing_looks_again_only_on_an_unused_module(softhsm: SoftHSM, tmp_path: Path) -> None:
    copy = tmp_path / "libsofthsm2-lookup.so"
    shutil.copyfile(softhsm.module_path, copy)
    library = Library(lowlevel.load(copy))
    try:
        generation = library.module.generation
        lookups: list[int] = []
        assert library.until_found(lambda: lookups.append(1) or []) == []
        assert len(lookups) > 1 and library.module.generation > generation  # re-initialised and asked again
        with library.get_token(label=softhsm.label).open():
            generation = library.module.generation
            lookups.clear()
            assert library.until_found(lambda: lookups.append(1) or []) == []
            assert lookups == [1] and library.module.generation == generation  # in use: the answer stands
    finally:
        library.close()
