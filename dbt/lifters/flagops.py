"""Flag instructions: CLC STC CMC CLD STD LAHF SAHF, plus the FLAGS image packing shared by PUSHF/POPF/INT/IRET.

FLAGS images: the arithmetic flags live in their own fields and everything else in ``eflags`` (see dbt.state);
``pack_flags`` merges them into one value, ``unpack_flags`` splits a value back under a mask of writable bits.
"""

from __future__ import annotations

from ir import Ty

from dbt.lift import lifter
from dbt.lift.context import GP
from dbt.state import FLAG_BITS, ARITH_FLAGS_MASK


def pack_flags(ctx, ty: Ty) -> int:
    b = ctx.b
    v = b.and_(ctx.resize(ctx.get("eflags"), ty), b.const(ty, ~ARITH_FLAGS_MASK))
    for name, bit in FLAG_BITS.items():
        if bit < ty.bits:
            v = b.or_(v, b.shl(b.zext(ty, ctx.flag(name)), b.const(ty, bit)))
    return b.or_(v, b.const(ty, 2))


def unpack_flags(ctx, v: int, mask: int) -> None:
    """Writes the bits of v selected by mask into the flag fields and ``eflags``."""
    b = ctx.b
    ty = b.type_of(v)
    for name, bit in FLAG_BITS.items():
        if mask >> bit & 1:
            ctx.set_flag(name, b.trunc(Ty.i1, b.lshr(v, b.const(ty, bit))))
    rest = mask & ~ARITH_FLAGS_MASK & 0xFFFFFFFF
    if rest:
        old = ctx.get("eflags")
        new = b.and_(ctx.resize(v, Ty.i32), b.const(Ty.i32, rest))
        ctx.put("eflags", b.or_(b.or_(b.and_(old, b.const(Ty.i32, ~rest)), new), b.const(Ty.i32, 2)))


_SET = {"CLC": ("cf", 0), "STC": ("cf", 1), "CLD": ("df", 0), "STD": ("df", 1)}


@lifter(*_SET)
def lift_setflag(ctx):
    name, value = _SET[ctx.insn.name]
    ctx.set_flag(name, ctx.const(Ty.i1, value))


@lifter("CMC")
def lift_cmc(ctx):
    ctx.set_flag("cf", ctx.b.not_(ctx.flag("cf")))


@lifter("LAHF")
def lift_lahf(ctx):
    ctx.set_reg("ah", ctx.b.trunc(Ty.i8, pack_flags(ctx, Ty.i16)))


@lifter("SAHF")
def lift_sahf(ctx):
    unpack_flags(ctx, ctx.reg("ah"), 0xD5)


@lifter("HLT")
def lift_hlt(ctx):
    if ctx.cpu.system and not ctx.cpu.real and ctx.cpu.cpl:
        ctx.trap(GP)                            # privileged
        return
    ctx.halt()
