"""Operand generators for the floating-point tests: every special class of a format, boundary values, values whose
sum or product lands on a rounding halfway point, and random encodings (seeded, so failures reproduce)."""

from __future__ import annotations

import random

from ir.softfloat import F80, Format


def specials(f: Format, rng: random.Random) -> list[int]:
    """±0, ±smallest/largest denormal, ±smallest/largest normal, ±1, ±inf, QNaNs and SNaNs (with payloads),
    the default NaN, and a few ordinary numbers."""
    e = f.encode
    one = e(0, f.bias, 0)
    out = []
    for s in (0, 1):
        out += [e(s, 0, 0), e(s, 0, 1), e(s, 0, f.fmask), e(s, 1, 0), e(s, f.emask - 1, f.fmask), e(s, f.bias, 0),
                e(s, f.emask, 0), e(s, f.emask, f.qbit), e(s, f.emask, f.qbit | rng.getrandbits(f.p - 2)),
                e(s, f.emask, 1 + rng.getrandbits(f.p - 3)), e(s, f.emask, f.qbit >> 1),
                e(s, f.bias + 1, f.fmask), e(s, f.bias - 1, 1), e(s, 1, f.fmask), e(s, 0, f.qbit)]
    out.append(one | 5)
    return out


def random_bits(f: Format, rng: random.Random) -> int:
    """A random encoding: uniformly random bits, or a random number near the exponent range's ends or near 1."""
    k = rng.randrange(6)
    s = rng.getrandbits(1)
    frac = rng.getrandbits(f.p - 1)
    if k == 0:
        if f is F80:                     # a valid encoding (integer bit = exponent != 0)
            bexp = rng.getrandbits(f.ebits)
            return f.encode(s, bexp, frac)
        return rng.getrandbits(f.width)
    if k == 1:
        return f.encode(s, rng.randrange(1, 4 + f.p), frac)           # small normals
    if k == 2:
        return f.encode(s, rng.randrange(f.emask - 4, f.emask), frac)  # huge normals
    if k == 3:
        return f.encode(s, 0, frac)                                    # denormals
    if k == 4:
        return f.encode(s, f.bias + rng.randrange(-3, 4), frac)
    return f.encode(s, f.bias + rng.randrange(-3, 4), frac & ~((1 << rng.randrange(f.p - 1)) - 1))  # few bits


def pair(f: Format, rng: random.Random, pool: list[int]) -> tuple[int, int]:
    """Two operands: from the specials pool, random, or built so that a + b or a * b needs careful rounding
    (b a power of two or few-bit number ~p bits below a: ties and near-ties; b close to a: cancellation)."""
    k = rng.randrange(5)
    if k == 0:
        return rng.choice(pool), rng.choice(pool)
    if k == 1:
        return random_bits(f, rng), rng.choice(pool)
    a = random_bits(f, rng)
    bexp = (a >> f.mbits) & f.emask
    if k == 2:
        d = f.p + rng.randrange(-3, 3)
        be = max(0, min(f.emask - 1, bexp - d))
        frac = rng.choice([0, f.qbit, f.qbit | 1, f.fmask, rng.getrandbits(f.p - 1)])
        return a, f.encode(rng.getrandbits(1), be, frac)
    if k == 3:
        return a, a ^ (rng.getrandbits(4) | (rng.getrandbits(1) << (f.width - 1)))
    return a, random_bits(f, rng)
