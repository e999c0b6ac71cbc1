"""Constant folding and algebraic simplification of pure ops (and of conditional branches/exits on a constant).

One forward walk. For each pure op whose operands are all constants the op becomes ``const.T k``, computed with
``EVAL`` (exact semantics of ``ir.ops``: values modulo 2**bits, signed ops in two's complement, shifts by >= bits give
0 / the sign fill, rotates use the amount modulo bits, ctlz/cttz of 0 give bits). Division and remainder by zero and
signed overflow (MIN / -1) are undefined and are left alone. Otherwise the rule tables below simplify the op:

- ``Fold(k)``: the op becomes ``const.T k`` in place (same result value, same position);
- ``Same(v)``: the result is value ``v``; the op is dropped and every later use is renamed to ``v`` during the same walk
  (the substitution map of ``ir.passes.util``), so no copy is left behind;
- ``Into(op, args)``: the op is replaced in place by a cheaper op (``eq.i1 %c, 0`` -> ``not.i1 %c``), which is then
  simplified again.

Commutative ops get their constant operand moved to the right, so each rule is written once. Vector ops
(``ir.vector``) fold when all their operands are constant, and a ``vshuffle`` whose pattern keeps its first operand
whole is that operand. Only pure ops and the conditional control ops are touched (``brif``/``exitif``/``trapif``
on 1 become ``br``/``exit``/``trap``, on 0 they disappear); every other op with effects keeps its place and count.
"""

from __future__ import annotations

from typing import NamedTuple

from ir import vector
from ir.ops import OP, VECTOR_SHAPES, OpDef, Shape, Ty
from ir.passes.util import by_code, rename
from ir.unit import Op


class Fold(NamedTuple):
    value: int


class Same(NamedTuple):
    value: int


class Into(NamedTuple):
    op: OpDef
    args: tuple
    imm: object = None


DROP = object()  # the op goes away with no result (brif on a false constant)


# --- exact evaluation: EVAL[op](*constant operands, n) with n the bit width of the first operand ------------------
# The caller masks the result to the result type; None means "undefined, do not fold".

def _sx(a: int, n: int) -> int:
    """``a`` (an n-bit unsigned value) read as two's complement."""
    return a - ((a >> (n - 1)) << n)


def _sdiv(a: int, b: int, n: int):
    x, y = _sx(a, n), _sx(b, n)
    if y == 0 or (y == -1 and x == -(1 << (n - 1))):
        return None
    q = abs(x) // abs(y)
    return -q if (x < 0) != (y < 0) else q


def _srem(a: int, b: int, n: int):
    q = _sdiv(a, b, n)
    return None if q is None else _sx(a, n) - _sx(b, n) * q


def _rotl(a: int, b: int, n: int) -> int:
    k = b % n
    return (a << k) | (a >> (n - k))


def _rotr(a: int, b: int, n: int) -> int:
    k = b % n
    return (a >> k) | (a << (n - k))


EVAL = {
    OP.add: lambda a, b, n: a + b,
    OP.sub: lambda a, b, n: a - b,
    OP.mul: lambda a, b, n: a * b,
    OP.udiv: lambda a, b, n: a // b if b else None,
    OP.sdiv: _sdiv,
    OP.urem: lambda a, b, n: a % b if b else None,
    OP.srem: _srem,
    OP.and_: lambda a, b, n: a & b,
    OP.or_: lambda a, b, n: a | b,
    OP.xor: lambda a, b, n: a ^ b,
    OP.shl: lambda a, b, n: a << b if b < n else 0,
    OP.lshr: lambda a, b, n: a >> b if b < n else 0,
    OP.ashr: lambda a, b, n: _sx(a, n) >> min(b, n),
    OP.rotl: _rotl,
    OP.rotr: _rotr,
    OP.neg: lambda a, n: -a,
    OP.not_: lambda a, n: ~a,
    OP.ctpop: lambda a, n: a.bit_count(),
    OP.ctlz: lambda a, n: n - a.bit_length(),
    OP.cttz: lambda a, n: (a & -a).bit_length() - 1 if a else n,
    OP.bswap: lambda a, n: int.from_bytes(a.to_bytes(n // 8, "little"), "big"),
    OP.eq: lambda a, b, n: int(a == b),
    OP.ne: lambda a, b, n: int(a != b),
    OP.ult: lambda a, b, n: int(a < b),
    OP.ule: lambda a, b, n: int(a <= b),
    OP.slt: lambda a, b, n: int(_sx(a, n) < _sx(b, n)),
    OP.sle: lambda a, b, n: int(_sx(a, n) <= _sx(b, n)),
    OP.zext: lambda a, n: a,
    OP.sext: lambda a, n: _sx(a, n),
    OP.trunc: lambda a, n: a,
    OP.select: lambda c, a, b, n: a if c else b,
}


def evaluate(op: OpDef, ty: Ty, args: tuple, arg_ty: Ty):
    """The constant ``op.ty`` applied to constant ``args`` (``arg_ty``: type of the first), or None if undefined."""
    r = _EVAL[op.code](*args, arg_ty._value_)  # _value_: the bit width, read fast (see ir.passes.util)
    return None if r is None else r & ((1 << ty._value_) - 1)


# --- rule tables: constant operand class -> result, given the other operand x and the operand type t -------------
# Classes of a constant k: 0, 1, "m" (all ones), "wide" (k >= bits). For i1, 1 is also "m"; rules never disagree.

def _x(x, t):
    return Same(x)


def _zero(x, t):
    return Fold(0)


def _one(x, t):
    return Fold(1)


def _all(x, t):
    return Fold((1 << t._value_) - 1)


def _not(x, t):
    return Into(OP.not_, (x,))


def _neg(x, t):
    return Into(OP.neg, (x,))


_SHIFT_RIGHT = {0: _x}
RIGHT = {  # op x, k
    OP.add: {0: _x}, OP.sub: {0: _x}, OP.mul: {0: _zero, 1: _x},
    OP.udiv: {1: _x}, OP.sdiv: {1: _x}, OP.urem: {1: _zero}, OP.srem: {1: _zero},
    OP.and_: {0: _zero, "m": _x}, OP.or_: {0: _x, "m": _all}, OP.xor: {0: _x, "m": _not},
    OP.shl: {0: _x, "wide": _zero}, OP.lshr: {0: _x, "wide": _zero}, OP.ashr: _SHIFT_RIGHT,
    OP.rotl: _SHIFT_RIGHT, OP.rotr: _SHIFT_RIGHT,
    OP.ult: {0: _zero}, OP.ule: {"m": _one},
}
_SHIFTED = {0: _zero}
_SIGN_FILLED = {0: _zero, "m": _all}
LEFT = {  # k op x, for ops that are not commutative
    OP.sub: {0: _neg}, OP.shl: _SHIFTED, OP.lshr: _SHIFTED,
    OP.ashr: _SIGN_FILLED, OP.rotl: _SIGN_FILLED, OP.rotr: _SIGN_FILLED,
    OP.ult: {"m": _zero}, OP.ule: {0: _one},
}
SAME = {  # x op x
    OP.sub: _zero, OP.xor: _zero, OP.and_: _x, OP.or_: _x,
    OP.eq: _one, OP.ne: _zero, OP.ult: _zero, OP.ule: _one, OP.slt: _zero, OP.sle: _one,
}
I1_COMPARE = {  # (op, k) for i1 operands: a compare with a constant is the flag itself or its negation
    (OP.eq, 1): _x, (OP.eq, 0): _not, (OP.ne, 0): _x, (OP.ne, 1): _not,
}
INVOLUTIONS = {OP.not_, OP.neg, OP.bswap}  # f(f(x)) == x
_ROTATES = {OP.rotl.code, OP.rotr.code}
_I1 = Ty.i1  # Enum class attribute access is slow (~160 ns); hot paths use module constants


# The same tables keyed by op code (see ir.passes.util.by_code).
_EVAL = by_code(EVAL)
_RIGHT = by_code(RIGHT)
_LEFT = by_code(LEFT)
_SAME = by_code(SAME)
_I1_COMPARE = {(op.code, k): rule for (op, k), rule in I1_COMPARE.items()}
_INVOLUTIONS = {op.code for op in INVOLUTIONS}


def _match(rules, k: int, t: Ty):
    if rules is None:
        return None
    r = rules.get(k)
    if r is None and "m" in rules and k == (1 << t._value_) - 1:
        r = rules["m"]
    if r is None and "wide" in rules and k >= t._value_:
        r = rules["wide"]
    return r


# --- handlers: (env, op) -> Fold | Same | Into | DROP | None (no change) -------------------------------------------

class _Env:
    __slots__ = ("types", "consts", "defs")

    def __init__(self, types):
        self.types = types
        self.consts: dict[int, int] = {}   # value -> constant
        self.defs: dict[int, Op] = {}      # value -> defining pure op (after rewriting)


def _fold_all(env: _Env, o: Op):
    ks = [env.consts.get(a) for a in o.args]
    if None in ks:
        return None
    r = evaluate(o.op, o.ty, ks, env.types[o.args[0]])
    return None if r is None else Fold(r)


def _two(env: _Env, o: Op):
    """Binary ops and compares."""
    a, b = o.args
    ka, kb = env.consts.get(a), env.consts.get(b)
    if ka is not None and kb is not None:
        return _fold_all(env, o)
    t = env.types[a]
    code = o.op.code
    if a == b:
        rule = _SAME.get(code)
        return rule(a, t) if rule else None
    if kb is not None:
        if code in _ROTATES:
            kb %= t._value_
        rule = _I1_COMPARE.get((code, kb)) if t is _I1 else None
        rule = rule or _match(_RIGHT.get(code), kb, t)
        return rule(a, t) if rule else None
    if ka is not None:
        if o.op.commutative:
            return Into(o.op, (b, a))
        rule = _match(_LEFT.get(code), ka, t)
        return rule(b, t) if rule else None
    return None


def _unary(env: _Env, o: Op):
    a = o.args[0]
    if a in env.consts:
        return _fold_all(env, o)
    d = env.defs.get(a)
    if d is not None and d.op is o.op and o.op.code in _INVOLUTIONS:
        return Same(d.args[0])
    return None


def _inner(inner, x, xt, ty):
    """outer(inner(x)) == inner(x) to ``ty`` (zext(zext x), sext(sext x), sext(zext x))."""
    return Into(inner, (x,))


def _narrowed(inner, x, xt, ty):
    """trunc(zext/sext x) to ``ty``: x itself, a narrower trunc of x, or a shorter extension of x."""
    if ty is xt:
        return Same(x)
    return Into(OP.trunc if ty.bits < xt.bits else inner, (x,))


def _trunc2(inner, x, xt, ty):
    return Into(OP.trunc, (x,))


CAST_OF_CAST = {  # (outer, inner) -> rule
    (OP.zext, OP.zext): _inner, (OP.sext, OP.sext): _inner, (OP.sext, OP.zext): _inner,
    (OP.trunc, OP.zext): _narrowed, (OP.trunc, OP.sext): _narrowed, (OP.trunc, OP.trunc): _trunc2,
}

_CAST_OF_CAST = {(outer.code, inner.code): rule for (outer, inner), rule in CAST_OF_CAST.items()}


def _cast(env: _Env, o: Op):
    a = o.args[0]
    if a in env.consts:
        return _fold_all(env, o)
    d = env.defs.get(a)
    rule = _CAST_OF_CAST.get((o.op.code, d.op.code)) if d is not None else None
    if rule is None:
        return None
    x = d.args[0]
    return rule(d.op, x, env.types[x], o.ty)


def _select(env: _Env, o: Op):
    c, a, b = o.args
    kc = env.consts.get(c)
    if kc is not None:
        return Same(a if kc else b)
    if a == b:
        return Same(a)
    if o.ty is _I1:
        arms = (env.consts.get(a), env.consts.get(b))
        if arms == (1, 0):
            return Same(c)
        if arms == (0, 1):
            return Into(OP.not_, (c,))
    return None


def _when(taken: OpDef):
    """Handler for a conditional op (condition first): on 1 it becomes ``taken`` with the other operands, on 0 it
    goes away."""
    def h(env: _Env, o: Op):
        k = env.consts.get(o.args[0])
        if k is None:
            return None
        return Into(taken, o.args[1:], o.imm) if k else DROP
    return h


_IDENTITY_A = sum(k << (8 * k) for k in range(16))     # vshuffle pattern that gives a itself


def _vector(env: _Env, o: Op):
    """Vector ops (ir.vector): folded when every operand is constant; a shuffle that keeps a is a itself."""
    ks = [env.consts.get(a) for a in o.args]
    if None not in ks:
        return Fold(vector.evaluate(o.op.name, ks, o.imm))
    if o.op is OP.vshuffle and o.imm == _IDENTITY_A:
        return Same(o.args[0])
    return None


CONDITIONAL = {"brif": "br", "exitif": "exit", "trapif": "trap"}  # conditional op -> op when always taken
_BY_SHAPE = {Shape.BINARY: _two, Shape.CMP: _two, Shape.UNARY: _unary, Shape.CAST: _cast, Shape.SELECT: _select}
HANDLERS = {op: _BY_SHAPE[op.shape] for op in OP if op.shape in _BY_SHAPE}
HANDLERS.update({OP[c]: _when(OP[t]) for c, t in CONDITIONAL.items() if c in OP})
HANDLERS.update({op: _vector for op in OP if op.shape in VECTOR_SHAPES})
_DISPATCH = by_code(HANDLERS)
_CONST = OP.const.code
_MAX_REWRITES = 4  # an Into result is simplified again, a bounded number of times


def run(unit) -> bool:
    env = _Env(unit.types)
    consts, defs = env.consts, env.defs
    repl: dict[int, int] = {}
    renamed = repl.keys()  # live view
    out = []
    changed = False
    for o in unit.ops:
        if renamed and not renamed.isdisjoint(o.args):
            o, changed = rename(o, repl), True
        code = o.op.code
        if code == _CONST:
            consts[o.dst] = o.imm
            out.append(o)
            continue
        h = _DISPATCH.get(code)
        for _ in range(_MAX_REWRITES):
            r = h(env, o) if h is not None else None
            if r is None:
                break
            changed = True
            if r is DROP:
                o = None
                break
            if type(r) is Same:
                repl[o.dst] = r.value
                o = None
                break
            if type(r) is Fold:  # values come masked to the result type
                o = Op(OP.const, o.ty, o.dst, (), r.value)
                consts[o.dst] = o.imm
                break
            o = Op(r.op, o.ty, o.dst, r.args, r.imm)
            h = _DISPATCH.get(r.op.code)
        if o is not None:
            if o.dst is not None and o.op.pure:
                defs[o.dst] = o
            out.append(o)
    unit.ops = out
    return changed
