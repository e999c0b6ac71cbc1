"""x87 instructions of the flat user-level CPU (modes 32/64), decoded from the opcode byte (D8-DF) and ModRM as in
the SDM's x87 opcode map, each lifted to one call of the ``x87`` helper (``dbt.x87``), which does the arithmetic
with ``ir.softfloat``'s 80-bit format.

Register forms by ModRM.reg for the arithmetic group (D8 with ST(0) as destination, DC/DE with ST(i), DE popping):
0 add, 1 mul, 4 ST(0) - ST(i), 5 ST(i) - ST(0), 6 ST(0) / ST(i), 7 ST(i) / ST(0) (the SDM's FSUB/FSUBR/FDIV/FDIVR
register encodings, read by operand order rather than by Capstone's mnemonic). The memory forms D8/DC (m32/m64
float) and DA/DE (m32/m16 integer) compute ST(0) op mem, or mem op ST(0) for reg 5 and 7. FCMOVcc reads EFLAGS in
IR and passes the condition. FNSTSW AX and FCOMI/FUCOMI write GPR/EFLAGS state.

The encodings the SDM lists as reserved aliases (DC D0+i, DE D0+i, DD C8+i, D9 D8+i...) and anything not in the
table raise #UD, as Capstone leaves most of them undecoded. The helper raises NotImplementedError for the
transcendentals and BCD forms (see ``dbt.x87``).
"""

from __future__ import annotations

from ir import Ty

from dbt import x87
from dbt.lift import flags
from dbt.lift.context import UD

X = x87.op_index
_ARITH = {0: ("add", False), 1: ("mul", False), 4: ("sub", False), 5: ("sub", True), 6: ("div", False),
          7: ("div", True)}
_CONSTS = {0xE8: "one", 0xE9: "l2t", 0xEA: "l2e", 0xEB: "pi", 0xEC: "lg2", 0xED: "ln2", 0xEE: "zero"}
_FCMOV = {(0xDA, 0): "b", (0xDA, 1): "e", (0xDA, 2): "be", (0xDA, 3): "p",
          (0xDB, 0): "ae", (0xDB, 1): "ne", (0xDB, 2): "a", (0xDB, 3): "np"}
_UNSUPPORTED = {0xF0: "F2XM1", 0xF1: "FYL2X", 0xF2: "FPTAN", 0xF3: "FPATAN", 0xF9: "FYL2XP1", 0xFB: "FSINCOS",
                0xFE: "FSIN", 0xFF: "FCOS"}


def _mem_forms() -> dict:
    """(opcode, ModRM.reg) -> (op number, takes the 32-bit environment format flag) of every memory form."""
    out = {}
    for opc, src in ((0xD8, ("m", 4)), (0xDC, ("m", 8)), (0xDA, ("i", 4)), (0xDE, ("i", 2))):
        for reg, (fn, rev) in _ARITH.items():
            out[opc, reg] = X(x87.op_arith, fn=fn, src=src, reverse=rev)
        for reg in (2, 3):
            out[opc, reg] = X(x87.op_compare, src=src, signaling=True, pops=reg - 2)
    for opc, size in ((0xD9, 4), (0xDD, 8)):
        out[opc, 0] = X(x87.op_fld, src=("m", size))
        out[opc, 2] = X(x87.op_fst, dst=("m", size))
        out[opc, 3] = X(x87.op_fst, dst=("m", size), pop=True)
    for opc, size in ((0xDF, 2), (0xDB, 4), (0xDD, 8)):
        out[opc, 1] = X(x87.op_fst, dst=("i", size, "t"), pop=True)              # FISTTP
    for opc, size in ((0xDF, 2), (0xDB, 4)):
        out[opc, 0] = X(x87.op_fld, src=("i", size))
        out[opc, 2] = X(x87.op_fst, dst=("i", size))
        out[opc, 3] = X(x87.op_fst, dst=("i", size), pop=True)
    out.update({
        (0xDF, 5): X(x87.op_fld, src=("i", 8)), (0xDF, 7): X(x87.op_fst, dst=("i", 8), pop=True),
        (0xDB, 5): X(x87.op_fld, src=("m", 10)), (0xDB, 7): X(x87.op_fst, dst=("m", 10), pop=True),
        (0xD9, 5): X(x87.op_fldcw), (0xD9, 7): X(x87.op_fnstcw), (0xDD, 7): X(x87.op_fnstsw),
        (0xDF, 4): X(x87.op_unsupported, name="FBLD"), (0xDF, 6): X(x87.op_unsupported, name="FBSTP"),
    })
    out = {k: (v, False) for k, v in out.items()}
    out.update({(0xD9, 4): (X(x87.op_fldenv), True), (0xD9, 6): (X(x87.op_fnstenv), True),
                (0xDD, 4): (X(x87.op_frstor), True), (0xDD, 6): (X(x87.op_fnsave), True)})
    return out


def _reg_forms() -> dict:
    """(opcode, ModRM) -> (op number, arg) of every register form (ModRM.mod = 3) but FNSTSW AX and FCMOVcc."""
    out = {}
    for i in range(8):
        for reg, (fn, rev) in _ARITH.items():
            out[0xD8, 0xC0 | reg << 3 | i] = (X(x87.op_arith, fn=fn, src=("st", None), reverse=rev), i)
            for opc in (0xDC, 0xDE):
                out[opc, 0xC0 | reg << 3 | i] = (X(x87.op_arith, fn=fn, src=("st", None), reverse=rev, to_sti=True,
                                                   pop=opc == 0xDE), i)
        for reg in (2, 3):
            out[0xD8, 0xC0 | reg << 3 | i] = (X(x87.op_compare, src=("st", None), signaling=True, pops=reg - 2), i)
        for reg in (4, 5):
            out[0xDD, 0xC0 | reg << 3 | i] = (X(x87.op_compare, src=("st", None), signaling=False, pops=reg - 4), i)
        for opc in (0xDB, 0xDF):
            for reg in (5, 6):
                out[opc, 0xC0 | reg << 3 | i] = (X(x87.op_compare, src=("st", None), signaling=reg == 6,
                                                   pops=int(opc == 0xDF), eflags=True), i)
        out[0xD9, 0xC0 | i] = (X(x87.op_fld, src=("st", None)), i)
        out[0xD9, 0xC8 | i] = (X(x87.op_fxch), i)
        out[0xDD, 0xC0 | i] = (X(x87.op_ffree), i)
        out[0xDF, 0xC0 | i] = (X(x87.op_ffree, pop=True), i)
        out[0xDD, 0xD0 | i] = (X(x87.op_fst, dst=("st", None)), i)
        out[0xDD, 0xD8 | i] = (X(x87.op_fst, dst=("st", None), pop=True), i)
    out[0xDE, 0xD9] = (X(x87.op_compare, src=("st", None), signaling=True, pops=2), 1)      # FCOMPP
    out[0xDA, 0xE9] = (X(x87.op_compare, src=("st", None), signaling=False, pops=2), 1)     # FUCOMPP
    out[0xDB, 0xE2] = (X(x87.op_fnclex), 0)
    out[0xDB, 0xE3] = (X(x87.op_fninit), 0)
    for modrm, name in _CONSTS.items():
        out[0xD9, modrm] = (X(x87.op_fld, src=("const", None)), x87.CONST_NAMES.index(name))
    for modrm, name in _UNSUPPORTED.items():
        out[0xD9, modrm] = (X(x87.op_unsupported, name=name), 0)
    for modrm, (fn, params) in {
            0xD0: (x87.op_nop, {}), 0xE0: (x87.op_unary, {"fn": "chs"}), 0xE1: (x87.op_unary, {"fn": "abs"}),
            0xE4: (x87.op_compare, {"src": ("zero", None), "signaling": True}), 0xE5: (x87.op_fxam, {}),
            0xF4: (x87.op_fxtract, {}), 0xF5: (x87.op_fprem, {"nearest": True}),
            0xF6: (x87.op_stack, {"delta": -1}), 0xF7: (x87.op_stack, {"delta": 1}),
            0xF8: (x87.op_fprem, {"nearest": False}), 0xFA: (x87.op_unary, {"fn": "sqrt"}),
            0xFC: (x87.op_unary, {"fn": "rndint"}), 0xFD: (x87.op_fscale, {})}.items():
        out[0xD9, modrm] = (X(fn, **params), 0)
    return out


MEM_FORMS = _mem_forms()
REG_FORMS = _reg_forms()
FNSTSW_AX = X(x87.op_fnstsw)
FCMOV = X(x87.op_fcmov)


def lift_x87(ctx) -> None:
    insn = ctx.insn
    b = ctx.b
    opc = insn.opcode[-1] if insn.opcode else 0
    modrm = insn.modrm
    i64 = Ty.i64
    if modrm >> 6 == 3:
        if opc == 0xDF and modrm == 0xE0:                      # FNSTSW AX
            ctx.flush()
            sw = b.call("x87", (b.const(i64, FNSTSW_AX), b.const(i64, 0), b.const(i64, 1)), i64)
            ctx.set_reg("ax", b.trunc(Ty.i16, sw))
            return
        cc = _FCMOV.get((opc, (modrm >> 3) & 7))
        if cc is not None:
            cond = b.zext(i64, flags.condition(ctx, cc))
            arg = b.or_(b.shl(cond, b.const(i64, 8)), b.const(i64, modrm & 7))
            ctx.flush()
            b.call("x87", (b.const(i64, FCMOV), b.const(i64, 0), arg))
            return
        e = REG_FORMS.get((opc, modrm))
        if e is None:
            ctx.trap(UD)
            return
        op, arg = e
        addr = b.const(i64, 0)
    else:
        e = MEM_FORMS.get((opc, (modrm >> 3) & 7))
        mem = next((k for k, o in enumerate(insn.operands) if o.kind == "mem"), None)
        if e is None or mem is None:
            ctx.trap(UD)
            return
        op, env_format = e
        arg = int(insn.opsize != 2) if env_format else 0         # FNSTENV & co.: 28-byte (32-bit) or 14-byte form
        addr = ctx.addr(mem)
    ctx.flush()
    b.call("x87", (b.const(i64, op), addr, b.const(i64, arg)))
