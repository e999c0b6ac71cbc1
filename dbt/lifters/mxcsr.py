"""LDMXCSR and STMXCSR (SDM Vol. 2): the SSE control/status register, state field ``mxcsr``.

LDMXCSR raises #GP(0) when a reserved bit is set (MXCSR_MASK = 0xFFFF: DAZ supported, bits 31:16 reserved). Unmasked
SIMD floating-point exceptions (#XM) are not modelled: a value that clears any exception mask stops the run with
NotImplementedError (helper ``mxcsr_check``, see ``ir.fpops``) instead of computing with the wrong response.
The system VM's CPU model and the 80286 of mode 16 have no SSE: #UD there. VEX forms (VLDMXCSR) are not lifted.
"""

from __future__ import annotations

from ir import Ty
from ir.fpops import MXCSR_MASKS, UnmaskedFPException

from dbt.lift import lifter
from dbt.lift.context import GP, UD

MXCSR_MASK = 0xFFFF


@lifter("LDMXCSR", "STMXCSR")
def lift_mxcsr(ctx):
    b = ctx.b
    if ctx.cpu.system or ctx.cpu.real:
        ctx.trap(UD)
        return
    if ctx.insn.name == "STMXCSR":
        ctx.write(0, ctx.get("mxcsr"))
        return
    v = ctx.read(0, Ty.i32)
    ctx.trap_if(b.ne(b.and_(v, b.const(Ty.i32, ~MXCSR_MASK & 0xFFFFFFFF)), b.const(Ty.i32, 0)), GP)
    b.call("mxcsr_check", (v,))
    ctx.put("mxcsr", v)


def mxcsr_check(state, memory, value):
    """Stops with NotImplementedError when ``value`` unmasks a SIMD floating-point exception."""
    if value & MXCSR_MASKS != MXCSR_MASKS:
        raise UnmaskedFPException(value)
    return 0


HELPERS = {"mxcsr_check": mxcsr_check}
