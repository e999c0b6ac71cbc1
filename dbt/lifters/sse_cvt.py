"""SSE/SSE2 conversions (legacy encodings): CVTSI2SS CVTSI2SD (r/m32, r/m64), CVTSS2SI CVTSD2SI CVTTSS2SI CVTTSD2SI
(to r32, r64), CVTSS2SD CVTSD2SS, CVTPS2PD CVTPD2PS, CVTDQ2PS CVTPS2DQ CVTTPS2DQ, CVTDQ2PD CVTPD2DQ CVTTPD2DQ.

Each lane is one fp op of ``ir.ops`` under MXCSR: ``sitof`` (int -> float, rounded by RC), ``ftosi``/``ftosit``
(float -> int by RC / truncated; NaN and out-of-range give the integer indefinite 1 << (bits-1) with IE), ``fcvt``
(float <-> double; DAZ/FTZ, SNaN quieting and the flags as the op defines them).

- Scalar results replace the low lane of the destination xmm and keep its upper bits (CVTSI2SS/SD, CVTSS2SD,
  CVTSD2SS); integer results go to a general register at its size (a 32-bit write zero-extends).
- Packed results fill the whole destination: the two-lane narrowing forms (CVTPD2PS, CVTPD2DQ, CVTTPD2DQ) zero its
  upper 64 bits.
- Sources: xmm/m128 (16-byte aligned, #GP(0)) when all 128 bits are read; the widening forms CVTPS2PD and CVTDQ2PD
  read xmm/m64 and the scalar ones xmm/m32 or xmm/m64, with no alignment rule.
- The MMX forms: CVTPI2PS xmm, mm/m64 (two dwords to floats in the low quadword; the upper one is kept), CVTPI2PD
  xmm, mm/m64 (to two doubles), CVTPS2PI CVTTPS2PI mm, xmm/m64 and CVTPD2PI CVTTPD2PI mm, xmm/m128 (aligned). A
  form with an mm operand performs the x87 -> MMX transition (``dbt.lift.mmx``); CVTPI2PS/PD from m64 does not.
- Unmasked exceptions (#XM) are not modelled (``ir.fpops``).
"""

from __future__ import annotations

from ir import Ty

from dbt.lift import lifter
from dbt.lift.context import TY_BY_SIZE
from dbt.lift.mmx import is_mm, mm_index, read_mm, regclass, set_mm
from dbt.lift.xmm import merge_low, read_low, read_x, require_sse, write_gpr
from dbt.lifters.sse_fp import lanes, pack

PACKED, SCALAR = "packed", "scalar"

# Mnemonic -> (source lane type, source lanes, fp op, result lane type, how the destination is written)
_XMM = {
    "CVTSS2SD": (Ty.i32, 1, "fcvt", Ty.i64, SCALAR),
    "CVTSD2SS": (Ty.i64, 1, "fcvt", Ty.i32, SCALAR),
    "CVTPS2PD": (Ty.i32, 2, "fcvt", Ty.i64, PACKED),
    "CVTPD2PS": (Ty.i64, 2, "fcvt", Ty.i32, PACKED),
    "CVTDQ2PS": (Ty.i32, 4, "sitof", Ty.i32, PACKED),
    "CVTPS2DQ": (Ty.i32, 4, "ftosi", Ty.i32, PACKED),
    "CVTTPS2DQ": (Ty.i32, 4, "ftosit", Ty.i32, PACKED),
    "CVTDQ2PD": (Ty.i32, 2, "sitof", Ty.i64, PACKED),
    "CVTPD2DQ": (Ty.i64, 2, "ftosi", Ty.i32, PACKED),
    "CVTTPD2DQ": (Ty.i64, 2, "ftosit", Ty.i32, PACKED),
}


@lifter(*_XMM)
def lift_cvt_xmm(ctx):
    require_sse(ctx)
    sty, n, fn, rty, how = _XMM[ctx.insn.name]
    bits = sty.bits * n
    src = read_x(ctx, 1) if bits == 128 else read_low(ctx, 1, TY_BY_SIZE[bits // 8])
    op = getattr(ctx.b, fn)
    out = [op(rty, v) for v in lanes(ctx, src, sty, n)]
    dst = ctx.insn.operands[0].reg
    ctx.set_reg(dst, pack(ctx, out) if how is PACKED else merge_low(ctx, ctx.reg(dst), out[0]))


_SI2F = {"CVTSI2SS": Ty.i32, "CVTSI2SD": Ty.i64}


@lifter(*_SI2F)
def lift_cvtsi2f(ctx):
    """xmm low lane = the signed r/m32 or r/m64 (its size from the operand: REX.W) as a float."""
    require_sse(ctx)
    v = ctx.b.sitof(_SI2F[ctx.insn.name], ctx.read(1))
    dst = ctx.insn.operands[0].reg
    ctx.set_reg(dst, merge_low(ctx, ctx.reg(dst), v))


_F2SI = {"CVTSS2SI": (Ty.i32, "ftosi"), "CVTSD2SI": (Ty.i64, "ftosi"),
         "CVTTSS2SI": (Ty.i32, "ftosit"), "CVTTSD2SI": (Ty.i64, "ftosit")}


@lifter(*_F2SI)
def lift_cvtf2si(ctx):
    """r32/r64 = the low float lane of xmm/m32|m64 converted to a signed integer of the register's size."""
    require_sse(ctx)
    sty, fn = _F2SI[ctx.insn.name]
    rty = TY_BY_SIZE[ctx.insn.operands[0].size]
    write_gpr(ctx, 0, getattr(ctx.b, fn)(rty, read_low(ctx, 1, sty)))


# Mnemonic -> (source lane type, fp op, result lane type, where the result goes); two lanes each
_MMX = {
    "CVTPI2PS": (Ty.i32, "sitof", Ty.i32, "low"),
    "CVTPI2PD": (Ty.i32, "sitof", Ty.i64, "xmm"),
    "CVTPS2PI": (Ty.i32, "ftosi", Ty.i32, "mm"),
    "CVTTPS2PI": (Ty.i32, "ftosit", Ty.i32, "mm"),
    "CVTPD2PI": (Ty.i64, "ftosi", Ty.i32, "mm"),
    "CVTTPD2PI": (Ty.i64, "ftosit", Ty.i32, "mm"),
}


@lifter(*_MMX)
def lift_cvt_mmx(ctx):
    regclass(ctx)           # the checks, and the MMX transition when an operand is an mm register
    b = ctx.b
    sty, fn, rty, how = _MMX[ctx.insn.name]
    src_op = ctx.insn.operands[1]
    if sty is Ty.i64:
        src = read_x(ctx, 1)                       # xmm/m128, aligned
    elif src_op.kind == "mem" or is_mm(src_op):
        src = read_mm(ctx, 1)
    else:
        src = b.trunc(Ty.i64, ctx.reg(src_op.reg))
    out = [getattr(b, fn)(rty, v) for v in lanes(ctx, src, sty, 2)]
    v = pack(ctx, out)
    dst = ctx.insn.operands[0]
    if how == "mm":
        set_mm(ctx, mm_index(dst), b.trunc(Ty.i64, v))
    elif how == "low":
        ctx.set_reg(dst.reg, merge_low(ctx, ctx.reg(dst.reg), b.trunc(Ty.i64, v)))
    else:
        ctx.set_reg(dst.reg, v)
