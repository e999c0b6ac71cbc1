"""Helpers shared by the passes: renaming operands through a substitution map, and dispatch by op code.

Every pass walks ``unit.ops`` forward (or backward) once and rebuilds the list. A pass that finds "value %a is the
same as %b" records ``repl[a] = b`` and drops the op that defined %a; since SSA values are used only after their
definition, renaming the operands of every later op through ``repl`` during the same walk removes every use, so no copy
op ever exists in the IR. ``repl`` values are always final (never themselves keys), so one lookup resolves a name.

Ops are not mutated in place (a unit may share Op objects with a copy of itself); a changed op is a new ``Op``.
Passes run on every translated block, so the hot loops avoid two slow spots of the IR's types: handler tables are
written as dicts keyed by ``OpDef`` but looked up by ``OpDef.code`` (hashing the frozen dataclass costs ~13x more than
hashing its integer code), and a type's width is read as ``Ty._value_`` (the Enum ``value``/``bits`` properties cost
~300 ns, the plain attribute ~15 ns).
"""

from __future__ import annotations

from ir.unit import Op


def rename(o: Op, repl: dict) -> Op:
    """``o`` with its operands renamed through ``repl``. Callers test first, with the live view ``renamed =
    repl.keys()``, whether anything changes: ``renamed and not renamed.isdisjoint(o.args)``."""
    return Op(o.op, o.ty, o.dst, tuple([repl.get(a, a) for a in o.args]), o.imm)


def by_code(table: dict) -> dict:
    """A handler table keyed by ``OpDef`` re-keyed by ``OpDef.code`` for fast dispatch."""
    return {op.code: h for op, h in table.items()}
