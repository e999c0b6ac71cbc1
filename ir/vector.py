"""Exact semantics of the lane-wise vector ops on i128 values (the reference that constant folding and the
interpreter share; the op table in ``ir.ops`` holds their one-line formulas).

An i128 value is 128/L lanes of L bits (L = 8, 16, 32 or 64, the op's ``lanes`` immediate), lane 0 in the low bits.
Every function takes and returns unsigned Python ints; the result is already reduced to 128 bits (32 for vmovmsk).

- saturating ops clamp to the lane's signed (``s``) or unsigned (``u``) range;
- vcmpeq/vcmpgt give all-ones lanes where the compare holds (gt is signed);
- vmulhs/vmulhu: the high L bits of the 2L-bit product; vmul: the low L bits;
- vmulevu: the even L-bit lanes zero-extended and multiplied into 2L-bit lanes (PMULUDQ for L = 32);
- vmadd: signed products of adjacent L-bit lanes added in pairs into 2L-bit lanes, wrapping (PMADDWD for L = 16);
- vsad: per group of 8 byte lanes, the sum of |a - b| (unsigned) into a 64-bit lane (PSADBW; L = 8 only);
- vavgu: (a + b + 1) >> 1 unsigned, without overflow;
- vpacks/vpacku: L-bit lanes of a then of b, each saturated (signed, or signed input to unsigned output) to L/2
  bits: the result holds a's lanes in its low half;
- shifts take an unsigned i64 count, the same for every lane; a count >= L gives 0 (shl, lshr) or the sign fill
  (ashr), as the SSE shifts define;
- vshuffle: result byte i = byte ``(imm >> 8i) & 0xFF`` of the 32-byte concatenation b:a (a is bytes 0..15, b bytes
  16..31): one form for every permutation, interleave and byte shift with a constant pattern;
- vmovmsk: bit i of the i32 result = the sign bit of lane i.
"""

from __future__ import annotations

M128 = (1 << 128) - 1


def lanes(x: int, n: int) -> list[int]:
    """The 128/n lanes of x (unsigned), lane 0 first."""
    m = (1 << n) - 1
    return [(x >> (n * i)) & m for i in range(128 // n)]


def join(vals, n: int) -> int:
    m = (1 << n) - 1
    r = 0
    for i, v in enumerate(vals):
        r |= (v & m) << (n * i)
    return r


def _s(x: int, n: int) -> int:
    return x - (1 << n) if x >> (n - 1) & 1 else x


def _sat_s(x: int, n: int) -> int:
    return max(-(1 << (n - 1)), min((1 << (n - 1)) - 1, x))


def _sat_u(x: int, n: int) -> int:
    return max(0, min((1 << n) - 1, x))


def _map(f):
    """A lane-wise op from f(a_lane, b_lane, n) on unsigned lanes."""
    def op(a, b, n):
        return join([f(x, y, n) for x, y in zip(lanes(a, n), lanes(b, n))], n)
    return op


def _mulevu(a, b, n):
    return join([x * y for x, y in zip(lanes(a, n)[::2], lanes(b, n)[::2])], 2 * n)


def _madd(a, b, n):
    p = [_s(x, n) * _s(y, n) for x, y in zip(lanes(a, n), lanes(b, n))]
    return join([p[i] + p[i + 1] for i in range(0, len(p), 2)], 2 * n)


def _sad(a, b, n):
    d = [abs(x - y) for x, y in zip(lanes(a, 8), lanes(b, 8))]
    return join([sum(d[0:8]), sum(d[8:16])], 64)


def _pack(sat):
    def op(a, b, n):
        h = n // 2
        return join([sat(_s(x, n), h) for x in lanes(a, n) + lanes(b, n)], h)
    return op


def _shift(f):
    def op(a, count, n):
        return join([f(x, count, n) for x in lanes(a, n)], n)
    return op


BINARY = {
    "vadd": _map(lambda x, y, n: x + y),
    "vsub": _map(lambda x, y, n: x - y),
    "vadds": _map(lambda x, y, n: _sat_s(_s(x, n) + _s(y, n), n)),
    "vaddu": _map(lambda x, y, n: _sat_u(x + y, n)),
    "vsubs": _map(lambda x, y, n: _sat_s(_s(x, n) - _s(y, n), n)),
    "vsubu": _map(lambda x, y, n: _sat_u(x - y, n)),
    "vcmpeq": _map(lambda x, y, n: -(x == y)),
    "vcmpgt": _map(lambda x, y, n: -(_s(x, n) > _s(y, n))),
    "vmins": _map(lambda x, y, n: x if _s(x, n) <= _s(y, n) else y),
    "vmaxs": _map(lambda x, y, n: x if _s(x, n) >= _s(y, n) else y),
    "vminu": _map(lambda x, y, n: min(x, y)),
    "vmaxu": _map(lambda x, y, n: max(x, y)),
    "vmul": _map(lambda x, y, n: x * y),
    "vmulhs": _map(lambda x, y, n: (_s(x, n) * _s(y, n)) >> n),
    "vmulhu": _map(lambda x, y, n: (x * y) >> n),
    "vmulevu": _mulevu,
    "vmadd": _madd,
    "vsad": _sad,
    "vavgu": _map(lambda x, y, n: (x + y + 1) >> 1),
    "vpacks": _pack(_sat_s),
    "vpacku": _pack(_sat_u),
}

SHIFT = {
    "vshl": _shift(lambda x, c, n: x << c if c < n else 0),
    "vlshr": _shift(lambda x, c, n: x >> c if c < n else 0),
    "vashr": _shift(lambda x, c, n: _s(x, n) >> min(c, n - 1)),
}


def vshuffle(a: int, b: int, imm: int) -> int:
    src = (a | b << 128).to_bytes(32, "little")
    return int.from_bytes(bytes(src[(imm >> (8 * i)) & 0xFF] for i in range(16)), "little")


def vmovmsk(a: int, n: int) -> int:
    return sum(((x >> (n - 1)) & 1) << i for i, x in enumerate(lanes(a, n)))


def shuffle_imm(indices) -> int:
    """The vshuffle immediate of 16 byte indices (each 0..31: a's bytes, then b's)."""
    idx = list(indices)
    if len(idx) != 16 or not all(0 <= i < 32 for i in idx):
        raise ValueError(f"vshuffle takes 16 byte indices in 0..31, got {idx}")
    return sum(i << (8 * k) for k, i in enumerate(idx))


def evaluate(name: str, args, imm: int) -> int:
    """The value of vector op ``name`` on constant ``args`` with immediate ``imm`` (lanes, or the shuffle pattern)."""
    if name in BINARY:
        return BINARY[name](args[0], args[1], imm) & M128
    if name in SHIFT:
        return SHIFT[name](args[0], args[1], imm) & M128
    if name == "vshuffle":
        return vshuffle(args[0], args[1], imm)
    if name == "vmovmsk":
        return vmovmsk(args[0], imm)
    raise KeyError(name)
