"""Data movement: MOV MOVZX MOVSX MOVSXD LEA XCHG BSWAP, the sign-extension family CBW..CQO, NOP forms."""

from __future__ import annotations

from ir import Ty

from dbt.lift import lifter
from dbt.lift.context import UD


@lifter("MOV", "MOVABS")
def lift_mov(ctx):
    dst, src = ctx.insn.operands
    if (dst.kind == "reg" and dst.reg[:2] in ("cr", "dr")) or (src.kind == "reg" and src.reg[:2] in ("cr", "dr")):
        from dbt.lifters.system import lift_mov_cr
        lift_mov_cr(ctx)
        return
    if dst.kind == "reg" and dst.reg == "cs":
        ctx.trap(UD)                          # MOV CS, r/m is invalid (SDM: #UD)
        return
    ctx.write(0, ctx.read(1, ctx.ty(0)))


@lifter("MOVZX")
def lift_movzx(ctx):
    ctx.write(0, ctx.b.zext(ctx.ty(0), ctx.read(1)))


@lifter("MOVSX", "MOVSXD")
def lift_movsx(ctx):
    v = ctx.read(1)
    ctx.write(0, ctx.resize(v, ctx.ty(0), signed=True))


@lifter("LEA")
def lift_lea(ctx):
    ea = ctx.ea(ctx.insn.operands[1])
    ctx.write(0, ctx.resize(ea, ctx.ty(0)))


@lifter("XCHG")
def lift_xchg(ctx):
    a, addr0 = ctx.read_rmw(0)
    c, addr1 = ctx.read_rmw(1)
    # Memory first (it may fault), registers after: ctx defers register writes anyway.
    ctx.write(0, c, addr0)
    ctx.write(1, a, addr1)


@lifter("BSWAP")
def lift_bswap(ctx):
    ty = ctx.ty(0)
    if ty is Ty.i16:
        ctx.write(0, ctx.const(Ty.i16, 0))     # BSWAP r16 is undefined: real CPUs give 0
        return
    ctx.write(0, ctx.b.bswap(ctx.read(0)))


_HALVES = {2: ("al", "ax", "dx"), 4: ("ax", "eax", "edx"), 8: ("eax", "rax", "rdx")}


@lifter("CBW", "CWDE", "CDQE")
def lift_cbw(ctx):
    # Chosen by operand size, not by Capstone's id (which says CWDE for 98h in 16-bit mode).
    src, dst, _ = _HALVES[ctx.insn.opsize]
    ctx.set_reg(dst, ctx.b.sext(ctx.opty, ctx.reg(src)))


@lifter("CWD", "CDQ", "CQO")
def lift_cwd(ctx):
    b = ctx.b
    _, src, dst = _HALVES[ctx.insn.opsize]
    ty = ctx.opty
    ctx.set_reg(dst, b.ashr(ctx.reg(src), b.const(ty, ty.bits - 1)))


@lifter("NOP")
def lift_nop(ctx):
    pass
