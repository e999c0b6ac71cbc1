"""Self-tests of the differential harness: it must report a wrong lifter (result or flag) against both oracles,
must not report an undefined flag unless asked to, and must see writes outside the compared memory windows."""

from __future__ import annotations

import pytest

from ir import Ty
from tests.diff import harness as H


@pytest.fixture(autouse=True)
def _fresh_translations():
    """These tests break lifters on purpose: drop what was translated with them."""
    H.runner().forget_code()
    yield
    H.runner().forget_code()


def test_wrong_result_is_reported(monkeypatch):
    from dbt.lifters import alu
    monkeypatch.setitem(alu._COMPUTE, "ADD", alu._COMPUTE["SUB"])
    with pytest.raises(H.Mismatch) as e:
        H.check("add r13d, 0x5a5a5a5a", 64, 20, backends=("interp",))
    text = str(e.value)
    assert "native: r13" in text and "unicorn: r13" in text and "[interp]" in text


def test_undefined_flag_masked_unless_strict(monkeypatch):
    from dbt.lift import flags
    real = flags.logic

    def af_one(ctx, r):                     # AF is undefined after XOR: set it to 1 instead of Intel's 0
        real(ctx, r)
        ctx.set_flag("af", ctx.const(Ty.i1, 1))
    monkeypatch.setattr(flags, "logic", af_one)
    H.check("xor r14d, 0x1234", 64, 10, backends=("interp",), flags_defined_mask=H.ALL_FLAGS & ~H.AF)
    with pytest.raises(H.Mismatch, match="AF"):
        H.check("xor r14d, 0x1235", 64, 10, backends=("interp",), flags_defined_mask=H.ALL_FLAGS & ~H.AF,
                strict=True)


def test_stray_write_is_reported(monkeypatch):
    from dbt.lifters import data
    real = data.lift_mov

    def mov_also_scribbles(ctx):           # a MOV that also writes below the memory window
        real(ctx)
        ctx.store(ctx.b.const(Ty.i64, H.MEM_BASE - 0x1000), ctx.b.const(Ty.i8, 0x55))
    from dbt.lift import LIFTERS
    monkeypatch.setitem(LIFTERS, "MOV", mov_also_scribbles)
    with pytest.raises(H.Mismatch, match="outside the compared windows"):
        H.check("mov dword ptr [rbx + 0x44], 0x77665544", 64, 5, backends=("interp",), mem_operand=True)


def test_fault_must_match():
    H.check("div cl", 32, [{"eax": 0x1234, "ecx": 0}], backends=("interp",))      # #DE on both sides
    assert H.LAST_STATS["faults"] == 1
