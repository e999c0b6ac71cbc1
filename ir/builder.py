"""Appends ops to a unit with their result types worked out from the op table.

Every op gets a method named after it (``b.add(x, y)``, ``b.and_(x, y)``, ``b.zext(Ty.i64, x)``), generated from the
table's shapes, so no op is spelled out here by hand.
"""

from __future__ import annotations

from ir.ops import OP, OpDef, Shape, Ty
from ir.unit import Op, Unit


class Builder:
    def __init__(self, unit: Unit | None = None):
        self.unit = unit if unit is not None else Unit()

    def emit(self, op: OpDef, ty: Ty | None, args: tuple = (), imm=None, has_result: bool = True) -> int | None:
        u = self.unit
        dst = u.new_value(ty) if (has_result and ty is not None) else None
        u.ops.append(Op(op, ty, dst, args, imm))
        return dst

    def type_of(self, v: int) -> Ty:
        return self.unit.types[v]

    # Shapes whose method signature is worked out generically ------------------------------------------------
    def const(self, ty: Ty, value: int) -> int:
        return self.emit(OP.const, ty, (), value & ty.mask)

    def call(self, name: str, args: tuple = (), ty: Ty | None = None):
        return self.emit(OP.call, ty, tuple(args), name, has_result=ty is not None)

    def label(self, n: int) -> None:
        self.emit(OP.label, None, (), n)

    def br(self, n: int) -> None:
        self.emit(OP.br, None, (), n)

    def brif(self, c: int, n: int) -> None:
        self.emit(OP.brif, None, (c,), n)

    def trap(self, vector: int, err: int) -> None:
        self.emit(OP.trap, None, (err,), vector)

    def trapif(self, vector: int, c: int, err: int) -> None:
        self.emit(OP.trapif, None, (c, err), vector)

    def exitif(self, c: int, target: int) -> None:
        self.emit(OP.exitif, None, (c, target))

    def insn(self, pc: int, length: int) -> None:
        self.emit(OP.insn, None, (), (pc, length))


def _make(op: OpDef):
    s = op.shape
    if s in (Shape.BINARY, Shape.FBINARY):
        def m(self, a, b):
            return self.emit(op, self.unit.types[a], (a, b))
    elif s in (Shape.UNARY, Shape.FUNARY):
        def m(self, a):
            return self.emit(op, self.unit.types[a], (a,))
    elif s is Shape.CMP:
        def m(self, a, b):
            return self.emit(op, Ty.i1, (a, b))
    elif s in (Shape.CAST, Shape.FCAST):
        def m(self, ty, a):
            return self.emit(op, ty, (a,))
    elif s is Shape.SELECT:
        def m(self, c, a, b):
            return self.emit(op, self.unit.types[a], (c, a, b))
    elif s in (Shape.GET, Shape.GETL):
        def m(self, ty, slot):
            return self.emit(op, ty, (), slot)
    elif s in (Shape.PUT, Shape.PUTL):
        def m(self, slot, v):
            self.emit(op, None, (v,), slot)
    elif s is Shape.LOAD:
        def m(self, ty, addr):
            return self.emit(op, ty, (addr,))
    elif s is Shape.STORE:
        def m(self, addr, v):
            self.emit(op, None, (addr, v))
    elif s is Shape.EXIT:
        def m(self, target):
            self.emit(op, None, (target,))
    elif s in (Shape.VBINARY, Shape.VSHIFT):
        def m(self, a, b, lanes):
            return self.emit(op, Ty.i128, (a, b), lanes)
    elif s is Shape.VSHUFFLE:
        def m(self, a, b, pattern):
            """``pattern``: 16 byte indices (0..15 from a, 16..31 from b) or their packed immediate."""
            if not isinstance(pattern, int):
                from ir.vector import shuffle_imm
                pattern = shuffle_imm(pattern)
            return self.emit(op, Ty.i128, (a, b), pattern)
    elif s is Shape.VMASK:
        def m(self, a, lanes):
            return self.emit(op, Ty.i32, (a,), lanes)
    else:
        return None
    m.__name__ = op.name
    m.__doc__ = op.formula
    return m


for _op in OP:
    _attr = _op.name + "_" if _op.name in ("and", "or", "not") else _op.name
    if not hasattr(Builder, _attr):
        _m = _make(_op)
        if _m is not None:
            setattr(Builder, _attr, _m)
