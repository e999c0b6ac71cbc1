"""SSE/SSE2 floating-point arithmetic and compares (legacy encodings): ADD SUB MUL DIV MIN MAX SQRT in their SS SD
PS PD forms; UCOMISS UCOMISD COMISS COMISD; CMPSS CMPSD CMPPS CMPPD with predicates 0-7.

Every lane is one scalar fp op of ``ir.ops`` (``fadd``.. ``fcmps``, on i32 = binary32 / i64 = binary64 bit patterns)
under MXCSR, so rounding, DAZ/FTZ and the exception flags are those of the IR op; a packed form applies the op lane
by lane, so the flags of all lanes accumulate in MXCSR as on hardware.

- Scalar forms (SS, SD) replace the low lane of the destination and keep its upper bits; their memory source is 4 or
  8 bytes, with no alignment rule. Packed forms take xmm/m128, whose memory form must be 16-byte aligned (#GP(0)).
- SQRT* take the square root of the source; the destination is only written.
- MIN/MAX return the second (source) operand when either is a NaN or both are zeros, as the SDM's pseudo-code does.
- (U)COMIS*: ZF PF CF = 111 unordered, 000 greater, 001 less, 100 equal; OF SF AF cleared. UCOMIS* signal IE only
  for an SNaN (``fcmpq``), COMIS* for any NaN (``fcmps``).
- CMPcc*: all-ones or zero lanes. Capstone 5 names the 0F C2 opcode after its immediate (CMPSB, CMPXCHG16B...);
  ``dbt.decode`` renames it after its mandatory prefix and keeps the immediate as a third operand. Only imm8[2:0]
  count (legacy SSE; SDM: bits 7:3 reserved). LT LE NLT NLE signal IE on any NaN (``fcmps``), EQ UNORD NEQ ORD only
  on an SNaN (``fcmpq``).
- Unmasked exceptions (#XM) are not modelled: the fp ops stop with NotImplementedError (``ir.fpops``).
- MMX-register forms and the system CPU model (CR4.OSFXSR = 0) raise #UD (``dbt.lift.xmm.require_sse``).
"""

from __future__ import annotations

from ir import Ty
from ir.ops import FCMP_EQ, FCMP_GT, FCMP_LT, FCMP_UNORDERED

from dbt.lift import lifter
from dbt.lift.xmm import merge_low, read_low, read_x, require_sse
from dbt.lifters import string as _string

# Suffix -> (lane type, packed)
SUFFIX = {"SS": (Ty.i32, False), "SD": (Ty.i64, False), "PS": (Ty.i32, True), "PD": (Ty.i64, True)}


def lanes(ctx, x: int, ty: Ty, n: int | None = None) -> list:
    """The first ``n`` (default: all) ``ty`` lanes of ``x`` (i64 or i128), low lane first."""
    b = ctx.b
    xt = b.type_of(x)
    n = xt.bits // ty.bits if n is None else n
    return [ctx.resize(b.lshr(x, b.const(xt, i * ty.bits)) if i else x, ty) for i in range(n)]


def pack(ctx, values: list) -> int:
    """An i128 made of ``values`` (lanes of one type, low lane first); lanes past them are zero."""
    b = ctx.b
    r = None
    for i, v in enumerate(values):
        w = b.zext(Ty.i128, v)
        if i:
            w = b.shl(w, b.const(Ty.i128, i * b.type_of(v).bits))
        r = w if r is None else b.or_(r, w)
    return r


def source(ctx, ty: Ty, packed: bool) -> list:
    """The source operand (operand 1) as lanes: all of xmm/m128 (aligned) when packed, else the low ``ty`` lane."""
    if packed:
        return lanes(ctx, read_x(ctx, 1), ty)
    return [read_low(ctx, 1, ty)]


def write_lanes(ctx, values: list, packed: bool) -> None:
    """Destination operand 0: the whole register from ``values`` when packed, else its low lane only."""
    dst = ctx.insn.operands[0].reg
    ctx.set_reg(dst, pack(ctx, values) if packed else merge_low(ctx, ctx.reg(dst), values[0]))


_BINARY = {"ADD": "fadd", "SUB": "fsub", "MUL": "fmul", "DIV": "fdiv", "MIN": "fmin", "MAX": "fmax"}
_ARITH = {op + sfx: (fn, sfx) for op, fn in _BINARY.items() for sfx in SUFFIX}


@lifter(*_ARITH)
def lift_arith(ctx):
    require_sse(ctx)
    fn, sfx = _ARITH[ctx.insn.name]
    ty, packed = SUFFIX[sfx]
    srcs = source(ctx, ty, packed)
    dsts = lanes(ctx, ctx.reg(ctx.insn.operands[0].reg), ty, len(srcs))
    op = getattr(ctx.b, fn)
    write_lanes(ctx, [op(a, s) for a, s in zip(dsts, srcs)], packed)


_SQRT = {"SQRT" + sfx: sfx for sfx in SUFFIX}


@lifter(*_SQRT)
def lift_sqrt(ctx):
    require_sse(ctx)
    ty, packed = SUFFIX[_SQRT[ctx.insn.name]]
    write_lanes(ctx, [ctx.b.fsqrt(s) for s in source(ctx, ty, packed)], packed)


_COMIS = {"UCOMISS": (Ty.i32, "fcmpq"), "UCOMISD": (Ty.i64, "fcmpq"),
          "COMISS": (Ty.i32, "fcmps"), "COMISD": (Ty.i64, "fcmps")}


@lifter(*_COMIS)
def lift_comis(ctx):
    require_sse(ctx)
    b = ctx.b
    ty, fn = _COMIS[ctx.insn.name]
    s = read_low(ctx, 1, ty)
    r = getattr(b, fn)(ctx.resize(ctx.reg(ctx.insn.operands[0].reg), ty), s)
    rel = {k: b.eq(r, b.const(ty, k)) for k in (FCMP_LT, FCMP_EQ, FCMP_UNORDERED)}
    un = rel[FCMP_UNORDERED]
    ctx.set_flag("zf", b.or_(rel[FCMP_EQ], un))
    ctx.set_flag("pf", un)
    ctx.set_flag("cf", b.or_(rel[FCMP_LT], un))
    for f in ("of", "sf", "af"):
        ctx.set_flag(f, b.const(Ty.i1, 0))


# Predicate (imm8[2:0]) -> (fp op, set of fcmp results for which it holds, as a bit mask: bit r)
_LT, _EQ, _GT, _UN = (1 << FCMP_LT), (1 << FCMP_EQ), (1 << FCMP_GT), (1 << FCMP_UNORDERED)
_PREDICATES = (
    ("fcmpq", _EQ),                      # EQ
    ("fcmps", _LT),                      # LT
    ("fcmps", _LT | _EQ),                # LE
    ("fcmpq", _UN),                      # UNORD
    ("fcmpq", _LT | _GT | _UN),          # NEQ
    ("fcmps", _EQ | _GT | _UN),          # NLT
    ("fcmps", _GT | _UN),                # NLE
    ("fcmpq", _LT | _EQ | _GT),          # ORD
)


def _holds(ctx, pred: int, a: int, s: int) -> int:
    """i1: predicate ``pred`` holds for ``a`` and ``s``."""
    b = ctx.b
    fn, mask = _PREDICATES[pred]
    r = getattr(b, fn)(a, s)
    return b.trunc(Ty.i1, b.lshr(b.const(b.type_of(r), mask), r))


_CMP = {"CMP" + sfx: sfx for sfx in SUFFIX}


@lifter("CMPPS", "CMPPD", "CMPSS")
def lift_cmp(ctx):
    require_sse(ctx)
    b = ctx.b
    ty, packed = SUFFIX[_CMP[ctx.insn.name]]
    pred = ctx.insn.operands[2].imm & 7
    srcs = source(ctx, ty, packed)
    dsts = lanes(ctx, ctx.reg(ctx.insn.operands[0].reg), ty, len(srcs))
    write_lanes(ctx, [b.sext(ty, _holds(ctx, pred, a, s)) for a, s in zip(dsts, srcs)], packed)


_string.SSE_FORMS["CMPSD"] = lift_cmp
