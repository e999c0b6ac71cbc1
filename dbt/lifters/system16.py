"""System instructions, chiefly for real mode: INT n, INT3, INTO, IRET/IRETD, LDS LES LFS LGS LSS, CLI STI,
CPUID, RDTSC (SDM Vol. 2; real-mode interrupts: Vol. 3 20.1.4).

Real mode (mode 16). INT n pushes FLAGS, CS and the IP of the next instruction, clears IF, TF and AC, loads CS:IP
from the interrupt vector table at linear n*4 (IVT base 0, limit 3FFh: every vector fits; the system VM reads it at
IDTR.base + n*4, since LIDT can move it). INT3 is INT 3 and INTO is INT 4 when OF = 1 (both traps: the pushed IP is
the next instruction's), lifted inline like INT n rather than as exceptions. IRET pops IP, CS, FLAGS (IRETD: EIP, CS, EFLAGS, 32 bits each; #GP(0) if EIP is beyond the 64 KiB
limit); the FLAGS bits it may change are POPF's (the real-mode model keeps IOPL/NT at 0 for 16-bit images; the
system VM writes them through its POPF helper, which notices an interrupt that IF = 1 lets in). CLI/STI write IF.

Modes 32 and 64 are flat user level (CPL 3, IOPL 0): INT n, INT3 and INTO (when OF) raise their vector as a guest
exception (GuestFault: the system VM will deliver them through an IDT); CLI/STI raise #GP(0); IRET/IRETD/IRETQ do a
same-privilege return (selectors are not checked, IF/IOPL unchanged; in 64-bit mode RSP and SS are popped too). The
guest exception of INT n/INT3/INTO reports the instruction's own address as its pc.

LDS/LES/LFS/LGS/LSS load a far pointer (offset, then the 16-bit selector) from memory; in real mode writing the
segment register also sets its base to selector * 16, in flat modes only the selector is written (as MOV Sreg does).
CPUID and RDTSC call the engine's helpers; CPUID's helper writes EAX..EDX itself, so held-back writes are flushed
before the call.
"""

from __future__ import annotations

from ir import Ty

from dbt.lift import lifter
from dbt.lift.context import BP, GP, OF, TY_BY_SIZE, LiftError
from dbt.lifters.flagops import pack_flags, unpack_flags
from dbt.lifters.stack import POPF_MASK

IF_BIT, TF_BIT, AC_BIT = 1 << 9, 1 << 8, 1 << 18
IRET_REAL_MASK32 = 0x257FD5        # SDM IRET, real-address mode: tempEFLAGS AND 257FD5H
USER_FLAGS_MASK = POPF_MASK & ~(0x3000 | IF_BIT)   # CPL 3, IOPL 0: IOPL and IF are not changed


def real_mode_int(ctx, vector: int) -> None:
    """Lifts a software interrupt in real mode: pushes, IF/TF/AC cleared, CS:IP from the IVT; ends the unit."""
    b = ctx.b
    entry = b.const(Ty.i64, vector * 4)
    if ctx.cpu.system:                                  # the IVT is at IDTR.base (LIDT can move it)
        entry = b.and_(b.add(b.zext(Ty.i64, ctx.get("idt_base")), entry), b.const(Ty.i64, 0xFFFFFFFF))
    new_ip = ctx.load(Ty.i16, entry)
    new_cs = ctx.load(Ty.i16, b.add(entry, b.const(Ty.i64, 2)))
    ctx.push(pack_flags(ctx, Ty.i16))
    ctx.push(ctx.reg("cs"))
    ctx.push(ctx.const(Ty.i16, ctx.next_ip))
    ctx.put("eflags", b.and_(ctx.get("eflags"), b.const(Ty.i32, ~(IF_BIT | TF_BIT | AC_BIT))))
    ctx.set_reg("cs", new_cs)
    ctx.jump(new_ip)


def soft_int(ctx, vector: int) -> None:
    """System VM: INT n through the IDT or, in real mode, the IVT (a helper: gate checks, stack switch, the mode);
    ends the unit. INT n clears TF: no single-step trap follows it."""
    ctx.step = False
    ctx.flush()
    ctx.b.call("int_soft", (ctx.const(Ty.i32, vector), ctx.const(Ty.i32, ctx.next_ip)))
    ctx.jump_mode_change()


def _interrupt(ctx, vector: int) -> None:
    if ctx.cpu.real and not ctx.cpu.tf:
        real_mode_int(ctx, vector)
    elif ctx.cpu.system:
        soft_int(ctx, vector)
    else:
        ctx.trap(vector)


@lifter("INT")
def lift_int(ctx):
    _interrupt(ctx, ctx.insn.operands[0].imm & 0xFF)


@lifter("INT3")
def lift_int3(ctx):
    _interrupt(ctx, BP)


@lifter("INTO")
def lift_into(ctx):
    if ctx.mode == 64:
        raise LiftError("INTO is invalid in 64-bit mode")
    of = ctx.flag("of")
    if ctx.cpu.real or ctx.cpu.system:
        ctx.jump_if(ctx.b.not_(of), ctx.ip_value(ctx.next_ip))
        _interrupt(ctx, OF)
    else:
        ctx.trap_if(of, OF)


@lifter("IRET", "IRETD", "IRETQ")
def lift_iret(ctx):
    b = ctx.b
    ty = {"IRET": Ty.i16, "IRETD": Ty.i32, "IRETQ": Ty.i64}[ctx.insn.name]
    if ctx.cpu.system and not ctx.cpu.real:
        b.call("iret", (ctx.const(Ty.i32, ty.bits // 8),))
        ctx.jump_mode_change()
        return
    ip = ctx.pop(ty)
    cs = ctx.resize(ctx.pop(ty), Ty.i16)
    fl = ctx.pop(ty)
    if ctx.cpu.real and ctx.cpu.system:
        # The system VM: the flags go through the POPF helper (real-mode masks), which also asks for an exit when
        # IF opens with an interrupt waiting; the unit ends right after.
        if ty is not Ty.i16:
            ctx.trap_if(b.ult(b.const(Ty.i32, 0xFFFF), ip), GP)
        ctx.set_reg("cs", cs)
        ctx.put("rip", ctx.resize(ip, Ty.i64))
        ctx.flush()
        b.call("popf", (ctx.resize(fl, Ty.i32), ctx.const(Ty.i32, ty.bits // 8)))
        ctx.jump_mode_change()                 # TF may have changed the translation mode
        return
    if ctx.cpu.real:
        if ty is Ty.i16:
            mask = POPF_MASK & 0x0FFF          # the real-mode model keeps IOPL/NT at 0 (see stack.POPF)
        else:
            mask = IRET_REAL_MASK32
            ctx.trap_if(b.ult(b.const(Ty.i32, 0xFFFF), ip), GP)
    else:
        mask = USER_FLAGS_MASK & ty.mask
        if ctx.mode == 64:                     # 64-bit mode always pops RSP and SS too (of the operand size)
            sp = ctx.resize(ctx.pop(ty), Ty.i64)
            ss = ctx.resize(ctx.pop(ty), Ty.i16)
            ctx.set_reg("rsp", sp)
            ctx.set_reg("ss", ss)
    ctx.set_reg("cs", cs)
    unpack_flags(ctx, fl, mask)
    ctx.jump(ip)


_FAR_LOAD = {"LDS": "ds", "LES": "es", "LFS": "fs", "LGS": "gs", "LSS": "ss"}


@lifter(*_FAR_LOAD)
def lift_lds(ctx):
    b = ctx.b
    dst, src = ctx.insn.operands
    if src.kind != "mem":
        raise LiftError("far-pointer loads need a memory operand")   # #UD
    ty = TY_BY_SIZE[dst.size]
    a = ctx.linear(ctx.segment_of(src), ctx.ea(src), dst.size + 2)
    off = ctx.load(ty, a)
    sel = ctx.load(Ty.i16, b.add(a, b.const(Ty.i64, dst.size)))
    ctx.set_reg(dst.reg, off)
    ctx.set_reg(_FAR_LOAD[ctx.insn.name], sel)


@lifter("CLI", "STI")
def lift_cli(ctx):
    if ctx.cpu.system:
        # IOPL check, and after STI the interrupt shadow and a prompt exit if an interrupt waits (helpers). The
        # unit ends after the instruction that follows STI, so a waiting interrupt is taken right after it.
        ctx.flush()
        if ctx.insn.name == "CLI":
            ctx.b.call("cli", ())
        else:
            ctx.b.call("sti", (ctx.const(Ty.i32, (ctx.cs_base + ctx.next_ip) & 0xFFFFFFFF),))
            ctx.end_after_next = True
        return
    if not ctx.cpu.real:
        ctx.trap(GP)                           # CPL 3 > IOPL 0
        return
    b = ctx.b
    fl = ctx.get("eflags")
    if ctx.insn.name == "CLI":
        ctx.put("eflags", b.and_(fl, b.const(Ty.i32, ~IF_BIT)))
    else:
        ctx.put("eflags", b.or_(fl, b.const(Ty.i32, IF_BIT)))


@lifter("CPUID")
def lift_cpuid(ctx):
    leaf, sub = ctx.reg("eax"), ctx.reg("ecx")
    ctx.flush()
    ctx.b.call("cpuid", (leaf, sub))


@lifter("RDTSC")
def lift_rdtsc(ctx):
    b = ctx.b
    ctx.flush()
    if ctx.cpu.system:
        b.call("rdtsc_check", ())                 # CR4.TSD
    tsc = b.call("rdtsc", (), Ty.i64)
    ctx.set_reg("eax", b.trunc(Ty.i32, tsc))
    ctx.set_reg("edx", b.trunc(Ty.i32, b.lshr(tsc, b.const(Ty.i64, 32))))
