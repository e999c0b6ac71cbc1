"""The op table: the single source of truth for every IR operation.

Each op is declared once with its *shape* (which operands it takes, which immediate it carries, how its result type is
found), its *effects* (pure, reads/writes guest state, touches memory, may leave the unit) and a one-line formula.
The builder, printer, parser, verifier, passes and both backends derive what they need from these records; no other
module keeps a list of op names.

Integer semantics are exact and total, so constant folding and the backends agree:
- every value is an unsigned integer modulo 2**bits of its type; signed ops reinterpret it as two's complement;
- shifts take the amount as an unsigned value of the same type; an amount >= bits gives 0 (shl, lshr) or the sign
  fill (ashr); rotates use the amount modulo bits;
- udiv/sdiv/urem/srem are undefined for a zero divisor and for sdiv overflow: the lifter guards them with a trap;
- ctlz/cttz of 0 give bits.

Vector ops (shapes VBINARY, VSHIFT, VSHUFFLE, VMASK) treat an i128 value as 128/L lanes of L bits, L being the op's
immediate; their exact semantics are in ``ir.vector``, shared by constant folding and the interpreter.

Floating-point ops (``fpenv=True``, the block at the end of the table) work on IEEE bit patterns held in integer
values: i32 is binary32, i64 is binary64. They compute exactly what the x86 SSE scalar instruction of the same name
computes (``ir.softfloat``): they read the rounding control, DAZ and FTZ from the state field ``FPENV_FIELD``
(``mxcsr``, SSE MXCSR layout) and OR their exception flags into it. So they are not pure: passes never remove,
duplicate, fold or reorder them across a get/put of that field or anything else that may read or write state.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass
from enum import Enum


class Ty(Enum):
    """Integer value types. ``bits`` is the width; ``mask`` the all-ones value (plain attributes: hot in passes)."""

    i1 = 1
    i8 = 8
    i16 = 16
    i32 = 32
    i64 = 64
    i128 = 128

    def __str__(self) -> str:  # printed as in the text form
        return self.name


for _t in Ty:
    _t.bits = _t.value
    _t.mask = (1 << _t.value) - 1


TYPES_BY_NAME = {t.name: t for t in Ty}
TYPES_BY_BITS = {t.bits: t for t in Ty}


class Shape(Enum):
    """How an op's operands, immediate and result are laid out (also its text form)."""

    CONST = "const"      # %r = const.T imm
    BINARY = "binary"    # %r = op.T %a, %b          (a, b, r: T)
    UNARY = "unary"      # %r = op.T %a              (a, r: T)
    CMP = "cmp"          # %r = op.i1 %a, %b          (a, b same type)
    CAST = "cast"        # %r = op.T %a               (a of another type)
    SELECT = "select"    # %r = select.T %c, %a, %b
    GET = "get"          # %r = get.T @field
    PUT = "put"          # put @field, %v
    GETL = "getl"        # %r = getl.T $n            (unit-local variable that survives labels)
    PUTL = "putl"        # putl $n, %v
    LOAD = "load"        # %r = load.T %addr          (addr: i64, guest linear address)
    STORE = "store"      # store %addr, %v
    CALL = "call"        # [%r = ]call[.T] name(%args...)
    LABEL = "label"      # label Ln
    BR = "br"            # br Ln
    BRIF = "brif"        # brif %c, Ln
    EXIT = "exit"        # exit %target     |  halt %target
    EXITIF = "exitif"    # exitif %c, %target        (side exit when c)
    TRAP = "trap"        # trap vec, %err
    TRAPIF = "trapif"    # trapif vec, %c, %err      (guest exception when c)
    INSN = "insn"        # insn 0xPC, len    (guest instruction boundary)
    # Vector ops on i128 values (semantics: ir.vector); the immediate is the lane width L (8/16/32/64) or a pattern.
    VBINARY = "vbinary"  # %r = op.i128 %a, %b, L              (a, b, r: i128)
    VSHIFT = "vshift"    # %r = op.i128 %a, %n, L              (n: i64 count, the same for every lane)
    VSHUFFLE = "vshuffle"  # %r = vshuffle.i128 %a, %b, 0xPAT  (16 byte indices into b:a, 8 bits each)
    VMASK = "vmask"      # %r = vmovmsk.i32 %a, L              (a: i128)
    FBINARY = "fbinary"  # %r = op.T %a, %b          (a, b, r: T in i32 i64; reads/writes the fp environment)
    FUNARY = "funary"    # %r = op.T %a              (a, r: T in i32 i64)
    FCAST = "fcast"      # %r = op.T %a              (a, r: i32 or i64, a of any of the two)


@dataclass(frozen=True, eq=False)
class OpDef:
    """One IR operation. ``code`` is its dense index; ops are compared (and hashed) by identity."""

    name: str
    shape: Shape
    formula: str
    pure: bool = False           # no effect but its result: foldable, removable when unused
    reads_state: bool = False
    writes_state: bool = False
    memory: bool = False          # touches guest memory (may fault)
    exits: bool = False           # may leave the unit (side exit, fault, helper that stops)
    terminator: bool = False      # ends the straight-line flow
    commutative: bool = False
    fpenv: bool = False           # reads and writes the fp environment, the state field FPENV_FIELD
    code: int = -1

    def __str__(self) -> str:
        return self.name

    # One object per op: copies and pickles give back the table's own object, so identity comparison holds.
    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return (_lookup, (self.name,))


def _lookup(name: str) -> "OpDef":
    return OP[name]


def _p(name, shape, formula, **kw):
    return OpDef(name, shape, formula, pure=True, **kw)


_DECLS = [
    _p("const", Shape.CONST, "r = imm"),
    _p("add", Shape.BINARY, "r = a + b", commutative=True),
    _p("sub", Shape.BINARY, "r = a - b"),
    _p("mul", Shape.BINARY, "r = a * b", commutative=True),
    _p("udiv", Shape.BINARY, "r = a / b (unsigned; b != 0)"),
    _p("sdiv", Shape.BINARY, "r = a / b (signed, toward zero; b != 0, no overflow)"),
    _p("urem", Shape.BINARY, "r = a % b (unsigned; b != 0)"),
    _p("srem", Shape.BINARY, "r = a - b * sdiv(a, b) (sign of a)"),
    _p("and", Shape.BINARY, "r = a & b", commutative=True),
    _p("or", Shape.BINARY, "r = a | b", commutative=True),
    _p("xor", Shape.BINARY, "r = a ^ b", commutative=True),
    _p("shl", Shape.BINARY, "r = a << b (0 if b >= bits)"),
    _p("lshr", Shape.BINARY, "r = a >> b logical (0 if b >= bits)"),
    _p("ashr", Shape.BINARY, "r = a >> b arithmetic (sign fill if b >= bits)"),
    _p("rotl", Shape.BINARY, "r = a rotated left by b mod bits"),
    _p("rotr", Shape.BINARY, "r = a rotated right by b mod bits"),
    _p("neg", Shape.UNARY, "r = -a"),
    _p("not", Shape.UNARY, "r = ~a"),
    _p("ctpop", Shape.UNARY, "r = number of set bits of a"),
    _p("ctlz", Shape.UNARY, "r = leading zero bits of a (bits if a == 0)"),
    _p("cttz", Shape.UNARY, "r = trailing zero bits of a (bits if a == 0)"),
    _p("bswap", Shape.UNARY, "r = a with its bytes reversed (T >= i16)"),
    _p("eq", Shape.CMP, "r = a == b", commutative=True),
    _p("ne", Shape.CMP, "r = a != b", commutative=True),
    _p("ult", Shape.CMP, "r = a < b unsigned"),
    _p("ule", Shape.CMP, "r = a <= b unsigned"),
    _p("slt", Shape.CMP, "r = a < b signed"),
    _p("sle", Shape.CMP, "r = a <= b signed"),
    _p("zext", Shape.CAST, "r = a zero-extended to T (T wider than a)"),
    _p("sext", Shape.CAST, "r = a sign-extended to T (T wider than a)"),
    _p("trunc", Shape.CAST, "r = a mod 2**bits(T) (T narrower than a)"),
    _p("select", Shape.SELECT, "r = a if c else b"),
    OpDef("get", Shape.GET, "r = state[field]", reads_state=True),
    OpDef("put", Shape.PUT, "state[field] = v", writes_state=True),
    OpDef("getl", Shape.GETL, "r = local[n]"),
    OpDef("putl", Shape.PUTL, "local[n] = v"),
    OpDef("load", Shape.LOAD, "r = mem[addr] (little endian, T bytes; may fault)", memory=True, exits=True,
          reads_state=True),
    OpDef("store", Shape.STORE, "mem[addr] = v (may fault)", memory=True, exits=True, reads_state=True),
    OpDef("call", Shape.CALL, "r = helper(state, args...): may read/write any state and memory, may stop",
          reads_state=True, writes_state=True, memory=True, exits=True),
    OpDef("label", Shape.LABEL, "branch target; no SSA value lives across it"),
    OpDef("br", Shape.BR, "goto label", terminator=True),
    OpDef("brif", Shape.BRIF, "if c: goto label"),
    OpDef("exit", Shape.EXIT, "leave the unit; next pc = target", exits=True, terminator=True, reads_state=True),
    OpDef("halt", Shape.EXIT, "leave the unit on HLT; next pc = target", exits=True, terminator=True,
          reads_state=True),
    OpDef("exitif", Shape.EXITIF, "if c: leave the unit; next pc = target", exits=True, reads_state=True),
    OpDef("trapif", Shape.TRAPIF, "if c: raise guest exception vec with error code err at the current insn",
          exits=True, reads_state=True),
    OpDef("trap", Shape.TRAP, "raise guest exception vec with error code err at the current insn", exits=True,
          terminator=True, reads_state=True),
    OpDef("insn", Shape.INSN, "a guest instruction (pc, length) starts here"),
]

# Vector ops on i128 values, L-bit lanes (L = the immediate). Exact semantics: ir.vector.
_V = Shape.VBINARY
_DECLS += [
    _p("vadd", _V, "r[i] = a[i] + b[i] mod 2**L", commutative=True),
    _p("vsub", _V, "r[i] = a[i] - b[i] mod 2**L"),
    _p("vadds", _V, "r[i] = sat_signed(a[i] + b[i])", commutative=True),
    _p("vaddu", _V, "r[i] = sat_unsigned(a[i] + b[i])", commutative=True),
    _p("vsubs", _V, "r[i] = sat_signed(a[i] - b[i])"),
    _p("vsubu", _V, "r[i] = sat_unsigned(a[i] - b[i]) (0 if b > a)"),
    _p("vcmpeq", _V, "r[i] = all ones if a[i] == b[i] else 0", commutative=True),
    _p("vcmpgt", _V, "r[i] = all ones if a[i] > b[i] signed else 0"),
    _p("vmins", _V, "r[i] = min(a[i], b[i]) signed", commutative=True),
    _p("vmaxs", _V, "r[i] = max(a[i], b[i]) signed", commutative=True),
    _p("vminu", _V, "r[i] = min(a[i], b[i]) unsigned", commutative=True),
    _p("vmaxu", _V, "r[i] = max(a[i], b[i]) unsigned", commutative=True),
    _p("vmul", _V, "r[i] = a[i] * b[i] mod 2**L", commutative=True),
    _p("vmulhs", _V, "r[i] = (a[i] * b[i] signed) >> L", commutative=True),
    _p("vmulhu", _V, "r[i] = (a[i] * b[i] unsigned) >> L", commutative=True),
    _p("vmulevu", _V, "r[2L-bit lane i] = a[2i] * b[2i] unsigned", commutative=True),
    _p("vmadd", _V, "r[2L-bit lane i] = a[2i]*b[2i] + a[2i+1]*b[2i+1] signed, mod 2**2L", commutative=True),
    _p("vsad", _V, "r[64-bit lane i] = sum of |a[j] - b[j]| over bytes j of lane i (L = 8)", commutative=True),
    _p("vavgu", _V, "r[i] = (a[i] + b[i] + 1) >> 1 unsigned", commutative=True),
    _p("vpacks", _V, "r[L/2-bit lanes] = sat_signed(a lanes, then b lanes)"),
    _p("vpacku", _V, "r[L/2-bit lanes] = sat_unsigned(signed a lanes, then b lanes)"),
    _p("vshl", Shape.VSHIFT, "r[i] = a[i] << n (0 if n >= L)"),
    _p("vlshr", Shape.VSHIFT, "r[i] = a[i] >> n logical (0 if n >= L)"),
    _p("vashr", Shape.VSHIFT, "r[i] = a[i] >> n arithmetic (sign fill if n >= L)"),
    _p("vshuffle", Shape.VSHUFFLE, "r byte i = (b:a) byte imm[i] (imm: 16 byte indices 0..31)"),
    _p("vmovmsk", Shape.VMASK, "r bit i = sign bit of a[i], other bits 0"),
]
VECTOR_SHAPES = frozenset((Shape.VBINARY, Shape.VSHIFT, Shape.VSHUFFLE, Shape.VMASK))


# --- floating point: x86 SSE scalar semantics on bit patterns (see the module docstring and ir.softfloat) ------------
FPENV_FIELD = "mxcsr"
FP_TYPES = ("i32", "i64")     # binary32, binary64
# fcmpq/fcmps results: the relation of a to b
FCMP_LT, FCMP_EQ, FCMP_GT, FCMP_UNORDERED = 0, 1, 2, 3


def _fp(name, shape, formula):
    return OpDef(name, shape, formula, reads_state=True, writes_state=True, fpenv=True)


_DECLS += [
    _fp("fadd", Shape.FBINARY, "r = a + b (ADDSS/ADDSD)"),
    _fp("fsub", Shape.FBINARY, "r = a - b (SUBSS/SUBSD)"),
    _fp("fmul", Shape.FBINARY, "r = a * b (MULSS/MULSD)"),
    _fp("fdiv", Shape.FBINARY, "r = a / b (DIVSS/DIVSD)"),
    _fp("fcmpq", Shape.FBINARY, "r = 0 lt, 1 eq, 2 gt, 3 unordered; IE only for an SNaN (UCOMISS/UCOMISD)"),
    _fp("fcmps", Shape.FBINARY, "r = 0 lt, 1 eq, 2 gt, 3 unordered; IE for any NaN (COMISS/COMISD)"),
    _fp("fmin", Shape.FBINARY, "r = a if a < b else b (b if either is NaN or both zero; IE for any NaN) (MINSS/MINSD)"),
    _fp("fmax", Shape.FBINARY, "r = a if a > b else b (b if either is NaN or both zero; IE for any NaN) (MAXSS/MAXSD)"),
    _fp("fsqrt", Shape.FUNARY, "r = sqrt(a) (SQRTSS/SQRTSD)"),
    _fp("fround", Shape.FUNARY, "r = a rounded to an integral value by MXCSR.RC, PE if inexact (ROUNDSD imm 4)"),
    _fp("fcvt", Shape.FCAST, "r = float a converted to the other float format (CVTSS2SD/CVTSD2SS)"),
    _fp("sitof", Shape.FCAST, "r = signed integer a converted to float, rounded by MXCSR.RC (CVTSI2SS/SD)"),
    _fp("ftosi", Shape.FCAST, "r = float a to signed integer by MXCSR.RC; indefinite 1 << (bits-1) if invalid (CVTSD2SI)"),
    _fp("ftosit", Shape.FCAST, "r = float a to signed integer truncated; indefinite if invalid (CVTTSD2SI)"),
]


class _OpTable:
    """Access to the declared ops: ``OP.add``, ``OP.and_`` (Python keywords get a trailing underscore),
    ``OP["and"]``, ``OP.by_code[i]``."""

    def __init__(self, decls):
        self.by_code = []
        self.by_name = {}
        for i, d in enumerate(decls):
            d = OpDef(**{**d.__dict__, "code": i})
            self.by_code.append(d)
            self.by_name[d.name] = d
            setattr(self, d.name + "_" if keyword.iskeyword(d.name) else d.name, d)

    def __getitem__(self, name: str) -> OpDef:
        return self.by_name[name]

    def __iter__(self):
        return iter(self.by_code)

    def __contains__(self, name) -> bool:
        return name in self.by_name


OP = _OpTable(_DECLS)
