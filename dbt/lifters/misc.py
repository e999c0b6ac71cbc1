"""Odds and ends of the one-byte map that no other family owns: SALC, XLATB, WAIT/FWAIT, IN/OUT, BOUND, INT1.

- SALC (D6, undocumented; invalid in 64-bit mode): AL = CF ? FFh : 00h, flags unchanged.
- XLATB: AL = [seg:(BX/EBX/RBX + zero-extended AL)], DS unless overridden.
- WAIT/FWAIT: there is no FPU whose pending exceptions it would report: a no-op.
- IN/OUT (immediate port or DX): port I/O goes through the engine's ``port_in``/``port_out`` helpers (reads give all
  ones, writes are dropped until a device bus is attached). Real mode has no I/O permission check; in the flat
  32/64-bit user modes (CPL 3 > IOPL 0, no I/O bitmap) they raise #GP(0).
- BOUND r, m16&16 / m32&32: #BR (a fault) when the signed index is below the lower or above the upper bound.
- INT1/ICEBP (F1): the single-step trap #DB, delivered like INT 1 (real mode), through the IDT without the gate DPL
  check of INT n (system VM, protected mode), or as a guest exception.
"""

from __future__ import annotations

from ir import Ty

from dbt.lift import lifter
from dbt.lift.context import BR, DB, GP, TY_BY_SIZE, LiftError
from dbt.lifters.system16 import real_mode_int

_BX = {2: "bx", 4: "ebx", 8: "rbx"}


@lifter("SALC")
def lift_salc(ctx):
    b = ctx.b
    ctx.set_reg("al", b.select(ctx.flag("cf"), b.const(Ty.i8, 0xFF), b.const(Ty.i8, 0)))


@lifter("XLATB")
def lift_xlatb(ctx):
    b = ctx.b
    asz = ctx.insn.addrsize
    aty = TY_BY_SIZE[asz]
    off = b.add(ctx.reg(_BX[asz]), b.zext(aty, ctx.reg("al")))
    ctx.set_reg("al", ctx.load(Ty.i8, ctx.linear(ctx.insn.seg or "ds", off, 1)))


@lifter("WAIT")
def lift_wait(ctx):
    if ctx.cpu.system and not ctx.cpu.real:
        from dbt.lifters.system import lift_fwait
        lift_fwait(ctx)


def _port(ctx, op) -> int:
    b = ctx.b
    if op.kind == "imm":
        return b.const(Ty.i32, op.imm & 0xFF)
    return b.zext(Ty.i32, ctx.reg("dx"))


@lifter("IN")
def lift_in(ctx):
    if not (ctx.cpu.real or ctx.cpu.system):
        ctx.trap(GP)
        return
    b = ctx.b
    dst, src = ctx.insn.operands
    ctx.flush()
    v = b.call("port_in", (_port(ctx, src), b.const(Ty.i32, dst.size)), Ty.i32)
    ctx.set_reg(dst.reg, ctx.resize(v, TY_BY_SIZE[dst.size]))


@lifter("OUT")
def lift_out(ctx):
    if not (ctx.cpu.real or ctx.cpu.system):
        ctx.trap(GP)
        return
    b = ctx.b
    dst, src = ctx.insn.operands
    v = ctx.resize(ctx.reg(src.reg), Ty.i32)
    ctx.flush()
    b.call("port_out", (_port(ctx, dst), b.const(Ty.i32, src.size), v))


@lifter("BOUND")
def lift_bound(ctx):
    b = ctx.b
    reg, mem = ctx.insn.operands
    if mem.kind != "mem":
        raise LiftError("BOUND needs a memory operand")     # #UD
    ty = TY_BY_SIZE[reg.size]
    size = reg.size
    a = ctx.linear(ctx.segment_of(mem), ctx.ea(mem), 2 * size)
    lower = ctx.load(ty, a)
    upper = ctx.load(ty, b.add(a, b.const(Ty.i64, size)))
    idx = ctx.reg(reg.reg)
    ctx.trap_if(b.or_(b.slt(idx, lower), b.slt(upper, idx)), BR)


@lifter("INT1")
def lift_int1(ctx):
    if ctx.cpu.real:
        real_mode_int(ctx, DB)
    elif ctx.cpu.system:
        # #DB through the IDT without INT n's gate DPL check (a helper; it ends the unit)
        ctx.step = False
        ctx.flush()
        ctx.b.call("int1", (ctx.const(Ty.i32, ctx.next_ip),))
        ctx.jump_mode_change()
    else:
        ctx.trap(DB)
