"""Bit instructions: BT BTS BTR BTC, BSF BSR, TZCNT LZCNT POPCNT (SDM Vol. 2).

BTx: an immediate bit offset is taken modulo the operand width, as is a register offset with a register destination.
With a memory operand and a register offset the offset is a signed bit index from the operand's address: the access
is the operand-sized unit at EA + (offset SAR log2(width)) * (width / 8), bit offset mod width (the SDM's bit-string
addressing). BTS/BTR/BTC accept LOCK with a memory destination (the driver checks LOCK).
Flags: CF = the selected bit; the undefined OF SF AF PF are left unchanged, as Intel CPUs do, and ZF is unchanged.

BSF/BSR leave the destination (the whole register, upper half included) unchanged when the source is 0, as Intel
and AMD CPUs do, and set ZF; TZCNT/LZCNT return the width for 0 and set CF; the CPUID model advertises BMI1 and ABM.
"""

from __future__ import annotations

from ir import Ty

from dbt.lift import flags, lifter
from dbt.lift.context import TY_BY_SIZE

_LOG2 = {8: 3, 16: 4, 32: 5, 64: 6}


def _bit_operand(ctx):
    """(value, address or None, ty, bit index in ty) of a BTx destination and its bit offset."""
    b = ctx.b
    op0, op1 = ctx.insn.operands[0], ctx.insn.operands[1]
    ty = TY_BY_SIZE[op0.size]
    w = ty.bits
    if op1.kind == "imm":
        idx = ctx.const(ty, op1.imm & (w - 1))
        v, addr = ctx.read_rmw(0)
        return v, addr, ty, idx
    off = ctx.read(1, ty)
    idx = b.and_(off, b.const(ty, w - 1))
    if op0.kind == "reg":
        return ctx.read(0), None, ty, idx
    aty = TY_BY_SIZE[ctx.insn.addrsize]
    disp = b.shl(b.ashr(b.sext(Ty.i64, off) if ty is not Ty.i64 else off, b.const(Ty.i64, _LOG2[w])),
                 b.const(Ty.i64, _LOG2[w] - 3))
    ea = ctx.resize(b.add(ctx.resize(ctx.ea(op0), Ty.i64), disp), aty)
    addr = ctx.linear(ctx.segment_of(op0), ea, w // 8)
    return ctx.load(ty, addr), addr, ty, idx


_MODIFY = {
    "BT": None,
    "BTS": lambda b, v, m: b.or_(v, m),
    "BTR": lambda b, v, m: b.and_(v, b.not_(m)),
    "BTC": lambda b, v, m: b.xor(v, m),
}


@lifter(*_MODIFY)
def lift_bt(ctx):
    b = ctx.b
    v, addr, ty, idx = _bit_operand(ctx)
    modify = _MODIFY[ctx.insn.name]
    if modify is not None:
        ctx.write(0, modify(b, v, b.shl(b.const(ty, 1), idx)), addr)
    ctx.set_flag("cf", b.trunc(Ty.i1, b.lshr(v, idx)))


@lifter("BSF", "BSR")
def lift_bitscan(ctx):
    b = ctx.b
    ty = ctx.ty(0)
    src = ctx.read(1, ty)
    if ctx.insn.name == "BSF":
        r = b.cttz(src)
    else:
        r = b.sub(b.const(ty, ty.bits - 1), b.ctlz(src))
    zero = b.eq(src, b.const(ty, 0))
    ctx.set_reg_if(ctx.insn.operands[0].reg, b.not_(zero), r)
    flags.bitscan(ctx, zero, r)


@lifter("TZCNT", "LZCNT")
def lift_count_zeros(ctx):
    b = ctx.b
    ty = ctx.ty(0)
    src = ctx.read(1, ty)
    r = b.cttz(src) if ctx.insn.name == "TZCNT" else b.ctlz(src)
    ctx.write(0, r)
    flags.count(ctx, b.eq(src, b.const(ty, 0)), r)


@lifter("POPCNT")
def lift_popcnt(ctx):
    b = ctx.b
    ty = ctx.ty(0)
    src = ctx.read(1, ty)
    ctx.write(0, b.ctpop(src))
    flags.popcnt(ctx, b.eq(src, b.const(ty, 0)))
