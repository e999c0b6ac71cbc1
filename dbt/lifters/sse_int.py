"""SSE2 integer and logic instructions on XMM registers (legacy encodings): PAND PANDN POR PXOR and the ANDPS ANDPD
ANDNPS ANDNPD ORPS ORPD XORPS XORPD bit operations; PADD/PSUB (B W D Q, and the saturating SB SW USB USW); PMULLW
PMULHW PMULHUW PMULUDQ PMADDWD PSADBW PAVGB PAVGW PMINUB PMAXUB PMINSW PMAXSW; PCMPEQB/W/D PCMPGTB/W/D; the shifts
PSLLW/D/Q PSRLW/D/Q PSRAW/D (immediate and xmm/m128 count) and the byte shifts PSLLDQ PSRLDQ.

Each is one IR vector op (``ir.vector``) over the destination and the xmm/m128 source, whose memory form must be
16-byte aligned (#GP(0) otherwise, ``dbt.lift.xmm``). Shift counts are the immediate or the low 64 bits of the
source, unsigned, the same for every lane: a count >= the lane width gives 0 (PSRA*: the sign fill), as the SDM
defines; PSLLDQ/PSRLDQ counts above 15 give 0. MMX-register forms raise #UD (not implemented).
"""

from __future__ import annotations

from ir import Ty

from dbt.lift import lifter
from dbt.lift.xmm import lane_bytes, read_x, require_sse

# Mnemonic -> (vector op, lane width)
_LANEWISE = {
    "PADDB": ("vadd", 8), "PADDW": ("vadd", 16), "PADDD": ("vadd", 32), "PADDQ": ("vadd", 64),
    "PSUBB": ("vsub", 8), "PSUBW": ("vsub", 16), "PSUBD": ("vsub", 32), "PSUBQ": ("vsub", 64),
    "PADDSB": ("vadds", 8), "PADDSW": ("vadds", 16), "PADDUSB": ("vaddu", 8), "PADDUSW": ("vaddu", 16),
    "PSUBSB": ("vsubs", 8), "PSUBSW": ("vsubs", 16), "PSUBUSB": ("vsubu", 8), "PSUBUSW": ("vsubu", 16),
    "PMULLW": ("vmul", 16), "PMULHW": ("vmulhs", 16), "PMULHUW": ("vmulhu", 16), "PMULUDQ": ("vmulevu", 32),
    "PMADDWD": ("vmadd", 16), "PSADBW": ("vsad", 8), "PAVGB": ("vavgu", 8), "PAVGW": ("vavgu", 16),
    "PMINUB": ("vminu", 8), "PMAXUB": ("vmaxu", 8), "PMINSW": ("vmins", 16), "PMAXSW": ("vmaxs", 16),
    "PCMPEQB": ("vcmpeq", 8), "PCMPEQW": ("vcmpeq", 16), "PCMPEQD": ("vcmpeq", 32),
    "PCMPGTB": ("vcmpgt", 8), "PCMPGTW": ("vcmpgt", 16), "PCMPGTD": ("vcmpgt", 32),
}


@lifter(*_LANEWISE)
def lift_lanewise(ctx):
    require_sse(ctx)
    op, lanes = _LANEWISE[ctx.insn.name]
    src = read_x(ctx, 1)
    dst = ctx.insn.operands[0].reg
    ctx.set_reg(dst, getattr(ctx.b, op)(ctx.reg(dst), src, lanes))


_LOGIC = {"PAND": "and_", "ANDPS": "and_", "ANDPD": "and_", "POR": "or_", "ORPS": "or_", "ORPD": "or_",
          "PXOR": "xor", "XORPS": "xor", "XORPD": "xor"}


@lifter(*_LOGIC)
def lift_logic(ctx):
    require_sse(ctx)
    src = read_x(ctx, 1)
    dst = ctx.insn.operands[0].reg
    ctx.set_reg(dst, getattr(ctx.b, _LOGIC[ctx.insn.name])(ctx.reg(dst), src))


@lifter("PANDN", "ANDNPS", "ANDNPD")
def lift_andn(ctx):
    """dst = ~dst & src."""
    require_sse(ctx)
    b = ctx.b
    src = read_x(ctx, 1)
    dst = ctx.insn.operands[0].reg
    ctx.set_reg(dst, b.and_(b.not_(ctx.reg(dst)), src))


_SHIFTS = {
    "PSLLW": ("vshl", 16), "PSLLD": ("vshl", 32), "PSLLQ": ("vshl", 64),
    "PSRLW": ("vlshr", 16), "PSRLD": ("vlshr", 32), "PSRLQ": ("vlshr", 64),
    "PSRAW": ("vashr", 16), "PSRAD": ("vashr", 32),
}


@lifter(*_SHIFTS)
def lift_shift(ctx):
    require_sse(ctx)
    b = ctx.b
    op, lanes = _SHIFTS[ctx.insn.name]
    count_op = ctx.insn.operands[1]
    if count_op.kind == "imm":
        count = b.const(Ty.i64, count_op.imm & 0xFF)
    else:
        count = b.trunc(Ty.i64, read_x(ctx, 1))     # the low quadword of xmm/m128 (m128 aligned)
    dst = ctx.insn.operands[0].reg
    ctx.set_reg(dst, getattr(b, op)(ctx.reg(dst), count, lanes))


@lifter("PSLLDQ", "PSRLDQ")
def lift_byte_shift(ctx):
    """Whole-register shifts by imm8 bytes (> 15: zero), as a shuffle with a zero second operand."""
    require_sse(ctx)
    b = ctx.b
    n = min(ctx.insn.operands[1].imm & 0xFF, 16)
    left = ctx.insn.name == "PSLLDQ"
    lanes = [(0, i - n) if left and i >= n else (0, i + n) if not left and i + n < 16 else (None, 0)
             for i in range(16)]
    dst = ctx.insn.operands[0].reg
    ctx.set_reg(dst, b.vshuffle(ctx.reg(dst), b.const(Ty.i128, 0), lane_bytes(lanes, 8)))
