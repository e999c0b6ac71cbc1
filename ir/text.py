"""The IR's text form: ``format_unit`` prints it, ``parse_unit`` reads it back (round trip is exact).

    unit pc=0x1000 mode=64
      insn 0x1000, 3
      %0 = get.i64 @rax
      %1 = const.i64 0x5
      %2 = add.i64 %0, %1
      put @rax, %2
      exit %3

Golden tests and ``-d op`` logging show this text. Field names come from ``Unit.fields`` when it is set.
"""

from __future__ import annotations

import re

from ir.ops import OP, TYPES_BY_NAME, Shape
from ir.unit import Fields, Op, Unit

_VECTOR = frozenset((Shape.VBINARY, Shape.VSHIFT, Shape.VSHUFFLE, Shape.VMASK))


def _v(v: int) -> str:
    return f"%{v}"


def format_op(o: Op, fields: Fields | None = None) -> str:
    op, s = o.op, o.op.shape
    fname = (fields.name if fields else str)
    args = ", ".join(_v(a) for a in o.args)
    head = f"{_v(o.dst)} = " if o.dst is not None else ""
    tyname = f".{o.ty}" if o.ty is not None else ""
    if s is Shape.CONST:
        return f"{head}const{tyname} {o.imm:#x}"
    if s in (Shape.BINARY, Shape.UNARY, Shape.CMP, Shape.CAST, Shape.SELECT, Shape.LOAD, Shape.FBINARY, Shape.FUNARY,
             Shape.FCAST):
        return f"{head}{op.name}{tyname} {args}"
    if s is Shape.GET:
        return f"{head}get{tyname} @{fname(o.imm)}"
    if s is Shape.PUT:
        return f"put @{fname(o.imm)}, {args}"
    if s is Shape.GETL:
        return f"{head}getl{tyname} ${o.imm}"
    if s is Shape.PUTL:
        return f"putl ${o.imm}, {args}"
    if s is Shape.STORE:
        return f"store {args}"
    if s is Shape.CALL:
        return f"{head}call{tyname} {o.imm}({args})"
    if s is Shape.LABEL:
        return f"label L{o.imm}"
    if s is Shape.BR:
        return f"br L{o.imm}"
    if s is Shape.BRIF:
        return f"brif {args}, L{o.imm}"
    if s is Shape.EXIT:
        return f"{op.name} {args}"
    if s is Shape.EXITIF:
        return f"exitif {args}"
    if s in (Shape.TRAP, Shape.TRAPIF):
        return f"{op.name} {o.imm}, {args}"
    if s is Shape.INSN:
        return f"insn {o.imm[0]:#x}, {o.imm[1]}"
    if s in _VECTOR:                      # operands, then the lane width (or the shuffle pattern, in hex)
        imm = f"{o.imm:#x}" if s is Shape.VSHUFFLE else str(o.imm)
        return f"{head}{op.name}{tyname} {args}, {imm}"
    raise ValueError(f"no text form for shape {s}")


def _fmt_attr(v) -> str:
    return f"{v:#x}" if isinstance(v, int) and not isinstance(v, bool) and v > 255 else str(v)


def format_unit(u: Unit) -> str:
    head = "unit" + "".join(f" {k}={_fmt_attr(v)}" for k, v in u.attrs.items())
    return "\n".join([head] + ["  " + format_op(o, u.fields) for o in u.ops]) + "\n"


_LINE = re.compile(r"^(?:%(\d+)\s*=\s*)?([a-z0-9_]+)(?:\.(i\d+))?\s*(.*)$")
_CALL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\((.*)\)$")


class ParseError(ValueError):
    pass


def _attr_value(s: str):
    try:
        return int(s, 0)
    except ValueError:
        return s


def parse_unit(text: str, fields: Fields | None = None) -> Unit:
    """Reads a unit printed by ``format_unit``; raises ParseError with the line number on bad input."""
    u = Unit(fields=fields)
    lines = [(n, ln.split(";", 1)[0].rstrip()) for n, ln in enumerate(text.splitlines(), start=1)]
    lines = [(n, ln) for n, ln in lines if ln.strip()]  # numbers stay those of the source text
    if not lines or not lines[0][1].startswith("unit"):
        raise ParseError(f"line {lines[0][0] if lines else 1}: expected 'unit' header")
    for kv in lines[0][1].split()[1:]:
        k, _, v = kv.partition("=")
        u.attrs[k] = _attr_value(v)
    fname = fields.offset if fields else (lambda t: int(t, 0))
    maxv = -1
    for n, line in lines[1:]:
        m = _LINE.match(line.strip())
        if not m:
            raise ParseError(f"line {n}: cannot read {line.strip()!r}")
        dst_s, name, ty_s, rest = m.groups()
        if name not in OP:
            raise ParseError(f"line {n}: unknown op {name!r}")
        op = OP[name]
        ty = TYPES_BY_NAME.get(ty_s) if ty_s else None
        if ty_s and ty is None:
            raise ParseError(f"line {n}: unknown type {ty_s!r}")
        dst = int(dst_s) if dst_s is not None else None
        toks = [t.strip() for t in rest.split(",")] if rest.strip() else []

        def val(t):
            if not t.startswith("%"):
                raise ParseError(f"line {n}: expected a value, got {t!r}")
            v = int(t[1:])
            if v not in u.types:
                raise ParseError(f"line {n}: %{v} used before it is defined")
            return v

        s = op.shape
        args, imm = (), None
        try:
            if s is Shape.CONST:
                imm = int(toks[0], 0)
            elif s in (Shape.BINARY, Shape.UNARY, Shape.CMP, Shape.CAST, Shape.SELECT, Shape.LOAD, Shape.STORE,
                       Shape.EXIT, Shape.EXITIF, Shape.FBINARY, Shape.FUNARY, Shape.FCAST):
                args = tuple(val(t) for t in toks)
            elif s is Shape.GET:
                imm = fname(toks[0].lstrip("@"))
            elif s is Shape.PUT:
                imm, args = fname(toks[0].lstrip("@")), (val(toks[1]),)
            elif s is Shape.GETL:
                imm = int(toks[0].lstrip("$"))
            elif s is Shape.PUTL:
                imm, args = int(toks[0].lstrip("$")), (val(toks[1]),)
            elif s is Shape.CALL:
                cm = _CALL.match(rest.strip())
                if not cm:
                    raise ParseError(f"line {n}: bad call {rest!r}")
                imm = cm.group(1)
                inner = cm.group(2).strip()
                args = tuple(val(t.strip()) for t in inner.split(",")) if inner else ()
            elif s in (Shape.LABEL, Shape.BR):
                imm = int(toks[0].lstrip("L"))
            elif s is Shape.BRIF:
                args, imm = (val(toks[0]),), int(toks[1].lstrip("L"))
            elif s in (Shape.TRAP, Shape.TRAPIF):
                imm, args = int(toks[0], 0), tuple(val(t) for t in toks[1:])
            elif s is Shape.INSN:
                imm = (int(toks[0], 0), int(toks[1], 0))
            elif s in _VECTOR:
                args, imm = tuple(val(t) for t in toks[:-1]), int(toks[-1], 0)
        except (IndexError, ValueError) as e:
            if isinstance(e, ParseError):
                raise
            raise ParseError(f"line {n}: bad operands in {line.strip()!r}") from None
        if dst is not None:
            if ty is None:
                raise ParseError(f"line {n}: a result needs a type")
            if dst in u.types:
                raise ParseError(f"line {n}: %{dst} defined twice")
            u.types[dst] = ty
            maxv = max(maxv, dst)
        u.ops.append(Op(op, ty, dst, args, imm))
        if s is Shape.LABEL:
            u.next_label = max(u.next_label, imm + 1)
        if s in (Shape.GETL, Shape.PUTL):
            u.next_local = max(u.next_local, imm + 1)
    u.next_value = maxv + 1
    return u
