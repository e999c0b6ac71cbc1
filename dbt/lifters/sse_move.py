"""SSE/SSE2 data movement (legacy encodings): MOVD MOVQ MOVDQA MOVDQU MOVAPS MOVUPS MOVAPD MOVUPD, the data-movement
forms of MOVSS/MOVSD, MOVHPS MOVLPS MOVHPD MOVLPD MOVHLPS MOVLHPS, the non-temporal stores MOVNTDQ MOVNTPS MOVNTPD
MOVNTI, and MOVMSKPS MOVMSKPD PMOVMSKB.

Semantics (SDM Vol. 2): a MOVD/MOVQ or MOVSS/MOVSD load into an XMM register zero-extends to 128 bits; MOVQ xmm, xmm
keeps the low quadword and zeroes the upper one; MOVSS/MOVSD between registers replace only the low lane; the
aligned moves (A, NT) fault with #GP(0) on a memory operand that is not 16-byte aligned (``dbt.lift.xmm``).
MASKMOVDQU xmm1, xmm2 stores the bytes of xmm1 whose byte in xmm2 has its sign bit set to DS:rDI (no alignment).
Departures: the non-temporal hint is ignored (a plain store; our memory has no caches to bypass); MASKMOVDQU is a
16-byte read-modify-write, so it faults like a 16-byte store even where the mask is zero (the SDM leaves faults of
masked-out bytes implementation-dependent) and is not atomic against other writers; the MOVSD mnemonic is shared
with the string instruction, whose lifter hands its SSE forms to ``lift_movsd`` here. Not here: LDDQU (SSE3).

MMX forms (``dbt.lift.mmx``): MOVD mm <- r/m32 zero-extends to 64 bits, MOVD r/m32 <- mm takes the low dword; MOVQ
moves 64 bits between mm, r64, m64; MOVNTQ m64, mm (a plain store); MASKMOVQ mm1, mm2 (as MASKMOVDQU, an 8-byte
read-modify-write at DS:rDI); PMOVMSKB r, mm (8 bits); MOVQ2DQ xmm, mm (zero-extends) and MOVDQ2Q mm, xmm (the low
quadword). Each performs the x87 -> MMX transition.
"""

from __future__ import annotations

from ir import Ty

from dbt.lift import lifter
from dbt.lift.context import TY_BY_SIZE
from dbt.lift.mmx import get_mm, is_mm, mm_index, regclass, set_mm
from dbt.lift.xmm import hi64, lo64, merge_low, read_low, read_x, require_sse, with_high64, write_gpr, write_x
from dbt.lifters import string as _string


def _is_xmm(op) -> bool:
    return op.kind == "reg" and op.reg.startswith("xmm")


@lifter("MOVD", "MOVQ")
def lift_movd(ctx):
    rc = regclass(ctx)
    dst, src = ctx.insn.operands
    b = ctx.b
    if rc.bits == 64:
        if is_mm(dst):
            v = get_mm(ctx, mm_index(src)) if is_mm(src) else ctx.resize(ctx.read(1, TY_BY_SIZE[src.size]), Ty.i64)
            set_mm(ctx, mm_index(dst), v)
        else:
            ctx.write(0, ctx.resize(get_mm(ctx, mm_index(src)), TY_BY_SIZE[dst.size]))
    elif _is_xmm(dst):
        size = 8 if _is_xmm(src) else src.size             # MOVQ xmm, xmm moves the low quadword
        ctx.set_reg(dst.reg, b.zext(Ty.i128, read_low(ctx, 1, TY_BY_SIZE[size])))
    else:
        ctx.write(0, read_low(ctx, 1, TY_BY_SIZE[dst.size]))


@lifter("MOVDQA", "MOVAPS", "MOVAPD", "MOVNTDQ", "MOVNTPS", "MOVNTPD")
def lift_mov_aligned(ctx):
    require_sse(ctx)
    write_x(ctx, 0, read_x(ctx, 1))


@lifter("MOVDQU", "MOVUPS", "MOVUPD")
def lift_mov_unaligned(ctx):
    require_sse(ctx)
    write_x(ctx, 0, read_x(ctx, 1, aligned=False), aligned=False)


@lifter("MOVNTQ")
def lift_movntq(ctx):
    regclass(ctx)
    ctx.write(0, get_mm(ctx, mm_index(ctx.insn.operands[1])))


@lifter("MOVQ2DQ")
def lift_movq2dq(ctx):
    regclass(ctx)
    ctx.set_reg(ctx.insn.operands[0].reg, ctx.b.zext(Ty.i128, get_mm(ctx, mm_index(ctx.insn.operands[1]))))


@lifter("MOVDQ2Q")
def lift_movdq2q(ctx):
    regclass(ctx)
    set_mm(ctx, mm_index(ctx.insn.operands[0]), lo64(ctx, ctx.reg(ctx.insn.operands[1].reg)))


@lifter("MOVNTI")
def lift_movnti(ctx):
    ctx.write(0, ctx.read(1))


def _mov_scalar(ctx, ty: Ty):
    """MOVSS (ty = i32) / MOVSD (i64): load zero-extends, register to register merges the low lane, store."""
    dst, src = ctx.insn.operands
    b = ctx.b
    if not _is_xmm(dst):
        ctx.write(0, read_low(ctx, 1, ty))
    elif _is_xmm(src):
        ctx.set_reg(dst.reg, merge_low(ctx, ctx.reg(dst.reg), b.trunc(ty, ctx.reg(src.reg))))
    else:
        ctx.set_reg(dst.reg, b.zext(Ty.i128, read_low(ctx, 1, ty)))


@lifter("MOVSS")
def lift_movss(ctx):
    require_sse(ctx)
    _mov_scalar(ctx, Ty.i32)


def lift_movsd(ctx):
    """The SSE2 MOVSD (F2 0F 10/11); the string MOVSD's lifter calls it for forms with an XMM operand."""
    require_sse(ctx)
    _mov_scalar(ctx, Ty.i64)


_string.SSE_FORMS["MOVSD"] = lift_movsd


@lifter("MOVHPS", "MOVHPD")
def lift_movhps(ctx):
    require_sse(ctx)
    dst, _ = ctx.insn.operands
    if _is_xmm(dst):
        ctx.set_reg(dst.reg, with_high64(ctx, ctx.reg(dst.reg), ctx.load(Ty.i64, ctx.addr(1))))
    else:
        ctx.write(0, hi64(ctx, ctx.reg(ctx.insn.operands[1].reg)))


@lifter("MOVLPS", "MOVLPD")
def lift_movlps(ctx):
    require_sse(ctx)
    dst, _ = ctx.insn.operands
    if _is_xmm(dst):
        ctx.set_reg(dst.reg, merge_low(ctx, ctx.reg(dst.reg), ctx.load(Ty.i64, ctx.addr(1))))
    else:
        ctx.write(0, lo64(ctx, ctx.reg(ctx.insn.operands[1].reg)))


@lifter("MOVHLPS")
def lift_movhlps(ctx):
    require_sse(ctx)
    dst, src = ctx.insn.operands
    ctx.set_reg(dst.reg, merge_low(ctx, ctx.reg(dst.reg), hi64(ctx, ctx.reg(src.reg))))


@lifter("MOVLHPS")
def lift_movlhps(ctx):
    require_sse(ctx)
    dst, src = ctx.insn.operands
    ctx.set_reg(dst.reg, with_high64(ctx, ctx.reg(dst.reg), lo64(ctx, ctx.reg(src.reg))))


@lifter("MASKMOVDQU", "MASKMOVQ")
def lift_maskmovdqu(ctx):
    rc = regclass(ctx)
    b = ctx.b
    src, mask = rc.read(ctx, 0), rc.read(ctx, 1)
    n = rc.bits // 8
    di = {2: "di", 4: "edi", 8: "rdi"}[ctx.insn.addrsize]
    addr = ctx.linear(ctx.insn.seg or "ds", ctx.reg(di), n)
    old = b.zext(Ty.i128, ctx.load(Ty.i64, addr)) if n == 8 else ctx.load(Ty.i128, addr)
    # Each selected byte: 0xFF where the mask byte's sign is set (an arithmetic shift of each byte lane by 7).
    sel = b.vcmpgt(b.const(Ty.i128, 0), mask, 8)
    new = b.or_(b.and_(src, sel), b.and_(old, b.not_(sel)))
    ctx.store(addr, b.trunc(Ty.i64, new) if n == 8 else new)


_MSK_LANES = {"MOVMSKPS": 32, "MOVMSKPD": 64, "PMOVMSKB": 8}


@lifter(*_MSK_LANES)
def lift_movmsk(ctx):
    rc = regclass(ctx)
    write_gpr(ctx, 0, ctx.b.vmovmsk(rc.read(ctx, 1), _MSK_LANES[ctx.insn.name]))
