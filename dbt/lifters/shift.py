"""Shifts and rotates: SHL/SAL SHR SAR ROL ROR RCL RCR SHLD SHRD (SDM Vol. 2).

The count is masked to 5 bits (6 with a 64-bit operand). RCL/RCR rotate through CF, so 8- and 16-bit operands use
the masked count modulo 9 and 17. A count of 0 (after masking; for RCL/RCR after the modulo) changes no flag; an
immediate count is resolved while lifting, a CL count selects between the old and new flag values. The destination
is written even for a count of 0, so a 32-bit register is zero-extended in 64-bit mode as on the CPU.

Departures from the SDM, where it leaves results undefined (all measured on Intel hosts, see ``flags``):
- SHLD/SHRD with a 16-bit operand and a count of 17..31 shift the 48-bit value dest:src:dest, as P6 and later do.
- OF for counts above 1 keeps the formula of the first 1-bit step, except ROL/ROR of a register by an immediate
  other than 1, which leave OF unchanged (memory destinations use the formula); AF is 0 after SHL/SHR/SAR/SHLD/SHRD.
"""

from __future__ import annotations

from ir import Ty

from dbt.lift import flags, lifter

_WIDE = {Ty.i8: Ty.i16, Ty.i16: Ty.i32, Ty.i32: Ty.i64, Ty.i64: Ty.i128}


def _count(ctx, i: int, ty: Ty):
    """(count value of type ty, condition "count != 0" or None if always, or False if the count is 0)."""
    op = ctx.insn.operands[i]
    mask = 0x3F if ty is Ty.i64 else 0x1F
    if op.kind == "imm":
        n = op.imm & mask
        return ctx.const(ty, n), (None if n else False)
    b = ctx.b
    n = b.and_(ctx.resize(ctx.read(i, Ty.i8), ty), b.const(ty, mask))
    return n, b.ne(n, b.const(ty, 0))


_SHIFT = {
    "SHL": (lambda b, a, n: b.shl(a, n), flags.shl),
    "SAL": (lambda b, a, n: b.shl(a, n), flags.shl),
    "SHR": (lambda b, a, n: b.lshr(a, n), flags.shr),
    "SAR": (lambda b, a, n: b.ashr(a, n), flags.sar),
}


@lifter(*_SHIFT)
def lift_shift(ctx):
    compute, set_flags = _SHIFT[ctx.insn.name]
    a, addr = ctx.read_rmw(0)
    n, cond = _count(ctx, 1, ctx.b.type_of(a))
    r = compute(ctx.b, a, n)
    ctx.write(0, r, addr)
    if cond is not False:
        set_flags(ctx, cond, a, n, r)


@lifter("ROL", "ROR")
def lift_rotate(ctx):
    b = ctx.b
    a, addr = ctx.read_rmw(0)
    n, cond = _count(ctx, 1, b.type_of(a))
    left = ctx.insn.name == "ROL"
    r = b.rotl(a, n) if left else b.rotr(a, n)
    ctx.write(0, r, addr)
    if cond is not False:
        op = ctx.insn.operands[1]
        keep_of = (op.kind == "imm" and op.imm & (0x3F if b.type_of(a) is Ty.i64 else 0x1F) != 1
                   and addr is None)
        (flags.rol if left else flags.ror)(ctx, cond, a, r, keep_of)


@lifter("RCL", "RCR")
def lift_rotate_carry(ctx):
    """Rotation of the (w+1)-bit value CF:dest, done in a wider type."""
    b = ctx.b
    a, addr = ctx.read_rmw(0)
    ty = b.type_of(a)
    w = ty.bits
    n, cond = _count(ctx, 1, ty)
    if ty in (Ty.i8, Ty.i16):
        if cond is False:
            pass
        elif cond is None:
            k = ctx.insn.operands[1].imm & 0x1F
            n = ctx.const(ty, k % (w + 1))
            cond = None if k % (w + 1) else False
        else:
            n = b.urem(n, b.const(ty, w + 1))
            cond = b.ne(n, b.const(ty, 0))
    wty = _WIDE[ty]
    cf = ctx.flag("cf")
    x = b.or_(b.zext(wty, a), b.shl(b.zext(wty, cf), b.const(wty, w)))
    nw = b.zext(wty, n)
    back = b.sub(b.const(wty, w + 1), nw)
    if ctx.insn.name == "RCL":
        y = b.or_(b.shl(x, nw), b.lshr(x, back))
    else:
        y = b.or_(b.lshr(x, nw), b.shl(x, back))
    y = b.and_(y, b.const(wty, (1 << (w + 1)) - 1))
    r = b.trunc(ty, y)
    ctx.write(0, r, addr)
    if cond is not False:
        cf_out = b.trunc(Ty.i1, b.lshr(y, b.const(wty, w)))
        (flags.rcl if ctx.insn.name == "RCL" else flags.rcr)(ctx, cond, a, cf_out)


@lifter("SHLD", "SHRD")
def lift_shift_double(ctx):
    """dest:src (SHLD) or src:dest (SHRD) as one double-width value, shifted; 16-bit operands use dest:src:dest."""
    b = ctx.b
    a, addr = ctx.read_rmw(0)
    ty = b.type_of(a)
    w = ty.bits
    s = ctx.read(1, ty)
    n, cond = _count(ctx, 2, ty)
    if ty is Ty.i16:
        wty, xw = Ty.i64, 48
        parts = (a, s, a)                      # high to low
    else:
        wty, xw = _WIDE[ty], 2 * w
        parts = (a, s) if ctx.insn.name == "SHLD" else (s, a)
    x = None
    for p in parts:
        v = b.zext(wty, p)
        x = v if x is None else b.or_(b.shl(x, b.const(wty, w)), v)
    nw = b.zext(wty, n)
    one = b.const(wty, 1)
    if ctx.insn.name == "SHLD":
        r = b.trunc(ty, b.lshr(b.shl(x, nw), b.const(wty, xw - w)))
        cf = b.trunc(Ty.i1, b.lshr(x, b.sub(b.const(wty, xw), nw)))
        of = flags.first_step_of(ctx, a)
    else:
        r = b.trunc(ty, b.lshr(x, nw))
        cf = b.trunc(Ty.i1, b.lshr(x, b.sub(nw, one)))
        of = b.xor(flags.msb(ctx, a), flags.lsb(ctx, s))
    ctx.write(0, r, addr)
    if cond is not False:
        flags.shift(ctx, cond, r, cf, of)
