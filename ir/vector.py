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

from array import array

M128 = (1 << 128) - 1
_U = {8: "B", 16: "H", 32: "I", 64: "Q"}        # lane views (memoryview.cast / array): unsigned ...
_S = {8: "b", 16: "h", 32: "i", 64: "q"}        # ... and signed
_HIGH = {n: sum(1 << (n * i + n - 1) for i in range(128 // n)) for n in _U}   # the sign bit of every lane
_LOWS = {n: _HIGH[n] >> (n - 1) for n in _U}                                   # bit 0 of every lane


def lanes(x: int, n: int) -> list[int]:
    """The 128/n lanes of x (unsigned), lane 0 first."""
    return memoryview(x.to_bytes(16, "little")).cast(_U[n]).tolist()


def slanes(x: int, n: int) -> list[int]:
    """The 128/n lanes of x read as two's complement."""
    return memoryview(x.to_bytes(16, "little")).cast(_S[n]).tolist()


def join(vals, n: int) -> int:
    """The value whose lanes are ``vals`` (any ints, reduced modulo 2**n)."""
    m = (1 << n) - 1
    return int.from_bytes(array(_U[n], [v & m for v in vals]).tobytes(), "little")


def _join_exact(vals, n: int, signed: bool = False) -> int:
    """``join`` for lanes already in range (unsigned, or signed with ``signed``)."""
    return int.from_bytes(array(_S[n] if signed else _U[n], vals).tobytes(), "little")


def _full(bits: int, n: int) -> int:
    """Lanes with bit 0 set (``bits``, from a lane mask) widened to all-ones lanes."""
    return ((bits << n) - bits) & M128


# Whole-value (SWAR) forms of the most frequent ops: no loop over lanes.

def _vadd(a, b, n):
    """Add below the lane sign bits, then put the sign bits' sum (an xor) on top."""
    h = _HIGH[n]
    return ((a & ~h) + (b & ~h)) ^ ((a ^ b) & h)


def _vsub(a, b, n):
    """Borrow into set sign bits, then fix them with the sign bits' difference."""
    h = _HIGH[n]
    return (((a | h) - (b & ~h)) ^ ((a ^ ~b) & h)) & M128


def _vcmpeq(a, b, n):
    """A lane of a ^ b is zero iff adding all-ones below its sign bit carries nothing into it and it is clear."""
    h = _HIGH[n]
    t = a ^ b
    zero = ~(((t & ~h) + (M128 ^ h)) | t) & h
    return _full(zero >> (n - 1), n)


def _lanewise(f, signed=False, out_signed=None):
    """A lane-wise op from f(a_lanes, b_lanes, n) -> result lanes in range."""
    view = slanes if signed else lanes
    out = signed if out_signed is None else out_signed

    def op(a, b, n):
        return _join_exact(f(view(a, n), view(b, n), n), n, out)
    return op


def _sat(lo, hi, v):
    return lo if v < lo else hi if v > hi else v


def _mulevu(a, b, n):
    return join([x * y for x, y in zip(lanes(a, n)[::2], lanes(b, n)[::2])], 2 * n)


def _madd(a, b, n):
    p = [x * y for x, y in zip(slanes(a, n), slanes(b, n))]
    return join([p[i] + p[i + 1] for i in range(0, len(p), 2)], 2 * n)


def _sad(a, b, n):
    d = [abs(x - y) for x, y in zip(lanes(a, 8), lanes(b, 8))]
    return join([sum(d[0:8]), sum(d[8:16])], 64)


def _pack(signed):
    def op(a, b, n):
        h = n // 2
        lo, hi = (-(1 << (h - 1)), (1 << (h - 1)) - 1) if signed else (0, (1 << h) - 1)
        return _join_exact([_sat(lo, hi, v) for v in slanes(a, n) + slanes(b, n)], h, signed)
    return op


def _adds(xs, ys, n):
    lo, hi = -(1 << (n - 1)), (1 << (n - 1)) - 1
    return [_sat(lo, hi, x + y) for x, y in zip(xs, ys)]


def _subs(xs, ys, n):
    lo, hi = -(1 << (n - 1)), (1 << (n - 1)) - 1
    return [_sat(lo, hi, x - y) for x, y in zip(xs, ys)]


def _addu(xs, ys, n):
    m = (1 << n) - 1
    return [x + y if x + y <= m else m for x, y in zip(xs, ys)]


def _vcmpgt(a, b, n):
    return _full(_join_exact([int(x > y) for x, y in zip(slanes(a, n), slanes(b, n))], n), n)


BINARY = {
    "vadd": _vadd,
    "vsub": _vsub,
    "vadds": _lanewise(_adds, signed=True),
    "vaddu": _lanewise(_addu),
    "vsubs": _lanewise(_subs, signed=True),
    "vsubu": _lanewise(lambda xs, ys, n: [x - y if x > y else 0 for x, y in zip(xs, ys)]),
    "vcmpeq": _vcmpeq,
    "vcmpgt": _vcmpgt,
    "vmins": _lanewise(lambda xs, ys, n: [x if x < y else y for x, y in zip(xs, ys)], signed=True),
    "vmaxs": _lanewise(lambda xs, ys, n: [x if x > y else y for x, y in zip(xs, ys)], signed=True),
    "vminu": _lanewise(lambda xs, ys, n: [x if x < y else y for x, y in zip(xs, ys)]),
    "vmaxu": _lanewise(lambda xs, ys, n: [x if x > y else y for x, y in zip(xs, ys)]),
    "vmul": lambda a, b, n: join([x * y for x, y in zip(lanes(a, n), lanes(b, n))], n),
    "vmulhs": lambda a, b, n: join([(x * y) >> n for x, y in zip(slanes(a, n), slanes(b, n))], n),
    "vmulhu": _lanewise(lambda xs, ys, n: [(x * y) >> n for x, y in zip(xs, ys)]),
    "vmulevu": _mulevu,
    "vmadd": _madd,
    "vsad": _sad,
    "vavgu": _lanewise(lambda xs, ys, n: [(x + y + 1) >> 1 for x, y in zip(xs, ys)]),
    "vpacks": _pack(True),
    "vpacku": _pack(False),
}


def _vshl(a, c, n):
    if c >= n:
        return 0
    keep = _LOWS[n] * ((1 << (n - c)) - 1)          # the low n - c bits of every lane
    return (a & keep) << c


def _vlshr(a, c, n):
    if c >= n:
        return 0
    keep = _LOWS[n] * ((1 << (n - c)) - 1) << c     # the high n - c bits of every lane
    return (a & keep) >> c


def _vashr(a, c, n):
    c = min(c, n - 1)
    return join([x >> c for x in slanes(a, n)], n)


SHIFT = {"vshl": _vshl, "vlshr": _vlshr, "vashr": _vashr}


def vshuffle(a: int, b: int, imm: int) -> int:
    src = (a | b << 128).to_bytes(32, "little")
    return int.from_bytes(bytes([src[k] for k in imm.to_bytes(16, "little")]), "little")


def vmovmsk(a: int, n: int) -> int:
    signs = (a & _HIGH[n]) >> (n - 1)                   # bit 0 of each lane: that lane's sign
    return sum(bit << i for i, bit in enumerate(lanes(signs, n)))


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
