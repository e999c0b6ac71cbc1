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


def _mem_ops(opc: int, reg: int, size32: int):
    """(op number, arg) of a memory form, or None."""
    if opc in (0xD8, 0xDC, 0xDA, 0xDE):
        src = ("m", 4) if opc == 0xD8 else ("m", 8) if opc == 0xDC else ("i", 4) if opc == 0xDA else ("i", 2)
        if reg in (2, 3):
            return X(x87.op_compare, src=src, signaling=True, pops=reg - 2), 0
        fn, rev = _ARITH[reg]
        return X(x87.op_arith, fn=fn, src=src, reverse=rev), 0
    table = {
        (0xD9, 0): (x87.op_fld, {"src": ("m", 4)}), (0xD9, 2): (x87.op_fst, {"dst": ("m", 4)}),
        (0xD9, 3): (x87.op_fst, {"dst": ("m", 4), "pop": True}), (0xD9, 4): (x87.op_fldenv, {}),
        (0xD9, 5): (x87.op_fldcw, {}), (0xD9, 6): (x87.op_fnstenv, {}), (0xD9, 7): (x87.op_fnstcw, {}),
        (0xDB, 0): (x87.op_fld, {"src": ("i", 4)}), (0xDB, 1): (x87.op_fst, {"dst": ("i", 4, "t"), "pop": True}),
        (0xDB, 2): (x87.op_fst, {"dst": ("i", 4)}), (0xDB, 3): (x87.op_fst, {"dst": ("i", 4), "pop": True}),
        (0xDB, 5): (x87.op_fld, {"src": ("m", 10)}), (0xDB, 7): (x87.op_fst, {"dst": ("m", 10), "pop": True}),
        (0xDD, 0): (x87.op_fld, {"src": ("m", 8)}), (0xDD, 1): (x87.op_fst, {"dst": ("i", 8, "t"), "pop": True}),
        (0xDD, 2): (x87.op_fst, {"dst": ("m", 8)}), (0xDD, 3): (x87.op_fst, {"dst": ("m", 8), "pop": True}),
        (0xDD, 4): (x87.op_frstor, {}), (0xDD, 6): (x87.op_fnsave, {}), (0xDD, 7): (x87.op_fnstsw, {}),
        (0xDF, 0): (x87.op_fld, {"src": ("i", 2)}), (0xDF, 1): (x87.op_fst, {"dst": ("i", 2, "t"), "pop": True}),
        (0xDF, 2): (x87.op_fst, {"dst": ("i", 2)}), (0xDF, 3): (x87.op_fst, {"dst": ("i", 2), "pop": True}),
        (0xDF, 4): (x87.op_unsupported, {"name": "FBLD"}), (0xDF, 5): (x87.op_fld, {"src": ("i", 8)}),
        (0xDF, 6): (x87.op_unsupported, {"name": "FBSTP"}), (0xDF, 7): (x87.op_fst, {"dst": ("i", 8), "pop": True}),
    }
    e = table.get((opc, reg))
    if e is None:
        return None
    fn, params = e
    arg = size32 if fn in (x87.op_fldenv, x87.op_fnstenv, x87.op_fnsave, x87.op_frstor) else 0
    return X(fn, **params), arg


def _reg_ops(opc: int, modrm: int):
    """(op number, arg) of a register form (ModRM mod = 3), or None."""
    reg, i = (modrm >> 3) & 7, modrm & 7
    if opc in (0xD8, 0xDC, 0xDE) and reg in _ARITH:
        fn, rev = _ARITH[reg]
        if opc == 0xD8:
            return X(x87.op_arith, fn=fn, src=("st", None), reverse=rev), i
        return X(x87.op_arith, fn=fn, src=("st", None), reverse=rev, to_sti=True, pop=opc == 0xDE), i
    if opc == 0xD8 and reg in (2, 3):
        return X(x87.op_compare, src=("st", None), signaling=True, pops=reg - 2), i
    if opc == 0xDE and modrm == 0xD9:
        return X(x87.op_compare, src=("st", None), signaling=True, pops=2), 1
    if opc == 0xDA and modrm == 0xE9:
        return X(x87.op_compare, src=("st", None), signaling=False, pops=2), 1
    if opc == 0xDD and reg in (4, 5):
        return X(x87.op_compare, src=("st", None), signaling=False, pops=reg - 4), i
    if opc in (0xDB, 0xDF) and reg in (5, 6):
        return X(x87.op_compare, src=("st", None), signaling=reg == 6, pops=int(opc == 0xDF), eflags=True), i
    if opc == 0xD9:
        if reg == 0:
            return X(x87.op_fld, src=("st", None)), i
        if reg == 1:
            return X(x87.op_fxch), i
        if modrm in _CONSTS:
            return X(x87.op_fld, src=("const", None)), _CONSTS[modrm]
        if modrm in _UNSUPPORTED:
            return X(x87.op_unsupported, name=_UNSUPPORTED[modrm]), 0
        simple = {0xD0: (x87.op_nop, {}), 0xE0: (x87.op_unary, {"fn": "chs"}), 0xE1: (x87.op_unary, {"fn": "abs"}),
                  0xE4: (x87.op_compare, {"src": ("zero", None), "signaling": True}), 0xE5: (x87.op_fxam, {}),
                  0xF4: (x87.op_fxtract, {}), 0xF5: (x87.op_fprem, {"nearest": True}),
                  0xF6: (x87.op_stack, {"delta": -1}), 0xF7: (x87.op_stack, {"delta": 1}),
                  0xF8: (x87.op_fprem, {"nearest": False}), 0xFA: (x87.op_unary, {"fn": "sqrt"}),
                  0xFC: (x87.op_unary, {"fn": "rndint"}), 0xFD: (x87.op_fscale, {})}
        e = simple.get(modrm)
        return (X(e[0], **e[1]), 0) if e else None
    if opc == 0xDB and modrm == 0xE2:
        return X(x87.op_fnclex), 0
    if opc == 0xDB and modrm == 0xE3:
        return X(x87.op_fninit), 0
    if opc == 0xDD and reg == 0:
        return X(x87.op_ffree), i
    if opc == 0xDF and reg == 0:
        return X(x87.op_ffree, pop=True), i
    if opc == 0xDD and reg in (2, 3):
        return X(x87.op_fst, dst=("st", None), pop=reg == 3), i
    return None


def lift_x87(ctx) -> None:
    insn = ctx.insn
    b = ctx.b
    opc = insn.opcode[-1] if insn.opcode else 0
    modrm = insn.modrm
    if modrm >> 6 == 3:
        if opc == 0xDF and modrm == 0xE0:                      # FNSTSW AX
            ctx.flush()
            sw = b.call("x87", (b.const(Ty.i64, X(x87.op_fnstsw)), b.const(Ty.i64, 0), b.const(Ty.i64, 1)),
                        Ty.i64)
            ctx.set_reg("ax", b.trunc(Ty.i16, sw))
            return
        cc = _FCMOV.get((opc, (modrm >> 3) & 7))
        if cc is not None:
            cond = b.zext(Ty.i64, flags.condition(ctx, cc))
            arg = b.or_(b.shl(cond, b.const(Ty.i64, 8)), b.const(Ty.i64, modrm & 7))
            ctx.flush()
            b.call("x87", (b.const(Ty.i64, X(x87.op_fcmov)), b.const(Ty.i64, 0), arg))
            return
        e = _reg_ops(opc, modrm)
        addr = b.const(Ty.i64, 0)
    else:
        e = _mem_ops(opc, (modrm >> 3) & 7, int(insn.opsize != 2))
        mem = next((k for k, o in enumerate(insn.operands) if o.kind == "mem"), None)
        if e is None or mem is None:
            ctx.trap(UD)
            return
        addr = ctx.addr(mem)
    if e is None:
        ctx.trap(UD)
        return
    op, arg = e
    ctx.flush()
    if isinstance(arg, str):                                   # FLD1/FLDPI/...: the constant's index
        arg = x87.CONST_NAMES.index(arg)
    b.call("x87", (b.const(Ty.i64, op), addr, b.const(Ty.i64, arg)))
