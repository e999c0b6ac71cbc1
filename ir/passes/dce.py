"""Dead code elimination: unused pure values and state reads, unreachable ops, needless labels and branches.

- An op whose result is never used goes away when it is pure or a ``get``/``getl`` (reading state has no effect).
  ``load`` stays even when unused (it may fault), and so do all ops with effects. One backward walk with a set of used
  values reaches the fixed point, since a use always comes after its definition.
- Ops after an unconditional terminator (``br``/``exit``/``halt``/``trap``) up to the next label are unreachable.
- A ``label`` that no branch names is removed. This only merges a segment into the one before it, which widens where
  values may be used, so the unit stays valid. A ``br Ln`` or ``brif %c, Ln`` right before ``label Ln`` does nothing.
Removing control ops can expose more of each, so the control clean-up repeats until nothing changes (each round is
linear and removes at least one op).
"""

from __future__ import annotations

from ir.ops import OP, Shape

_REMOVABLE = frozenset(op.code for op in OP if op.pure or op.shape in (Shape.GET, Shape.GETL))
_BRANCHES = frozenset((OP.br.code, OP.brif.code))
_LABEL = OP.label.code


def _drop_unreachable(ops: list) -> tuple[list, bool]:
    """Drops the ops between an unconditional terminator and the next label; says whether any label is left."""
    out, dead, labels = [], False, False
    for o in ops:
        if o.op.code == _LABEL:
            dead, labels = False, True
        elif dead:
            continue
        out.append(o)
        if o.op.terminator:
            dead = True
    return out, labels


def _drop_labels_and_jumps(ops: list) -> list:
    targets = {o.imm for o in ops if o.op.code in _BRANCHES}
    out = []
    for i, o in enumerate(ops):
        code = o.op.code
        if code == _LABEL and o.imm not in targets:
            continue
        if code in _BRANCHES and i + 1 < len(ops):
            nxt = ops[i + 1]
            if nxt.op.code == _LABEL and nxt.imm == o.imm:
                continue
        out.append(o)
    return out


def _drop_unused(ops: list) -> list:
    used: set[int] = set()
    out = []
    for o in reversed(ops):
        if o.dst is not None and o.dst not in used and o.op.code in _REMOVABLE:
            continue
        used.update(o.args)
        out.append(o)
    out.reverse()
    return out


def run(unit) -> bool:
    start = len(unit.ops)
    ops = unit.ops
    while True:
        n = len(ops)
        ops, labels = _drop_unreachable(ops)
        if labels:
            ops = _drop_labels_and_jumps(ops)
        ops = _drop_unused(ops)
        if not labels or len(ops) == n:  # without labels, one round is the fixed point
            break
    unit.ops = ops
    return len(ops) != start
