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


# Condition code -> its i1 value from the flags: fn(builder, flag reader).
_CONDITIONS = {
    "o": lambda b, f: f("of"), "no": lambda b, f: b.not_(f("of")),
    "b": lambda b, f: f("cf"), "ae": lambda b, f: b.not_(f("cf")),
    "e": lambda b, f: f("zf"), "ne": lambda b, f: b.not_(f("zf")),
    "be": lambda b, f: b.or_(f("cf"), f("zf")), "a": lambda b, f: b.not_(b.or_(f("cf"), f("zf"))),
    "s": lambda b, f: f("sf"), "ns": lambda b, f: b.not_(f("sf")),
    "p": lambda b, f: f("pf"), "np": lambda b, f: b.not_(f("pf")),
    "l": lambda b, f: b.xor(f("sf"), f("of")), "ge": lambda b, f: b.not_(b.xor(f("sf"), f("of"))),
    "le": lambda b, f: b.or_(f("zf"), b.xor(f("sf"), f("of"))),
    "g": lambda b, f: b.not_(b.or_(f("zf"), b.xor(f("sf"), f("of")))),
}


def condition(ctx, cc: str):
    """The i1 value of an x86 condition code (the suffix of Jcc/SETcc/CMOVcc)."""
    return _CONDITIONS[cc](ctx.b, ctx.flag)


# Capstone spells the condition suffixes this way; aliases map to the canonical names above.
CC_ALIASES = {"nae": "b", "c": "b", "nb": "ae", "nc": "ae", "z": "e", "nz": "ne", "na": "be", "nbe": "a",
              "pe": "p", "po": "np", "nge": "l", "nl": "ge", "ng": "le", "nle": "g"}
CONDITIONS = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"]


# Conditional updates and the families added with muldiv/shift/bitops ------------------------------------------------
#
# Undefined flags: every value below that the SDM calls undefined is the one the Intel hosts we measured produce
# (recorded by the differential tests with all flags compared), so guests that peek at them see real-CPU values.


def set_if(ctx, cond, name: str, v) -> None:
    """Sets flag ``name`` to ``v`` when ``cond`` (an i1 value; None = always), else leaves it unchanged.
    Shifts and rotates by a dynamic count use it: a count of 0 changes no flag."""
    if cond is None:
        ctx.set_flag(name, v)
    else:
        ctx.set_flag(name, ctx.b.select(cond, v, ctx.flag(name)))


def _zero(ctx):
    return ctx.b.const(Ty.i1, 0)


def lsb(ctx, v):
    return ctx.b.trunc(Ty.i1, v)


def mul(ctx, low, overflow):
    """MUL/IMUL: CF = OF = the product does not fit the destination. Undefined: SF = sign and PF = parity of the
    low half, ZF = 0, AF = 0 (Intel)."""
    ctx.set_flag("cf", overflow)
    ctx.set_flag("of", overflow)
    ctx.set_flag("sf", msb(ctx, low))
    ctx.set_flag("pf", parity(ctx, low))
    ctx.set_flag("zf", _zero(ctx))
    ctx.set_flag("af", _zero(ctx))


def first_step_of(ctx, a):
    """OF of a left shift/rotate by one: MSB(a) ^ MSB-1(a). Intel uses it for every count (undefined for count > 1)."""
    b = ctx.b
    return msb(ctx, b.xor(a, b.shl(a, b.const(b.type_of(a), 1))))


def shift(ctx, cond, r, cf, of):
    """SHL/SHR/SAR/SHLD/SHRD with a non-zero count (``cond``): CF and OF as given, SF ZF PF from the result,
    AF = 0 (undefined: Intel clears it)."""
    set_if(ctx, cond, "cf", cf)
    set_if(ctx, cond, "of", of)
    set_if(ctx, cond, "af", _zero(ctx))
    b = ctx.b
    set_if(ctx, cond, "zf", b.eq(r, b.const(b.type_of(r), 0)))
    set_if(ctx, cond, "sf", msb(ctx, r))
    set_if(ctx, cond, "pf", parity(ctx, r))


def shl(ctx, cond, a, n, r):
    """CF = bit (width - n) of a (0 once n > width); OF = MSB(a) ^ MSB-1(a)."""
    b = ctx.b
    ty = b.type_of(a)
    cf = lsb(ctx, b.lshr(a, b.sub(b.const(ty, ty.bits), n)))
    shift(ctx, cond, r, cf, first_step_of(ctx, a))


def shr(ctx, cond, a, n, r):
    """CF = bit n-1 of a; OF = MSB(a) (the SDM's value for a 1-bit shift; Intel keeps it for every count)."""
    b = ctx.b
    cf = lsb(ctx, b.lshr(a, b.sub(n, b.const(b.type_of(a), 1))))
    shift(ctx, cond, r, cf, msb(ctx, a))


def sar(ctx, cond, a, n, r):
    """CF = bit n-1 of a, sign-filled; OF = 0."""
    b = ctx.b
    cf = lsb(ctx, b.ashr(a, b.sub(n, b.const(b.type_of(a), 1))))
    shift(ctx, cond, r, cf, _zero(ctx))


def rotate(ctx, cond, cf, of):
    """ROL/ROR/RCL/RCR: only CF and OF change (when cond); ``of`` None leaves OF alone."""
    set_if(ctx, cond, "cf", cf)
    if of is not None:
        set_if(ctx, cond, "of", of)


def rol(ctx, cond, a, r, keep_of=False):
    """CF = LSB(result); OF = MSB(a) ^ MSB-1(a) (= MSB(result) ^ CF for one bit). ``keep_of``: the immediate form
    with a register destination and a count other than 1 leaves OF unchanged on Intel (undefined in the SDM); the
    CL form and memory destinations use the formula."""
    rotate(ctx, cond, lsb(ctx, r), None if keep_of else first_step_of(ctx, a))


def ror(ctx, cond, a, r, keep_of=False):
    """CF = MSB(result); OF = MSB(a) ^ LSB(a) (= the two top bits of the result for one bit); ``keep_of`` as ROL."""
    rotate(ctx, cond, msb(ctx, r), None if keep_of else ctx.b.xor(msb(ctx, a), lsb(ctx, a)))


def rcl(ctx, cond, a, cf):
    """CF = the bit rotated out; OF = MSB(a) ^ MSB-1(a) (= MSB(result) ^ CF for one bit)."""
    rotate(ctx, cond, cf, first_step_of(ctx, a))


def rcr(ctx, cond, a, cf):
    """CF = the bit rotated out; OF = MSB(a) ^ old CF (SDM, computed before the rotation)."""
    rotate(ctx, cond, cf, ctx.b.xor(msb(ctx, a), ctx.flag("cf")))


def bitscan(ctx, src_zero, index):
    """BSF/BSR: ZF = source is 0. Undefined: CF OF SF AF = 0, PF = parity of the bit index found, 1 for a zero
    source (Intel)."""
    ctx.set_flag("zf", src_zero)
    for name in ("cf", "of", "sf", "af"):
        ctx.set_flag(name, _zero(ctx))
    ctx.set_flag("pf", ctx.b.or_(src_zero, parity(ctx, index)))


def count(ctx, src_zero, r):
    """TZCNT/LZCNT: CF = source is 0, ZF = result is 0. Undefined: OF SF PF AF = 0 (Intel)."""
    b = ctx.b
    ctx.set_flag("cf", src_zero)
    ctx.set_flag("zf", b.eq(r, b.const(b.type_of(r), 0)))
    for name in ("of", "sf", "pf", "af"):
        ctx.set_flag(name, _zero(ctx))


def popcnt(ctx, src_zero):
    """POPCNT: ZF = source is 0, every other arithmetic flag cleared."""
    ctx.set_flag("zf", src_zero)
    for name in ("cf", "of", "sf", "pf", "af"):
        ctx.set_flag(name, _zero(ctx))


# BCD adjustments (DAA DAS AAA AAS AAM AAD) ---------------------------------------------------------------------------


def bcd(ctx, al, cf, af):
    """DAA/DAS/AAA/AAS/AAM: CF and AF as the adjustment computed them (None: 0), SF ZF PF from the final AL.
    Undefined, as the Intel hosts we measured: OF = 0 for all five; AAA/AAS set SF ZF PF from the final (masked)
    AL; AAM clears CF and AF."""
    zero = _zero(ctx)
    ctx.set_flag("cf", zero if cf is None else cf)
    ctx.set_flag("af", zero if af is None else af)
    ctx.set_flag("of", zero)
    set_szp(ctx, al)
