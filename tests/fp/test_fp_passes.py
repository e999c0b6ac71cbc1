"""The optimizer and floating-point ops (golden text, hand-checked): fp ops read and update the fp environment
(@mxcsr), so they are never folded, merged, removed when unused, or moved across a get/put of it; other fields
are still forwarded and dead-stored across them."""

from __future__ import annotations

from dbt.state import LAYOUT
from ir import parse_unit, verify
from ir.passes import optimize

SRC = """unit pc=0x100
  insn 0x100, 4
  %0 = get.i64 @rax
  %1 = const.i64 0x3ff0000000000000
  %2 = const.i64 0x3ff0000000000000
  %3 = const.i32 0x5f80
  put @rcx, %0
  put @mxcsr, %3
  %4 = fadd.i64 %1, %2
  %5 = fadd.i64 %1, %2
  %6 = fmul.i64 %0, %0
  put @r8, %4
  put @r9, %5
  put @rcx, %5
  %7 = get.i32 @mxcsr
  %8 = get.i64 @rax
  %9 = zext.i64 %7
  put @r10, %9
  put @r11, %8
  put @mxcsr, %3
  %10 = const.i64 0x104
  exit %10
"""

# - constants duplicated (%2) merge, but the two fadds of equal operands stay two (each sets flags), unfolded;
# - the unused fmul stays (its flags are a result);
# - put @mxcsr before the fadds stays (they read it); the put @rcx overwritten across them goes;
# - get @mxcsr after them is not forwarded from the put; get @rax is;
# - the last put @mxcsr stays (mxcsr was changed by the fadds since the put of %3).
WANT = """unit pc=0x100
  insn 0x100, 4
  %0 = get.i64 @rax
  %1 = const.i64 0x3ff0000000000000
  %3 = const.i32 0x5f80
  put @mxcsr, %3
  %4 = fadd.i64 %1, %1
  %5 = fadd.i64 %1, %1
  %6 = fmul.i64 %0, %0
  put @r8, %4
  put @r9, %5
  put @rcx, %5
  %7 = get.i32 @mxcsr
  %9 = zext.i64 %7
  put @r10, %9
  put @r11, %0
  put @mxcsr, %3
  %10 = const.i64 0x104
  exit %10
"""


def test_optimizer_keeps_fp_ops_and_their_environment():
    u = parse_unit(SRC, LAYOUT.fields)
    verify(u)
    optimize(u, verify_each=True)
    assert str(u) == WANT


def test_without_field_names_fp_ops_observe_all_state():
    """With no field table the passes cannot tell @mxcsr from other offsets: fp ops are barriers for every field."""
    src = """unit
  %0 = get.i64 @0
  put @8, %0
  %1 = fsqrt.i64 %0
  put @8, %1
  %2 = get.i64 @0
  put @16, %2
  %3 = const.i64 0x1
  exit %3
"""
    u = parse_unit(src)
    optimize(u, verify_each=True)
    assert str(u) == src.replace("unit\n", "unit\n", 1)
