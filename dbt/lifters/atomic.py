"""Atomic read-modify-write instructions: XADD, CMPXCHG, CMPXCHG8B, CMPXCHG16B (SDM Vol. 2).

The machine runs one guest CPU at a time, so LOCK changes nothing but validity: it needs a memory destination
(#UD otherwise; Capstone also refuses LOCK on instructions that do not allow it). A memory destination of CMPXCHG*
is always written, with its old value when the comparison fails, as the SDM describes the locked cycle, so a
read-only page faults either way. A register destination or accumulator is written only on the path that changes
it: a 32-bit CMPXCHG that fails leaves the upper half of its destination register alone (measured on Intel).
CMPXCHG16B needs a 16-byte aligned operand (#GP(0) otherwise) and a 64-bit operand size.
"""

from __future__ import annotations

from ir import Ty

from dbt.lift import flags, lifter
from dbt.lift.context import GP, UD

_ACC = {Ty.i8: "al", Ty.i16: "ax", Ty.i32: "eax", Ty.i64: "rax"}


@lifter("XADD")
def lift_xadd(ctx):
    b = ctx.b
    a, addr = ctx.read_rmw(0)
    c = ctx.read(1)
    r = b.add(a, c)
    ctx.write(1, a)
    ctx.write(0, r, addr)                  # DEST is written last: XADD r, r leaves the sum
    flags.add(ctx, a, c, r)


@lifter("CMPXCHG")
def lift_cmpxchg(ctx):
    b = ctx.b
    ty = ctx.ty(0)
    acc = _ACC[ty]
    d, addr = ctx.read_rmw(0)
    src = ctx.read(1)
    a = ctx.reg(acc)
    eq = b.eq(a, d)
    dst = ctx.insn.operands[0]
    if dst.kind == "mem":
        ctx.store(addr, b.select(eq, src, d))
    ctx.set_reg_if(acc, b.not_(eq), d)
    if dst.kind == "reg":
        ctx.set_reg_if(dst.reg, eq, src)
    flags.sub(ctx, a, d, b.sub(a, d))


@lifter("CMPXCHG8B", "CMPXCHG16B")
def lift_cmpxchg8b(ctx):
    b = ctx.b
    if ctx.insn.operands[0].kind != "mem":
        ctx.trap(UD)
        return
    wide = ctx.insn.name == "CMPXCHG16B"
    half, full = (Ty.i64, Ty.i128) if wide else (Ty.i32, Ty.i64)
    lo, hi, nlo, nhi = ("rax", "rdx", "rbx", "rcx") if wide else ("eax", "edx", "ebx", "ecx")
    addr = ctx.addr(0)
    if wide:
        ctx.trap_if(b.ne(b.and_(addr, b.const(Ty.i64, 15)), b.const(Ty.i64, 0)), GP, 0)
    m = ctx.load(full, addr)

    def pair(h, l):
        return b.or_(b.shl(b.zext(full, ctx.reg(h)), b.const(full, half.bits)), b.zext(full, ctx.reg(l)))

    eq = b.eq(m, pair(hi, lo))
    ctx.store(addr, b.select(eq, pair(nhi, nlo), m))
    ne = b.not_(eq)
    ctx.set_reg_if(lo, ne, b.trunc(half, m))
    ctx.set_reg_if(hi, ne, b.trunc(half, b.lshr(m, b.const(full, half.bits))))
    ctx.set_flag("zf", eq)
