"""SSE2 integer and logic instructions on XMM registers (legacy encodings): PAND PANDN POR PXOR and the ANDPS ANDPD
ANDNPS ANDNPD ORPS ORPD XORPS XORPD bit operations; PADD/PSUB (B W D Q, and the saturating SB SW USB USW); PMULLW
PMULHW PMULHUW PMULUDQ PMADDWD PSADBW PAVGB PAVGW PMINUB PMAXUB PMINSW PMAXSW; PCMPEQB/W/D PCMPGTB/W/D; the shifts
PSLLW/D/Q PSRLW/D/Q PSRAW/D (immediate and xmm/m128 count) and the byte shifts PSLLDQ PSRLDQ.

Each is one IR vector op (``ir.vector``) over the destination and the xmm/m128 source, whose memory form must be
16-byte aligned (#GP(0) otherwise, ``dbt.lift.xmm``). Shift counts are the immediate or the low 64 bits of the
source, unsigned, the same for every lane: a count >= the lane width gives 0 (PSRA*: the sign fill), as the SDM
defines; PSLLDQ/PSRLDQ counts above 15 give 0.

MMX forms (mm, mm/m64; ``dbt.lift.mmx``): the same ops on the zero-extended 64-bit operands, whose low half is the
MMX result (every op here is lane-wise, so the zero upper lanes never reach it; PSADBW's second sum is 0). PMULUDQ
mm multiplies the low dwords into one quadword; the shift count is the whole mm/m64 operand.
"""

from __future__ import annotations

from ir import Ty

from dbt.lift import lifter
from dbt.lift.mmx import regclass
from dbt.lift.xmm import lane_bytes, require_sse

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
    rc = regclass(ctx)
    op, lanes = _LANEWISE[ctx.insn.name]
    src = rc.read(ctx, 1)
    rc.write(ctx, 0, getattr(ctx.b, op)(rc.read(ctx, 0), src, lanes))


_LOGIC = {"PAND": "and_", "ANDPS": "and_", "ANDPD": "and_", "POR": "or_", "ORPS": "or_", "ORPD": "or_",
          "PXOR": "xor", "XORPS": "xor", "XORPD": "xor"}


@lifter(*_LOGIC)
def lift_logic(ctx):
    rc = regclass(ctx)
    src = rc.read(ctx, 1)
    rc.write(ctx, 0, getattr(ctx.b, _LOGIC[ctx.insn.name])(rc.read(ctx, 0), src))


@lifter("PANDN", "ANDNPS", "ANDNPD")
def lift_andn(ctx):
    """dst = ~dst & src."""
    rc = regclass(ctx)
    b = ctx.b
    src = rc.read(ctx, 1)
    rc.write(ctx, 0, b.and_(b.not_(rc.read(ctx, 0)), src))


_SHIFTS = {
    "PSLLW": ("vshl", 16), "PSLLD": ("vshl", 32), "PSLLQ": ("vshl", 64),
    "PSRLW": ("vlshr", 16), "PSRLD": ("vlshr", 32), "PSRLQ": ("vlshr", 64),
    "PSRAW": ("vashr", 16), "PSRAD": ("vashr", 32),
}


@lifter(*_SHIFTS)
def lift_shift(ctx):
    rc = regclass(ctx)
    b = ctx.b
    op, lanes = _SHIFTS[ctx.insn.name]
    count_op = ctx.insn.operands[1]
    if count_op.kind == "imm":
        count = b.const(Ty.i64, count_op.imm & 0xFF)
    else:
        count = b.trunc(Ty.i64, rc.read(ctx, 1))     # the low quadword of xmm/m128 (m128 aligned), or mm/m64
    rc.write(ctx, 0, getattr(b, op)(rc.read(ctx, 0), count, lanes))


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
