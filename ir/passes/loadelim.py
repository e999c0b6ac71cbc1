"""Redundant guest-state and unit-local load elimination (store-to-load forwarding), and redundant puts.

One forward walk per unit; what it knows is reset at every ``label`` (values never live across one). For each state
field (by offset; fields are disjoint) it remembers the value the field is known to hold: the operand of the last
``put``, or the result of the first ``get`` after it. Then:

- ``get.T @f`` when ``f`` holds a value of type T is dropped and its uses renamed to that value; after
  ``put @f, %v`` with an i1 ``%v`` (an i1 lives in an i8 field as 0/1) a wider ``get`` becomes ``zext %v``. Any other
  type mismatch is left alone.
- ``put @f, %v`` when ``f`` is already known to hold ``%v`` is dropped (state does not change). Not when ``%v`` is an
  i1 read from a wider field by ``get.i1``: that field might hold more than one bit.
- ``call`` may write any state, so it forgets every field; ``load``/``store`` write only guest memory, and an op that
  faults leaves the unit, so they keep what is known. Locals (``getl``/``putl``) work the same way, with exact types
  only; no helper can touch them.
- a floating-point op (``fpenv``) updates the fp environment field (``ir.ops.FPENV_FIELD``): that field is forgotten
  (every field when the unit has no field names).
"""

from __future__ import annotations

from ir.ops import FPENV_FIELD, OP, Ty
from ir.passes.util import by_code, rename
from ir.unit import Op

_I1 = Ty.i1  # Enum class attribute access is slow; the hot path uses a module constant


class _Known:
    """Per segment: slot -> (value, exact) for fields and for locals. ``exact`` says the slot holds the value itself
    (it was put, or read with the slot's own width); a ``get.i1`` of an i8 field is not exact."""

    __slots__ = ("fields", "locals", "types", "repl", "fpenv")

    def __init__(self, types, fpenv: int | None = None):
        self.fpenv = fpenv          # offset of the fp environment field, None when unknown
        self.fields: dict = {}
        self.locals: dict = {}
        self.types = types
        self.repl: dict[int, int] = {}


# Handlers return the op to keep (possibly rewritten) or None to drop it.

def _read(k: _Known, slots: dict, o: Op, field: bool):
    known = slots.get(o.imm)
    if known is None:
        slots[o.imm] = (o.dst, not field or o.ty is not _I1)
        return o
    v, exact = known
    vt = k.types[v]
    if vt is o.ty:
        k.repl[o.dst] = v
        return None
    if field and exact and vt is _I1:
        return Op(OP.zext, o.ty, o.dst, (v,))
    return o


def _write(slots: dict, o: Op):
    v = o.args[0]
    known = slots.get(o.imm)
    if known is not None and known[0] == v and known[1]:
        return None
    slots[o.imm] = (v, True)
    return o


def _get(k: _Known, o: Op):
    return _read(k, k.fields, o, True)


def _getl(k: _Known, o: Op):
    return _read(k, k.locals, o, False)


def _put(k: _Known, o: Op):
    return _write(k.fields, o)


def _putl(k: _Known, o: Op):
    return _write(k.locals, o)


def _label(k: _Known, o: Op):
    k.fields.clear()
    k.locals.clear()
    return o


def _clobber(k: _Known, o: Op):
    k.fields.clear()
    return o


def _fp(k: _Known, o: Op):
    if k.fpenv is None:
        k.fields.clear()
    else:
        k.fields.pop(k.fpenv, None)
    return o


HANDLERS = {OP.get: _get, OP.getl: _getl, OP.put: _put, OP.putl: _putl, OP.label: _label}
HANDLERS.update({op: _fp for op in OP if op.fpenv})
HANDLERS.update({op: _clobber for op in OP if op.writes_state and op not in HANDLERS})
_DISPATCH = by_code(HANDLERS)


def run(unit) -> bool:
    fp = unit.fields.by_name.get(FPENV_FIELD) if unit.fields is not None else None
    k = _Known(unit.types, fp.offset if fp is not None else None)
    repl = k.repl
    renamed = repl.keys()  # live view
    out = []
    changed = False
    for o in unit.ops:
        if renamed and not renamed.isdisjoint(o.args):
            o, changed = rename(o, repl), True
        h = _DISPATCH.get(o.op.code)
        if h is not None:
            kept = h(k, o)
            if kept is not o:
                changed = True
                if kept is None:
                    continue
                o = kept
        out.append(o)
    unit.ops = out
    return changed
