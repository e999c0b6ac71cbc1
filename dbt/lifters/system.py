"""System instructions: control and debug registers, descriptor tables, MSRs, SYSENTER/SYSEXIT, and the x87 control
instructions an OS uses to detect and save the FPU (SDM Vol. 2; Vol. 3 2.5-2.7).

Privileged ones (MOV CRn/DRn, LGDT, LIDT, LLDT, LTR, LMSW, CLTS, INVLPG, RDMSR, WRMSR, WBINVD, INVD, SYSEXIT) raise
#GP(0) unless CPL = 0; the flat user-level engines (CPL 3) therefore always fault, and the plain real-mode engine
(the 80286 model) has no control registers, MSRs or descriptor-table registers beyond LGDT/LIDT/SGDT/SIDT/SMSW/LMSW.
The work that needs descriptors or changes the mode is done by the system CPU's helpers (``dbt.system.cpu``); a
helper that may change the mode or the address mapping ends the unit through the dispatcher.

LGDT/LIDT/SGDT/SIDT: the operand size comes from the 66h prefix (Capstone reports it wrongly for these); a 16-bit
LGDT/LIDT keeps 24 bits of the base; SGDT/SIDT store all 32 bits (Pentium and later). SMSW to a 32-bit register
stores all of CR0, like SLDT/STR zero-extend the selector; to memory they store 16 bits. LAR/LSL write their
destination and set ZF only for a descriptor visible at the current CPL and RPL; VERR/VERW set ZF alone.

x87: FNINIT, FNSTSW, FNSTCW, FLDCW, FNCLEX, FWAIT, FNSAVE and FRSTOR keep the control, status and tag words (the
FPU has no arithmetic here: any other x87 instruction is #UD in the system VM); they raise #NM when CR0.EM or CR0.TS
is set (FWAIT: TS and MP), as the OS's lazy FPU switching expects.
"""

from __future__ import annotations

from dbt.lift import lifter
from dbt.lift.context import GP, TY_BY_SIZE, UD, LiftError
from ir import Ty

_PREFIXES = frozenset((0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3))


def _protected(ctx) -> bool:
    return ctx.cpu.system and not ctx.cpu.real


def _privileged(ctx) -> bool:
    """False (after emitting #GP(0)) unless the instruction may run: real mode (CPL 0) or CPL 0."""
    cpu = ctx.cpu
    if cpu.real:
        return True
    if not cpu.system or cpu.cpl != 0:
        ctx.trap(GP)
        return False
    return True


def _opsize16(ctx) -> bool:
    has66 = False
    for byte in ctx.insn.raw:
        if byte not in _PREFIXES:
            break
        has66 |= byte == 0x66
    return (ctx.mode == 16) != has66


def _write16(ctx, i: int, v16: int, full=None) -> None:
    """Stores a 16-bit result: to memory 16 bits, to a register zero-extended (or ``full`` when given)."""
    op = ctx.insn.operands[i]
    if op.kind == "mem":
        ctx.store(ctx.addr(i), v16)
    else:
        ty = TY_BY_SIZE[op.size]
        ctx.set_reg(op.reg, ctx.resize(full if full is not None and ty.bits > 16 else v16, ty))


# Control and debug registers -----------------------------------------------------------------------------------
def lift_mov_cr(ctx) -> None:
    """MOV to/from CRn or DRn (called by the MOV lifter)."""
    dst, src = ctx.insn.operands
    if not ctx.cpu.system:
        ctx.trap(UD if ctx.cpu.real else GP)
        return
    if not _privileged(ctx):
        return
    b = ctx.b
    if dst.reg.startswith(("cr", "dr")):
        n = int(dst.reg[2:])
        kind = dst.reg[:2]
        if kind == "cr" and n not in (0, 2, 3, 4):
            ctx.trap(UD)
            return
        v = ctx.resize(ctx.reg(src.reg), Ty.i32)
        ctx.flush()
        b.call("write_cr" if kind == "cr" else "write_dr", (b.const(Ty.i32, n), v))
        ctx.put("rip", ctx.ip_value(ctx.next_ip))
        ctx.jump_mode_change()
        return
    n = int(src.reg[2:])
    kind = src.reg[:2]
    if kind == "cr":
        if n not in (0, 2, 3, 4):
            ctx.trap(UD)
            return
        v = ctx.get(f"cr{n}")
    else:
        ctx.flush()
        v = b.call("read_dr", (b.const(Ty.i32, n),), Ty.i32)
    ctx.set_reg(dst.reg, ctx.resize(v, TY_BY_SIZE[dst.size]))


# Descriptor-table registers ----------------------------------------------------------------------------------------
@lifter("LGDT", "LIDT")
def lift_lgdt(ctx):
    op = ctx.insn.operands[0]
    if op.kind != "mem":
        raise LiftError("LGDT/LIDT need a memory operand")
    if not _privileged(ctx):
        return
    b = ctx.b
    a = ctx.addr(0)
    limit = ctx.load(Ty.i16, a)
    base = ctx.load(Ty.i32, b.add(a, b.const(Ty.i64, 2)))
    if _opsize16(ctx):
        base = b.and_(base, b.const(Ty.i32, 0xFFFFFF))
    t = "gdt" if ctx.insn.name == "LGDT" else "idt"
    ctx.put(f"{t}_limit", b.zext(Ty.i32, limit))
    ctx.put(f"{t}_base", base)


@lifter("SGDT", "SIDT")
def lift_sgdt(ctx):
    op = ctx.insn.operands[0]
    if op.kind != "mem":
        raise LiftError("SGDT/SIDT need a memory operand")
    b = ctx.b
    t = "gdt" if ctx.insn.name == "SGDT" else "idt"
    a = ctx.addr(0)
    ctx.store(a, ctx.resize(ctx.get(f"{t}_limit"), Ty.i16))
    ctx.store(b.add(a, b.const(Ty.i64, 2)), ctx.get(f"{t}_base"))


@lifter("LLDT", "LTR")
def lift_lldt(ctx):
    if not _protected(ctx):
        ctx.trap(UD if ctx.cpu.real else GP)
        return
    if not _privileged(ctx):
        return
    v = ctx.read(0, Ty.i16)
    ctx.b.call("lldt" if ctx.insn.name == "LLDT" else "ltr", (ctx.b.zext(Ty.i32, v),))


@lifter("SLDT", "STR")
def lift_sldt(ctx):
    if ctx.cpu.real:
        ctx.trap(UD)
        return
    _write16(ctx, 0, ctx.get("ldtr" if ctx.insn.name == "SLDT" else "tr"))


@lifter("SMSW")
def lift_smsw(ctx):
    cr0 = ctx.get("cr0")
    _write16(ctx, 0, ctx.b.trunc(Ty.i16, cr0), full=cr0)


@lifter("LMSW")
def lift_lmsw(ctx):
    if not _privileged(ctx):
        return
    v = ctx.read(0, Ty.i16)
    ctx.flush()
    if not ctx.cpu.system:
        raise LiftError("LMSW needs the system CPU")
    ctx.b.call("lmsw", (ctx.b.zext(Ty.i32, v),))
    ctx.put("rip", ctx.ip_value(ctx.next_ip))
    ctx.jump_mode_change()


@lifter("CLTS")
def lift_clts(ctx):
    if not ctx.cpu.system:
        ctx.trap(UD if ctx.cpu.real else GP)
        return
    if _privileged(ctx):
        ctx.b.call("clts", ())


# Segment inspection -------------------------------------------------------------------------------------------------
@lifter("LAR", "LSL")
def lift_lar(ctx):
    if not _protected(ctx):
        ctx.trap(UD if ctx.cpu.real or not ctx.cpu.system else GP)
        return
    b = ctx.b
    sel = ctx.read(1, Ty.i16)
    r = b.call("lar" if ctx.insn.name == "LAR" else "lsl", (b.zext(Ty.i32, sel),), Ty.i64)
    ok = b.ne(b.lshr(r, b.const(Ty.i64, 32)), b.const(Ty.i64, 0))
    dst = ctx.insn.operands[0]
    ctx.set_reg_if(dst.reg, ok, ctx.resize(r, TY_BY_SIZE[dst.size]))
    ctx.set_flag("zf", ok)


@lifter("VERR", "VERW")
def lift_verr(ctx):
    if not _protected(ctx):
        ctx.trap(UD if ctx.cpu.real or not ctx.cpu.system else GP)
        return
    b = ctx.b
    sel = ctx.read(0, Ty.i16)
    r = b.call("verr" if ctx.insn.name == "VERR" else "verw", (b.zext(Ty.i32, sel),), Ty.i32)
    ctx.set_flag("zf", b.ne(r, b.const(Ty.i32, 0)))


@lifter("ARPL")
def lift_arpl(ctx):
    if ctx.cpu.real or ctx.mode == 64:
        ctx.trap(UD)
        return
    b = ctx.b
    dst, addr = ctx.read_rmw(0)
    src = ctx.read(1, Ty.i16)
    three = b.const(Ty.i16, 3)
    lower = b.ult(b.and_(dst, three), b.and_(src, three))
    new = b.or_(b.and_(dst, b.const(Ty.i16, 0xFFFC)), b.and_(src, three))
    ctx.write(0, b.select(lower, new, dst), addr)
    ctx.set_flag("zf", lower)


# TLB, caches, MSRs, fast system calls ---------------------------------------------------------------------------------
@lifter("INVLPG")
def lift_invlpg(ctx):
    op = ctx.insn.operands[0]
    if op.kind != "mem":
        raise LiftError("INVLPG needs a memory operand")
    if not ctx.cpu.system:
        ctx.trap(UD if ctx.cpu.real else GP)
        return
    if not _privileged(ctx):
        return
    a = ctx.linear(ctx.segment_of(op), ctx.ea(op))
    ctx.flush()
    ctx.b.call("invlpg", (ctx.resize(a, Ty.i32),))
    ctx.put("rip", ctx.ip_value(ctx.next_ip))
    ctx.jump_mode_change()


@lifter("WBINVD", "INVD")
def lift_wbinvd(ctx):
    _privileged(ctx)


@lifter("RDMSR", "WRMSR")
def lift_rdmsr(ctx):
    if not ctx.cpu.system:
        ctx.trap(UD if ctx.cpu.real else GP)
        return
    if _privileged(ctx):
        ctx.flush()
        ctx.b.call("rdmsr" if ctx.insn.name == "RDMSR" else "wrmsr", ())


@lifter("SYSENTER", "SYSEXIT")
def lift_sysenter(ctx):
    if not ctx.cpu.system:
        ctx.trap(UD if ctx.cpu.real else GP)
        return
    ctx.flush()
    ctx.b.call("sysenter" if ctx.insn.name == "SYSENTER" else "sysexit", ())
    ctx.jump_mode_change()


# x87 control ------------------------------------------------------------------------------------------------------
def _fpu_check(ctx, wait: int = 0) -> None:
    ctx.b.call("fpu_check", (ctx.const(Ty.i32, wait),))


def lift_fpu_control(ctx) -> bool:
    """The x87 control instructions in the system VM; False for any other x87 instruction."""
    name = ctx.insn.name
    b = ctx.b
    if name not in ("FNINIT", "FNSTSW", "FNSTCW", "FLDCW", "FNCLEX", "FNSAVE", "FRSTOR"):
        return False
    _fpu_check(ctx)
    if name == "FNINIT":
        ctx.put("fcw", b.const(Ty.i16, 0x37F))
        ctx.put("fsw", b.const(Ty.i16, 0))
        ctx.put("ftw", b.const(Ty.i16, 0xFFFF))
    elif name in ("FNSTSW", "FNSTCW"):
        _write16(ctx, 0, ctx.get("fsw" if name == "FNSTSW" else "fcw"))
    elif name == "FLDCW":
        ctx.put("fcw", ctx.read(0, Ty.i16))
    elif name == "FNCLEX":
        ctx.put("fsw", b.and_(ctx.get("fsw"), b.const(Ty.i16, 0x7F00)))
    else:
        op = ctx.insn.operands[0]
        a = ctx.linear(ctx.segment_of(op), ctx.ea(op))
        ctx.flush()
        b.call("fnsave" if name == "FNSAVE" else "frstor", (ctx.resize(a, Ty.i32),
                                                             b.const(Ty.i32, 0 if _opsize16(ctx) else 1)))
    return True


def lift_fwait(ctx) -> None:
    _fpu_check(ctx, 1)

