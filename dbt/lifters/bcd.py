"""BCD adjustments: DAA DAS AAA AAS AAM AAD (SDM Vol. 2; invalid in 64-bit mode, where Capstone does not decode them
either: they raise #UD there).

The formulas are the SDM's pseudo-code (386+ semantics: AAA/AAS adjust AX as a whole, ``AX +/- 106h``, unlike the
8086's separate AL/AH updates); the 80286 vectors agree with them on every defined flag. Undefined flags take the
values the Intel hosts we measured produce (see ``flags.bcd``): OF = 0; AAA/AAS set SF ZF PF from the final AL; AAM
clears CF and AF; AAD sets all six flags as the byte addition AL + AH * imm8 does. AAM with a zero base raises #DE
(a fault: IP points at the AAM).
"""

from __future__ import annotations

from ir import Ty

from dbt.lift import flags, lifter
from dbt.lift.context import DE, UD


def _low_adjust(ctx, al):
    """(AL AND 0Fh) > 9 or AF = 1."""
    b = ctx.b
    return b.or_(b.ult(b.const(Ty.i8, 9), b.and_(al, b.const(Ty.i8, 0x0F))), ctx.flag("af"))


@lifter("DAA", "DAS")
def lift_daa(ctx):
    if ctx.mode == 64:
        ctx.trap(UD)
        return
    b = ctx.b
    c8 = lambda v: b.const(Ty.i8, v)
    al = ctx.reg("al")
    cf = ctx.flag("cf")
    low = _low_adjust(ctx, al)
    high = b.or_(b.ult(c8(0x99), al), cf)
    if ctx.insn.name == "DAA":
        al1 = b.select(low, b.add(al, c8(6)), al)
        r = b.select(high, b.add(al1, c8(0x60)), al1)
        new_cf = high
    else:
        al1 = b.select(low, b.sub(al, c8(6)), al)
        r = b.select(high, b.sub(al1, c8(0x60)), al1)
        borrow = b.and_(low, b.or_(cf, b.ult(al, c8(6))))
        new_cf = b.or_(high, borrow)
    ctx.set_reg("al", r)
    flags.bcd(ctx, r, new_cf, low)


@lifter("AAA", "AAS")
def lift_aaa(ctx):
    if ctx.mode == 64:
        ctx.trap(UD)
        return
    b = ctx.b
    ax = ctx.reg("ax")
    adj = _low_adjust(ctx, ctx.reg("al"))
    k = b.const(Ty.i16, 0x106)
    moved = b.add(ax, k) if ctx.insn.name == "AAA" else b.sub(ax, k)
    r = b.and_(b.select(adj, moved, ax), b.const(Ty.i16, 0xFF0F))
    ctx.set_reg("ax", r)
    flags.bcd(ctx, b.trunc(Ty.i8, r), adj, adj)


@lifter("AAM")
def lift_aam(ctx):
    if ctx.mode == 64:
        ctx.trap(UD)
        return
    base = ctx.insn.operands[0].imm & 0xFF
    if base == 0:
        ctx.trap(DE)
        return
    b = ctx.b
    al = ctx.reg("al")
    k = b.const(Ty.i8, base)
    q, r = b.udiv(al, k), b.urem(al, k)
    ctx.set_reg("ax", b.or_(b.shl(b.zext(Ty.i16, q), b.const(Ty.i16, 8)), b.zext(Ty.i16, r)))
    flags.bcd(ctx, r, None, None)


@lifter("AAD")
def lift_aad(ctx):
    if ctx.mode == 64:
        ctx.trap(UD)
        return
    b = ctx.b
    al, ah = ctx.reg("al"), ctx.reg("ah")
    prod = b.mul(ah, b.const(Ty.i8, ctx.insn.operands[0].imm))
    r = b.add(al, prod)
    ctx.set_reg("ax", b.zext(Ty.i16, r))
    flags.add(ctx, al, prod, r)
