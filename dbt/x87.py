"""The x87 FPU of the flat user-level CPU: register stack, control/status/tag words, and every operation as a Python
helper on ``ir.softfloat``'s 80-bit format.

State (``dbt.state``): physical registers R0..R7 as ``fpr{i}`` (significand, i64, explicit integer bit) and
``fpr{i}_se`` (sign and exponent, i16); ``fcw``, ``fsw`` (TOP in bits 11-13) and ``ftw`` (the full tag word, 2 bits
per physical register: 00 valid, 01 zero, 10 special, 11 empty). ST(i) is R((TOP + i) mod 8).

Translated code calls one helper, ``x87(op, address, arg)``: ``op`` indexes ``OPS`` (an operation name and its
parameters, built by ``dbt.lifters.x87`` from the opcode), ``address`` is the linear address of a memory operand,
``arg`` the register index or the FCMOVcc condition. Each operation reads its memory operands first, then computes,
then stores, and writes the FPU state last, so a fault leaves the FPU as it was.

x86 behaviour modelled: every exception flag with the masked response (QNaN indefinite, integer indefinite), stack
overflow/underflow (IE + SF, C1 = 1 / 0), C1 as the round-up indicator, precision and rounding control, tags.
Departures from the SDM: unmasked exceptions (FCW mask bits clear with the exception raised) are not implemented and
raise NotImplementedError (no #MF / FERR); FNSTENV/FNSAVE store 0 for the instruction and data pointers and the last
opcode; the transcendentals (FSIN FCOS FSINCOS FPTAN FPATAN F2XM1 FYL2X FYL2XP1) and the BCD forms (FBLD, FBSTP) raise
NotImplementedError naming the instruction. FPREM/FPREM1 with an exponent difference d >= 64 do one partial step that
lowers it to N = 32 + d mod 32 (C2 = 1), which is what the host CPUs the tests ran on do (the SDM leaves N to the
implementation, between 32 and 63). Empty registers keep their stale contents (FNSAVE stores them as they are).
"""

from __future__ import annotations

from ir import softfloat as sf
from ir.softfloat import DE, F32, F64, F80, IE, PE, ZE

SF_BIT, ES_BIT, C0, C1, C2, C3 = 1 << 6, 1 << 7, 1 << 8, 1 << 9, 1 << 10, 1 << 14
TAG_VALID, TAG_ZERO, TAG_SPECIAL, TAG_EMPTY = 0, 1, 2, 3
FCW_INIT, FSW_INIT, FTW_INIT = 0x37F, 0, 0xFFFF
INDEFINITE = F80.default_nan()
_MEMFMT = {4: F32, 8: F64}


class X87Unsupported(NotImplementedError):
    pass


def _exact_constants():
    """pi, log2(10), log2(e), log10(2), ln(2) as (numerator, denominator-free) big-integer fixed-point values with
    200 fraction bits, computed here with integer series (the FPU's constants, rounded per RC when loaded)."""
    P = 200 + 20
    one = 1 << P

    def atan_inv(n):                        # atan(1/n)
        total, term, k, sign = 0, one // n, 1, 1
        n2 = n * n
        while term:
            total += sign * (term // k)
            term //= n2
            k += 2
            sign = -sign
        return total

    def ln_ratio(num, den):                 # ln(num/den) for num/den near 1: 2 atanh((num-den)/(num+den))
        x_num, x_den = num - den, num + den
        total, k = 0, 1
        term = (one * x_num) // x_den
        sq_num, sq_den = x_num * x_num, x_den * x_den
        while term:
            total += term // k
            term = term * sq_num // sq_den
            k += 2
        return 2 * total

    pi = 16 * atan_inv(5) - 4 * atan_inv(239)
    ln2 = ln_ratio(2, 1)
    ln10 = 3 * ln2 + ln_ratio(5, 4)         # ln 10 = ln 8 + ln(5/4)
    return {"pi": pi, "l2t": ln10 * one // ln2, "l2e": one * one // ln2, "lg2": ln2 * one // ln10,
            "ln2": ln2}, P


_CONSTS, _CONST_P = _exact_constants()


# --- register file access -------------------------------------------------------------------------------------------

class FPU:
    """A view of one CPU state's x87 unit for the duration of one operation (flags collected, written at the end)."""

    __slots__ = ("c1", "fcw", "flags", "fsw", "ftw", "st")

    def __init__(self, state):
        self.st = state
        self.fcw, self.fsw, self.ftw = state["fcw"], state["fsw"], state["ftw"]
        self.flags = 0
        self.c1 = None        # None: C1 left as it was

    @property
    def top(self) -> int:
        return (self.fsw >> 11) & 7

    def set_top(self, t: int) -> None:
        self.fsw = (self.fsw & ~0x3800) | ((t & 7) << 11)

    def phys(self, i: int) -> int:
        return (self.top + i) & 7

    def empty(self, i: int) -> bool:
        return (self.ftw >> (2 * self.phys(i))) & 3 == TAG_EMPTY

    def raw(self, i: int) -> int:
        p = self.phys(i)
        return (self.st[f"fpr{p}_se"] << 64) | self.st[f"fpr{p}"]

    def env(self) -> sf.Env:
        return sf.Env.from_fcw(self.fcw)

    def read(self, i: int):
        """ST(i), or None after a stack underflow (IE + SF, C1 = 0)."""
        if self.empty(i):
            self.underflow()
            return None
        return self.raw(i)

    def underflow(self) -> None:
        self.flags |= IE | SF_BIT
        self.c1 = False

    def write(self, i: int, value: int) -> None:
        p = self.phys(i)
        self.st[f"fpr{p}"] = value & ((1 << 64) - 1)
        self.st[f"fpr{p}_se"] = value >> 64
        self.ftw = (self.ftw & ~(3 << 2 * p)) | (tag_of(value) << 2 * p)

    def push(self, value: int) -> None:
        t = (self.top - 1) & 7
        self.set_top(t)
        if (self.ftw >> (2 * t)) & 3 != TAG_EMPTY:       # stack overflow: the masked response loads the indefinite
            self.flags |= IE | SF_BIT
            self.c1 = True
            value = INDEFINITE
        self.write(0, value)

    def pop(self) -> None:
        p = self.top
        self.ftw |= 3 << 2 * p
        self.set_top(p + 1)

    def commit(self, env: sf.Env | None = None) -> None:
        """Writes the words back: flags ORed into FSW, C1 from the operation (or the rounding), checks masks."""
        flags = self.flags | (env.flags if env is not None else 0)
        c1 = self.c1
        if c1 is None and env is not None:
            c1 = env.c1
        unmasked = flags & ~self.fcw & 0x3F
        if unmasked:
            raise X87Unsupported(f"not implemented: unmasked x87 floating-point exceptions (FCW {self.fcw:#06x}, "
                                 f"raised {flags & 0x3F:#04x}; #MF delivery is not modelled)")
        fsw = self.fsw | (flags & 0x7F)
        if c1 is not None:
            fsw = (fsw & ~C1) | (C1 if c1 else 0)
        st = self.st
        st["fsw"], st["ftw"] = fsw, self.ftw


def tag_of(value: int) -> int:
    e = (value >> 64) & 0x7FFF
    m = value & ((1 << 64) - 1)
    if e == 0:
        return TAG_ZERO if m == 0 else TAG_SPECIAL
    if e == 0x7FFF or not m >> 63:
        return TAG_SPECIAL
    return TAG_VALID


def _cond_codes(rel: int) -> int:
    """C3 C2 C0 of a compare result (C1 cleared by the caller)."""
    return {sf.GT: 0, sf.LT: C0, sf.EQ: C3, sf.UNORDERED: C3 | C2 | C0}[rel]


def _set_cc(fpu: FPU, cc: int) -> None:
    fpu.fsw = (fpu.fsw & ~(C0 | C2 | C3)) | cc


# --- memory -------------------------------------------------------------------------------------------------------

def _load(mem, addr: int, size: int) -> int:
    return int.from_bytes(mem.read(addr, size), "little")


def _store(mem, addr: int, size: int, value: int) -> None:
    mem.write(addr, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))


def _signed(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


# --- operations: fn(fpu, mem, addr, arg, **params) ------------------------------------------------------------------

ARITH = {"add": sf.add, "sub": sf.sub, "mul": sf.mul, "div": sf.div}


def _source(fpu, mem, addr, arg, src):
    """The second operand of an arithmetic op or compare: ('m', size) float in memory, ('i', size) integer in memory,
    ('st', None) ST(arg), ('zero', None) +0.0; (value, env): env holds the conversion's flags (IE for an SNaN, DE
    for a denormal), value is None after a stack underflow."""
    env = fpu.env()
    kind, size = src
    if kind == "m":
        f, v = _MEMFMT[size], _load(mem, addr, size)
        cls = sf.classify(f, v)
        if cls == "snan":                    # kept signaling: the operation picks among the NaNs as loaded
            frac = (v & f.fmask) << (F80.p - f.p)
            return F80.encode(v >> (f.width - 1), F80.emask, frac), env
        # A denormal memory operand sets DE only when no NaN, invalid operation or zero divide takes precedence:
        # the caller adds it (``_mem_denormal``).
        env.mem_denormal = cls == "denormal"
        return sf.convert(f, F80, v, sf.Env(nan_rule="x87")), env
    if kind == "i":
        return sf.from_int(F80, _signed(_load(mem, addr, size), 8 * size), env), env
    if kind == "zero":
        return 0, env
    return fpu.read(arg), env


def _mem_denormal(env, a, b) -> None:
    if getattr(env, "mem_denormal", False) and not env.flags & (IE | ZE) and "nan" not in (
            sf.classify(F80, a)[1:], sf.classify(F80, b)[1:]):
        env.flags |= DE


def op_arith(fpu, mem, addr, arg, fn, src, reverse=False, to_sti=False, pop=False):
    """st0 = st0 op src (src op st0 when ``reverse``); with ``to_sti`` the result goes to ST(arg) (register forms
    DC/DE, whose operand order the caller gives through ``reverse``); ``pop`` pops afterwards."""
    b, env = _source(fpu, mem, addr, arg, src)
    a = fpu.read(0)
    if a is None or b is None:
        r = INDEFINITE
    else:
        x, y = (b, a) if reverse else (a, b)
        r = ARITH[fn](F80, x, y, env)
        _mem_denormal(env, a, b)
    fpu.write(arg if to_sti else 0, r)
    if pop:
        fpu.pop()
    fpu.commit(env)


def op_fld(fpu, mem, addr, arg, src):
    env = fpu.env()
    kind, size = src
    if kind == "m":
        v = _load(mem, addr, size) if size == 10 else sf.convert(_MEMFMT[size], F80, _load(mem, addr, size), env)
    elif kind == "i":
        v = sf.from_int(F80, _signed(_load(mem, addr, size), 8 * size), env)
    elif kind == "const":
        v = _const(arg, env)
        env.flags = 0
    else:
        v = fpu.read(arg)
        if v is None:
            v = INDEFINITE
    fpu.c1 = False
    fpu.push(v)
    fpu.commit(env)


CONST_NAMES = ("one", "l2t", "l2e", "pi", "lg2", "ln2", "zero")     # FLD1 FLDL2T FLDL2E FLDPI FLDLG2 FLDLN2 FLDZ


def _const(index, env):
    name = CONST_NAMES[index]
    if name == "one":
        return F80.encode(0, F80.bias, 0)
    if name == "zero":
        return 0
    return sf._round(F80, env, 0, _CONSTS[name], -_CONST_P)


def op_fst(fpu, mem, addr, arg, dst, pop=False):
    """FST/FSTP to memory (m32 m64 m80) or ST(arg); FIST/FISTP/FISTTP (dst ('i', size[, truncate]))."""
    env = fpu.env()
    v = fpu.read(0)
    kind, size = dst[0], dst[1]
    if kind == "m":
        if size == 10:
            out = INDEFINITE if v is None else v
        else:
            out = _MEMFMT[size].default_nan() if v is None else sf.convert(F80, _MEMFMT[size], v, env)
        _store(mem, addr, size, out)
    elif kind == "i":
        if v is None:
            out = 1 << (8 * size - 1)
        else:
            out = sf.to_int(F80, v, 8 * size, env, truncate=len(dst) > 2)
        _store(mem, addr, size, out)
    else:
        fpu.write(arg, INDEFINITE if v is None else v)
    if pop:
        fpu.pop()
    if fpu.c1 is None:
        fpu.c1 = env.c1
    fpu.commit(env)


def op_compare(fpu, mem, addr, arg, src, signaling, pops=0, eflags=False):
    """FCOM/FUCOM/FICOM/FTST (C3 C2 C0) and FCOMI/FUCOMI (ZF PF CF; OF SF AF cleared)."""
    b, env = _source(fpu, mem, addr, arg, src)
    a = fpu.read(0)
    if a is None or b is None:
        rel = sf.UNORDERED
    else:
        rel = sf.compare(F80, a, b, env, signaling)
        _mem_denormal(env, a, b)
    cc = _cond_codes(rel)
    if eflags:
        st = fpu.st
        st["zf"], st["pf"], st["cf"] = int(bool(cc & C3)), int(bool(cc & C2)), int(bool(cc & C0))
        st["of"] = st["sf"] = st["af"] = 0
    else:
        _set_cc(fpu, cc)
    if fpu.c1 is None:
        fpu.c1 = False
    for _ in range(pops):
        fpu.pop()
    fpu.commit(env)


def op_unary(fpu, mem, addr, arg, fn):
    """FCHS FABS FSQRT FRNDINT on ST0."""
    env = fpu.env()
    a = fpu.read(0)
    if a is None:
        r = INDEFINITE
    elif fn == "chs":
        r, fpu.c1 = a ^ (1 << 79), False
    elif fn == "abs":
        r, fpu.c1 = a & ~(1 << 79), False
    elif fn == "sqrt":
        r = sf.sqrt(F80, a, env)
    else:
        r = sf.round_int(F80, a, env)
        if not env.flags & PE:
            env.c1 = False
    fpu.write(0, r)
    fpu.commit(env)


def op_fxam(fpu, mem, addr, arg):
    v = fpu.raw(0)
    if fpu.empty(0):
        cc = C3 | C0
    else:
        cls = sf.classify(F80, v)
        cc = {"unsupported": 0, "qnan": C0, "snan": C0, "normal": C2, "inf": C2 | C0, "zero": C3,
              "denormal": C3 | C2}[cls]
    _set_cc(fpu, cc)
    fpu.c1 = bool(v >> 79)
    fpu.commit()


def op_fxch(fpu, mem, addr, arg):
    a, b = fpu.read(0), fpu.read(arg)
    a = INDEFINITE if a is None else a
    b = INDEFINITE if b is None else b
    fpu.write(0, b)
    fpu.write(arg, a)
    if fpu.c1 is None:
        fpu.c1 = False
    fpu.commit()


def op_fcmov(fpu, mem, addr, arg):
    cond, i = arg >> 8, arg & 7
    a, b = fpu.read(0), fpu.read(i)
    if cond:
        fpu.write(0, INDEFINITE if b is None else b)
    elif a is None:
        fpu.write(0, INDEFINITE)
    fpu.commit()


def op_ffree(fpu, mem, addr, arg, pop=False):
    fpu.ftw |= 3 << 2 * fpu.phys(arg)
    if pop:
        fpu.pop()
    fpu.commit()


def op_stack(fpu, mem, addr, arg, delta):
    fpu.set_top(fpu.top + delta)
    fpu.c1 = False
    fpu.commit()


def op_fscale(fpu, mem, addr, arg):
    env = fpu.env()
    a, b = fpu.read(0), fpu.read(1)
    if a is None or b is None:
        r = INDEFINITE
    else:
        r = _scale(a, b, env)
    fpu.write(0, r)
    fpu.commit(env)


def _scale(a, b, env):
    x, y = sf.unpack(F80, a, env), sf.unpack(F80, b, env)
    r = sf._nan_result(F80, env, x, y)
    if r is not None:
        return r
    if y.cls == sf.CINF:
        if x.cls == sf.CZERO:
            return sf._invalid(F80, env) if not y.sign else a
        if x.cls == sf.CINF:
            return sf._invalid(F80, env) if y.sign else a
        sf._denormal_check(env, x)
        return F80.zero(x.sign) if y.sign else F80.inf(x.sign)
    sf._denormal_check(env, x, y)
    if x.cls in (sf.CZERO, sf.CINF):
        return a
    n = 0
    if y.cls == sf.CFINITE:
        n = abs(y.sig) >> -y.exp if y.exp < 0 else y.sig << y.exp
        n = min(n, 1 << 20) * (-1 if y.sign else 1)
    return sf._round(F80, env, x.sign, x.sig, x.exp + n)


def op_fxtract(fpu, mem, addr, arg):
    env = fpu.env()
    a = fpu.read(0)
    if a is None:
        exp_v, sig_v = INDEFINITE, INDEFINITE
    else:
        x = sf.unpack(F80, a, env)
        nan = sf._nan_result(F80, env, x)
        if nan is not None:
            exp_v = sig_v = nan
        elif x.cls == sf.CZERO:
            env.flags |= ZE
            exp_v, sig_v = F80.inf(1), a
        elif x.cls == sf.CINF:
            exp_v, sig_v = F80.inf(0), a
        else:
            sf._denormal_check(env, x)
            e = x.exp + x.sig.bit_length() - 1
            exp_v = sf.from_int(F80, e, env)
            sig_v = sf._exact(F80, x.sign, x.sig, -(x.sig.bit_length() - 1))
    fpu.write(0, exp_v)
    fpu.push(sig_v)
    fpu.commit(env)


def op_fprem(fpu, mem, addr, arg, nearest):
    env = fpu.env()
    a, b = fpu.read(0), fpu.read(1)
    cc = 0
    if a is None or b is None:
        r = INDEFINITE
    else:
        x, y = sf.unpack(F80, a, env), sf.unpack(F80, b, env)
        r = sf._nan_result(F80, env, x, y)
        if r is None:
            if x.cls == sf.CINF or y.cls == sf.CZERO:
                r = sf._invalid(F80, env)
            elif y.cls == sf.CINF or x.cls == sf.CZERO:
                sf._denormal_check(env, x, y)
                r = a
            else:
                sf._denormal_check(env, x, y)
                r, cc = _remainder(x, y, nearest, env)
    _set_cc(fpu, cc & (C0 | C2 | C3))
    fpu.c1 = bool(cc & C1)
    fpu.write(0, r)
    fpu.commit(env)


def _remainder(x, y, nearest, env):
    ex = x.exp + x.sig.bit_length() - 1
    ey = y.exp + y.sig.bit_length() - 1
    d = ex - ey
    if d >= 64:                               # partial remainder: reduce by a multiple of y * 2**(d - n)
        n = 32 + d % 32
        shift = d - n
        e = min(x.exp, y.exp + shift)
        xv, yv = x.sig << (x.exp - e), y.sig << (y.exp + shift - e)
        q = xv // yv
        rv = xv - q * yv
        return sf._exact(F80, x.sign, rv, e) if rv else F80.zero(x.sign), C2
    e = min(x.exp, y.exp)
    xv, yv = x.sig << (x.exp - e), y.sig << (y.exp - e)
    q, rv = divmod(xv, yv)
    if nearest and (2 * rv > yv or (2 * rv == yv and q & 1)):
        q += 1
        rv -= yv
    sign = x.sign ^ (rv < 0)
    rv = abs(rv)
    cc = (C0 if q & 4 else 0) | (C3 if q & 2 else 0) | (C1 if q & 1 else 0)     # Q2 Q1 Q0
    r = sf._exact(F80, sign, rv, e) if rv else F80.zero(x.sign)
    return r, cc


def op_fninit(fpu, mem, addr, arg):
    st = fpu.st
    st["fcw"], st["fsw"], st["ftw"] = FCW_INIT, FSW_INIT, FTW_INIT


def op_fnclex(fpu, mem, addr, arg):
    fpu.st["fsw"] = fpu.fsw & 0x7F00


def op_fldcw(fpu, mem, addr, arg):
    fpu.st["fcw"] = _load(mem, addr, 2)


def op_fnstcw(fpu, mem, addr, arg):
    _store(mem, addr, 2, fpu.fcw)


def op_fnstsw(fpu, mem, addr, arg):
    if addr is not None and arg == 0:
        _store(mem, addr, 2, fpu.fsw)
    return fpu.fsw


def _full_tags(fpu) -> int:
    out = 0
    for p in range(8):
        t = (fpu.ftw >> 2 * p) & 3
        if t != TAG_EMPTY:
            t = tag_of((fpu.st[f"fpr{p}_se"] << 64) | fpu.st[f"fpr{p}"])
        out |= t << 2 * p
    return out


def _env_bytes(fpu, size32: bool) -> bytes:
    words = [fpu.fcw, fpu.fsw, _full_tags(fpu), 0, 0, 0, 0]
    if size32:      # the 32-bit format: reserved upper halves of the control, status and tag dwords read as 1s
        words[:3] = [w | 0xFFFF0000 for w in words[:3]]
        return b"".join(w.to_bytes(4, "little") for w in words)
    return b"".join((w & 0xFFFF).to_bytes(2, "little") for w in words)


def _env_load(fpu, data: bytes, size32: bool) -> None:
    unit = 4 if size32 else 2
    word = lambda i: int.from_bytes(data[i * unit:i * unit + 2], "little")
    st = fpu.st
    st["fcw"], st["fsw"] = word(0), word(1)
    tags = word(2)
    st["ftw"] = tags | 0       # non-empty tags are recomputed from the registers when read (``_full_tags``)


def op_fnstenv(fpu, mem, addr, arg):
    size32 = bool(arg)
    mem.write(addr, _env_bytes(fpu, size32))
    fpu.st["fcw"] = fpu.fcw | 0x3F           # FNSTENV masks every exception after saving


def op_fldenv(fpu, mem, addr, arg):
    size32 = bool(arg)
    _env_load(fpu, mem.read(addr, 28 if size32 else 14), size32)


def op_fnsave(fpu, mem, addr, arg):
    size32 = bool(arg)
    regs = b"".join(fpu.raw(i).to_bytes(10, "little") for i in range(8))
    mem.write(addr, _env_bytes(fpu, size32) + regs)
    op_fninit(fpu, mem, addr, arg)


def op_frstor(fpu, mem, addr, arg):
    size32 = bool(arg)
    n = 28 if size32 else 14
    data = mem.read(addr, n + 80)
    _env_load(fpu, data[:n], size32)
    f = FPU(fpu.st)
    for i in range(8):
        v = int.from_bytes(data[n + 10 * i:n + 10 * i + 10], "little")
        p = f.phys(i)
        fpu.st[f"fpr{p}"], fpu.st[f"fpr{p}_se"] = v & ((1 << 64) - 1), v >> 64


def fxsave_x87(state, mxcsr_mask: int = 0xFFFF) -> bytes:
    """The first 160 bytes of the FXSAVE image (legacy region up to XMM0): FCW, FSW, the abridged tag byte, FOP, FIP
    and FDP (0: not tracked), MXCSR and MXCSR_MASK, then ST0..ST7 in 16-byte slots. For FXSAVE/FXRSTOR lifters,
    which add the XMM registers (bytes 160..415)."""
    fpu = FPU(state)
    abridged = sum(1 << p for p in range(8) if (fpu.ftw >> 2 * p) & 3 != TAG_EMPTY)
    head = (fpu.fcw.to_bytes(2, "little") + fpu.fsw.to_bytes(2, "little") + bytes([abridged]) + bytes(19)
            + state["mxcsr"].to_bytes(4, "little") + mxcsr_mask.to_bytes(4, "little"))
    return head + b"".join(fpu.raw(i).to_bytes(16, "little") for i in range(8))


def fxrstor_x87(state, data: bytes) -> None:
    """Loads FCW, FSW, the tags (full tags rebuilt from the abridged byte and the register contents), MXCSR and
    ST0..ST7 from the first 160 bytes of an FXSAVE image (the caller checks MXCSR's reserved bits: #GP)."""
    word = lambda i: int.from_bytes(data[i:i + 2], "little")
    state["fcw"], state["fsw"] = word(0), word(2)
    state["mxcsr"] = int.from_bytes(data[24:28], "little")
    fpu = FPU(state)
    ftw = 0
    for i in range(8):
        v = int.from_bytes(data[32 + 16 * i:42 + 16 * i], "little")
        p = fpu.phys(i)
        state[f"fpr{p}"], state[f"fpr{p}_se"] = v & ((1 << 64) - 1), v >> 64
    for p in range(8):
        full = (state[f"fpr{p}_se"] << 64) | state[f"fpr{p}"]
        ftw |= (tag_of(full) if data[4] >> p & 1 else TAG_EMPTY) << 2 * p
    state["ftw"] = ftw


def op_unsupported(fpu, mem, addr, arg, name):
    raise X87Unsupported(f"not implemented: x87 {name}")


def op_nop(fpu, mem, addr, arg):
    pass


# --- the helper -----------------------------------------------------------------------------------------------------

OPS: list = []          # index -> (function, params); filled once, by dbt.lifters.x87's tables at import
_INDEX: dict = {}


def op_index(func, /, **params) -> int:
    """The ``op`` number of ``func`` with ``params`` (registered on first use)."""
    key = (func.__name__, tuple(sorted(params.items())))
    i = _INDEX.get(key)
    if i is None:
        i = _INDEX[key] = len(OPS)
        OPS.append((func, params))
    return i


def x87_helper(state, memory, op, addr, arg):
    fn, params = OPS[op]
    r = fn(FPU(state), memory, addr, arg, **params)
    return r or 0


HELPERS = {"x87": x87_helper}
