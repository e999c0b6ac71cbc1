"""Far control transfers in protected mode: JMP/CALL ptr or m16:xx (to a code segment or through a call gate), RETF,
and SYSENTER/SYSEXIT (SDM Vol. 2 JMP, CALL, RET, SYSENTER, SYSEXIT; Vol. 3 5.8).

Direct transfers to a non-conforming segment need RPL <= CPL and DPL = CPL; to a conforming one DPL <= CPL; CPL is
unchanged and becomes the new CS.RPL. A call gate (DPL >= max(CPL, RPL)) names the target; CALL through a gate to a
more privileged non-conforming segment switches to the TSS stack of that level, pushes the caller's SS:ESP, copies
the gate's parameter count of words/dwords, then CS:EIP. JMP through a gate never changes privilege. TSS descriptors
and task gates (hardware task switches) raise ``Unsupported``.

In real mode these instructions are lifted inline (CS = selector, base = selector * 16) and never reach here.
"""

from __future__ import annotations

from dbt.memory import CpuException
from dbt.system.interrupts import _tss_stack, return_far
from dbt.system.segments import ATTR_DB, GP, NP, TS
from dbt.system.stack import GuestStack, current_stack


def _target(cpu, sel: int, call: bool):
    """(code descriptor, its address, target selector, offset from a gate or None, gate or None)."""
    from dbt.system.cpu import Unsupported
    segs = cpu.segs
    cpl, rpl = cpu.cpl, sel & 3
    if not sel & 0xFFFC:
        raise CpuException(GP, 0)
    d, addr = segs.table_entry(sel)
    if d.code:
        if d.conforming:
            if d.dpl > cpl:
                raise CpuException(GP, sel & 0xFFFC)
        elif rpl > cpl or d.dpl != cpl:
            raise CpuException(GP, sel & 0xFFFC)
        if not d.present:
            raise CpuException(NP, sel & 0xFFFC)
        return d, addr, sel, None, None
    if d.system and d.type in (4, 0xC):
        gate = d
        if gate.dpl < cpl or rpl > gate.dpl:
            raise CpuException(GP, sel & 0xFFFC)
        if not gate.present:
            raise CpuException(NP, sel & 0xFFFC)
        tsel = gate.gate_selector
        if not tsel & 0xFFFC:
            raise CpuException(GP, 0)
        td, taddr = segs.table_entry(tsel)
        if not td.code or td.dpl > cpl or (not call and not td.conforming and td.dpl != cpl):
            raise CpuException(GP, tsel & 0xFFFC)
        if not td.present:
            raise CpuException(NP, tsel & 0xFFFC)
        off = gate.gate_offset if gate.type == 0xC else gate.lo & 0xFFFF
        return td, taddr, tsel, off, gate
    if d.system and d.type in (1, 3, 5, 9, 0xB):
        raise Unsupported("far JMP/CALL to a TSS or task gate (hardware task switching)")
    raise CpuException(GP, sel & 0xFFFC)


def far_jmp(cpu, sel: int, offset: int, size: int) -> int:
    sel &= 0xFFFF
    d, addr, tsel, goff, gate = _target(cpu, sel, call=False)
    eip = goff if gate is not None else offset
    if size == 2 or (gate is not None and gate.type == 4):
        eip &= 0xFFFF
    if eip > d.limit:
        raise CpuException(GP, 0)
    _enter(cpu, d, addr, tsel, cpu.cpl, eip)
    return 0


def _enter(cpu, d, addr: int, sel: int, cpl: int, eip: int, esp: int | None = None) -> None:
    """Commits a far transfer: CS = sel with RPL = cpl (its descriptor marked accessed), ESP when given, EIP, and
    the new mode."""
    cpu.segs.set_accessed(d, addr)
    cpu.segs.set_cache("cs", (sel & 0xFFFC) | cpl, d)
    if esp is not None:
        cpu.state["rsp"] = esp
    cpu.state["rip"] = eip
    cpu.update_mode(cpl)


def far_call(cpu, sel: int, offset: int, size: int, next_ip: int) -> int:
    st, segs, mem = cpu.state, cpu.segs, cpu.mem
    sel &= 0xFFFF
    d, addr, tsel, goff, gate = _target(cpu, sel, call=True)
    cpl = cpu.cpl
    if gate is None:
        eip, width = offset & (0xFFFF if size == 2 else 0xFFFFFFFF), size
    else:
        eip, width = goff, 4 if gate.type == 0xC else 2
    if eip > d.limit:
        raise CpuException(GP, 0)
    if gate is not None and not d.conforming and d.dpl < cpl:
        new_cpl = d.dpl
        new_ss, new_esp = _tss_stack(cpu, new_cpl, 0)
        ssd, ssaddr = segs.check_stack(new_ss, new_cpl, TS)
        stk = GuestStack(mem, ssd.base, new_esp, bool(ssd.attr & ATTR_DB), new_cpl == 3)
        old = current_stack(cpu)
        nparams = gate.hi & 0x1F
        params = [old.peek(i * width, width) for i in range(nparams)]
        stk.push(st["ss"], width)
        stk.push(st["rsp"], width)
        for v in reversed(params):
            stk.push(v, width)
        stk.push(st["cs"], width)
        stk.push(next_ip, width)
        segs.set_accessed(ssd, ssaddr)
        segs.set_cache("ss", new_ss, ssd)
    else:
        new_cpl = cpl
        stk = current_stack(cpu)
        stk.push(st["cs"], width)
        stk.push(next_ip, width)
    _enter(cpu, d, addr, tsel, new_cpl, eip, stk.new_esp)
    return 0


def far_ret(cpu, size: int, imm: int) -> int:
    stk = current_stack(cpu)
    eip = stk.pop(size)
    sel = stk.pop(size) & 0xFFFF
    return_far(cpu, sel, eip, stk, size, imm)
    return 0


FLAT_CODE, FLAT_DATA = 0xC09B, 0xC093          # 4 GiB, 32-bit, DPL 0 (DPL 3: | 0x60)


def sysenter(cpu) -> int:
    st = cpu.state
    cs = st["sysenter_cs"] & 0xFFFC
    if not cpu.protected or not cs:
        raise CpuException(GP, 0)
    st["eflags"] = st["eflags"] & ~((1 << 17) | (1 << 9) | (1 << 16))     # VM, IF, RF
    st["cs"], st["cs_base"], st["cs_limit"], st["cs_attr"] = cs, 0, 0xFFFFFFFF, FLAT_CODE
    st["ss"], st["ss_base"], st["ss_limit"], st["ss_attr"] = cs + 8, 0, 0xFFFFFFFF, FLAT_DATA
    st["rsp"] = st["sysenter_esp"] & 0xFFFFFFFF
    st["rip"] = st["sysenter_eip"] & 0xFFFFFFFF
    cpu.update_mode(0)
    return 0


def sysexit(cpu) -> int:
    st = cpu.state
    cs = st["sysenter_cs"] & 0xFFFC
    if not cpu.protected or cpu.cpl != 0 or not cs:
        raise CpuException(GP, 0)
    st["cs"], st["cs_base"], st["cs_limit"], st["cs_attr"] = (cs + 16) | 3, 0, 0xFFFFFFFF, FLAT_CODE | 0x60
    st["ss"], st["ss_base"], st["ss_limit"], st["ss_attr"] = (cs + 24) | 3, 0, 0xFFFFFFFF, FLAT_DATA | 0x60
    st["rsp"] = st["rcx"] & 0xFFFFFFFF
    st["rip"] = st["rdx"] & 0xFFFFFFFF
    cpu.update_mode(3)
    return 0


def helpers(cpu) -> dict:
    return {
        "far_jmp": lambda sel, offset, size: far_jmp(cpu, sel, offset, size),
        "far_call": lambda sel, offset, size, next_ip: far_call(cpu, sel, offset, size, next_ip),
        "far_ret": lambda size, imm: far_ret(cpu, size, imm),
        "sysenter": lambda: sysenter(cpu),
        "sysexit": lambda: sysexit(cpu),
    }
