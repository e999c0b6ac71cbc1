"""Translation units: a straight list of ops over typed SSA values.

A value is a small integer handle (``%n`` in text); its type lives in ``Unit.types``. Control flow inside a unit uses
labels (``label``/``br``/``brif``); SSA values never live across a label, so every pass can work on straight-line
segments, and data that must cross a label goes through unit-local variables (``getl``/``putl``) or guest state.
``Fields`` names the guest-state fields (offset -> name, type) so the text form can say ``@eax`` instead of ``@0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ir.ops import OP, OpDef, Ty


class Op:
    """One operation: ``dst = op.ty args... [imm]``. ``dst`` is None when the op has no result."""

    __slots__ = ("op", "ty", "dst", "args", "imm")

    def __init__(self, op: OpDef, ty: Ty | None = None, dst: int | None = None, args: tuple = (), imm=None):
        self.op = op
        self.ty = ty
        self.dst = dst
        self.args = args
        self.imm = imm

    def __repr__(self) -> str:
        return f"Op({self.op.name}, {self.ty}, dst={self.dst}, args={self.args}, imm={self.imm!r})"


@dataclass(frozen=True)
class Field:
    name: str
    offset: int
    ty: Ty


class Fields:
    """Guest-state field names for printing and parsing (``@name``) and for type checks in the verifier."""

    def __init__(self, fields: list[Field]):
        self.by_name = {f.name: f for f in fields}
        self.by_offset = {f.offset: f for f in fields}

    def name(self, offset: int) -> str:
        f = self.by_offset.get(offset)
        return f.name if f else str(offset)

    def offset(self, token: str) -> int:
        f = self.by_name.get(token)
        if f is not None:
            return f.offset
        return int(token, 0)


@dataclass
class Unit:
    """A translation unit. ``attrs`` holds unit-level facts (guest pc, mode) printed in its header line."""

    ops: list = field(default_factory=list)
    types: dict = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)
    fields: Fields | None = None
    next_value: int = 0
    next_label: int = 0
    next_local: int = 0

    def new_value(self, ty: Ty) -> int:
        v = self.next_value
        self.next_value += 1
        self.types[v] = ty
        return v

    def new_label(self) -> int:
        n = self.next_label
        self.next_label += 1
        return n

    def new_local(self) -> int:
        n = self.next_local
        self.next_local += 1
        return n

    def __str__(self) -> str:
        from ir.text import format_unit

        return format_unit(self)

    def const_value(self, v: int):
        """The constant behind value ``v``, or None (linear scan: for tests and small units)."""
        for o in self.ops:
            if o.dst == v:
                return o.imm if o.op is OP.const else None
        return None
