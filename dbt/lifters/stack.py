"""Stack: PUSH POP (registers, memory, immediates, segment registers), PUSHF POPF, PUSHA POPA, ENTER LEAVE.

Push width is the operand size (64-bit by default in long mode, where 32-bit pushes do not exist). PUSH SP pushes the
value SP had before the instruction (80286 and later); POP SP loads the popped value; POP into a memory operand that
uses SP computes its address after the increment (SDM, POP).
"""

from __future__ import annotations

from ir import Ty

from dbt.lift import lifter
from dbt.lift.context import TY_BY_SIZE, UD
from dbt.lifters.flagops import pack_flags, unpack_flags


def _stack_ty(ctx) -> Ty:
    if ctx.mode == 64:
        return Ty.i16 if ctx.insn.opsize == 2 else Ty.i64
    return TY_BY_SIZE[ctx.insn.opsize]


@lifter("PUSH")
def lift_push(ctx):
    ty = _stack_ty(ctx)
    op = ctx.insn.operands[0]
    if op.kind == "imm":
        v = ctx.const(ty, op.imm)
    else:
        v = ctx.resize(ctx.read(0), ty)
    ctx.push(v)


@lifter("POP")
def lift_pop(ctx):
    ty = _stack_ty(ctx)
    op = ctx.insn.operands[0]
    if op.kind == "reg" and op.reg == "cs":
        ctx.trap(UD)
        return
    v = ctx.pop(ty)
    ctx.write(0, ctx.resize(v, TY_BY_SIZE[op.size]))


@lifter("PUSHF", "PUSHFD", "PUSHFQ")
def lift_pushf(ctx):
    ty = _stack_ty(ctx)
    v = pack_flags(ctx, ty)
    if ty.bits >= 32:
        v = ctx.b.and_(v, ctx.const(ty, ~0x30000))   # VM and RF are never pushed as set
    ctx.push(v)


# Bits POPF may change at CPL 0 outside VM86: everything but VM, VIF, VIP and reserved bits.
POPF_MASK = 0x3F7FD5 & ~0x30000 & ~0x180000


@lifter("POPF", "POPFD", "POPFQ")
def lift_popf(ctx):
    ty = _stack_ty(ctx)
    v = ctx.pop(ty)
    if ctx.cpu.system:
        # CPL/IOPL rules for IF and IOPL, and a prompt exit when IF opens with an interrupt waiting: a helper. The
        # unit ends here, so that exit happens before the next instruction (POPF has no interrupt shadow), through
        # the dispatcher: a change of TF changes the translation mode.
        ctx.b.call("popf", (ctx.resize(v, Ty.i32), ctx.const(Ty.i32, ty.bits // 8)))
        ctx.put("rip", ctx.ip_value(ctx.next_ip))
        ctx.jump_mode_change()                  # TF may have changed the translation mode
        return
    mask = POPF_MASK & ty.mask
    if ctx.cpu.real:
        mask &= 0x0FFF if ty is Ty.i16 else mask    # real mode: IOPL/NT kept as 0 by the 286 model
    unpack_flags(ctx, v, mask)


_PUSHA16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"]
_PUSHA32 = ["e" + r for r in _PUSHA16]


@lifter("PUSHAW", "PUSHAL")
def lift_pusha(ctx):
    names = _PUSHA32 if ctx.insn.name == "PUSHAL" else _PUSHA16
    vals = [ctx.reg(r) for r in names]          # SP as it was before the instruction
    for v in vals:
        ctx.push(v)


@lifter("POPAW", "POPAL")
def lift_popa(ctx):
    names = _PUSHA32 if ctx.insn.name == "POPAL" else _PUSHA16
    ty = Ty.i32 if ctx.insn.name == "POPAL" else Ty.i16
    vals = {}
    for r in reversed(names):
        vals[r] = ctx.pop(ty)
    for r in reversed(names):
        if r not in ("sp", "esp"):              # the saved SP is skipped
            ctx.set_reg(r, vals[r])


@lifter("LEAVE")
def lift_leave(ctx):
    ty = _stack_ty(ctx)
    bp = {Ty.i16: "bp", Ty.i32: "ebp", Ty.i64: "rbp"}[ctx.sp_ty]
    ctx.set_reg(ctx._sp_name(), ctx.reg(bp))
    v = ctx.pop(ty)
    ctx.set_reg({Ty.i16: "bp", Ty.i32: "ebp", Ty.i64: "rbp"}[ty], v)


@lifter("ENTER")
def lift_enter(ctx):
    b = ctx.b
    ty = _stack_ty(ctx)
    size = ctx.insn.operands[0].imm & 0xFFFF
    level = ctx.insn.operands[1].imm & 31
    bpn = {Ty.i16: "bp", Ty.i32: "ebp", Ty.i64: "rbp"}
    sp_bp = bpn[ctx.sp_ty]
    ctx.push(ctx.resize(ctx.reg(bpn[ty]), ty))
    frame = ctx.reg(ctx._sp_name())
    step = ty.bits // 8
    bpv = ctx.reg(sp_bp)
    for _ in range(1, level):
        bpv = b.sub(bpv, b.const(ctx.sp_ty, step))
        ctx.push(ctx.load(ty, ctx.linear("ss", bpv)))
    if level > 0:
        ctx.push(ctx.resize(frame, ty))
    ctx.set_reg(bpn[ty], ctx.resize(frame, ty))
    sp = ctx._sp_name()
    ctx.set_reg(sp, b.sub(ctx.reg(sp), b.const(ctx.sp_ty, size)))
