"""Exact IEEE 754 arithmetic on bit patterns, as an x86 CPU computes it (SSE and x87), written once for every format.

Formats: binary32, binary64 and the x87 80-bit extended format (explicit integer bit). Values are passed and returned
as unsigned integers holding the encoding. Every operation computes the exact result with Python integers (a
significand and a power of two; a quotient or root carries a sticky bit for what lies below its last bit) and rounds
once (``_round``), so results are bit-exact in every rounding mode.

The environment (``Env``) holds the rounding control, DAZ/FTZ (SSE), the x87 precision control and the NaN rule; each
operation ORs its exception flags into ``env.flags`` in the MXCSR / FSW bit layout (IE DE ZE OE UE PE = bits 0..5) and
records in ``env.c1`` whether the last rounding went up in magnitude (the x87 C1 bit). Every exception is treated as
masked: the default (masked) response is returned. Unmasked exceptions are the caller's business.

x86 behaviour modelled, with the SDM's exception priority (SNaN invalid > QNaN operand > other invalid / divide by zero
> denormal operand > overflow / underflow > precision):
- tininess is detected after rounding; with underflow masked, UE is set only when the tiny result is also inexact;
  FTZ (SSE) flushes a tiny result to a signed zero and sets UE and PE;
- DAZ (SSE) reads denormal operands as signed zeros, without DE; otherwise a denormal operand sets DE;
- NaN results: an SNaN operand sets IE; SSE returns the first operand if it is a NaN, else the second, quieted; the
  x87 rule (``nan_rule="x87"``) returns the QNaN of an SNaN/QNaN pair, else the NaN with the larger significand;
  invalid operations give the default "QNaN floating-point indefinite" (sign set, only the quiet bit in the
  fraction); invalid conversions to integer give the integer indefinite (only the sign bit set);
- x87 unsupported encodings (pseudo-NaN, pseudo-infinity, unnormal) are invalid operands; pseudo-denormals are read
  as denormals (with DE) of the value their bits give with exponent 1.
"""

from __future__ import annotations

from math import isqrt

IE, DE, ZE, OE, UE, PE = 1, 2, 4, 8, 16, 32
NEAREST, DOWN, UP, ZERO = 0, 1, 2, 3          # the MXCSR.RC / FCW.RC encoding

# Operand classes
CZERO, CFINITE, CINF, CQNAN, CSNAN, CBAD = range(6)


class Format:
    """An IEEE binary interchange format (or x87 extended): total width, exponent bits, stored significand bits."""

    def __init__(self, name: str, width: int, ebits: int, mbits: int, explicit: bool):
        self.name, self.width, self.ebits, self.mbits, self.explicit = name, width, ebits, mbits, explicit
        self.p = mbits if explicit else mbits + 1          # precision in bits
        self.bias = (1 << (ebits - 1)) - 1
        self.emin = 1 - self.bias                           # exponent of the smallest normal
        self.emax = self.bias
        self.emask = (1 << ebits) - 1
        self.fmask = (1 << (self.p - 1)) - 1                # fraction bits below the integer bit
        self.qbit = 1 << (self.p - 2)                       # the quiet bit of a NaN
        self.sign = 1 << (width - 1)
        self.jbit = (1 << (self.p - 1)) if explicit else 0
        self.mask = (1 << width) - 1

    def __repr__(self) -> str:
        return f"Format({self.name})"

    def encode(self, sign: int, bexp: int, frac: int) -> int:
        """Bits from a sign, a biased exponent and the fraction below the integer bit (integer bit added if
        explicit and the number is normal, infinite or NaN)."""
        j = self.jbit if (self.explicit and bexp) else 0
        return (sign << (self.width - 1)) | (bexp << self.mbits) | j | frac

    def inf(self, sign: int) -> int:
        return self.encode(sign, self.emask, 0)

    def zero(self, sign: int) -> int:
        return sign << (self.width - 1)

    def default_nan(self) -> int:
        return self.encode(1, self.emask, self.qbit)

    def max_finite(self, sign: int, p: int) -> int:
        return self.encode(sign, self.emask - 1, self.fmask & ~((1 << (self.p - p)) - 1))


F32 = Format("binary32", 32, 8, 23, False)
F64 = Format("binary64", 64, 11, 52, False)
F80 = Format("x87ext", 80, 15, 64, True)
FORMATS = {32: F32, 64: F64, 80: F80}


class Env:
    """Rounding control, DAZ, FTZ, x87 precision control (None or 24/53/64), NaN rule; collects flags and C1."""

    __slots__ = ("c1", "daz", "flags", "ftz", "mem_denormal", "nan_rule", "pc", "rc")

    def __init__(self, rc: int = NEAREST, daz: bool = False, ftz: bool = False, pc: int | None = None,
                 nan_rule: str = "sse"):
        self.rc, self.daz, self.ftz, self.pc, self.nan_rule = rc, daz, ftz, pc, nan_rule
        self.flags = 0
        self.c1 = False
        self.mem_denormal = False       # x87: a denormal memory operand was loaded (see dbt.x87)

    @classmethod
    def from_mxcsr(cls, mxcsr: int) -> Env:
        return cls(rc=(mxcsr >> 13) & 3, daz=bool(mxcsr & 0x40), ftz=bool(mxcsr & 0x8000))

    @classmethod
    def from_fcw(cls, fcw: int) -> Env:
        return cls(rc=(fcw >> 10) & 3, pc={0: 24, 2: 53, 3: 64}.get((fcw >> 8) & 3, 64), nan_rule="x87")


class Num:
    """An unpacked operand: class, sign, and for finite values ``sig * 2**exp`` (for NaNs ``sig`` is the fraction)."""

    __slots__ = ("cls", "denormal", "exp", "sig", "sign")

    def __init__(self, cls, sign, sig=0, exp=0, denormal=False):
        self.cls, self.sign, self.sig, self.exp, self.denormal = cls, sign, sig, exp, denormal


def unpack(f: Format, bits: int, env: Env) -> Num:
    """Decodes ``bits``; applies DAZ (when ``env.daz``) to denormals."""
    sign = bits >> (f.width - 1) & 1
    bexp = (bits >> f.mbits) & f.emask
    field = bits & ((1 << f.mbits) - 1)
    frac = field & f.fmask
    j = (field >> (f.p - 1)) & 1 if f.explicit else int(bexp != 0)
    if bexp == f.emask:
        if f.explicit and not j:
            return Num(CBAD, sign)
        if frac == 0:
            return Num(CINF, sign)
        return Num(CQNAN if frac & f.qbit else CSNAN, sign, frac)
    if bexp == 0:
        if field == 0:
            return Num(CZERO, sign)
        if env.daz:
            return Num(CZERO, sign)
        return Num(CFINITE, sign, field, f.emin - (f.p - 1), True)
    if f.explicit and not j:
        return Num(CBAD, sign)
    return Num(CFINITE, sign, frac | (1 << (f.p - 1)), bexp - f.bias - (f.p - 1))


def classify(f: Format, bits: int) -> str:
    """'zero', 'denormal', 'normal', 'inf', 'qnan', 'snan' or 'unsupported' (x87 encodings the FPU rejects)."""
    n = unpack(f, bits, Env())
    if n.cls == CFINITE:
        return "denormal" if n.denormal else "normal"
    return {CZERO: "zero", CINF: "inf", CQNAN: "qnan", CSNAN: "snan", CBAD: "unsupported"}[n.cls]


# --- rounding -------------------------------------------------------------------------------------------------------

def _shift_round(sig: int, exp: int, lsb: int, sticky: bool, sign: int, rc: int):
    """``sig * 2**exp`` (plus a nonzero amount below its last bit when ``sticky``) rounded to a multiple of
    ``2**lsb``: (multiple, inexact, rounded up in magnitude)."""
    sh = lsb - exp
    if sh <= 0:
        return sig << -sh, sticky, False
    q = sig >> sh
    rem = sig & ((1 << sh) - 1)
    inexact = bool(rem) or sticky
    if not inexact:
        return q, False, False
    if rc == NEAREST:
        half = 1 << (sh - 1)
        up = rem > half or (rem == half and (sticky or q & 1))
    elif rc == ZERO:
        up = False
    elif rc == DOWN:
        up = bool(sign)
    else:
        up = not sign
    return q + up, True, up


def _round(f: Format, env: Env, sign: int, sig: int, exp: int, sticky: bool = False, p: int | None = None) -> int:
    """Rounds the nonzero value ``(-1)**sign * sig * 2**exp`` (+ sticky) to format ``f`` at precision ``p``
    (default: the format's), setting OE UE PE and C1. Callers give at least p+2 significant bits when sticky."""
    p = p or f.p
    rc = env.rc
    e = exp + sig.bit_length() - 1
    q, inexact, up = _shift_round(sig, exp, e - (p - 1), sticky, sign, rc)
    e_after = e + (q.bit_length() > p)
    if e_after < f.emin:                                 # tiny after rounding
        if env.ftz:
            env.flags |= UE | PE
            env.c1 = False
            return f.zero(sign)
        lsb = max(e - (p - 1), f.emin - (f.p - 1))
        q, inexact, up = _shift_round(sig, exp, lsb, sticky, sign, rc)
        if inexact:
            env.flags |= UE | PE
        env.c1 = up
        return _pack(f, sign, q, lsb)
    if e_after > f.emax:
        env.flags |= OE | PE
        to_inf = rc == NEAREST or (rc == UP and not sign) or (rc == DOWN and sign)
        env.c1 = to_inf
        return f.inf(sign) if to_inf else f.max_finite(sign, p)
    if inexact:
        env.flags |= PE
    env.c1 = up
    return _pack(f, sign, q, e - (p - 1))


def _pack(f: Format, sign: int, q: int, lsb: int) -> int:
    """Encodes ``q * 2**lsb`` (representable in ``f``: q < 2**p, lsb no lower than the denormal step)."""
    if q == 0:
        return f.zero(sign)
    n = q.bit_length()
    e = lsb + n - 1
    if e < f.emin:
        return f.encode(sign, 0, q << (lsb - (f.emin - (f.p - 1))))
    m = q << (f.p - n) if n <= f.p else q >> (n - f.p)       # a carry out of rounding: q is a power of two
    return f.encode(sign, e + f.bias, m & f.fmask)


def _exact(f: Format, sign: int, sig: int, exp: int) -> int:
    """Encodes a value known to be representable (normalizing ``sig``)."""
    if sig == 0:
        return f.zero(sign)
    n = sig.bit_length()
    lsb = max(exp + n - 1 - (f.p - 1), f.emin - (f.p - 1))
    sh = lsb - exp
    return _pack(f, sign, sig >> sh if sh > 0 else sig << -sh, lsb)


# --- NaNs -----------------------------------------------------------------------------------------------------------

def _quiet(f: Format, n: Num) -> int:
    return f.encode(n.sign, f.emask, n.sig | f.qbit)


def _nan_result(f: Format, env: Env, *ops: Num) -> int | None:
    """The result if an operand is a NaN or an unsupported x87 encoding (setting IE as x86 does), else None."""
    if any(n.cls == CBAD for n in ops):
        env.flags |= IE
        return f.default_nan()
    nans = [n for n in ops if n.cls in (CQNAN, CSNAN)]
    if not nans:
        return None
    if any(n.cls == CSNAN for n in nans):
        env.flags |= IE
    if env.nan_rule == "x87" and len(nans) == 2:
        a, b = nans
        if a.cls != b.cls:
            return _quiet(f, a if a.cls == CQNAN else b)
        if a.sig != b.sig:
            return _quiet(f, a if a.sig > b.sig else b)
        return _quiet(f, a if a.sign <= b.sign else b)
    return _quiet(f, nans[0])


def _invalid(f: Format, env: Env) -> int:
    env.flags |= IE
    return f.default_nan()


def _denormal_check(env: Env, *ops: Num) -> None:
    if any(n.denormal for n in ops):
        env.flags |= DE


def _arith_p(f: Format, env: Env):
    return env.pc if (f is F80 and env.pc) else f.p


# --- arithmetic -----------------------------------------------------------------------------------------------------

def add(f: Format, a: int, b: int, env: Env, negate_b: bool = False) -> int:
    x, y = unpack(f, a, env), unpack(f, b, env)
    r = _nan_result(f, env, x, y)
    if r is not None:
        return r
    ysign = y.sign ^ negate_b
    if x.cls == CINF or y.cls == CINF:
        if x.cls == CINF and y.cls == CINF and x.sign != ysign:
            return _invalid(f, env)
        _denormal_check(env, x, y)
        return f.inf(x.sign if x.cls == CINF else ysign)
    _denormal_check(env, x, y)
    if x.cls == CZERO and y.cls == CZERO:
        s = x.sign if x.sign == ysign else int(env.rc == DOWN)
        return f.zero(s)
    if x.cls == CZERO:
        return _round(f, env, ysign, y.sig, y.exp, p=_arith_p(f, env))
    if y.cls == CZERO:
        return _round(f, env, x.sign, x.sig, x.exp, p=_arith_p(f, env))
    e = min(x.exp, y.exp)
    sx = (x.sig << (x.exp - e)) * (-1 if x.sign else 1)
    sy = (y.sig << (y.exp - e)) * (-1 if ysign else 1)
    s = sx + sy
    if s == 0:
        return f.zero(int(env.rc == DOWN))
    return _round(f, env, int(s < 0), abs(s), e, p=_arith_p(f, env))


def sub(f: Format, a: int, b: int, env: Env) -> int:
    return add(f, a, b, env, negate_b=True)


def mul(f: Format, a: int, b: int, env: Env) -> int:
    x, y = unpack(f, a, env), unpack(f, b, env)
    r = _nan_result(f, env, x, y)
    if r is not None:
        return r
    sign = x.sign ^ y.sign
    if x.cls == CINF or y.cls == CINF:
        if x.cls == CZERO or y.cls == CZERO:
            return _invalid(f, env)
        _denormal_check(env, x, y)
        return f.inf(sign)
    _denormal_check(env, x, y)
    if x.cls == CZERO or y.cls == CZERO:
        return f.zero(sign)
    return _round(f, env, sign, x.sig * y.sig, x.exp + y.exp, p=_arith_p(f, env))


def div(f: Format, a: int, b: int, env: Env) -> int:
    x, y = unpack(f, a, env), unpack(f, b, env)
    r = _nan_result(f, env, x, y)
    if r is not None:
        return r
    sign = x.sign ^ y.sign
    if x.cls == CINF:
        if y.cls == CINF:
            return _invalid(f, env)
        _denormal_check(env, y)
        return f.inf(sign)
    if y.cls == CINF:
        _denormal_check(env, x)
        return f.zero(sign)
    if y.cls == CZERO:
        if x.cls == CZERO:
            return _invalid(f, env)
        env.flags |= ZE                          # takes precedence over a denormal dividend: no DE
        return f.inf(sign)
    _denormal_check(env, x, y)
    if x.cls == CZERO:
        return f.zero(sign)
    p = _arith_p(f, env)
    shift = max(0, p + 3 + y.sig.bit_length() - x.sig.bit_length())
    q, rem = divmod(x.sig << shift, y.sig)
    return _round(f, env, sign, q, x.exp - shift - y.exp, rem != 0, p=p)


def sqrt(f: Format, a: int, env: Env) -> int:
    x = unpack(f, a, env)
    r = _nan_result(f, env, x)
    if r is not None:
        return r
    if x.cls == CZERO:
        return f.zero(x.sign)
    if x.sign:
        return _invalid(f, env)
    if x.cls == CINF:
        return f.inf(0)
    _denormal_check(env, x)
    p = _arith_p(f, env)
    k = max(0, 2 * (p + 3) - x.sig.bit_length())
    if (x.exp - k) & 1:
        k += 1
    m = x.sig << k
    s = isqrt(m)
    return _round(f, env, 0, s, (x.exp - k) // 2, s * s != m, p=p)


# --- comparison -----------------------------------------------------------------------------------------------------

LT, EQ, GT, UNORDERED = 0, 1, 2, 3


def compare(f: Format, a: int, b: int, env: Env, signaling: bool) -> int:
    """LT, EQ, GT or UNORDERED. IE for an SNaN operand, or any NaN when ``signaling``; DE for a denormal operand of
    an ordered compare."""
    x, y = unpack(f, a, env), unpack(f, b, env)
    if x.cls == CBAD or y.cls == CBAD:
        env.flags |= IE
        return UNORDERED
    if x.cls in (CQNAN, CSNAN) or y.cls in (CQNAN, CSNAN):
        if signaling or x.cls == CSNAN or y.cls == CSNAN:
            env.flags |= IE
        return UNORDERED
    _denormal_check(env, x, y)
    vx, vy = _ordered_key(x), _ordered_key(y)
    return LT if vx < vy else GT if vx > vy else EQ


def minmax(f: Format, a: int, b: int, env: Env, is_max: bool) -> int:
    """MINSS/MINSD (MAXSx): ``a`` if it is less (greater) than ``b``, else ``b`` (so ``b`` when either is a NaN or
    both are zeros); IE for any NaN, DE for denormals. Under DAZ the chosen operand comes out flushed to zero."""
    rel = compare(f, a, b, env, signaling=True)
    r = a if rel == (GT if is_max else LT) else b
    if env.daz and unpack(f, r, Env()).denormal:
        return f.zero(r >> (f.width - 1))
    return r


def _ordered_key(n: Num):
    """A key with the numeric order (exact: a fraction as (numerator, power of two) compared by scaling)."""
    from fractions import Fraction
    if n.cls == CZERO:
        return Fraction(0)
    if n.cls == CINF:
        return float("-inf") if n.sign else float("inf")
    v = Fraction(n.sig) * (Fraction(2) ** n.exp)
    return -v if n.sign else v


# --- conversions ----------------------------------------------------------------------------------------------------

def from_int(f: Format, value: int, env: Env) -> int:
    """A signed integer (a Python int) to format ``f``, rounded by ``env.rc``."""
    if value == 0:
        return f.zero(0)
    return _round(f, env, int(value < 0), abs(value), 0)


def to_int(f: Format, bits: int, width: int, env: Env, truncate: bool = False) -> int:
    """Format ``f`` to a ``width``-bit signed integer (returned as its unsigned bit pattern), rounded by ``env.rc``
    or toward zero; NaN, infinity or out of range: IE and the integer indefinite (only the sign bit set)."""
    x = unpack(f, bits, env)
    indefinite = 1 << (width - 1)
    if x.cls in (CQNAN, CSNAN, CINF, CBAD):
        env.flags |= IE
        return indefinite
    if x.cls == CZERO:
        return 0
    q, inexact, up = _shift_round(x.sig, x.exp, 0, False, x.sign, ZERO if truncate else env.rc)
    v = -q if x.sign else q
    if not -(1 << (width - 1)) <= v < (1 << (width - 1)):
        env.flags |= IE
        return indefinite
    if inexact:
        env.flags |= PE
    env.c1 = up
    return v & ((1 << width) - 1)


def convert(src: Format, dst: Format, bits: int, env: Env) -> int:
    """Format ``src`` to format ``dst`` (a NaN keeps its sign and the top bits of its fraction, quieted)."""
    x = unpack(src, bits, env)
    if x.cls == CBAD:
        return _invalid(dst, env)
    if x.cls in (CQNAN, CSNAN):
        if x.cls == CSNAN:
            env.flags |= IE
        sh = (dst.p - 1) - (src.p - 1)
        frac = (x.sig << sh) if sh >= 0 else (x.sig >> -sh)
        return dst.encode(x.sign, dst.emask, frac | dst.qbit)
    if x.cls == CINF:
        return dst.inf(x.sign)
    if x.cls == CZERO:
        return dst.zero(x.sign)
    if src is not F80:                  # FST/FSTP of a denormal register do not set DE; CVTSD2SS, FLD m32/m64 do
        _denormal_check(env, x)
    return _round(dst, env, x.sign, x.sig, x.exp)


def round_int(f: Format, bits: int, env: Env, rc: int | None = None, inexact_flag: bool = True) -> int:
    """Round to an integral value in format ``f`` (ROUNDSD/FRNDINT), by ``rc`` or ``env.rc``; PE unless
    ``inexact_flag`` is false; an SNaN gives IE and its quieted self."""
    x = unpack(f, bits, env)
    r = _nan_result(f, env, x)
    if r is not None:
        return r
    if x.cls in (CZERO, CINF):
        return bits if x.cls == CINF else f.zero(x.sign)
    if env.nan_rule == "x87":           # FRNDINT sets DE for a denormal operand; ROUNDSS/SD do not
        _denormal_check(env, x)
    if x.exp >= 0:
        return _exact(f, x.sign, x.sig, x.exp)
    q, inexact, up = _shift_round(x.sig, x.exp, 0, False, x.sign, env.rc if rc is None else rc)
    if inexact and inexact_flag:
        env.flags |= PE
    env.c1 = up
    return _exact(f, x.sign, q, 0)


def value(f: Format, bits: int):
    """The exact value of finite ``bits`` as a ``fractions.Fraction`` (tests, debugging); None for NaN/inf."""
    from fractions import Fraction
    x = unpack(f, bits, Env())
    if x.cls == CZERO:
        return Fraction(0)
    if x.cls != CFINITE:
        return None
    v = Fraction(x.sig) * Fraction(2) ** x.exp
    return -v if x.sign else v
