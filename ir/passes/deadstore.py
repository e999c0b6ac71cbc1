"""Dead guest-state store elimination (flags included) and dead unit-local store elimination.

One backward walk keeps the set of state fields that are overwritten further on before anything can observe them.
A ``put @f`` is dead when ``f`` is in that set; otherwise it adds ``f``. A ``get @f`` removes ``f``. Every other op
that reads state or may leave the unit (load, store, call, exit, halt, trap: a fault must see precise state) empties
the set, and so does control flow (``label``, ``br``, ``brif``): the analysis never looks past a straight-line region.
``insn`` markers and pure ops are transparent. State fields are disjoint (one field per offset, ``dbt/state.py``), so a
field is known by its offset; an i1 put into an i8 field writes the whole field.

Unit-local variables are invisible outside the unit: a ``putl $n`` is dead when no ``getl $n`` exists anywhere in the
unit, or when ``$n`` is written again before it is read in the same region. Helpers and faults cannot read locals, so
for them only control flow is a barrier, and after ``exit``/``halt``/``trap`` every local is dead.

Floating-point ops (``fpenv``) read and update the fp environment field (``ir.ops.FPENV_FIELD``): a put of that field
before one is live; other fields pass through. A unit without field names (no ``Unit.fields``) treats them as
observing all state.
"""

from __future__ import annotations

from ir.ops import FPENV_FIELD, OP
from ir.passes.util import by_code


class _Live:
    """What the backward walk knows at the current point: fields and locals overwritten later before any read."""

    __slots__ = ("fields", "locals", "all_locals", "fpenv")

    def __init__(self, all_locals: frozenset, fpenv: int | None = None):
        self.fields: set = set()
        self.locals: set = set()
        self.all_locals = all_locals
        self.fpenv = fpenv          # offset of the fp environment field, None when unknown


# Handlers return True when the op is dead (dropped).

def _put(s: _Live, o) -> bool:
    if o.imm in s.fields:
        return True
    s.fields.add(o.imm)
    return False


def _get(s: _Live, o) -> bool:
    s.fields.discard(o.imm)
    return False


def _putl(s: _Live, o) -> bool:
    if o.imm not in s.all_locals or o.imm in s.locals:
        return True
    s.locals.add(o.imm)
    return False


def _getl(s: _Live, o) -> bool:
    s.locals.discard(o.imm)
    return False


def _control(s: _Live, o) -> bool:
    s.fields.clear()
    s.locals.clear()
    return False


def _leave(s: _Live, o) -> bool:
    """exit/halt/trap: state is observed, locals die."""
    s.fields.clear()
    s.locals = set(s.all_locals)
    return False


def _observe(s: _Live, o) -> bool:
    """load/store/call: may fault or run a helper, which sees all state (but no locals)."""
    s.fields.clear()
    return False


def _fp(s: _Live, o) -> bool:
    """An fp op reads the fp environment field (and ORs flags into it: not an overwrite)."""
    if s.fpenv is None:
        s.fields.clear()
    else:
        s.fields.discard(s.fpenv)
    return False


def _pure(s: _Live, o) -> bool:
    return False


def _by_effects(op):
    """The handler of an op without a rule of its own, from its effects in the op table."""
    if op.fpenv:
        return _fp
    if not (op.reads_state or op.exits):
        return _pure
    return _leave if op.terminator else _observe


HANDLERS = {op: _by_effects(op) for op in OP} | {
    OP.put: _put, OP.get: _get, OP.putl: _putl, OP.getl: _getl,
    OP.label: _control, OP.br: _control, OP.brif: _control,
}
_DISPATCH = by_code(HANDLERS)


def run(unit) -> bool:
    getl = OP.getl
    fp = unit.fields.by_name.get(FPENV_FIELD) if unit.fields is not None else None
    s = _Live(frozenset(o.imm for o in unit.ops if o.op is getl), fp.offset if fp is not None else None)
    out = []
    for o in reversed(unit.ops):
        if not _DISPATCH[o.op.code](s, o):
            out.append(o)
    if len(out) == len(unit.ops):
        return False
    out.reverse()
    unit.ops = out
    return True
