"""Exact integer semantics of the pure ops, as Python functions over unsigned values (see ir.ops for the rules).

Binary functions take (a, b, bits), unary and cast functions (a, bits) where bits is the operand width; callers mask
the result to the result type.
"""

from __future__ import annotations

from ir import vector as _vec


def _signed(x: int, bits: int) -> int:
    return x - (1 << bits) if x >> (bits - 1) & 1 else x


def _sdiv(a, b, bits):
    sa, sb = _signed(a, bits), _signed(b, bits)
    q = abs(sa) // abs(sb)
    return q if (sa < 0) == (sb < 0) else -q


def _srem(a, b, bits):
    sa, sb = _signed(a, bits), _signed(b, bits)
    r = abs(sa) % abs(sb)
    return -r if sa < 0 else r


def _rotl(a, b, bits):
    b %= bits
    return (a << b | a >> (bits - b)) if b else a


def _rotr(a, b, bits):
    b %= bits
    return (a >> b | a << (bits - b)) if b else a


def _ashr(a, b, bits):
    return _signed(a, bits) >> min(b, bits)


BINARY = {
    "add": lambda a, b, bits: a + b,
    "sub": lambda a, b, bits: a - b,
    "mul": lambda a, b, bits: a * b,
    "udiv": lambda a, b, bits: a // b,
    "sdiv": _sdiv,
    "urem": lambda a, b, bits: a % b,
    "srem": _srem,
    "and": lambda a, b, bits: a & b,
    "or": lambda a, b, bits: a | b,
    "xor": lambda a, b, bits: a ^ b,
    "shl": lambda a, b, bits: a << b if b < bits else 0,
    "lshr": lambda a, b, bits: a >> b if b < bits else 0,
    "ashr": _ashr,
    "rotl": _rotl,
    "rotr": _rotr,
}


def _ctlz(a, bits):
    return bits - a.bit_length()


def _cttz(a, bits):
    return (a & -a).bit_length() - 1 if a else bits


def _bswap(a, bits):
    return int.from_bytes(a.to_bytes(bits // 8, "little"), "big")


UNARY = {
    "neg": lambda a, bits: -a,
    "not": lambda a, bits: ~a,
    "ctpop": lambda a, bits: a.bit_count(),
    "ctlz": _ctlz,
    "cttz": _cttz,
    "bswap": _bswap,
}

CMP = {
    "eq": lambda a, b, bits: int(a == b),
    "ne": lambda a, b, bits: int(a != b),
    "ult": lambda a, b, bits: int(a < b),
    "ule": lambda a, b, bits: int(a <= b),
    "slt": lambda a, b, bits: int(_signed(a, bits) < _signed(b, bits)),
    "sle": lambda a, b, bits: int(_signed(a, bits) <= _signed(b, bits)),
}

CAST = {
    "zext": lambda a, bits: a,
    "sext": lambda a, bits: _signed(a, bits),
    "trunc": lambda a, bits: a,
}


# Vector ops on i128 values: f(*operands, imm) -> result, the exact semantics of ir.vector (whose formulas the op
# table states); results come reduced to their type.
def _masked(f):
    return lambda a, b, imm: f(a, b, imm) & _vec.M128


VECTOR = {n: _masked(f) for n, f in {**_vec.BINARY, **_vec.SHIFT}.items()}
VECTOR.update(vshuffle=_vec.vshuffle, vmovmsk=_vec.vmovmsk)


def evaluate(name: str, args: list[int], arg_bits: int) -> int:
    """Evaluates pure op ``name`` (unmasked result); used by constant folding tests and tools."""
    for table in (BINARY, CMP):
        if name in table:
            return table[name](args[0], args[1], arg_bits)
    for table in (UNARY, CAST):
        if name in table:
            return table[name](args[0], arg_bits)
    raise KeyError(name)
