"""The verifier: every rule a well-formed unit obeys, checked from the op table's shapes.

Rules: each value is defined once, before its uses, in the same label segment; operand and result types match the
shape; casts really widen or narrow; state fields (when ``Unit.fields`` is set) are accessed with their own type
(i1 values may live in i8 fields); branches name labels that exist; the last op is a terminator; vector ops take
i128 operands (a shift's count is i64), give i128 (vmovmsk: i32), and name a lane width the op has (vsad: 8 only;
the widening vmulevu/vmadd: below 64; the narrowing packs: above 8) or a shuffle pattern of 16 indices below 32.
"""

from __future__ import annotations

from ir.ops import Shape, Ty
from ir.unit import Unit


class VerifyError(ValueError):
    pass


# Shape -> (number of operands, or None for any; has a result: True, False, or None for optional)
_FORM = {
    Shape.CONST: (0, True), Shape.BINARY: (2, True), Shape.UNARY: (1, True), Shape.CMP: (2, True),
    Shape.CAST: (1, True), Shape.SELECT: (3, True), Shape.GET: (0, True), Shape.PUT: (1, False),
    Shape.GETL: (0, True), Shape.PUTL: (1, False), Shape.LOAD: (1, True), Shape.STORE: (2, False),
    Shape.CALL: (None, None), Shape.LABEL: (0, False), Shape.BR: (0, False), Shape.BRIF: (1, False),
    Shape.EXIT: (1, False), Shape.TRAP: (1, False), Shape.INSN: (0, False),
    Shape.FBINARY: (2, True), Shape.FUNARY: (1, True), Shape.FCAST: (1, True),
}
_FORM.update({Shape.VBINARY: (2, True), Shape.VSHIFT: (2, True), Shape.VSHUFFLE: (2, True), Shape.VMASK: (1, True)})
_LANES = (8, 16, 32, 64)
# Vector ops whose lanes are narrower than the whole value and widen (or narrow) them: L < 64, and vsad only bytes.
_LANES_OF = {"vmulevu": (8, 16, 32), "vmadd": (8, 16, 32), "vpacks": (16, 32, 64), "vpacku": (16, 32, 64),
             "vsad": (8,)}
_FP_TYPES = (Ty.i32, Ty.i64)
for _s in ("EXITIF", "TRAPIF"):  # conditional exits, where the op table has them
    if hasattr(Shape, _s):
        _FORM[Shape[_s]] = (2, False)


def verify(u: Unit) -> None:
    defined: dict[int, int] = {}  # value -> segment number
    segment = 0
    labels = {o.imm for o in u.ops if o.op.shape is Shape.LABEL}
    seen_labels = set()
    T = u.types

    def fail(i, o, msg):
        from ir.text import format_op
        raise VerifyError(f"op {i} ({format_op(o, u.fields)}): {msg}")

    for i, o in enumerate(u.ops):
        s = o.op.shape
        nargs, result = _FORM.get(s, (None, None))
        if nargs is not None and len(o.args) != nargs:
            fail(i, o, f"{o.op.name} takes {nargs} operand(s), has {len(o.args)}")
        if result is not None and (o.dst is not None) != result:
            fail(i, o, f"{o.op.name} {'needs' if result else 'has no'} result")
        if (o.dst is None) != (o.ty is None):
            fail(i, o, "a result needs a type, and a type a result")
        for a in o.args:
            if a not in defined:
                fail(i, o, f"%{a} is not defined before use")
            if defined[a] != segment:
                fail(i, o, f"%{a} is used across a label")
        at = [T[a] for a in o.args]
        if o.dst is not None:
            if o.dst in defined:
                fail(i, o, f"%{o.dst} defined twice")
            if T.get(o.dst) is not o.ty:
                fail(i, o, "result type disagrees with the unit's type table")
        if s is Shape.CONST:
            if not isinstance(o.imm, int) or not 0 <= o.imm <= o.ty.mask:
                fail(i, o, "constant out of range for its type")
        elif s is Shape.BINARY:
            if at[0] is not o.ty or at[1] is not o.ty:
                fail(i, o, "operands must have the result type")
        elif s is Shape.UNARY:
            if at[0] is not o.ty:
                fail(i, o, "operand must have the result type")
            if o.op.name == "bswap" and o.ty.bits < 16:
                fail(i, o, "bswap needs i16 or wider")
        elif s is Shape.CMP:
            if o.ty is not Ty.i1 or at[0] is not at[1]:
                fail(i, o, "compare takes two values of one type and gives i1")
        elif s is Shape.CAST:
            wider = o.ty.bits > at[0].bits
            if (o.op.name == "trunc") == wider or o.ty is at[0]:
                fail(i, o, f"{o.op.name} from {at[0]} to {o.ty} does not {'narrow' if o.op.name == 'trunc' else 'widen'}")
        elif s is Shape.SELECT:
            if at[0] is not Ty.i1 or at[1] is not o.ty or at[2] is not o.ty:
                fail(i, o, "select takes i1, T, T")
        elif s in (Shape.GET, Shape.PUT):
            if u.fields is not None:
                f = u.fields.by_offset.get(o.imm)
                if f is None:
                    fail(i, o, f"no state field at offset {o.imm}")
                vt = o.ty if s is Shape.GET else at[0]
                if vt is not f.ty and not (vt is Ty.i1 and f.ty is Ty.i8):
                    fail(i, o, f"field {f.name} is {f.ty}, accessed as {vt}")
        elif s is Shape.LOAD:
            if at[0] is not Ty.i64 or o.ty is Ty.i1:
                fail(i, o, "load takes an i64 address and gives i8..i128")
        elif s is Shape.STORE:
            if at[0] is not Ty.i64 or at[1] is Ty.i1:
                fail(i, o, "store takes an i64 address and an i8..i128 value")
        elif s is Shape.EXIT:
            if at[0] is not Ty.i64:
                fail(i, o, "exit target must be i64")
        elif s is Shape.EXITIF:
            if at[0] is not Ty.i1 or at[1] is not Ty.i64:
                fail(i, o, "exitif takes an i1 condition and an i64 target")
        elif s is Shape.TRAP:
            if at[0] is not Ty.i32:
                fail(i, o, "trap error code must be i32")
        elif s is Shape.TRAPIF:
            if at[0] is not Ty.i1 or at[1] is not Ty.i32:
                fail(i, o, "trapif takes an i1 condition and an i32 error code")
        elif s in (Shape.FBINARY, Shape.FUNARY):
            if o.ty not in _FP_TYPES or any(t is not o.ty for t in at):
                fail(i, o, f"{o.op.name} takes and gives i32 (binary32) or i64 (binary64) values of one type")
        elif s is Shape.FCAST:
            if o.ty not in _FP_TYPES or at[0] not in _FP_TYPES:
                fail(i, o, f"{o.op.name} converts between i32 and i64 values")
            if o.op.name == "fcvt" and o.ty is at[0]:
                fail(i, o, "fcvt converts to the other float format")
        elif s is Shape.BRIF:
            if at[0] is not Ty.i1:
                fail(i, o, "brif condition must be i1")
        elif s in (Shape.VBINARY, Shape.VSHIFT, Shape.VMASK):
            want = (Ty.i128, Ty.i64) if s is Shape.VSHIFT else (Ty.i128, Ty.i128)
            if tuple(at) != want[:len(at)] or o.ty is not (Ty.i32 if s is Shape.VMASK else Ty.i128):
                fail(i, o, f"{o.op.name} takes {', '.join(map(str, want[:len(at)]))}")
            if o.imm not in _LANES_OF.get(o.op.name, _LANES):
                fail(i, o, f"{o.op.name} has no {o.imm}-bit lanes")
        elif s is Shape.VSHUFFLE:
            if at != [Ty.i128, Ty.i128] or o.ty is not Ty.i128:
                fail(i, o, "vshuffle takes i128, i128 and gives i128")
            if not isinstance(o.imm, int) or not all((o.imm >> (8 * k)) & 0xFF < 32 for k in range(16)) \
                    or o.imm >> 128:
                fail(i, o, "vshuffle pattern must be 16 byte indices in 0..31")
        if s in (Shape.BR, Shape.BRIF) and o.imm not in labels:
            fail(i, o, f"branch to missing label L{o.imm}")
        if s is Shape.LABEL:
            if o.imm in seen_labels:
                fail(i, o, f"label L{o.imm} defined twice")
            seen_labels.add(o.imm)
            segment += 1
        if o.dst is not None:
            defined[o.dst] = segment
    if not u.ops or not u.ops[-1].op.terminator:
        raise VerifyError("unit does not end with a terminator")
