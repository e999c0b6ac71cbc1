"""Interrupt and exception delivery, and IRET, for the system CPU (SDM Vol. 3 chapter 6; Vol. 2 INT n, IRET).

Protected mode: the vector selects an IDT gate (interrupt gate: IF cleared; trap gate: IF kept; 16- or 32-bit).
A software INT n checks gate DPL >= CPL; a gate to a more privileged non-conforming code segment switches to the
stack for the new CPL from the TSS and pushes the old SS:ESP first; then EFLAGS, CS, EIP and, for vectors 8, 10-14
and 17, the error code. TF, NT, RF and VM are cleared. The EFLAGS image pushed for a fault-class exception has RF
set (SDM Vol. 3 17.3.1.1). The error code of a fault met during delivery has EXT set when an event external to the
program (a hardware interrupt, an earlier exception, INT1) was being delivered, clear for INT n/INT3/INTO (SDM
Vol. 3 6.13), and IDT set (bit 1) when it names a gate.
INT1 (ICEBP, F1) is delivered as #DB without the gate DPL check that INT n makes. With EFLAGS.TF set, translated
code calls ``single_step`` after each instruction (but INT n, INT3, INTO and INT1, which clear TF): #DB, a trap.

A fault during delivery of a first exception is delivered instead, unless the pair is contributory/contributory or
page-fault/(contributory or page fault): then #DF(0); a fault while delivering #DF is a triple fault (SDM Vol. 3
table 6-5). Real mode uses the IVT at IDTR.base.

IRET returns to the same or an outer privilege (popping SS:ESP), with the flag rules of CPL and IOPL; it nulls the
data segment registers the outer level may not use. Task returns (NT = 1) and returns to virtual-8086 mode raise
``Unsupported``. Departure: IRET leaves RF clear. RF only holds off instruction breakpoints (not modelled) until
the instruction returned to completes, so the one visible difference is the EFLAGS image of an external interrupt
taken before that instruction.
"""

from __future__ import annotations

from dbt.memory import CpuException, MemoryFault
from dbt.system.segments import ATTR_DB, GP, NP, TS, Descriptor
from dbt.system.stack import GuestStack, current_stack

ERROR_CODE_VECTORS = frozenset((8, 10, 11, 12, 13, 14, 17))
CONTRIBUTORY = frozenset((0, 10, 11, 12, 13))
FAULTS = frozenset((0, 5, 6, 7, 10, 11, 12, 13, 14, 16, 17, 19))     # fault-class exceptions: RF = 1 is pushed
DF, PF = 8, 14
IF, TF, NT, RF, VM, AC = 1 << 9, 1 << 8, 1 << 14, 1 << 16, 1 << 17, 1 << 18
IRET_FLAGS = 0x244DD5          # CF PF AF ZF SF TF DF OF NT AC ID; IF and IOPL by privilege (RF: see above)


def deliver_exception(cpu, vector: int, error: int, pc: int) -> None:
    """An exception raised by the instruction at ``pc`` (its state is as before it)."""
    st = cpu.state
    if vector == PF:
        st["cr2"] = st["fault_addr"]
    if not cpu.protected:
        deliver_real(cpu, vector, pc)
        return
    _deliver_checked(cpu, vector, error if vector in ERROR_CODE_VECTORS else None, pc, exception=True)


def deliver_external(cpu, vector: int) -> None:
    """A hardware interrupt (INTR acknowledged with ``vector``) taken between instructions."""
    st = cpu.state
    if not cpu.protected:
        deliver_real(cpu, vector, st["rip"])
        return
    _deliver_checked(cpu, vector, None, st["rip"], exception=False)


def deliver_real(cpu, vector: int, ip: int) -> None:
    """Real mode: push FLAGS, CS and ``ip``, clear IF, TF and AC, load CS:IP from the IVT entry at IDTR.base + 4n
    (LIDT can move the IVT: SDM Vol. 3 20.1.4)."""
    st, mem = cpu.state, cpu.mem
    flags = st.pack_flags() & 0xFFFF
    sp = st["rsp"] & 0xFFFF
    for v in (flags, st["cs"], ip):
        sp = (sp - 2) & 0xFFFF
        mem.store((st["ss_base"] + sp) & 0xFFFFFFFF, 2, v)
    entry = (st["idt_base"] + vector * 4) & 0xFFFFFFFF
    new_ip, new_cs = mem.load(entry, 2), mem.load(entry + 2, 2)
    st["rsp"] = (st["rsp"] & ~0xFFFF) | sp
    st["eflags"] = st["eflags"] & ~(AC | IF | TF)
    st["cs"], st["cs_base"], st["rip"] = new_cs, new_cs << 4, new_ip
    cpu.update_mode()                        # TF cleared


def _deliver_checked(cpu, vector, error, ret_ip, exception: bool) -> None:
    """Delivers an exception (``exception``) or an external interrupt, and what its delivery raises (table 6-5;
    an external interrupt is benign whatever its vector)."""
    from dbt.system.cpu import TripleFault
    first = vector if exception else None
    while True:
        try:
            _deliver(cpu, vector, error, ret_ip, soft=False, ext=1, fault=first in FAULTS)
            return
        except (CpuException, MemoryFault) as e:
            second = e.vector
            if second == PF:
                cpu.state["cr2"] = e.address
            if first == DF:
                raise TripleFault(f"triple fault: exception {second} (error {e.error:#x}) while delivering a "
                                  f"double fault") from None
            if (first in CONTRIBUTORY and second in CONTRIBUTORY) or (first == PF and (second in CONTRIBUTORY
                                                                                        or second == PF)):
                vector, error = DF, 0
            else:
                vector, error = second, (e.error if second in ERROR_CODE_VECTORS else None)
            first = vector


def _deliver(cpu, vector: int, error, ret_ip: int, soft: bool, ext: int, fault: bool = False) -> None:
    from dbt.system.cpu import Unsupported
    st, mem, segs = cpu.state, cpu.mem, cpu.segs
    gate_err = vector * 8 + 2 + ext
    if vector * 8 + 7 > st["idt_limit"]:
        raise CpuException(GP, gate_err)
    addr = (st["idt_base"] + vector * 8) & 0xFFFFFFFF
    g = Descriptor(mem.load_priv(addr, 4), mem.load_priv(addr + 4, 4))
    if not g.system or g.type not in (5, 6, 7, 0xE, 0xF):
        raise CpuException(GP, gate_err)
    cpl = cpu.cpl
    if soft and g.dpl < cpl:
        raise CpuException(GP, gate_err)
    if not g.present:
        raise CpuException(NP, gate_err)
    if g.type == 5:
        raise Unsupported(f"task gate in IDT vector {vector} (hardware task switching)")
    gate32 = bool(g.type & 8)
    sel = g.gate_selector
    offset = g.gate_offset if gate32 else g.lo & 0xFFFF
    if not sel & 0xFFFC:
        raise CpuException(GP, ext)
    d, daddr = segs.table_entry(sel, GP, ext)
    if not d.code or d.dpl > cpl:
        raise CpuException(GP, (sel & 0xFFFC) | ext)
    if not d.present:
        raise CpuException(NP, (sel & 0xFFFC) | ext)
    size = 4 if gate32 else 2
    flags = st.pack_flags() | (RF if fault else 0)
    if not d.conforming and d.dpl < cpl:
        new_cpl = d.dpl
        new_ss, new_esp = _tss_stack(cpu, new_cpl, ext)
        ssd, ssaddr = segs.check_stack(new_ss, new_cpl, TS, ext)
        stk = GuestStack(mem, ssd.base, new_esp, bool(ssd.attr & ATTR_DB), new_cpl == 3)
        stk.push(st["ss"], size)
        stk.push(st["rsp"], size)
    else:
        new_cpl, ssd = cpl, None
        stk = current_stack(cpu)
    stk.push(flags, size)
    stk.push(st["cs"], size)
    stk.push(ret_ip, size)
    if error is not None:
        stk.push(error, size)
    # commit
    if ssd is not None:
        segs.set_accessed(ssd, ssaddr)
        segs.set_cache("ss", new_ss, ssd)
    st["rsp"] = stk.new_esp
    segs.set_accessed(d, daddr)
    segs.set_cache("cs", (sel & 0xFFFC) | new_cpl, d)
    st["rip"] = offset
    clear = TF | NT | RF | VM | (IF if g.type in (6, 0xE) else 0)
    st["eflags"] = st["eflags"] & ~clear
    cpu.update_mode(new_cpl)


def _tss_stack(cpu, cpl: int, ext: int) -> tuple[int, int]:
    """(SS, ESP) for privilege ``cpl`` from the current TSS (32-bit: ESPn at 4+8n; 16-bit: SPn at 2+4n)."""
    st, mem = cpu.state, cpu.mem
    tss32 = st["tr_attr"] & 0xF in (9, 0xB)
    at = 4 + 8 * cpl if tss32 else 2 + 4 * cpl
    width = 4 if tss32 else 2
    if at + 2 * width - 1 > st["tr_limit"]:
        raise CpuException(TS, (st["tr"] & 0xFFFC) | ext)
    esp = mem.load_priv(st["tr_base"] + at, width)
    ss = mem.load_priv(st["tr_base"] + at + width, 2)
    return ss, esp


def interrupt_soft(cpu, vector: int, next_ip: int) -> int:
    """INT n / INT3 / INTO in protected mode (the gate's DPL is checked against CPL)."""
    if not cpu.protected:
        deliver_real(cpu, vector, next_ip)
        return 0
    _deliver(cpu, vector, None, next_ip, soft=True, ext=0)
    return 0


def interrupt_icebp(cpu, next_ip: int) -> int:
    """INT1 (ICEBP, F1): #DB as a trap, without the gate DPL check and with EXT = 1 in the error code of a fault
    met on the way (SDM Vol. 2 INT n: "does not apply to INT1"; Vol. 3 6.13)."""
    _deliver(cpu, 1, None, next_ip, soft=False, ext=1)
    return 0


def single_step(cpu, next_ip: int, cond: int = 1) -> int:
    """The single-step trap (EFLAGS.TF was set when the instruction began): #DB with DR6.BS set and ``next_ip`` as
    the return address (SDM Vol. 3 17.3.1.4)."""
    if cond:
        cpu.drs[6] |= 0x4000
        deliver_exception(cpu, 1, 0, next_ip)
    return 0


def iret(cpu, size: int) -> int:
    from dbt.system.cpu import Unsupported
    st = cpu.state
    if not cpu.protected:
        raise Unsupported("IRET helper called in real mode (lifted inline there)")
    if st["eflags"] & NT:
        raise Unsupported("IRET with EFLAGS.NT set (return from a nested task)")
    stk = current_stack(cpu)
    eip = stk.pop(size)
    sel = stk.pop(size) & 0xFFFF
    flags = stk.pop(size)
    if size == 4 and flags & VM and cpu.cpl == 0:
        raise Unsupported("IRET to virtual-8086 mode")
    old_cpl = cpu.cpl
    mask = IRET_FLAGS
    if old_cpl <= (st["eflags"] >> 12) & 3:
        mask |= IF
    if old_cpl == 0:
        mask |= 3 << 12
    if size == 2:
        mask &= 0xFFFF
    return_far(cpu, sel, eip, stk, size, 0, lambda: st.unpack_flags((st.pack_flags() & ~mask) | (flags & mask)))
    cpu.irq_check()
    return 0


def return_far(cpu, sel: int, eip: int, stk: GuestStack, size: int, imm: int, commit_flags=None) -> None:
    """The privilege checks and commit shared by RETF and IRET (SDM RET: "return to same/outer privilege")."""
    st, segs = cpu.state, cpu.segs
    cpl, rpl = cpu.cpl, sel & 3
    if not sel & 0xFFFC:
        raise CpuException(GP, 0)
    d, daddr = segs.table_entry(sel)
    if not d.code or rpl < cpl:
        raise CpuException(GP, sel & 0xFFFC)
    if (d.conforming and d.dpl > rpl) or (not d.conforming and d.dpl != rpl):
        raise CpuException(GP, sel & 0xFFFC)
    if not d.present:
        raise CpuException(NP, sel & 0xFFFC)
    stk.skip(imm)
    if size == 2:
        eip &= 0xFFFF
    if rpl > cpl:
        new_esp = stk.pop(size)
        new_ss = stk.pop(size) & 0xFFFF
        ssd, ssaddr = segs.check_stack(new_ss, rpl, GP)
        if commit_flags:
            commit_flags()
        segs.set_accessed(d, daddr)
        segs.set_cache("cs", sel, d)
        segs.set_accessed(ssd, ssaddr)
        segs.set_cache("ss", new_ss, ssd)
        new_esp += imm
        if ssd.attr & ATTR_DB:
            st["rsp"] = new_esp & 0xFFFFFFFF
        else:
            st["rsp"] = (st["rsp"] & ~0xFFFF) | (new_esp & 0xFFFF)
        st["rip"] = eip
        segs.null_outer_data(rpl)
        cpu.update_mode(rpl)
    else:
        if commit_flags:
            commit_flags()
        segs.set_accessed(d, daddr)
        segs.set_cache("cs", sel, d)
        st["rsp"] = stk.new_esp
        st["rip"] = eip
        cpu.update_mode(cpl)


def helpers(cpu) -> dict:
    return {"int_soft": lambda vector, next_ip: interrupt_soft(cpu, vector, next_ip),
            "int1": lambda next_ip: interrupt_icebp(cpu, next_ip),
            "single_step": lambda next_ip: single_step(cpu, next_ip),
            "single_step_if": lambda cond, next_ip: single_step(cpu, next_ip, cond),
            "iret": lambda size: iret(cpu, size)}
