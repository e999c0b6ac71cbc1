"""ir.softfloat against the host CPU, bit for bit: results and the exception flags (IE DE ZE OE UE PE), for
binary32/binary64 (SSE scalar instructions under every rounding mode with and without DAZ/FTZ) and the x87 80-bit
format (x87 instructions under every rounding mode and precision control, with C1)."""

from __future__ import annotations

import random

import pytest

from ir import softfloat as sf
from tests.fp import host
from tests.fp.values import pair, random_bits, specials

N = 400                   # random cases per (op, format, environment)
MXCSRS = [rc << 13 | extra for rc in range(4) for extra in (0, 0x40, 0x8000, 0x8040)]
FMT = {32: sf.F32, 64: sf.F64}
BINARY = {"add": sf.add, "sub": sf.sub, "mul": sf.mul, "div": sf.div}


def flags(csr):
    return csr & 0x3F


def show(f, *xs):
    return " ".join(f"{x:#0{f.width // 4 + 2}x}" for x in xs)


@pytest.fixture(scope="module")
def rng():
    return random.Random(754)


@pytest.mark.parametrize("width", [32, 64])
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_sse_binary(op, width, rng):
    f = FMT[width]
    pool = specials(f, rng)
    for csr in MXCSRS:
        cases = [(a, b) for a in pool for b in pool] if csr & 0x6000 == 0 else []
        cases += [pair(f, rng, pool) for _ in range(N)]
        for a, b in cases:
            want, wcsr = host.sse(op, width, a, b, csr)
            env = sf.Env.from_mxcsr(csr)
            got = BINARY[op](f, a, b, env)
            assert (got, env.flags) == (want, flags(wcsr)), f"{op} {show(f, a, b)} mxcsr={csr:#x}"


@pytest.mark.parametrize("width", [32, 64])
@pytest.mark.parametrize("op", ["min", "max"])
def test_sse_minmax(op, width, rng):
    f = FMT[width]
    pool = specials(f, rng)
    for csr in (0x1F80, 0x1FC0, 0x9F80, 0x9FC0):
        for a, b in [(a, b) for a in pool for b in pool] + [pair(f, rng, pool) for _ in range(N)]:
            want, wcsr = host.sse(op, width, a, b, csr)
            env = sf.Env.from_mxcsr(csr)
            got = sf.minmax(f, a, b, env, is_max=op == "max")
            assert (got, env.flags) == (want, flags(wcsr)), f"{op} {show(f, a, b)} mxcsr={csr:#x}"


@pytest.mark.parametrize("width", [32, 64])
def test_sse_sqrt(width, rng):
    f = FMT[width]
    pool = specials(f, rng)
    for csr in MXCSRS:
        for a in pool + [random_bits(f, rng) for _ in range(N)]:
            want, wcsr = host.sse("sqrt", width, 0, a, csr)
            env = sf.Env.from_mxcsr(csr)
            assert (sf.sqrt(f, a, env), env.flags) == (want, flags(wcsr)), f"sqrt {show(f, a)} mxcsr={csr:#x}"


def relation(rflags):
    zf, pf, cf = rflags >> 6 & 1, rflags >> 2 & 1, rflags & 1
    return {(1, 1, 1): sf.UNORDERED, (0, 0, 0): sf.GT, (0, 0, 1): sf.LT, (1, 0, 0): sf.EQ}[(zf, pf, cf)]


@pytest.mark.parametrize("width", [32, 64])
@pytest.mark.parametrize("op", ["comi", "ucomi"])
def test_sse_compare(op, width, rng):
    f = FMT[width]
    pool = specials(f, rng)
    for csr in (0x1F80, 0x1FC0, 0x9F80):
        for a, b in [(a, b) for a in pool for b in pool] + [pair(f, rng, pool) for _ in range(N)]:
            rfl, wcsr = host.sse(op, width, a, b, csr)
            env = sf.Env.from_mxcsr(csr)
            got = sf.compare(f, a, b, env, signaling=op == "comi")
            assert (got, env.flags) == (relation(rfl), flags(wcsr)), f"{op} {show(f, a, b)} mxcsr={csr:#x}"


@pytest.mark.parametrize("width", [32, 64])
def test_sse_convert_float(width, rng):
    f, g = FMT[width], FMT[96 - width]
    pool = specials(f, rng)
    for csr in MXCSRS:
        for a in pool + [random_bits(f, rng) for _ in range(N)]:
            want, wcsr = host.sse("cvtf", width, a, 0, csr)
            want &= g.mask
            env = sf.Env.from_mxcsr(csr)
            got = sf.convert(f, g, a, env)
            assert (got, env.flags) == (want, flags(wcsr)), f"cvt {show(f, a)} mxcsr={csr:#x}"


@pytest.mark.parametrize("width", [32, 64])
@pytest.mark.parametrize("op", ["cvt2si32", "cvtt2si32", "cvt2si64", "cvtt2si64"])
def test_sse_to_int(op, width, rng):
    f = FMT[width]
    iw = 64 if op.endswith("64") else 32
    pool = specials(f, rng)
    near = [f.encode(s, f.bias + k, rng.getrandbits(f.p - 1) & ~((1 << rng.randrange(f.p - 1)) - 1))
            for s in (0, 1) for k in range(-2, min(iw + 2, f.emask - f.bias)) for _ in range(3)]
    near += [sf.from_int(f, v, sf.Env(rc=rc)) for v in (2**(iw - 1), -2**(iw - 1), 2**(iw - 1) - 1)
             for rc in range(4)]
    for csr in MXCSRS:
        for a in pool + near + [random_bits(f, rng) for _ in range(N // 4)]:
            want, wcsr = host.sse(op, width, a, 0, csr)
            env = sf.Env.from_mxcsr(csr)
            got = sf.to_int(f, a, iw, env, truncate="cvtt" in op)
            assert (got, env.flags) == (want & ((1 << iw) - 1), flags(wcsr)), f"{op} {show(f, a)} mxcsr={csr:#x}"


@pytest.mark.parametrize("width", [32, 64])
@pytest.mark.parametrize("iw", [32, 64])
def test_sse_from_int(width, iw, rng):
    f = FMT[width]
    vals = [0, 1, -1, 2**(iw - 1) - 1, -2**(iw - 1)] + [rng.getrandbits(iw) for _ in range(N // 4)]
    vals += [(1 << rng.randrange(iw - 1)) + rng.choice([-1, 0, 1, 3]) for _ in range(N // 4)]
    for csr in MXCSRS[::4] + [0x1FC0, 0x9F80]:
        for v in vals:
            v &= (1 << iw) - 1
            want, wcsr = host.sse(f"si{iw}", width, v, 0, csr)
            env = sf.Env.from_mxcsr(csr)
            sv = v - (1 << iw) if v >> (iw - 1) else v
            got = sf.from_int(f, sv, env)
            assert (got, env.flags) == (want & f.mask, flags(wcsr)), f"cvtsi{iw} {v:#x} mxcsr={csr:#x}"


@pytest.mark.parametrize("width", [32, 64])
@pytest.mark.parametrize("op", ["round", "round_noexc"])
def test_sse_round(op, width, rng):
    f = FMT[width]
    pool = specials(f, rng)
    near = [f.encode(s, f.bias + k, rng.getrandbits(f.p - 1)) for s in (0, 1) for k in range(-2, f.p + 1)]
    for csr in MXCSRS:
        for a in pool + near + [random_bits(f, rng) for _ in range(N // 4)]:
            want, wcsr = host.sse(op, width, a, 0, csr)
            env = sf.Env.from_mxcsr(csr)
            got = sf.round_int(f, a, env, inexact_flag=op == "round")
            assert (got, env.flags) == (want & f.mask, flags(wcsr)), f"{op} {show(f, a)} mxcsr={csr:#x}"


# --- x87 80-bit ---------------------------------------------------------------------------------------------------

FCWS = [0x37F | rc << 10 | pc << 8 for rc in range(4) for pc in (0, 2, 3)]
C1 = 1 << 9


def fsw_bits(sw):
    return sw & 0x3F, bool(sw & C1)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "sqrt"])
def test_x87_arith(op, rng):
    f = sf.F80
    pool = specials(f, rng)
    for fcw in FCWS:
        cases = [(a, b) for a in pool for b in pool] if fcw == 0x37F else []
        cases += [pair(f, rng, pool) for _ in range(N // 2)]
        for a, b in cases:
            want, sw = host.x87(op, a, b, fcw)
            env = sf.Env.from_fcw(fcw)
            got = sf.sqrt(f, a, env) if op == "sqrt" else BINARY[op](f, a, b, env)
            wflags, wc1 = fsw_bits(sw)
            assert (got, env.flags) == (want, wflags), f"{op} {show(f, a, b)} fcw={fcw:#x}"
            if wflags & sf.PE:
                assert env.c1 == wc1, f"C1 of {op} {show(f, a, b)} fcw={fcw:#x}"


@pytest.mark.parametrize("op", ["fcom", "fucom"])
def test_x87_compare(op, rng):
    f = sf.F80
    pool = specials(f, rng)
    for a, b in [(a, b) for a in pool for b in pool] + [pair(f, rng, pool) for _ in range(N)]:
        _, sw = host.x87(op, a, b)
        c0, c2, c3 = sw >> 8 & 1, sw >> 10 & 1, sw >> 14 & 1
        want = {(1, 1, 1): sf.UNORDERED, (0, 0, 0): sf.GT, (1, 0, 0): sf.LT, (0, 0, 1): sf.EQ}[(c0, c2, c3)]
        env = sf.Env.from_fcw(0x37F)
        got = sf.compare(f, a, b, env, signaling=op == "fcom")
        assert (got, env.flags) == (want, sw & 0x3F), f"{op} {show(f, a, b)}"


@pytest.mark.parametrize("width", [32, 64])
def test_x87_load_store_float(width, rng):
    f, g = sf.F80, FMT[width]
    gpool = specials(g, rng) + [random_bits(g, rng) for _ in range(N)]
    for a in gpool:                                         # FLD m32/m64: exact, IE on SNaN, DE on denormals
        want, sw = host.x87(f"fld{width}", a)
        env = sf.Env.from_fcw(0x37F)
        assert (sf.convert(g, f, a, env), env.flags) == (want, sw & 0x3F), f"fld{width} {show(g, a)}"
    pool = specials(f, rng)
    for fcw in FCWS[::3]:                                   # FST m32/m64: rounded by RC (PC does not apply)
        for a in pool + [random_bits(f, rng) for _ in range(N // 2)]:
            want, sw = host.x87(f"fst{width}", a, 0, fcw)
            env = sf.Env.from_fcw(fcw)
            got = sf.convert(f, g, a, env)
            assert (got, env.flags) == (want, sw & 0x3F), f"fst{width} {show(f, a)} fcw={fcw:#x}"


@pytest.mark.parametrize("op", ["fist16", "fist32", "fist64", "fisttp64", "frndint"])
def test_x87_integers(op, rng):
    f = sf.F80
    pool = specials(f, rng)
    near = [f.encode(s, f.bias + k, rng.getrandbits(f.p - 1)) for s in (0, 1) for k in range(-2, 66)]
    for fcw in FCWS[::3]:
        for a in pool + near + [random_bits(f, rng) for _ in range(N // 4)]:
            want, sw = host.x87(op, a, 0, fcw)
            env = sf.Env.from_fcw(fcw)
            if op == "frndint":
                got = sf.round_int(f, a, env)
            else:
                w = int(op[-2:])
                got = sf.to_int(f, a, w, env, truncate=op.startswith("fistt"))
                want &= (1 << w) - 1
            assert (got, env.flags) == (want, sw & 0x3F), f"{op} {show(f, a)} fcw={fcw:#x}"


def test_x87_fild(rng):
    f = sf.F80
    for v in [0, 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1] + [rng.getrandbits(64) for _ in range(N)]:
        want, sw = host.x87("fild64", v)
        env = sf.Env.from_fcw(0x37F)
        assert (sf.from_int(f, v - (1 << 64) if v >> 63 else v, env), env.flags) == (want, sw & 0x3F)
