"""Common subexpression elimination of pure ops, with value renaming (copy propagation).

The IR has no copy op: a pass that learns "%a is the same value as %b" drops the op defining %a and renames every later
use through a substitution map (``ir.passes.util``); constfold and loadelim do that themselves in their own walk. This
pass finds such equalities by value numbering: within one label segment (values never live across a label), a pure op
with the same op, type, operands (in sorted order when the op is commutative) and immediate as an earlier one computes
the same value, so it is dropped and its uses renamed to the first. Constants are pure ops too, so duplicate constants
of one type are merged. One forward walk, linear in the number of ops.
"""

from __future__ import annotations

from ir.ops import OP
from ir.passes.util import rename

_LABEL = OP.label.code


def run(unit) -> bool:
    repl: dict[int, int] = {}
    renamed = repl.keys()  # live view
    seen: dict[tuple, int] = {}  # (op code, type, operands, imm) -> first value of the segment computing it
    out = []
    changed = False
    for o in unit.ops:
        if renamed and not renamed.isdisjoint(o.args):
            o, changed = rename(o, repl), True
        d = o.op
        if d.pure:
            args = o.args
            if d.commutative and args[0] > args[1]:
                args = (args[1], args[0])
            key = (d.code, o.ty._value_, args, o.imm)  # _value_: the width, hashed fast (ir.passes.util)
            first = seen.setdefault(key, o.dst)
            if first != o.dst:
                repl[o.dst] = first
                changed = True
                continue
        elif d.code == _LABEL:
            seen.clear()
        out.append(o)
    unit.ops = out
    return changed
