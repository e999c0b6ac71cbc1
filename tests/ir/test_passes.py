"""Pass tests, Cranelift-filetest style: each case is IR text in, one pass (or the pipeline) run, IR text out.

Three parts: golden text for every pass (including cases where nothing may change); folding of every pure op on
random constants of every type against an independent reference written here in plain Python; and random units
(several segments, state, locals, memory, helpers, side exits) run through the pipeline with the verifier after every
pass, a print/parse round trip after every pass, and a small evaluator that checks the optimized unit ends with the
same outcome, guest state and memory as the original.
"""

from __future__ import annotations

import random
import textwrap
from fractions import Fraction
from math import trunc

import pytest

from ir import OP, Builder, Field, Fields, Shape, Ty, Unit, parse_unit, verify
from ir.ops import VECTOR_SHAPES
from ir.passes import PIPELINE, constfold, copyprop, dce, deadstore, loadelim, optimize

FIELDS = Fields([
    Field("rax", 0, Ty.i64), Field("rbx", 8, Ty.i64), Field("rip", 16, Ty.i64),
    Field("cf", 24, Ty.i8), Field("zf", 32, Ty.i8), Field("eflags", 40, Ty.i32),
])
PASSES = {"constfold": constfold, "copyprop": copyprop, "dce": dce, "deadstore": deadstore, "loadelim": loadelim}
SAME = None  # expected output: the input, unchanged


def _text(body: str) -> str:
    body = textwrap.dedent(body).strip("\n")
    return "unit\n" + "\n".join("  " + ln.strip() for ln in body.splitlines() if ln.strip()) + "\n"


def _run(name: str, unit) -> bool:
    if name == "pipeline":
        before = str(unit)
        optimize(unit, verify_each=True)
        return str(unit) != before
    return PASSES[name].run(unit)


# --- golden text -------------------------------------------------------------------------------------------------

GOLDEN = {
    "constfold": [
        ("fold-add", """
            %0 = const.i32 0x5
            %1 = const.i32 0x7
            %2 = add.i32 %0, %1
            put @eflags, %2
            %3 = const.i64 0x0
            exit %3
        """, """
            %0 = const.i32 0x5
            %1 = const.i32 0x7
            %2 = const.i32 0xc
            put @eflags, %2
            %3 = const.i64 0x0
            exit %3
        """),
        ("wraparound-i8", """
            %0 = const.i8 0xff
            %1 = const.i8 0x1
            %2 = add.i8 %0, %1
            %3 = sub.i8 %2, %1
            %4 = mul.i8 %0, %0
            put @cf, %3
            put @zf, %4
            %5 = const.i64 0x0
            exit %5
        """, """
            %0 = const.i8 0xff
            %1 = const.i8 0x1
            %2 = const.i8 0x0
            %3 = const.i8 0xff
            %4 = const.i8 0x1
            put @cf, %3
            put @zf, %4
            %5 = const.i64 0x0
            exit %5
        """),
        ("identities", """
            %0 = get.i64 @rax
            %1 = const.i64 0x0
            %2 = const.i64 0x1
            %3 = const.i64 0xffffffffffffffff
            %4 = add.i64 %0, %1
            %5 = sub.i64 %4, %1
            %6 = mul.i64 %5, %2
            %7 = and.i64 %6, %3
            %8 = or.i64 %7, %1
            %9 = xor.i64 %8, %1
            %10 = shl.i64 %9, %1
            %11 = lshr.i64 %10, %1
            %12 = ashr.i64 %11, %1
            %13 = rotr.i64 %12, %1
            %14 = udiv.i64 %13, %2
            put @rax, %14
            exit %14
        """, """
            %0 = get.i64 @rax
            %1 = const.i64 0x0
            %2 = const.i64 0x1
            %3 = const.i64 0xffffffffffffffff
            put @rax, %0
            exit %0
        """),
        ("absorbing", """
            %0 = get.i64 @rax
            %1 = const.i64 0x0
            %2 = const.i64 0xffffffffffffffff
            %3 = mul.i64 %0, %1
            %4 = and.i64 %0, %1
            %5 = or.i64 %0, %2
            %6 = xor.i64 %0, %0
            %7 = sub.i64 %0, %0
            %8 = and.i64 %0, %0
            %9 = or.i64 %0, %0
            %10 = const.i64 0x1
            %11 = urem.i64 %0, %10
            put @rax, %3
            put @rax, %4
            put @rax, %5
            put @rax, %6
            put @rax, %7
            put @rax, %8
            put @rax, %9
            put @rax, %11
            exit %0
        """, """
            %0 = get.i64 @rax
            %1 = const.i64 0x0
            %2 = const.i64 0xffffffffffffffff
            %3 = const.i64 0x0
            %4 = const.i64 0x0
            %5 = const.i64 0xffffffffffffffff
            %6 = const.i64 0x0
            %7 = const.i64 0x0
            %10 = const.i64 0x1
            %11 = const.i64 0x0
            put @rax, %3
            put @rax, %4
            put @rax, %5
            put @rax, %6
            put @rax, %7
            put @rax, %0
            put @rax, %0
            put @rax, %11
            exit %0
        """),
        ("commutative-constant-moves-right", """
            %0 = get.i32 @eflags
            %1 = const.i32 0x10
            %2 = and.i32 %1, %0
            %3 = const.i32 0x0
            %4 = add.i32 %3, %0
            %5 = sub.i32 %3, %0
            %6 = eq.i1 %1, %0
            put @eflags, %2
            put @eflags, %4
            put @eflags, %5
            put @cf, %6
            %7 = const.i64 0x0
            exit %7
        """, """
            %0 = get.i32 @eflags
            %1 = const.i32 0x10
            %2 = and.i32 %0, %1
            %3 = const.i32 0x0
            %5 = neg.i32 %0
            %6 = eq.i1 %0, %1
            put @eflags, %2
            put @eflags, %0
            put @eflags, %5
            put @cf, %6
            %7 = const.i64 0x0
            exit %7
        """),
        ("xor-all-ones-is-not", """
            %0 = get.i32 @eflags
            %1 = const.i32 0xffffffff
            %2 = xor.i32 %0, %1
            %3 = not.i32 %2
            put @eflags, %3
            %4 = const.i64 0x0
            exit %4
        """, """
            %0 = get.i32 @eflags
            %1 = const.i32 0xffffffff
            %2 = not.i32 %0
            put @eflags, %0
            %4 = const.i64 0x0
            exit %4
        """),
        ("division-undefined-left-alone", """
            %0 = const.i8 0x80
            %1 = const.i8 0xff
            %2 = const.i8 0x0
            %3 = sdiv.i8 %0, %1
            %4 = srem.i8 %0, %1
            %5 = udiv.i8 %0, %2
            %6 = urem.i8 %0, %2
            %7 = sdiv.i8 %1, %2
            %8 = udiv.i8 %1, %0
            %9 = sdiv.i8 %0, %0
            put @cf, %3
            put @cf, %4
            put @cf, %5
            put @cf, %6
            put @cf, %7
            put @cf, %8
            put @cf, %9
            %10 = const.i64 0x0
            exit %10
        """, """
            %0 = const.i8 0x80
            %1 = const.i8 0xff
            %2 = const.i8 0x0
            %3 = sdiv.i8 %0, %1
            %4 = srem.i8 %0, %1
            %5 = udiv.i8 %0, %2
            %6 = urem.i8 %0, %2
            %7 = sdiv.i8 %1, %2
            %8 = const.i8 0x1
            %9 = const.i8 0x1
            put @cf, %3
            put @cf, %4
            put @cf, %5
            put @cf, %6
            put @cf, %7
            put @cf, %8
            put @cf, %9
            %10 = const.i64 0x0
            exit %10
        """),
        ("shifts-and-rotates", """
            %0 = get.i32 @eflags
            %1 = const.i32 0x20
            %2 = shl.i32 %0, %1
            %3 = lshr.i32 %0, %1
            %4 = rotl.i32 %0, %1
            %5 = const.i8 0x81
            %6 = const.i8 0xc8
            %7 = ashr.i8 %5, %6
            %8 = rotl.i8 %5, %6
            %9 = lshr.i8 %5, %6
            %10 = const.i32 0x0
            %11 = ashr.i32 %10, %0
            put @eflags, %2
            put @eflags, %3
            put @eflags, %4
            put @cf, %7
            put @cf, %8
            put @cf, %9
            put @eflags, %11
            %12 = const.i64 0x0
            exit %12
        """, """
            %0 = get.i32 @eflags
            %1 = const.i32 0x20
            %2 = const.i32 0x0
            %3 = const.i32 0x0
            %5 = const.i8 0x81
            %6 = const.i8 0xc8
            %7 = const.i8 0xff
            %8 = const.i8 0x81
            %9 = const.i8 0x0
            %10 = const.i32 0x0
            %11 = const.i32 0x0
            put @eflags, %2
            put @eflags, %3
            put @eflags, %0
            put @cf, %7
            put @cf, %8
            put @cf, %9
            put @eflags, %11
            %12 = const.i64 0x0
            exit %12
        """),
        ("bit-counts", """
            %0 = const.i32 0x0
            %1 = ctlz.i32 %0
            %2 = cttz.i32 %0
            %3 = const.i16 0x1234
            %4 = bswap.i16 %3
            %5 = ctpop.i16 %3
            %6 = ctlz.i16 %3
            %7 = cttz.i16 %3
            put @eflags, %1
            put @eflags, %2
            %8 = zext.i64 %4
            %9 = zext.i64 %5
            %10 = zext.i64 %6
            %11 = zext.i64 %7
            put @rax, %8
            put @rax, %9
            put @rax, %10
            put @rax, %11
            exit %8
        """, """
            %0 = const.i32 0x0
            %1 = const.i32 0x20
            %2 = const.i32 0x20
            %3 = const.i16 0x1234
            %4 = const.i16 0x3412
            %5 = const.i16 0x5
            %6 = const.i16 0x3
            %7 = const.i16 0x2
            put @eflags, %1
            put @eflags, %2
            %8 = const.i64 0x3412
            %9 = const.i64 0x5
            %10 = const.i64 0x3
            %11 = const.i64 0x2
            put @rax, %8
            put @rax, %9
            put @rax, %10
            put @rax, %11
            exit %8
        """),
        ("involutions", """
            %0 = get.i64 @rax
            %1 = not.i64 %0
            %2 = not.i64 %1
            %3 = neg.i64 %2
            %4 = neg.i64 %3
            %5 = bswap.i64 %4
            %6 = bswap.i64 %5
            put @rax, %6
            exit %6
        """, """
            %0 = get.i64 @rax
            %1 = not.i64 %0
            %3 = neg.i64 %0
            %5 = bswap.i64 %0
            put @rax, %0
            exit %0
        """),
        ("casts", """
            %0 = const.i8 0x80
            %1 = zext.i32 %0
            %2 = sext.i32 %0
            %3 = const.i64 0x123456789
            %4 = trunc.i32 %3
            %5 = const.i1 0x1
            %6 = sext.i64 %5
            put @eflags, %1
            put @eflags, %2
            put @eflags, %4
            put @rax, %6
            exit %6
        """, """
            %0 = const.i8 0x80
            %1 = const.i32 0x80
            %2 = const.i32 0xffffff80
            %3 = const.i64 0x123456789
            %4 = const.i32 0x23456789
            %5 = const.i1 0x1
            %6 = const.i64 0xffffffffffffffff
            put @eflags, %1
            put @eflags, %2
            put @eflags, %4
            put @rax, %6
            exit %6
        """),
        ("cast-of-cast", """
            %0 = get.i8 @cf
            %1 = zext.i64 %0
            %2 = trunc.i8 %1
            %3 = trunc.i16 %1
            %4 = get.i32 @eflags
            %5 = sext.i64 %4
            %6 = trunc.i8 %5
            %7 = trunc.i1 %6
            %8 = sext.i64 %2
            %9 = zext.i32 %0
            %10 = zext.i64 %9
            %11 = sext.i64 %9
            put @cf, %2
            %12 = zext.i64 %3
            put @rax, %12
            put @cf, %7
            put @rax, %8
            put @rax, %10
            put @rax, %11
            exit %10
        """, """
            %0 = get.i8 @cf
            %1 = zext.i64 %0
            %3 = zext.i16 %0
            %4 = get.i32 @eflags
            %5 = sext.i64 %4
            %6 = trunc.i8 %4
            %7 = trunc.i1 %4
            %8 = sext.i64 %0
            %9 = zext.i32 %0
            %10 = zext.i64 %0
            %11 = zext.i64 %0
            put @cf, %0
            %12 = zext.i64 %0
            put @rax, %12
            put @cf, %7
            put @rax, %8
            put @rax, %10
            put @rax, %11
            exit %10
        """),
        ("i1-compares", """
            %0 = get.i1 @cf
            %1 = const.i1 0x0
            %2 = const.i1 0x1
            %3 = ne.i1 %0, %1
            %4 = eq.i1 %0, %2
            %5 = eq.i1 %0, %1
            %6 = ne.i1 %2, %0
            %7 = get.i64 @rax
            %8 = eq.i1 %7, %7
            %9 = ne.i1 %7, %7
            %10 = const.i64 0x0
            %11 = ult.i1 %7, %10
            %12 = ule.i1 %10, %7
            %13 = slt.i1 %7, %7
            put @cf, %3
            put @cf, %4
            put @cf, %5
            put @cf, %6
            put @cf, %8
            put @cf, %9
            put @cf, %11
            put @cf, %12
            put @cf, %13
            exit %7
        """, """
            %0 = get.i1 @cf
            %1 = const.i1 0x0
            %2 = const.i1 0x1
            %5 = not.i1 %0
            %6 = not.i1 %0
            %7 = get.i64 @rax
            %8 = const.i1 0x1
            %9 = const.i1 0x0
            %10 = const.i64 0x0
            %11 = const.i1 0x0
            %12 = const.i1 0x1
            %13 = const.i1 0x0
            put @cf, %0
            put @cf, %0
            put @cf, %5
            put @cf, %6
            put @cf, %8
            put @cf, %9
            put @cf, %11
            put @cf, %12
            put @cf, %13
            exit %7
        """),
        ("select", """
            %0 = get.i1 @cf
            %1 = get.i64 @rax
            %2 = get.i64 @rbx
            %3 = const.i1 0x1
            %4 = select.i64 %3, %1, %2
            %5 = select.i64 %0, %2, %2
            %6 = const.i1 0x0
            %7 = select.i1 %0, %3, %6
            %8 = select.i1 %0, %6, %3
            %9 = select.i64 %0, %1, %2
            put @rax, %4
            put @rax, %5
            put @zf, %7
            put @zf, %8
            put @rax, %9
            exit %9
        """, """
            %0 = get.i1 @cf
            %1 = get.i64 @rax
            %2 = get.i64 @rbx
            %3 = const.i1 0x1
            %6 = const.i1 0x0
            %8 = not.i1 %0
            %9 = select.i64 %0, %1, %2
            put @rax, %1
            put @rax, %2
            put @zf, %0
            put @zf, %8
            put @rax, %9
            exit %9
        """),
        ("constant-branches", """
            %0 = const.i1 0x1
            %1 = const.i1 0x0
            brif %1, L0
            brif %0, L1
            label L0
            %2 = const.i64 0x10
            exit %2
            label L1
            %3 = const.i64 0x20
            exit %3
        """, """
            %0 = const.i1 0x1
            %1 = const.i1 0x0
            br L1
            label L0
            %2 = const.i64 0x10
            exit %2
            label L1
            %3 = const.i64 0x20
            exit %3
        """),
        ("nothing-to-fold", """
            %0 = get.i64 @rax
            %1 = get.i64 @rbx
            %2 = add.i64 %0, %1
            %3 = udiv.i64 %0, %1
            %4 = const.i64 0x1000
            %5 = load.i32 %4
            store %4, %5
            %6 = call.i64 helper(%2, %3)
            %7 = ult.i1 %0, %1
            brif %7, L0
            put @rax, %6
            label L0
            %8 = get.i64 @rip
            exit %8
        """, SAME),
    ],
    "copyprop": [
        ("duplicate-op", """
            %0 = get.i64 @rax
            %1 = get.i64 @rbx
            %2 = add.i64 %0, %1
            %3 = add.i64 %0, %1
            %4 = mul.i64 %2, %3
            put @rax, %4
            exit %3
        """, """
            %0 = get.i64 @rax
            %1 = get.i64 @rbx
            %2 = add.i64 %0, %1
            %4 = mul.i64 %2, %2
            put @rax, %4
            exit %2
        """),
        ("commutative-operands", """
            %0 = get.i64 @rax
            %1 = get.i64 @rbx
            %2 = and.i64 %0, %1
            %3 = and.i64 %1, %0
            %4 = eq.i1 %0, %1
            %5 = eq.i1 %1, %0
            put @rax, %3
            put @cf, %5
            put @zf, %4
            exit %2
        """, """
            %0 = get.i64 @rax
            %1 = get.i64 @rbx
            %2 = and.i64 %0, %1
            %4 = eq.i1 %0, %1
            put @rax, %2
            put @cf, %4
            put @zf, %4
            exit %2
        """),
        ("chain-and-constants", """
            %0 = get.i32 @eflags
            %1 = const.i32 0x1
            %2 = const.i32 0x1
            %3 = add.i32 %0, %1
            %4 = add.i32 %0, %2
            %5 = zext.i64 %3
            %6 = zext.i64 %4
            put @rax, %5
            put @rbx, %6
            exit %6
        """, """
            %0 = get.i32 @eflags
            %1 = const.i32 0x1
            %3 = add.i32 %0, %1
            %5 = zext.i64 %3
            put @rax, %5
            put @rbx, %5
            exit %5
        """),
        ("not-across-labels", """
            %0 = const.i64 0x1
            put @rax, %0
            label L0
            %1 = const.i64 0x1
            exit %1
        """, SAME),
        ("different-ops-types-or-order", """
            %0 = get.i64 @rax
            %1 = get.i64 @rbx
            %2 = sub.i64 %0, %1
            %3 = sub.i64 %1, %0
            %4 = trunc.i8 %0
            %5 = trunc.i32 %0
            %6 = const.i32 0x1
            %7 = const.i64 0x1
            put @rax, %2
            put @rax, %3
            put @cf, %4
            put @eflags, %5
            put @eflags, %6
            exit %7
        """, SAME),
        ("state-and-memory-reads-are-not-cse", """
            %0 = get.i64 @rax
            %1 = get.i64 @rax
            %2 = load.i64 %0
            %3 = load.i64 %0
            %4 = call.i64 helper()
            %5 = call.i64 helper()
            put @rax, %1
            put @rbx, %3
            put @rbx, %2
            put @rbx, %4
            exit %5
        """, SAME),
    ],
    "dce": [
        ("unused-pure-chain", """
            %0 = get.i64 @rax
            %1 = const.i64 0x3
            %2 = mul.i64 %0, %1
            %3 = trunc.i8 %2
            %4 = ne.i1 %3, %3
            exit %0
        """, """
            %0 = get.i64 @rax
            exit %0
        """),
        ("effects-stay", """
            %0 = get.i64 @rax
            %1 = get.i64 @rbx
            %2 = load.i64 %0
            %3 = call.i64 helper(%1)
            %4 = getl.i64 $0
            store %0, %1
            insn 0x1000, 2
            exit %0
        """, """
            %0 = get.i64 @rax
            %1 = get.i64 @rbx
            %2 = load.i64 %0
            %3 = call.i64 helper(%1)
            store %0, %1
            insn 0x1000, 2
            exit %0
        """),
        ("unreachable-after-terminator", """
            %0 = get.i64 @rax
            exit %0
            %1 = const.i64 0x1
            put @rax, %1
            label L0
            %2 = get.i64 @rbx
            %3 = const.i32 0x0
            trap 6, %3
            %5 = const.i32 0x0
            label L1
            %4 = const.i64 0x1
            br L0
        """, """
            %0 = get.i64 @rax
            exit %0
        """),
        ("live-labels-and-jumps-to-next", """
            %0 = get.i1 @cf
            brif %0, L1
            br L0
            label L0
            %1 = get.i64 @rax
            %3 = get.i1 @zf
            brif %3, L2
            label L2
            %4 = get.i64 @rax
            put @rbx, %4
            exit %4
            label L1
            %2 = get.i64 @rbx
            exit %2
        """, """
            %0 = get.i1 @cf
            brif %0, L1
            %4 = get.i64 @rax
            put @rbx, %4
            exit %4
            label L1
            %2 = get.i64 @rbx
            exit %2
        """),
        ("all-live", """
            %0 = get.i1 @cf
            brif %0, L0
            %1 = get.i64 @rax
            %2 = add.i64 %1, %1
            put @rax, %2
            label L0
            %3 = get.i64 @rip
            exit %3
        """, SAME),
    ],
    "deadstore": [
        ("overwritten", """
            %0 = get.i64 @rax
            put @rax, %0
            %1 = const.i64 0x1
            put @rax, %1
            exit %1
        """, """
            %0 = get.i64 @rax
            %1 = const.i64 0x1
            put @rax, %1
            exit %1
        """),
        ("flags-across-insn-markers", """
            insn 0x1000, 3
            %0 = get.i64 @rax
            %1 = trunc.i1 %0
            put @cf, %1
            put @zf, %1
            %2 = zext.i8 %1
            put @cf, %2
            insn 0x1003, 3
            %3 = const.i1 0x0
            put @zf, %3
            put @cf, %3
            exit %0
        """, """
            insn 0x1000, 3
            %0 = get.i64 @rax
            %1 = trunc.i1 %0
            %2 = zext.i8 %1
            insn 0x1003, 3
            %3 = const.i1 0x0
            put @zf, %3
            put @cf, %3
            exit %0
        """),
        ("read-in-between", """
            %0 = get.i64 @rax
            %1 = const.i64 0x1
            put @rax, %1
            %2 = get.i64 @rax
            put @rax, %0
            put @rbx, %2
            exit %0
        """, SAME),
        ("load-store-call-are-barriers", """
            %0 = get.i64 @rax
            %1 = const.i64 0x1
            put @rax, %1
            %2 = load.i64 %0
            put @rax, %2
            store %0, %2
            put @rax, %0
            %3 = call.i64 helper()
            put @rax, %3
            exit %3
        """, SAME),
        ("control-flow-is-a-barrier", """
            %0 = get.i1 @cf
            %1 = const.i64 0x1
            put @rax, %1
            brif %0, L0
            put @rax, %1
            label L0
            %2 = const.i64 0x2
            put @rax, %2
            exit %2
        """, SAME),
        ("exit-reads-state", """
            %0 = const.i64 0x1
            put @rax, %0
            put @rip, %0
            exit %0
        """, SAME),
        ("locals", """
            %0 = get.i64 @rax
            putl $0, %0
            putl $1, %0
            %1 = const.i64 0x1
            putl $1, %1
            putl $2, %1
            br L0
            label L0
            %2 = getl.i64 $1
            putl $2, %2
            exit %2
        """, """
            %0 = get.i64 @rax
            %1 = const.i64 0x1
            putl $1, %1
            br L0
            label L0
            %2 = getl.i64 $1
            exit %2
        """),
        ("locals-die-at-exit-not-at-calls", """
            %0 = get.i1 @cf
            %1 = get.i64 @rax
            putl $0, %1
            brif %0, L0
            putl $0, %1
            %2 = call.i64 helper()
            putl $0, %2
            exit %1
            label L0
            %3 = getl.i64 $0
            exit %3
        """, """
            %0 = get.i1 @cf
            %1 = get.i64 @rax
            putl $0, %1
            brif %0, L0
            %2 = call.i64 helper()
            exit %1
            label L0
            %3 = getl.i64 $0
            exit %3
        """),
    ],
    "loadelim": [
        ("get-after-put", """
            %0 = const.i64 0x5
            put @rax, %0
            %1 = get.i64 @rax
            %2 = add.i64 %1, %1
            exit %2
        """, """
            %0 = const.i64 0x5
            put @rax, %0
            %2 = add.i64 %0, %0
            exit %2
        """),
        ("get-after-get", """
            %0 = get.i64 @rax
            insn 0x1000, 1
            %1 = get.i64 @rax
            %2 = get.i64 @rbx
            %3 = sub.i64 %0, %1
            exit %3
        """, """
            %0 = get.i64 @rax
            insn 0x1000, 1
            %2 = get.i64 @rbx
            %3 = sub.i64 %0, %0
            exit %3
        """),
        ("i1-flag-read-back-wider", """
            %0 = get.i64 @rax
            %1 = trunc.i1 %0
            put @cf, %1
            %2 = get.i8 @cf
            %3 = get.i1 @cf
            %4 = zext.i64 %2
            %5 = zext.i64 %3
            %6 = add.i64 %4, %5
            exit %6
        """, """
            %0 = get.i64 @rax
            %1 = trunc.i1 %0
            put @cf, %1
            %2 = zext.i8 %1
            %4 = zext.i64 %2
            %5 = zext.i64 %1
            %6 = add.i64 %4, %5
            exit %6
        """),
        ("memory-ops-keep-state-known", """
            %0 = get.i64 @rax
            %1 = load.i64 %0
            store %0, %1
            %2 = get.i64 @rax
            exit %2
        """, """
            %0 = get.i64 @rax
            %1 = load.i64 %0
            store %0, %1
            exit %0
        """),
        ("put-of-same-value", """
            %0 = get.i64 @rax
            %1 = add.i64 %0, %0
            put @rax, %0
            put @rbx, %1
            put @rbx, %1
            exit %1
        """, """
            %0 = get.i64 @rax
            %1 = add.i64 %0, %0
            put @rbx, %1
            exit %1
        """),
        ("locals", """
            %0 = get.i64 @rax
            putl $0, %0
            %1 = getl.i64 $0
            %2 = getl.i64 $1
            %3 = getl.i64 $1
            putl $1, %3
            %4 = add.i64 %1, %2
            %5 = add.i64 %4, %3
            %6 = call.i64 helper()
            %7 = getl.i64 $0
            exit %7
        """, """
            %0 = get.i64 @rax
            putl $0, %0
            %2 = getl.i64 $1
            %4 = add.i64 %0, %2
            %5 = add.i64 %4, %2
            %6 = call.i64 helper()
            exit %0
        """),
        ("call-may-write-state", """
            %0 = const.i64 0x5
            put @rax, %0
            %1 = call.i64 helper()
            %2 = get.i64 @rax
            put @rax, %0
            exit %2
        """, SAME),
        ("label-ends-what-is-known", """
            %0 = get.i64 @rax
            br L0
            label L0
            %1 = get.i64 @rax
            %2 = const.i64 0x1
            putl $0, %2
            label L1
            %3 = getl.i64 $0
            %4 = get.i64 @rax
            %5 = add.i64 %3, %4
            exit %5
        """, SAME),
        ("narrow-read-of-wide-field-is-not-exact", """
            %0 = get.i1 @zf
            put @zf, %0
            %1 = get.i8 @zf
            %2 = zext.i64 %1
            exit %2
        """, """
            %0 = get.i1 @zf
            put @zf, %0
            %1 = zext.i8 %0
            %2 = zext.i64 %1
            exit %2
        """),
        ("other-field", """
            %0 = const.i64 0x5
            put @rax, %0
            %1 = get.i64 @rbx
            exit %1
        """, SAME),
    ],
    "pipeline": [
        ("dead-flags-of-two-adds", """
            insn 0x1000, 3
            %0 = get.i64 @rax
            %1 = get.i64 @rbx
            %2 = add.i64 %0, %1
            put @rax, %2
            %3 = ult.i1 %2, %0
            put @cf, %3
            %4 = const.i64 0x0
            %5 = eq.i1 %2, %4
            put @zf, %5
            insn 0x1003, 3
            %6 = get.i64 @rax
            %7 = get.i64 @rbx
            %8 = add.i64 %6, %7
            put @rax, %8
            %9 = ult.i1 %8, %6
            put @cf, %9
            %10 = const.i64 0x0
            %11 = eq.i1 %8, %10
            put @zf, %11
            %12 = const.i64 0x1006
            put @rip, %12
            exit %12
        """, """
            insn 0x1000, 3
            %0 = get.i64 @rax
            %1 = get.i64 @rbx
            %2 = add.i64 %0, %1
            %4 = const.i64 0x0
            insn 0x1003, 3
            %8 = add.i64 %2, %1
            put @rax, %8
            %9 = ult.i1 %8, %2
            put @cf, %9
            %11 = eq.i1 %8, %4
            put @zf, %11
            %12 = const.i64 0x1006
            put @rip, %12
            exit %12
        """),
        ("constants-through-state", """
            %0 = const.i64 0x5
            put @rax, %0
            %1 = get.i64 @rax
            %2 = const.i64 0x1
            %3 = add.i64 %1, %2
            put @rax, %3
            %4 = const.i1 0x0
            brif %4, L0
            exit %3
            label L0
            %5 = get.i64 @rip
            exit %5
        """, """
            %3 = const.i64 0x6
            put @rax, %3
            exit %3
        """),
        ("precise-state-before-a-faulting-load", """
            insn 0x1000, 3
            %0 = const.i64 0x1
            put @rax, %0
            %1 = get.i64 @rbx
            %2 = load.i64 %1
            put @rax, %2
            exit %2
        """, SAME),
    ],
}

_GOLDEN_PARAMS = [pytest.param(p, before, after, id=f"{p}-{name}")
                  for p, cases in GOLDEN.items() for name, before, after in cases]


@pytest.mark.parametrize("pass_name, before, after", _GOLDEN_PARAMS)
def test_golden(pass_name, before, after):
    src = _text(before)
    want = src if after is SAME else _text(after)
    u = parse_unit(src, FIELDS)
    verify(u)
    changed = _run(pass_name, u)
    assert str(u) == want
    assert changed == (want != src)
    verify(u)
    if pass_name != "pipeline":  # a second run finds nothing more
        assert not PASSES[pass_name].run(u)


@pytest.mark.skipif("exitif" not in OP or "trapif" not in OP, reason="no conditional exits in the op table")
def test_constant_conditional_exits():
    src = _text("""
        %0 = const.i1 0x0
        %1 = const.i1 0x1
        %2 = const.i64 0x10
        %3 = const.i32 0x0
        exitif %0, %2
        trapif 6, %0, %3
        trapif 13, %1, %3
        exit %2
    """)
    u = parse_unit(src, FIELDS)
    assert constfold.run(u)
    assert [str(o.op) for o in u.ops][-2:] == ["trap", "exit"]
    assert dce.run(u)
    assert str(u) == _text("""
        %3 = const.i32 0x0
        trap 13, %3
    """)


def test_unit_without_field_names():
    u = parse_unit(_text("""
        %0 = const.i64 0x5
        put @8, %0
        %1 = get.i64 @8
        put @8, %1
        exit %1
    """))
    optimize(u, verify_each=True)
    assert str(u) == _text("""
        %0 = const.i64 0x5
        put @8, %0
        exit %0
    """)


# --- folding every pure op on random constants, against an independent reference --------------------------------

class Undefined(Exception):
    pass


def _bits(a: int, n: int) -> str:
    return format(a, f"0{n}b")


def _signed(a: int, n: int) -> int:
    return a - 2 ** n if a >= 2 ** (n - 1) else a


def _quotient(a: int, b: int, n: int) -> int:
    x, y = _signed(a, n), _signed(b, n)
    if y == 0 or Fraction(x, y) >= 2 ** (n - 1):
        raise Undefined
    return trunc(Fraction(x, y))


def _need(b: int) -> int:
    if b == 0:
        raise Undefined
    return b


REF_BINARY = {
    "add": lambda a, b, n: a + b,
    "sub": lambda a, b, n: a + (2 ** n - b),
    "mul": lambda a, b, n: a * b,
    "udiv": lambda a, b, n: a // _need(b),
    "urem": lambda a, b, n: a % _need(b),
    "sdiv": _quotient,
    "srem": lambda a, b, n: _signed(a, n) - _signed(b, n) * _quotient(a, b, n),
    "and": lambda a, b, n: int("".join("1" if x == y == "1" else "0" for x, y in zip(_bits(a, n), _bits(b, n))), 2),
    "or": lambda a, b, n: int("".join("0" if x == y == "0" else "1" for x, y in zip(_bits(a, n), _bits(b, n))), 2),
    "xor": lambda a, b, n: int("".join("0" if x == y else "1" for x, y in zip(_bits(a, n), _bits(b, n))), 2),
    "shl": lambda a, b, n: int((_bits(a, n) + "0" * b)[-n:], 2) if b < n else 0,
    "lshr": lambda a, b, n: int(("0" * b + _bits(a, n))[:n], 2) if b < n else 0,
    "ashr": lambda a, b, n: int((_bits(a, n)[0] * min(b, n) + _bits(a, n))[:n], 2),
    "rotl": lambda a, b, n: int(_bits(a, n)[b % n:] + _bits(a, n)[:b % n], 2),
    "rotr": lambda a, b, n: int(_bits(a, n)[n - b % n:] + _bits(a, n)[:n - b % n], 2),
    "eq": lambda a, b, n: int(a == b),
    "ne": lambda a, b, n: int(a != b),
    "ult": lambda a, b, n: int(a < b),
    "ule": lambda a, b, n: int(not b < a),
    "slt": lambda a, b, n: int(_signed(a, n) < _signed(b, n)),
    "sle": lambda a, b, n: int(not _signed(b, n) < _signed(a, n)),
}
REF_UNARY = {
    "neg": lambda a, n: (2 ** n - a),
    "not": lambda a, n: int(_bits(a, n).translate(str.maketrans("01", "10")), 2),
    "ctpop": lambda a, n: _bits(a, n).count("1"),
    "ctlz": lambda a, n: n - len(_bits(a, n).lstrip("0")),
    "cttz": lambda a, n: n - len(_bits(a, n).rstrip("0")),
    "bswap": lambda a, n: int.from_bytes(bytes(reversed(a.to_bytes(n // 8, "big"))), "big"),
}
REF_CAST = {  # (a, from bits, to bits)
    "zext": lambda a, n, m: a,
    "sext": lambda a, n, m: int(_bits(a, n)[0] * (m - n) + _bits(a, n), 2),
    "trunc": lambda a, n, m: int(_bits(a, n)[n - m:], 2),
}


def ref_eval(name: str, ty: Ty, arg_tys: list, args: list) -> int:
    """Result of a pure op, in [0, 2**bits(ty)); raises Undefined where ir.ops leaves it undefined."""
    n = arg_tys[0].bits if arg_tys else ty.bits
    if name in REF_BINARY:
        r = REF_BINARY[name](args[0], args[1], n)
    elif name in REF_UNARY:
        r = REF_UNARY[name](args[0], n)
    elif name in REF_CAST:
        r = REF_CAST[name](args[0], n, ty.bits)
    elif name == "select":
        r = args[1] if args[0] else args[2]
    else:
        assert name == "const"
        r = args[0]
    return r % 2 ** ty.bits


def _interesting(rng: random.Random, ty: Ty) -> int:
    n = ty.bits
    pick = rng.randrange(8)
    if pick == 0:
        k = rng.choice([0, 1, ty.mask, 1 << (n - 1), ty.mask >> 1, n, n - 1, n + 1])
    elif pick == 1:
        k = rng.randrange(2 * n + 2)
    elif pick == 2:
        k = (1 << rng.randrange(n)) - rng.randrange(2)
    else:
        k = rng.getrandbits(n)
    return k % 2 ** n


def _cast_pairs(name):
    return [(src, dst) for src in Ty for dst in Ty
            if (dst.bits < src.bits if name == "trunc" else dst.bits > src.bits)]


# Scalar ops (the vector ops on i128 values have their own tests: tests/backends/test_backend_vector.py).
PURE_OPS = [op for op in OP if op.pure and op.name != "const" and op.shape not in VECTOR_SHAPES]


@pytest.mark.parametrize("op", PURE_OPS, ids=str)
def test_fold_matches_reference(op):
    rng = random.Random(op.name)
    if op.shape is Shape.CAST:
        shapes = [(dst, [src]) for src, dst in _cast_pairs(op.name)]
    elif op.shape is Shape.CMP:
        shapes = [(Ty.i1, [t, t]) for t in Ty]
    elif op.shape is Shape.SELECT:
        shapes = [(t, [Ty.i1, t, t]) for t in Ty]
    elif op.shape is Shape.UNARY:
        shapes = [(t, [t]) for t in Ty if op.name != "bswap" or t.bits >= 16]
    else:
        shapes = [(t, [t, t]) for t in Ty]
    folded = undefined = 0
    for ty, arg_tys in shapes:
        u = Unit()
        b = Builder(u)
        cases = []
        for _ in range(60):
            ks = [_interesting(rng, t) for t in arg_tys]
            args = [b.const(t, k) for t, k in zip(arg_tys, ks)]
            b.put(8 * len(cases), b.emit(op, ty, tuple(args)))
            cases.append((ks, args))
        b.exit(b.const(Ty.i64, 0))
        verify(u)
        constfold.run(u)
        verify(u)
        defs = {o.dst: o for o in u.ops if o.dst is not None}
        results = [defs[o.args[0]] for o in u.ops if o.op is OP.put]  # what each put stores now
        for o, (ks, args) in zip(results, cases):
            try:
                want = ref_eval(op.name, ty, arg_tys, ks)
            except Undefined:
                assert o.op is op and o.args == tuple(args), f"{op}.{ty} {ks} is undefined but was folded"
                undefined += 1
                continue
            assert o.op is OP.const, f"{op}.{ty} {ks} not folded"
            assert o.imm == want, f"{op}.{ty} {[hex(k) for k in ks]}: folded {o.imm:#x}, want {want:#x}"
            folded += 1
    assert folded > 0
    if op.name in ("udiv", "sdiv", "urem", "srem"):
        assert undefined > 0


# --- every simplification rule against the reference: op over {state values, edge constants}, all types ----------

def _edges(ty: Ty) -> list:
    n, m = ty.bits, ty.mask
    return sorted({k % 2 ** n for k in (0, 1, 2, m, m - 1, 1 << (n - 1), (1 << (n - 1)) - 1, n - 1, n, n + 1)})


def _rule_operands(b: Builder, op, ty: Ty) -> list:
    """Operand tuples (with result type) that exercise the rule tables of ``op`` at type ``ty``."""
    x, y = b.get(ty, 0), b.get(ty, 8)
    if op.shape in (Shape.BINARY, Shape.CMP):
        srcs = [x, y] + [b.const(ty, k) for k in _edges(ty)]
        rty = Ty.i1 if op.shape is Shape.CMP else ty
        return [(rty, (a, c)) for a in srcs for c in srcs]
    if op.shape is Shape.UNARY:
        unary = [u for u in OP if u.shape is Shape.UNARY and (u.name != "bswap" or ty.bits >= 16)]
        return [(ty, (x,))] + [(ty, (b.emit(u, ty, (x,)),)) for u in unary]
    if op.shape is Shape.SELECT:
        conds = [b.get(Ty.i1, 16), b.const(Ty.i1, 0), b.const(Ty.i1, 1)]
        arms = [x, y, b.const(ty, 0), b.const(ty, 1), b.const(ty, ty.mask)]
        return [(ty, (c, p, q)) for c in conds for p in arms for q in arms]
    out = []  # casts: outer(inner(x)) for every inner cast and width chain ending in ty
    for inner in (OP.zext, OP.sext, OP.trunc):
        for t0, t1 in _cast_pairs(inner.name):
            if (ty.bits < t1.bits) if op.name == "trunc" else (ty.bits > t1.bits):
                out.append((ty, (b.emit(inner, t1, (b.get(t0, 0),)),)))
    return out


def _value(defs: dict, v: int, state: dict, types: dict, memo: dict) -> int:
    if v not in memo:
        o = defs[v]
        if o.op is OP.get:
            memo[v] = state[o.imm] % 2 ** o.ty.bits
        else:
            args = [o.imm] if o.op is OP.const else [_value(defs, a, state, types, memo) for a in o.args]
            memo[v] = ref_eval(o.op.name, o.ty, [types[a] for a in o.args], args)
    return memo[v]


def _stored(u: Unit, state: dict) -> list:
    """The value each ``put`` of a unit of pure ops stores, or Undefined."""
    defs = {o.dst: o for o in u.ops if o.dst is not None}
    memo, out = {}, []
    for o in u.ops:
        if o.op is OP.put:
            try:
                out.append(_value(defs, o.args[0], state, u.types, memo))
            except Undefined:
                out.append(Undefined)
    return out


@pytest.mark.parametrize("op", PURE_OPS, ids=str)
def test_rules_match_reference(op):
    rng = random.Random("rules" + op.name)
    for ty in Ty:
        if op.name == "bswap" and ty.bits < 16:
            continue
        u = Unit()
        b = Builder(u)
        for i, (rty, args) in enumerate(_rule_operands(b, op, ty)):
            b.put(24 + 8 * i, b.emit(op, rty, args))
        b.exit(b.const(Ty.i64, 0))
        verify(u)
        original = parse_unit(str(u))
        constfold.run(u)
        verify(u)
        inputs = [(x, y) for x in _edges(ty) for y in _edges(ty)[:2]]
        inputs += [(rng.getrandbits(ty.bits), rng.getrandbits(ty.bits)) for _ in range(6)]
        for x, y in inputs:
            state = {0: x, 8: y, 16: rng.randrange(2)}
            for want, got in zip(_stored(original, state), _stored(u, state)):
                assert want is Undefined or got == want, f"{op}.{ty} x={x:#x} y={y:#x}"


# --- random units: verify + round trip after every pass, and same outcome on random inputs ------------------------

ADDRESSES = [0x1000, 0x1008, 0x1010, 0x2000]
FAULTING = {0x2000}
FIELD_LIST = list(FIELDS.by_name.values())
LOCAL_TYPES = {0: Ty.i64, 1: Ty.i8, 2: Ty.i32}
HAS_COND_EXITS = "exitif" in OP and "trapif" in OP


class _Gen:
    """Builds a random valid unit: segments of random ops, forward branches only (so it always terminates)."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.u = Unit(fields=FIELDS)
        self.b = Builder(self.u)
        self.vals: dict[Ty, list] = {}

    def value(self, ty: Ty) -> int:
        rng, b = self.rng, self.b
        have = self.vals.get(ty)
        if have and rng.random() < 0.7:
            return rng.choice(have)
        r = rng.random()
        if r < 0.45:
            v = b.const(ty, _interesting(rng, ty))
        else:
            fields = [f for f in FIELD_LIST if f.ty is ty or (ty is Ty.i1 and f.ty is Ty.i8)]
            if fields:
                v = b.get(ty, rng.choice(fields).offset)
            elif ty.bits < 64:
                v = b.trunc(ty, self.value(Ty.i64))
            else:
                v = b.emit(rng.choice([OP.zext, OP.sext]), ty, (self.value(Ty.i64),))
        self.vals.setdefault(ty, []).append(v)
        return v

    def pure(self):
        rng, b = self.rng, self.b
        op = rng.choice(PURE_OPS)
        ty = rng.choice(list(Ty))
        if op.shape is Shape.CAST:
            src, ty = rng.choice(_cast_pairs(op.name))
            args = (self.value(src),)
        elif op.shape is Shape.CMP:
            args = (self.value(ty), self.value(ty))
            ty = Ty.i1
        elif op.shape is Shape.SELECT:
            args = (self.value(Ty.i1), self.value(ty), self.value(ty))
        elif op.shape is Shape.UNARY:
            if op.name == "bswap" and ty.bits < 16:
                ty = Ty.i32
            args = (self.value(ty),)
        elif op.name in ("udiv", "sdiv", "urem", "srem"):  # the lifter guards the divisor; mimic that
            args = (self.value(ty), b.or_(self.value(ty), b.const(ty, 1)))
        else:
            args = (self.value(ty), self.value(ty))
        v = b.emit(op, ty, args)
        if rng.random() < 0.15:  # an exact duplicate for CSE
            v = b.emit(op, ty, args)
        self.vals.setdefault(ty, []).append(v)

    def effect(self, labels_after: list):
        rng, b = self.rng, self.b
        kind = rng.choice(["put", "put", "put", "putl", "getl", "load", "store", "call", "insn", "brif", "cond"])
        if kind == "put":
            f = rng.choice(FIELD_LIST)
            b.put(f.offset, self.value(Ty.i1 if f.ty is Ty.i8 and rng.random() < 0.5 else f.ty))
        elif kind == "putl":
            n = rng.choice(list(LOCAL_TYPES))
            b.putl(n, self.value(LOCAL_TYPES[n]))
        elif kind == "getl":
            n = rng.choice(list(LOCAL_TYPES))
            self.vals.setdefault(LOCAL_TYPES[n], []).append(b.getl(LOCAL_TYPES[n], n))
        elif kind == "load":
            ty = rng.choice([Ty.i8, Ty.i16, Ty.i32, Ty.i64])
            self.vals.setdefault(ty, []).append(b.load(ty, b.const(Ty.i64, rng.choice(ADDRESSES))))
        elif kind == "store":
            b.store(b.const(Ty.i64, rng.choice(ADDRESSES)), self.value(rng.choice([Ty.i8, Ty.i32, Ty.i64])))
        elif kind == "call":
            self.vals.setdefault(Ty.i64, []).append(b.call("mix", (self.value(Ty.i64),), Ty.i64))
        elif kind == "insn":
            b.insn(0x1000 + rng.randrange(0x100), rng.randrange(1, 16))
        elif kind == "brif" and labels_after:
            b.brif(self.value(Ty.i1), rng.choice(labels_after))
        elif kind == "cond" and HAS_COND_EXITS:
            if rng.random() < 0.5:
                b.exitif(self.value(Ty.i1), self.value(Ty.i64))
            else:
                b.trapif(rng.randrange(32), self.value(Ty.i1), self.value(Ty.i32))

    def unit(self) -> Unit:
        rng, b = self.rng, self.b
        labels = [self.u.new_label() for _ in range(rng.randrange(4))]
        for seg in range(len(labels) + 1):
            if seg:
                b.label(labels[seg - 1])
                self.vals = {}
            for _ in range(rng.randrange(2, 30)):
                if rng.random() < 0.55:
                    self.pure()
                else:
                    self.effect(labels[seg:])
            if seg == len(labels) or rng.random() < 0.3:
                b.exit(self.value(Ty.i64))
            elif rng.random() < 0.3:
                b.br(rng.choice(labels[seg:]))
        return self.u


class _Stop(Exception):
    def __init__(self, *outcome):
        self.outcome = outcome


def _helper_mix(state: dict, args: list) -> int:
    """The one helper of random units: reads all state, writes rax."""
    r = (sum(v * (i + 3) for i, v in sorted(state.items())) + 7 * sum(args)) % 2 ** 64
    state[0] = r ^ 0x5555
    return r


def execute(u: Unit, state: dict, mem: dict):
    """Runs a unit on copies of state (offset -> value) and memory (address -> byte); returns the outcome."""
    state, mem, vals, local = dict(state), dict(mem), {}, {}
    labels = {o.imm: i for i, o in enumerate(u.ops) if o.op is OP.label}
    T = u.types

    def addr(o):
        a = vals[o.args[0]]
        if a in FAULTING:
            raise _Stop("fault", a)
        return a

    def on_load(o):
        a = addr(o)
        vals[o.dst] = int.from_bytes(bytes(mem.get(a + i, 0) for i in range(o.ty.bits // 8)), "little")

    def on_store(o):
        a, v = addr(o), vals[o.args[1]]
        for i, byte in enumerate(v.to_bytes(T[o.args[1]].bits // 8, "little")):
            mem[a + i] = byte

    def on_exitif(o):
        if vals[o.args[0]]:
            raise _Stop("exit", vals[o.args[1]])

    def on_trapif(o):
        if vals[o.args[0]]:
            raise _Stop("trap", o.imm, vals[o.args[1]])

    def on_trap(o):
        raise _Stop("trap", o.imm, vals[o.args[0]])

    def on_exit(o):
        raise _Stop(o.op.name, vals[o.args[0]])

    effects = {
        "get": lambda o: vals.__setitem__(o.dst, state[o.imm] % 2 ** o.ty.bits),
        "put": lambda o: state.__setitem__(o.imm, vals[o.args[0]]),
        "getl": lambda o: vals.__setitem__(o.dst, local.get(o.imm, 0)),
        "putl": lambda o: local.__setitem__(o.imm, vals[o.args[0]]),
        "load": on_load, "store": on_store, "exit": on_exit, "halt": on_exit, "trap": on_trap,
        "exitif": on_exitif, "trapif": on_trapif,
        "call": lambda o: vals.__setitem__(o.dst, _helper_mix(state, [vals[a] for a in o.args])),
        "insn": lambda o: None, "label": lambda o: None,
    }
    i = 0
    try:
        while True:
            o = u.ops[i]
            i += 1
            name = o.op.name
            if o.op.pure:
                args = [o.imm] if name == "const" else [vals[a] for a in o.args]
                vals[o.dst] = ref_eval(name, o.ty, [T[a] for a in o.args], args)
            elif name == "br" or (name == "brif" and vals[o.args[0]]):
                i = labels[o.imm]
            elif name != "brif":
                effects[name](o)
    except _Stop as s:
        return s.outcome, state, mem


def _random_inputs(rng: random.Random):
    state = {f.offset: (rng.randrange(2) if f.ty is Ty.i8 else _interesting(rng, f.ty)) for f in FIELD_LIST}
    mem = {a + i: rng.randrange(256) for a in ADDRESSES for i in range(8)}
    return state, mem


@pytest.mark.parametrize("seed", range(300))
def test_random_unit_pipeline(seed):
    rng = random.Random(seed)
    u = _Gen(rng).unit()
    verify(u)
    original = parse_unit(str(u), FIELDS)
    for _ in range(2):
        for p in PIPELINE:
            p.run(u)
            verify(u)
            text = str(u)
            assert str(parse_unit(text, FIELDS)) == text, f"round trip after {p.__name__}"
            assert not p.run(u), f"{p.__name__} is not idempotent"  # optimize() relies on it
    again = parse_unit(str(original), FIELDS)
    optimize(again, verify_each=True)
    checked = 0
    for _ in range(12):
        state, mem = _random_inputs(rng)
        try:
            want = execute(original, state, mem)
        except Undefined:
            continue
        assert execute(u, state, mem) == want
        assert execute(again, state, mem) == want
        checked += 1
    assert checked or any(o.op.name in ("sdiv", "srem") for o in original.ops)


def test_random_units_shrink():
    """The pipeline does real work on lifted-like code: over many random units most ops go."""
    before = after = 0
    for seed in range(100):
        u = _Gen(random.Random(seed)).unit()
        before += len(u.ops)
        optimize(u)
        after += len(u.ops)
    assert after < 0.7 * before
