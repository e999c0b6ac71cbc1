"""Flag formulas, one place for all of them (Intel SDM Vol. 1 3.4.3 and Appendix A, the EFLAGS cross-reference).

Each formula turns operand and result values into i1 values and hands them to ``ctx.set_flag``; the optimizer drops
those that are overwritten before being read. Flags the SDM leaves undefined are given a fixed, documented value so
that runs are deterministic (they are masked out in conformance and differential comparisons).
"""

from __future__ import annotations

from ir import Ty


def msb(ctx, v):
    """The sign bit of v as i1."""
    b = ctx.b
    ty = b.type_of(v)
    return b.trunc(Ty.i1, b.lshr(v, b.const(ty, ty.bits - 1))) if ty is not Ty.i1 else v


def bit(ctx, v, n: int):
    b = ctx.b
    ty = b.type_of(v)
    return b.trunc(Ty.i1, b.lshr(v, b.const(ty, n)))


def parity(ctx, r):
    """PF: 1 when the low byte of r has an even number of set bits."""
    b = ctx.b
    low = b.trunc(Ty.i8, r) if b.type_of(r) is not Ty.i8 else r
    return b.not_(b.trunc(Ty.i1, b.ctpop(low)))


def set_szp(ctx, r):
    b = ctx.b
    ctx.set_flag("zf", b.eq(r, b.const(b.type_of(r), 0)))
    ctx.set_flag("sf", msb(ctx, r))
    ctx.set_flag("pf", parity(ctx, r))


def aux(ctx, a, c, r):
    """AF: carry/borrow out of bit 3 = bit 4 of a ^ c ^ r."""
    b = ctx.b
    return bit(ctx, b.xor(b.xor(a, c), r), 4)


def add(ctx, a, c, r, carry_in=None):
    """ADD/ADC: r = a + c (+ carry_in)."""
    b = ctx.b
    cf = b.ult(r, a)
    if carry_in is not None:
        cf = b.or_(cf, b.and_(carry_in, b.eq(r, a)))
    ctx.set_flag("cf", cf)
    ctx.set_flag("of", msb(ctx, b.and_(b.xor(a, r), b.xor(c, r))))
    ctx.set_flag("af", aux(ctx, a, c, r))
    set_szp(ctx, r)


def sub(ctx, a, c, r, borrow_in=None):
    """SUB/SBB/CMP/NEG: r = a - c (- borrow_in)."""
    b = ctx.b
    cf = b.ult(a, c)
    if borrow_in is not None:
        cf = b.or_(cf, b.and_(borrow_in, b.eq(a, c)))
    ctx.set_flag("cf", cf)
    ctx.set_flag("of", msb(ctx, b.and_(b.xor(a, c), b.xor(a, r))))
    ctx.set_flag("af", aux(ctx, a, c, r))
    set_szp(ctx, r)


def logic(ctx, r):
    """AND/OR/XOR/TEST: CF = OF = 0; AF undefined (set to 0)."""
    zero = ctx.b.const(Ty.i1, 0)
    ctx.set_flag("cf", zero)
    ctx.set_flag("of", zero)
    ctx.set_flag("af", zero)
    set_szp(ctx, r)


def incdec(ctx, a, r, inc: bool):
    """INC/DEC: like ADD/SUB with 1, CF unchanged."""
    b = ctx.b
    one = b.const(b.type_of(a), 1)
    if inc:
        ctx.set_flag("of", msb(ctx, b.and_(b.xor(a, r), b.xor(one, r))))
    else:
        ctx.set_flag("of", msb(ctx, b.and_(b.xor(a, one), b.xor(a, r))))
    ctx.set_flag("af", aux(ctx, a, one, r))
    set_szp(ctx, r)


def condition(ctx, cc: str):
    """The i1 value of an x86 condition code (the suffix of Jcc/SETcc/CMOVcc)."""
    b = ctx.b
    f = ctx.flag
    table = {
        "o": lambda: f("of"), "no": lambda: b.not_(f("of")),
        "b": lambda: f("cf"), "ae": lambda: b.not_(f("cf")),
        "e": lambda: f("zf"), "ne": lambda: b.not_(f("zf")),
        "be": lambda: b.or_(f("cf"), f("zf")), "a": lambda: b.not_(b.or_(f("cf"), f("zf"))),
        "s": lambda: f("sf"), "ns": lambda: b.not_(f("sf")),
        "p": lambda: f("pf"), "np": lambda: b.not_(f("pf")),
        "l": lambda: b.xor(f("sf"), f("of")), "ge": lambda: b.not_(b.xor(f("sf"), f("of"))),
        "le": lambda: b.or_(f("zf"), b.xor(f("sf"), f("of"))),
        "g": lambda: b.not_(b.or_(f("zf"), b.xor(f("sf"), f("of")))),
    }
    return table[cc]()


# Capstone spells the condition suffixes this way; aliases map to the canonical names above.
CC_ALIASES = {"nae": "b", "c": "b", "nb": "ae", "nc": "ae", "z": "e", "nz": "ne", "na": "be", "nbe": "a",
              "pe": "p", "po": "np", "nge": "l", "nl": "ge", "ng": "le", "nle": "g"}
CONDITIONS = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"]
