"""String instructions: MOVS CMPS SCAS LODS STOS INS OUTS (B/W/D/Q), with REP / REPE / REPNE (SDM Vol. 2, and
Vol. 1 7.3.9).

Operands: the source is seg:SI (DS unless a segment override prefix names another), the destination ES:DI (ES cannot
be overridden); SI/ESI/RSI, DI/EDI/RDI and CX/ECX/RCX are chosen by the address size; each pointer steps by the
element size, down when DF = 1. In 64-bit mode ES/DS/SS bases are ignored (FS/GS overrides apply), in our flat
32-bit mode all bases are 0.

Repeats (QEMU's design): the IR has no loops here. A REP instruction is lifted as ONE iteration that ends the unit:
exit to the next instruction when the count is 0, do one iteration (memory accesses first, register updates held back
by the context), decrement the count, then exit to the next instruction when the count reaches 0 (or, for CMPS/SCAS,
when ZF ends a REPE/REPNE), else to the instruction itself, so the engine re-enters it. Each iteration commits its
state, so a fault in the middle of a REP leaves the registers exactly at the faulting iteration and the instruction
restartable, as on a CPU. Every iteration counts as one executed instruction. Non-REP string ops do not end the unit.

Departures and choices:
- REPNE (F2) on MOVS/LODS/STOS/INS/OUTS repeats like REP (the ZF test applies to CMPS and SCAS only), as CPUs do.
- 64-bit mode, 32-bit address size (67h): ESI/EDI/ECX are used and written (zero-extending RSI/RDI/RCX). With a
  count of 0 nothing is architecturally done, but the Intel hosts we measured still clear the upper half of RCX,
  and of RSI/RDI for MOVS (both) and STOS (RDI); we do the same.
- ``Insn.rep`` comes from the instruction bytes (dbt.decode): Capstone drops F2 from ``F2 A5`` (32/64-bit)
  and ``F2 66 A5`` (16-bit), taking it for the mandatory prefix of the SSE MOVSD.
- Capstone gives the SSE scalar MOVSD/CMPSD (F2 0F 10 / F2 0F C2) the same ids as the string forms; those forms
  (register operands) are not lifted here and raise #UD until an SSE family exists.
- INS/OUTS go through the port helpers (``port_in``/``port_out``, see dbt.helpers); there is no I/O permission check
  (real mode, or CPL 0). In modes 32/64 (flat user level) they raise #GP(0) as IOPL 0 makes them privileged.
- The 80286 updates SI/DI/CX of a string instruction that faults on a segment-limit violation; a 386+ CPU (and this
  lifter) leaves them as they were before the faulting iteration.
"""

from __future__ import annotations

from ir import Ty

from dbt.lift import flags, lifter
from dbt.lift.context import GP, TY_BY_SIZE, LiftError

_ELEM = {"B": 1, "W": 2, "D": 4, "Q": 8}
_KINDS = ("MOVS", "CMPS", "SCAS", "LODS", "STOS", "INS", "OUTS")
_NAMES = {k + s: (k, n) for k in _KINDS for s, n in _ELEM.items() if not (k in ("INS", "OUTS") and s == "Q")}
_ACC = {1: "al", 2: "ax", 4: "eax", 8: "rax"}
_SI = {2: "si", 4: "esi", 8: "rsi"}
_DI = {2: "di", 4: "edi", 8: "rdi"}
_CX = {2: "cx", 4: "ecx", 8: "rcx"}
_USES_SI = {"MOVS", "CMPS", "LODS", "OUTS"}
_USES_DI = {"MOVS", "CMPS", "SCAS", "STOS", "INS"}
_CONDITIONAL = {"CMPS", "SCAS"}          # REPE/REPNE test ZF after these only


def _step(ctx, aty: Ty, size: int) -> int:
    """+size, or -size when DF = 1, in the address-size type."""
    b = ctx.b
    return b.select(ctx.flag("df"), b.const(aty, -size), b.const(aty, size))


def _iteration(ctx, kind: str, size: int) -> None:
    """One element: memory accesses, then the pointer updates (held back by ctx) and flags."""
    b = ctx.b
    asz = ctx.insn.addrsize
    aty = TY_BY_SIZE[asz]
    ety = TY_BY_SIZE[size]
    src_seg = ctx.insn.seg or "ds"
    si = ctx.reg(_SI[asz]) if kind in _USES_SI else None
    di = ctx.reg(_DI[asz]) if kind in _USES_DI else None
    # Addresses (and their limit checks) first, so a fault leaves nothing half done.
    src = ctx.linear(src_seg, si, size) if si is not None else None
    dst = ctx.linear("es", di, size) if di is not None else None
    if kind == "MOVS":
        ctx.store(dst, ctx.load(ety, src))
    elif kind == "CMPS":
        a = ctx.load(ety, src)
        c = ctx.load(ety, dst)
        flags.sub(ctx, a, c, b.sub(a, c))
    elif kind == "SCAS":
        a = ctx.reg(_ACC[size])
        c = ctx.load(ety, dst)
        flags.sub(ctx, a, c, b.sub(a, c))
    elif kind == "LODS":
        ctx.set_reg(_ACC[size], ctx.load(ety, src))
    elif kind == "STOS":
        ctx.store(dst, ctx.reg(_ACC[size]))
    elif kind == "INS":
        port = ctx.reg("dx")
        v = ctx.b.call("port_in", (b.zext(Ty.i32, port), b.const(Ty.i32, size)), Ty.i32)
        ctx.store(dst, ctx.resize(v, ety))
    elif kind == "OUTS":
        v = ctx.load(ety, src)
        ctx.b.call("port_out", (b.zext(Ty.i32, ctx.reg("dx")), b.const(Ty.i32, size), ctx.resize(v, Ty.i32)))
    step = _step(ctx, aty, size)
    if si is not None:
        ctx.set_reg(_SI[asz], b.add(si, step))
    if di is not None:
        ctx.set_reg(_DI[asz], b.add(di, step))


# SSE instructions that share a string mnemonic (MOVSD, CMPSD): name -> lifter, filled by their own modules.
SSE_FORMS: dict = {}


@lifter(*_NAMES)
def lift_string(ctx):
    insn = ctx.insn
    kind, size = _NAMES[insn.name]
    if any(o.kind == "reg" and o.size >= 16 for o in insn.operands):
        sse = SSE_FORMS.get(insn.name)
        if sse is None:
            raise LiftError(f"SSE form {insn.text} is not a string instruction")
        sse(ctx)
        return
    if kind in ("INS", "OUTS") and not (ctx.cpu.real or ctx.cpu.system):
        ctx.trap(GP)                            # IOPL 0, CPL 3: I/O is privileged (the system VM's port helpers
        #                                         check IOPL and the TSS I/O bitmap themselves)
        return
    rep = ctx.insn.rep
    if not rep:
        _iteration(ctx, kind, size)
        return
    b = ctx.b
    creg = _CX[insn.addrsize]
    cty = TY_BY_SIZE[insn.addrsize]
    next_ip = ctx.ip_value(ctx.next_ip)
    count = ctx.reg(creg)
    if ctx.mode == 64 and insn.addrsize == 4:
        # Intel hosts clear the upper halves even for a count of 0: RCX always, RSI/RDI for MOVS/STOS.
        ctx.set_reg(creg, count)
        if kind in ("MOVS", "STOS"):
            for names in ((_SI, _DI) if kind == "MOVS" else (_DI,)):
                ctx.set_reg(names[4], ctx.reg(names[4]))
    ctx.jump_if(b.eq(count, b.const(cty, 0)), next_ip)
    _iteration(ctx, kind, size)
    count = b.sub(count, b.const(cty, 1))
    ctx.set_reg(creg, count)
    done = b.eq(count, b.const(cty, 0))
    if kind in _CONDITIONAL:
        zf = ctx.flag("zf")
        # REPE (F3) stops when ZF = 0, REPNE (F2) when ZF = 1.
        done = b.or_(done, b.not_(zf) if rep == 0xF3 else zf)
    ctx.jump(b.select(done, next_ip, ctx.ip_value(ctx.ip)))
