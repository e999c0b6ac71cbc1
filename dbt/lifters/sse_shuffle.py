"""SSE2 pack, unpack and shuffle instructions (legacy encodings): PUNPCKLBW/WD/DQ/QDQ PUNPCKHBW/WD/DQ/QDQ
UNPCKLPS UNPCKHPS UNPCKLPD UNPCKHPD, PACKSSWB PACKSSDW PACKUSWB, PSHUFD PSHUFLW PSHUFHW SHUFPS SHUFPD, PEXTRW PINSRW.

Every permutation is one ``vshuffle`` of the destination and the source with a constant byte pattern worked out here
from the lane width and the immediate; the packs are ``vpacks``/``vpacku``. Memory sources are m128 and must be
16-byte aligned (#GP(0)), except PINSRW's m16. PEXTRW/PINSRW take the word index modulo 8; PEXTRW zero-extends into
the whole destination register.

MMX forms (``dbt.lift.mmx``; mm/m64 sources, no alignment rule): the same patterns over the 64-bit layout, worked
out from the register width (``rc.bits``): PUNPCKL* interleave the low dwords, PUNPCKH* the high ones; the packs
saturate dst's lanes then src's into one quadword (the two operands are joined into one i128 first); PSHUFW picks
four words of mm/m64; PEXTRW/PINSRW mm take the word index modulo 4.
"""

from __future__ import annotations

from ir import Ty

from dbt.lift import lifter
from dbt.lift.mmx import regclass
from dbt.lift.xmm import lane_bytes, read_low, read_x, require_sse, write_gpr

# Mnemonic -> (lane width, high half?)
_UNPACK = {
    "PUNPCKLBW": (8, False), "PUNPCKLWD": (16, False), "PUNPCKLDQ": (32, False), "PUNPCKLQDQ": (64, False),
    "PUNPCKHBW": (8, True), "PUNPCKHWD": (16, True), "PUNPCKHDQ": (32, True), "PUNPCKHQDQ": (64, True),
    "UNPCKLPS": (32, False), "UNPCKHPS": (32, True), "UNPCKLPD": (64, False), "UNPCKHPD": (64, True),
}


@lifter(*_UNPACK)
def lift_unpack(ctx):
    """Interleave the low (or high) halves: dst[0], src[0], dst[1], src[1], ..."""
    rc = regclass(ctx)
    L, high = _UNPACK[ctx.insn.name]
    half = rc.bits // 2 // L
    first = half if high else 0
    lanes = [(s, first + i) for i in range(half) for s in (0, 1)]
    src = rc.read(ctx, 1)
    rc.write(ctx, 0, ctx.b.vshuffle(rc.read(ctx, 0), src, pad16(lane_bytes(lanes, L))))


def pad16(pattern: list) -> list:
    """A 64-bit (MMX) result's 8-byte vshuffle pattern completed to 16 bytes (the upper ones are discarded)."""
    return pattern + [0] * (16 - len(pattern))


_PACK = {"PACKSSWB": ("vpacks", 16), "PACKSSDW": ("vpacks", 32), "PACKUSWB": ("vpacku", 16)}


@lifter(*_PACK)
def lift_pack(ctx):
    rc = regclass(ctx)
    b = ctx.b
    op, lanes = _PACK[ctx.insn.name]
    src = rc.read(ctx, 1)
    dst = rc.read(ctx, 0)
    if rc.bits == 64:       # one i128 of dst's lanes then src's: its packed low half is the MMX result
        dst, src = b.or_(dst, b.shl(src, b.const(Ty.i128, 64))), b.const(Ty.i128, 0)
    rc.write(ctx, 0, getattr(b, op)(dst, src, lanes))


def _sel(imm: int, i: int, bits: int = 2) -> int:
    return (imm >> (bits * i)) & ((1 << bits) - 1)


@lifter("PSHUFD", "PSHUFLW", "PSHUFHW")
def lift_pshuf(ctx):
    require_sse(ctx)
    name = ctx.insn.name
    imm = ctx.insn.operands[2].imm
    src = read_x(ctx, 1)
    if name == "PSHUFD":
        pattern = lane_bytes([(0, _sel(imm, i)) for i in range(4)], 32)
    elif name == "PSHUFLW":
        pattern = lane_bytes([(0, _sel(imm, i)) for i in range(4)] + [(0, i) for i in range(4, 8)], 16)
    else:
        pattern = lane_bytes([(0, i) for i in range(4)] + [(0, 4 + _sel(imm, i)) for i in range(4)], 16)
    ctx.set_reg(ctx.insn.operands[0].reg, ctx.b.vshuffle(src, src, pattern))


@lifter("PSHUFW")
def lift_pshufw(ctx):
    """mm = four words of mm/m64 chosen by the imm8's 2-bit fields."""
    rc = regclass(ctx)
    imm = ctx.insn.operands[2].imm
    src = rc.read(ctx, 1)
    rc.write(ctx, 0, ctx.b.vshuffle(src, src, pad16(lane_bytes([(0, _sel(imm, i)) for i in range(4)], 16))))


@lifter("SHUFPS", "SHUFPD")
def lift_shufp(ctx):
    """The low half of the result selects from the destination, the high half from the source."""
    require_sse(ctx)
    imm = ctx.insn.operands[2].imm
    if ctx.insn.name == "SHUFPS":
        pattern = lane_bytes([(0, _sel(imm, 0)), (0, _sel(imm, 1)), (1, _sel(imm, 2)), (1, _sel(imm, 3))], 32)
    else:
        pattern = lane_bytes([(0, imm & 1), (1, (imm >> 1) & 1)], 64)
    src = read_x(ctx, 1)
    dst = ctx.insn.operands[0].reg
    ctx.set_reg(dst, ctx.b.vshuffle(ctx.reg(dst), src, pattern))


@lifter("PEXTRW")
def lift_pextrw(ctx):
    rc = regclass(ctx)
    b = ctx.b
    dst, _, sel = ctx.insn.operands
    words = rc.bits // 16
    word = b.trunc(Ty.i16, b.lshr(rc.read(ctx, 1), b.const(Ty.i128, 16 * (sel.imm & (words - 1)))))
    if dst.kind == "mem":
        ctx.write(0, word)                     # the SSE4.1 encoding (66 0F 3A 15) also takes m16
    else:
        write_gpr(ctx, 0, word)


@lifter("PINSRW")
def lift_pinsrw(ctx):
    rc = regclass(ctx)
    b = ctx.b
    dst, _, sel = ctx.insn.operands
    shift = 16 * (sel.imm & (rc.bits // 16 - 1))
    w = read_low(ctx, 1, Ty.i16)
    old = rc.read(ctx, 0)
    keep = b.and_(old, b.const(Ty.i128, ((1 << 128) - 1) ^ (0xFFFF << shift)))
    rc.write(ctx, 0, b.or_(keep, b.shl(b.zext(Ty.i128, w), b.const(Ty.i128, shift))))
