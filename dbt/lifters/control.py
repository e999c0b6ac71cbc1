"""Control transfer: JMP Jcc CALL RET (near, direct and indirect, RET imm), LOOP/LOOPE/LOOPNE, JCXZ/JECXZ/JRCXZ,
and the far forms (LJMP LCALL RETF) for real mode, where CS:IP are loaded directly (no descriptors).

Branch targets wrap to the operand size (16-bit IP in real mode, or with a 66h prefix in 32-bit mode); in 64-bit mode
near branches are always 64-bit.
"""

from __future__ import annotations

from ir import Ty

from dbt.lift import flags, lifter
from dbt.lift.context import TY_BY_SIZE, UD

_JCC = {"J" + cc.upper(): cc for cc in flags.CONDITIONS}   # Capstone's names: JE JNE JB JAE ...


def _branch_ty(ctx) -> Ty:
    return Ty.i64 if ctx.mode == 64 else TY_BY_SIZE[ctx.insn.opsize]


def _rel_target(ctx) -> int:
    """Constant target of a relative branch (Capstone decodes at address 0, so imm = length + displacement)."""
    mask = _branch_ty(ctx).mask
    return (ctx.ip + ctx.insn.operands[0].imm) & mask


def _near_target(ctx) -> int:
    op = ctx.insn.operands[0]
    if op.kind == "imm":
        return ctx.const(Ty.i64, _rel_target(ctx))
    return ctx.read(0, _branch_ty(ctx))


@lifter(*_JCC)
def lift_jcc(ctx):
    cond = flags.condition(ctx, _JCC[ctx.insn.name])
    ctx.jump_if(cond, ctx.const(Ty.i64, _rel_target(ctx)))
    ctx.jump(ctx.ip_value(ctx.next_ip))


def _far_indirect(ctx) -> bool:
    """FF /3 and FF /5 (CALL/JMP m16:16/32): Capstone names them CALL/JMP in 32-bit mode."""
    insn = ctx.insn
    return insn.opcode[:1] == b"\xff" and (insn.modrm >> 3) & 7 in (3, 5)


@lifter("JMP")
def lift_jmp(ctx):
    if _far_indirect(ctx):
        lift_ljmp(ctx)
        return
    ctx.jump(_near_target(ctx))


@lifter("CALL")
def lift_call(ctx):
    if _far_indirect(ctx):
        lift_lcall(ctx)
        return
    target = _near_target(ctx)
    ty = _branch_ty(ctx)
    ctx.push(ctx.const(ty, ctx.next_ip))
    ctx.jump(target)


@lifter("RET")
def lift_ret(ctx):
    b = ctx.b
    ty = _branch_ty(ctx)
    target = ctx.pop(ty)
    ops = ctx.insn.operands
    if ops:
        sp = ctx._sp_name()
        ctx.set_reg(sp, b.add(ctx.reg(sp), b.const(ctx.sp_ty, ops[0].imm)))
    ctx.jump(target)


_COUNT_REG = {2: "cx", 4: "ecx", 8: "rcx"}


@lifter("LOOP", "LOOPE", "LOOPNE")
def lift_loop(ctx):
    b = ctx.b
    creg = _COUNT_REG[ctx.insn.addrsize]
    c = b.sub(ctx.reg(creg), b.const(TY_BY_SIZE[ctx.insn.addrsize], 1))
    ctx.set_reg(creg, c)
    taken = b.ne(c, b.const(b.type_of(c), 0))
    name = ctx.insn.name
    if name == "LOOPE":
        taken = b.and_(taken, ctx.flag("zf"))
    elif name == "LOOPNE":
        taken = b.and_(taken, b.not_(ctx.flag("zf")))
    ctx.jump_if(taken, ctx.const(Ty.i64, _rel_target(ctx)))
    ctx.jump(ctx.ip_value(ctx.next_ip))


@lifter("JCXZ", "JECXZ", "JRCXZ")
def lift_jcxz(ctx):
    b = ctx.b
    creg = {"JCXZ": "cx", "JECXZ": "ecx", "JRCXZ": "rcx"}[ctx.insn.name]
    c = ctx.reg(creg)
    ctx.jump_if(b.eq(c, b.const(b.type_of(c), 0)), ctx.const(Ty.i64, _rel_target(ctx)))
    ctx.jump(ctx.ip_value(ctx.next_ip))


def _far_operands(ctx):
    """(selector i16, offset) of a far pointer operand: immediate ptr16:16/32 or m16:16/32 in memory."""
    b = ctx.b
    ops = ctx.insn.operands
    oty = TY_BY_SIZE[ctx.insn.opsize]
    if len(ops) == 2 and ops[0].kind == "imm":
        return ctx.const(Ty.i16, ops[0].imm), ctx.const(oty, ops[1].imm)
    if ops[0].kind != "mem":
        return None
    a = ctx.addr(0)
    off = ctx.load(oty, a)
    sel = ctx.load(Ty.i16, b.add(a, b.const(Ty.i64, oty.bits // 8)))
    return sel, off


def _load_cs(ctx, sel, off):
    if not ctx.cpu.real:
        from dbt.lift.context import LiftError
        raise LiftError("far transfers outside real mode need descriptors (system mode)")
    ctx.set_reg("cs", sel)
    ctx.jump(off)


def _protected(ctx) -> bool:
    return ctx.cpu.system and not ctx.cpu.real


def _size(ctx):
    return ctx.const(Ty.i32, ctx.insn.opsize)


@lifter("LJMP")
def lift_ljmp(ctx):
    far = _far_operands(ctx)
    if far is None:
        ctx.trap(UD)
        return
    if _protected(ctx):
        sel, off = far
        ctx.b.call("far_jmp", (sel, ctx.resize(off, Ty.i32), _size(ctx)))
        ctx.jump_mode_change()
        return
    _load_cs(ctx, *far)


@lifter("LCALL")
def lift_lcall(ctx):
    far = _far_operands(ctx)
    if far is None:
        ctx.trap(UD)
        return
    if _protected(ctx):
        sel, off = far
        ctx.b.call("far_call", (sel, ctx.resize(off, Ty.i32), _size(ctx), ctx.const(Ty.i32, ctx.next_ip)))
        ctx.jump_mode_change()
        return
    oty = TY_BY_SIZE[ctx.insn.opsize]
    ctx.push(ctx.resize(ctx.reg("cs"), oty))
    ctx.push(ctx.const(oty, ctx.next_ip))
    _load_cs(ctx, *far)


@lifter("RETF")
def lift_retf(ctx):
    b = ctx.b
    if _protected(ctx):
        ops = ctx.insn.operands
        b.call("far_ret", (_size(ctx), ctx.const(Ty.i32, ops[0].imm & 0xFFFF if ops else 0)))
        ctx.jump_mode_change()
        return
    oty = TY_BY_SIZE[ctx.insn.opsize]
    off = ctx.pop(oty)
    sel = ctx.resize(ctx.pop(oty), Ty.i16)
    ops = ctx.insn.operands
    if ops:
        sp = ctx._sp_name()
        ctx.set_reg(sp, b.add(ctx.reg(sp), b.const(ctx.sp_ty, ops[0].imm)))
    _load_cs(ctx, sel, off)
