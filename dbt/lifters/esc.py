"""x87 escape opcodes (D8-DF) on a machine without an FPU.

Which CPU model has an x87 unit decides:
- real mode (mode 16) models an 80286 without an 80287, CR0.EM = MP = 0: an ESC instruction does nothing but advance
  IP; its memory operand is not accessed but its effective address is still checked against the segment limit
  (#GP(0) / #SS(0) past offset FFFFh), as the 80286 vectors show (D8: only IP changes, or interrupt 13);
- the flat user-level modes 32/64 have an x87 FPU: ``dbt.lifters.x87`` lifts every instruction (``dbt.x87`` runs it);
- the system VM's CPU has none (CPUID.01H:EDX.FPU = 0): the control instructions an OS uses run, the rest are #UD.

Every Capstone mnemonic that D8-DF decode to is registered here; a real x87 family would replace this module.
Encodings of D8-DF that Capstone does not decode (e.g. D9 D1, DB E5) get the driver's #UD in every mode (on the
80286 they are no-ops like every ESC).
"""

from __future__ import annotations

from dbt.lift import lifter
from dbt.lift.context import UD

X87 = (
    "F2XM1", "FABS", "FADD", "FBLD", "FBSTP", "FCHS", "FCMOVB", "FCMOVBE", "FCMOVE", "FCMOVNB", "FCMOVNBE",
    "FCMOVNE", "FCMOVNU", "FCMOVU", "FCOM", "FCOMI", "FCOMP", "FCOMPI", "FCOMPP", "FCOS", "FDECSTP",
    "FDISI8087_NOP", "FDIV", "FDIVP", "FDIVR", "FDIVRP", "FENI8087_NOP", "FFREE", "FFREEP", "FIADD", "FICOM",
    "FICOMP", "FIDIV", "FIDIVR", "FILD", "FIMUL", "FINCSTP", "FIST", "FISTP", "FISTTP", "FISUB", "FISUBR", "FLD",
    "FLD1", "FLDCW", "FLDENV", "FLDL2E", "FLDL2T", "FLDLG2", "FLDLN2", "FLDPI", "FLDZ", "FMUL", "FMULP",
    "FNCLEX", "FNINIT", "FNOP", "FNSAVE", "FNSTCW", "FNSTENV", "FNSTSW", "FPATAN", "FPREM", "FPREM1", "FPTAN",
    "FRNDINT", "FRSTOR", "FSCALE", "FSETPM", "FSIN", "FSINCOS", "FSQRT", "FST", "FSTP", "FSTPNCE", "FSUB",
    "FSUBP", "FSUBR", "FSUBRP", "FTST", "FUCOM", "FUCOMI", "FUCOMP", "FUCOMPI", "FUCOMPP", "FXAM", "FXCH",
    "FXTRACT", "FYL2X", "FYL2XP1",
)


@lifter(*X87)
def lift_esc(ctx):
    if ctx.cpu.system and not ctx.cpu.real:
        from dbt.lifters.system import lift_fpu_control
        if not lift_fpu_control(ctx):
            ctx.trap(UD)                        # no x87 arithmetic in the system VM's CPU model
        return
    if not ctx.cpu.real:
        from dbt.lifters.x87 import lift_x87
        lift_x87(ctx)
        return
    for op in ctx.insn.operands:
        if op.kind == "mem":
            ctx.limit_check(ctx.segment_of(op), ctx.ea(op), max(op.size, 1))
