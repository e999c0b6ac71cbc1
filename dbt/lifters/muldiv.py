"""Multiplication and division: MUL, IMUL (one, two and three operands), DIV, IDIV (SDM Vol. 2).

Products are formed in twice the operand width (i128 for 64-bit operands); the one-operand forms write the double
result to AX, DX:AX, EDX:EAX or RDX:RAX. Division raises #DE (vector 0) on a zero divisor and on a quotient that
does not fit, tested with ``trap_if`` before any division op runs and before any state is written, so a faulting
DIV leaves every register and flag as it was.

Flags: MUL/IMUL set CF = OF = "the product needs the high half"; the undefined SF ZF AF PF get Intel's values (see
``flags.mul``). DIV/IDIV leave every flag unchanged: the SDM calls them undefined, and Intel CPUs do not touch them.
"""

from __future__ import annotations

from ir import Ty

from dbt.lift import flags, lifter
from dbt.lift.context import DE

_DOUBLE = {Ty.i8: Ty.i16, Ty.i16: Ty.i32, Ty.i32: Ty.i64, Ty.i64: Ty.i128}
# (low, high) halves of the implicit double-width operand
_ACC = {Ty.i8: ("al", "ah"), Ty.i16: ("ax", "dx"), Ty.i32: ("eax", "edx"), Ty.i64: ("rax", "rdx")}


def _split(ctx, wide, ty):
    b = ctx.b
    return b.trunc(ty, wide), b.trunc(ty, b.lshr(wide, b.const(b.type_of(wide), ty.bits)))


def _write_double(ctx, ty, wide):
    """Writes a double-width value to AX (8-bit operands) or to the high:low register pair."""
    if ty is Ty.i8:
        ctx.set_reg("ax", wide)
        return
    lo, hi = _split(ctx, wide, ty)
    ctx.set_reg(_ACC[ty][0], lo)
    ctx.set_reg(_ACC[ty][1], hi)


def _read_double(ctx, ty):
    if ty is Ty.i8:
        return ctx.reg("ax")
    b = ctx.b
    wty = _DOUBLE[ty]
    lo, hi = (b.zext(wty, ctx.reg(r)) for r in _ACC[ty])
    return b.or_(b.shl(hi, b.const(wty, ty.bits)), lo)


@lifter("MUL")
def lift_mul(ctx):
    b = ctx.b
    ty = ctx.ty(0)
    wty = _DOUBLE[ty]
    src = ctx.read(0)
    p = b.mul(b.zext(wty, ctx.reg(_ACC[ty][0])), b.zext(wty, src))
    _write_double(ctx, ty, p)
    lo, hi = _split(ctx, p, ty)
    flags.mul(ctx, lo, b.ne(hi, b.const(ty, 0)))


@lifter("IMUL")
def lift_imul(ctx):
    b = ctx.b
    ops = ctx.insn.operands
    ty = ctx.ty(0)
    wty = _DOUBLE[ty]
    if len(ops) == 1:
        a, c = ctx.reg(_ACC[ty][0]), ctx.read(0)
    elif len(ops) == 2:
        a, c = ctx.read(0), ctx.read(1, ty)
    else:
        a, c = ctx.read(1), ctx.read(2, ty)
    p = b.mul(b.sext(wty, a), b.sext(wty, c))
    lo = b.trunc(ty, p)
    if len(ops) == 1:
        _write_double(ctx, ty, p)
    else:
        ctx.write(0, lo)
    flags.mul(ctx, lo, b.ne(b.sext(wty, lo), p))


@lifter("DIV")
def lift_div(ctx):
    b = ctx.b
    ty = ctx.ty(0)
    wty = _DOUBLE[ty]
    d = ctx.read(0)
    n = _read_double(ctx, ty)
    _, hi = _split(ctx, n, ty)
    # The quotient fits in ty iff high half < divisor; with d == 0 this is always false: one test for both.
    ctx.trap_if(b.ule(d, hi), DE)
    dw = b.zext(wty, d)
    q, r = b.trunc(ty, b.udiv(n, dw)), b.trunc(ty, b.urem(n, dw))
    _write_quot_rem(ctx, ty, q, r)


@lifter("IDIV")
def lift_idiv(ctx):
    b = ctx.b
    ty = ctx.ty(0)
    wty = _DOUBLE[ty]
    d = ctx.read(0)
    n = _read_double(ctx, ty)
    dw = b.sext(wty, d)
    # Zero divisor, or MIN / -1 in the double width (whose quotient overflows ty anyway): the division op itself
    # would be undefined, so these trap first.
    bad = b.or_(b.eq(d, b.const(ty, 0)),
                b.and_(b.eq(d, b.const(ty, ty.mask)), b.eq(n, b.const(wty, 1 << (wty.bits - 1)))))
    ctx.trap_if(bad, DE)
    qw = b.sdiv(n, dw)
    q = b.trunc(ty, qw)
    ctx.trap_if(b.ne(b.sext(wty, q), qw), DE)
    r = b.trunc(ty, b.srem(n, dw))
    _write_quot_rem(ctx, ty, q, r)


def _write_quot_rem(ctx, ty, q, r):
    if ty is Ty.i8:
        ctx.set_reg("al", q)
        ctx.set_reg("ah", r)
    else:
        ctx.set_reg(_ACC[ty][0], q)
        ctx.set_reg(_ACC[ty][1], r)
