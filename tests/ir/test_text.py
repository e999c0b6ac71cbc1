"""Text form and verifier tests: print/parse round trip of every op of the table, parse errors that name the right
line, and a table of malformed units the verifier must reject (with the reason it gives)."""

from __future__ import annotations

import textwrap

import pytest

from ir import OP, Builder, Field, Fields, Op, ParseError, Shape, Ty, Unit, VerifyError, parse_unit, verify

FIELDS = Fields([Field("rax", 0, Ty.i64), Field("cf", 8, Ty.i8), Field("eflags", 16, Ty.i32)])


def _text(body: str, header: str = "unit") -> str:
    body = textwrap.dedent(body).strip("\n")
    return header + "\n" + "\n".join("  " + ln.strip() for ln in body.splitlines() if ln.strip()) + "\n"


# --- round trip of every op -----------------------------------------------------------------------------------------

def _every_op(fields: Fields | None) -> Unit:
    """One unit holding every op of the table, built through the Builder from each op's shape."""
    u = Unit(attrs={"pc": 0x401000, "mode": 64}, fields=fields)
    b = Builder(u)
    rax, cf = (0, 8)
    x64 = b.get(Ty.i64, rax)
    x32 = b.trunc(Ty.i32, x64)
    c = b.get(Ty.i1, cf)
    follow = b.unit.new_label()

    def after_terminator():
        nonlocal follow
        b.label(follow)
        follow = b.unit.new_label()
        return b.get(Ty.i64, rax), b.trunc(Ty.i32, b.get(Ty.i64, rax)), b.get(Ty.i1, cf)

    by_shape = {
        Shape.CONST: lambda op: b.const(Ty.i128, (1 << 128) - 3),
        Shape.BINARY: lambda op: b.emit(op, Ty.i32, (x32, x32)),
        Shape.UNARY: lambda op: b.emit(op, Ty.i32, (x32,)),
        Shape.CMP: lambda op: b.emit(op, Ty.i1, (x64, x64)),
        Shape.CAST: lambda op: b.emit(op, Ty.i16 if op.name == "trunc" else Ty.i128, (x32,)),
        Shape.SELECT: lambda op: b.select(c, x64, x64),
        Shape.GET: lambda op: b.get(Ty.i8, cf),
        Shape.PUT: lambda op: b.put(rax, x64),
        Shape.GETL: lambda op: b.getl(Ty.i64, 3),
        Shape.PUTL: lambda op: b.putl(3, x64),
        Shape.LOAD: lambda op: b.load(Ty.i16, x64),
        Shape.STORE: lambda op: b.store(x64, x32),
        Shape.CALL: lambda op: (b.call("helper_a", (x64, x32), Ty.i64), b.call("helper_b")),
        Shape.LABEL: lambda op: None,  # made by after_terminator and below
        Shape.BR: lambda op: b.br(follow),
        Shape.BRIF: lambda op: b.brif(c, follow),
        Shape.EXIT: lambda op: b.emit(op, None, (x64,)),
        Shape.TRAP: lambda op: b.trap(13, b.const(Ty.i32, 0)),
        Shape.INSN: lambda op: b.insn(0x401000, 15),
    }
    by_shape[Shape.FBINARY] = lambda op: b.emit(op, Ty.i64, (x64, x64))   # floating point (ir.ops, fpenv)
    by_shape[Shape.FUNARY] = lambda op: b.emit(op, Ty.i32, (x32,))
    by_shape[Shape.FCAST] = lambda op: b.emit(op, Ty.i32, (x64,))
    if hasattr(Shape, "EXITIF"):
        by_shape[Shape.EXITIF] = lambda op: b.exitif(c, x64)
    if hasattr(Shape, "TRAPIF"):
        by_shape[Shape.TRAPIF] = lambda op: b.trapif(6, c, x32)
    if hasattr(Shape, "VBINARY"):          # vector ops on i128 values
        by_shape[Shape.VBINARY] = lambda op: b.emit(op, Ty.i128, (b.zext(Ty.i128, x64), b.zext(Ty.i128, x32)),
                                                   8 if op.name == "vsad" else 16)
        by_shape[Shape.VSHIFT] = lambda op: b.emit(op, Ty.i128, (b.zext(Ty.i128, x64), x64), 32)
        by_shape[Shape.VSHUFFLE] = lambda op: b.vshuffle(b.zext(Ty.i128, x64), b.zext(Ty.i128, x32), range(31, 15, -1))
        by_shape[Shape.VMASK] = lambda op: b.vmovmsk(b.zext(Ty.i128, x32), 8)
    for op in OP:
        by_shape[op.shape](op)
        if op.terminator or op.shape is Shape.BRIF:
            x64, x32, c = after_terminator()
    b.exit(x64)
    return u


def _contents(u: Unit) -> list:
    return [(o.op, o.ty, o.dst, o.args, o.imm) for o in u.ops]


@pytest.mark.parametrize("fields", [FIELDS, None], ids=["named-fields", "offsets"])
def test_round_trip_every_op(fields):
    u = _every_op(fields)
    verify(u)
    assert {o.op.name for o in u.ops} == {op.name for op in OP}
    text = str(u)
    again = parse_unit(text, fields)
    verify(again)
    assert str(again) == text
    assert _contents(again) == _contents(u)
    assert again.next_value == u.next_value and again.attrs == u.attrs


def test_exact_text():
    text = _text("""
        insn 0x1000, 3
        %0 = get.i64 @rax
        %1 = const.i64 0x5
        %2 = add.i64 %0, %1
        put @rax, %2
        %3 = get.i1 @cf
        brif %3, L0
        %4 = call.i64 helper(%2, %1)
        call flush()
        exit %4
        label L0
        %5 = getl.i64 $2
        putl $2, %5
        %6 = const.i32 0xd
        trap 14, %6
    """, header="unit pc=0x1000 mode=64")
    u = parse_unit(text, FIELDS)
    verify(u)
    assert str(u) == text
    assert u.attrs == {"pc": 0x1000, "mode": 64}
    assert u.next_label == 1 and u.next_local == 3 and u.next_value == 7


def test_comments_blank_lines_and_numeric_fields():
    u = parse_unit("unit  ; header\n\n  %0 = get.i64 @0x0   ; rax by offset\n\n  exit %0\n", FIELDS)
    assert str(u) == _text("""
        %0 = get.i64 @rax
        exit %0
    """)
    assert str(parse_unit("unit\n  %0 = get.i64 @24\n  exit %0\n")) == _text("""
        %0 = get.i64 @24
        exit %0
    """)


# --- parse errors name the line -------------------------------------------------------------------------------------

PARSE_ERRORS = [
    ("no-header", "  %0 = const.i64 0x1\n  exit %0\n", "line 1: expected 'unit' header"),
    ("empty", "", "line 1: expected 'unit' header"),
    ("header-after-blank-lines", "\n; nothing\n  %0 = const.i64 0x1\n", "line 3: expected 'unit' header"),
    ("unknown-op", "unit\n  %0 = const.i64 0x1\n  %1 = frob.i64 %0\n  exit %0\n", "line 3: unknown op 'frob'"),
    ("unknown-type", "unit\n  %0 = const.i7 0x1\n", "line 2: unknown type 'i7'"),
    ("use-before-def", "unit\n  %0 = const.i64 0x1\n  %1 = add.i64 %0, %5\n", "line 3: %5 used before it is defined"),
    ("defined-twice", "unit\n  %0 = const.i64 0x1\n  %0 = const.i64 0x2\n", "line 3: %0 defined twice"),
    ("result-without-type", "unit\n  %0 = const.i64 0x1\n  %1 = add %0, %0\n", "line 3: a result needs a type"),
    ("not-a-value", "unit\n  %0 = const.i64 0x1\n  %1 = add.i64 %0, 5\n", "line 3: expected a value, got '5'"),
    ("missing-operand", "unit\n  %0 = const.i64 0x1\n  put @rax\n", "line 3: bad operands"),
    ("bad-constant", "unit\n  %0 = const.i64 zz\n", "line 2: bad operands"),
    ("unknown-field", "unit\n  %0 = get.i64 @nosuch\n", "line 2: bad operands"),
    ("bad-call", "unit\n  %0 = call.i64 helper\n", "line 2: bad call"),
    ("unreadable", "unit\n  %0 = const.i64 0x1\n  ??\n", "line 3: cannot read '??'"),
    ("line-numbers-count-blank-and-comment-lines",
     "unit\n\n  ; a comment\n  %0 = const.i64 0x1\n\n  %1 = frob.i64 %0\n", "line 6: unknown op 'frob'"),
]


@pytest.mark.parametrize("text, message", [pytest.param(t, m, id=i) for i, t, m in PARSE_ERRORS])
def test_parse_error(text, message):
    with pytest.raises(ParseError) as e:
        parse_unit(text, FIELDS)
    assert message in str(e.value)


# --- the verifier rejects malformed units ---------------------------------------------------------------------------

def _op(name, ty=None, dst=None, args=(), imm=None):
    return Op(OP[name], ty, dst, args, imm)


def _manual(*ops, types=None) -> Unit:
    """A unit built from raw ops (for shapes the parser or builder would not produce)."""
    u = Unit(fields=FIELDS, ops=list(ops), types=dict(types or {}))
    for o in ops:
        if o.dst is not None and o.dst not in u.types:
            u.types[o.dst] = o.ty
    u.next_value = max(u.types, default=-1) + 1
    return u


VERIFY_ERRORS = [
    ("used-across-label", """
        %0 = get.i64 @rax
        label L0
        exit %0
    """, "%0 is used across a label"),
    ("binary-type-mismatch", """
        %0 = get.i64 @rax
        %1 = get.i32 @eflags
        %2 = add.i64 %0, %1
        exit %2
    """, "operands must have the result type"),
    ("unary-type-mismatch", """
        %0 = get.i64 @rax
        %1 = not.i32 %0
        exit %0
    """, "operand must have the result type"),
    ("compare-not-i1", """
        %0 = get.i64 @rax
        %1 = eq.i64 %0, %0
        exit %1
    """, "compare takes two values of one type and gives i1"),
    ("compare-mixed-types", """
        %0 = get.i64 @rax
        %1 = get.i32 @eflags
        %2 = ult.i1 %0, %1
        exit %0
    """, "compare takes two values of one type"),
    ("zext-narrows", """
        %0 = get.i64 @rax
        %1 = zext.i32 %0
        exit %0
    """, "zext from i64 to i32 does not widen"),
    ("trunc-widens", """
        %0 = get.i32 @eflags
        %1 = trunc.i64 %0
        exit %1
    """, "trunc from i32 to i64 does not narrow"),
    ("sext-same-type", """
        %0 = get.i64 @rax
        %1 = sext.i64 %0
        exit %1
    """, "does not widen"),
    ("select-condition-not-i1", """
        %0 = get.i64 @rax
        %1 = select.i64 %0, %0, %0
        exit %1
    """, "select takes i1, T, T"),
    ("constant-out-of-range", """
        %0 = const.i8 0x100
        %1 = get.i64 @rax
        exit %1
    """, "constant out of range"),
    ("bswap-i8", """
        %0 = get.i8 @cf
        %1 = bswap.i8 %0
        %2 = get.i64 @rax
        exit %2
    """, "bswap needs i16 or wider"),
    ("field-type", """
        %0 = get.i32 @eflags
        put @rax, %0
        %1 = get.i64 @rax
        exit %1
    """, "field rax is i64, accessed as i32"),
    ("no-such-field", """
        %0 = get.i64 @0x100
        exit %0
    """, "no state field at offset 256"),
    ("load-address-not-i64", """
        %0 = get.i32 @eflags
        %1 = load.i8 %0
        %2 = get.i64 @rax
        exit %2
    """, "load takes an i64 address"),
    ("load-i1", """
        %0 = get.i64 @rax
        %1 = load.i1 %0
        exit %0
    """, "load takes an i64 address and gives i8..i128"),
    ("store-i1", """
        %0 = get.i64 @rax
        %1 = trunc.i1 %0
        store %0, %1
        exit %0
    """, "store takes an i64 address and an i8..i128 value"),
    ("exit-target-not-i64", """
        %0 = get.i32 @eflags
        exit %0
    """, "exit target must be i64"),
    ("trap-error-not-i32", """
        %0 = get.i64 @rax
        trap 13, %0
    """, "trap error code must be i32"),
    ("brif-condition-not-i1", """
        %0 = get.i64 @rax
        brif %0, L0
        label L0
        %1 = get.i64 @rax
        exit %1
    """, "brif condition must be i1"),
    ("missing-label", """
        %0 = get.i64 @rax
        br L7
    """, "branch to missing label L7"),
    ("label-twice", """
        label L0
        label L0
        %0 = get.i64 @rax
        exit %0
    """, "label L0 defined twice"),
    ("no-terminator", """
        %0 = get.i64 @rax
        put @rax, %0
    """, "unit does not end with a terminator"),
    ("conditional-branch-is-not-a-terminator", """
        %0 = get.i1 @cf
        brif %0, L0
        label L0
    """, "unit does not end with a terminator"),
    ("empty-unit", "", "unit does not end with a terminator"),
]

_i64 = {0: Ty.i64, 1: Ty.i64}
MANUAL_ERRORS = [
    ("defined-twice", lambda: _manual(_op("get", Ty.i64, 0, (), 0), _op("get", Ty.i64, 0, (), 0),
                                      _op("exit", args=(0,))), "%0 defined twice"),
    ("used-before-defined", lambda: _manual(_op("add", Ty.i64, 1, (0, 0)), _op("get", Ty.i64, 0, (), 0),
                                            _op("exit", args=(0,)), types=_i64), "%0 is not defined before use"),
    ("type-table-disagrees", lambda: _manual(_op("get", Ty.i64, 0, (), 0), _op("exit", args=(0,)),
                                             types={0: Ty.i32}), "result type disagrees"),
    ("too-few-operands", lambda: _manual(_op("get", Ty.i64, 0, (), 0), _op("add", Ty.i64, 1, (0,)),
                                         _op("exit", args=(0,))), "add takes 2 operand(s), has 1"),
    ("too-many-operands", lambda: _manual(_op("get", Ty.i64, 0, (), 0), _op("exit", args=(0, 0))),
     "exit takes 1 operand(s), has 2"),
    ("pure-op-without-result", lambda: _manual(_op("const", Ty.i64, None, (), 1), _op("get", Ty.i64, 0, (), 0),
                                               _op("exit", args=(0,))), "const needs result"),
    ("put-with-result", lambda: _manual(_op("get", Ty.i64, 0, (), 0), _op("put", Ty.i64, 1, (0,), 0),
                                        _op("exit", args=(0,))), "put has no result"),
    ("call-type-without-result", lambda: _manual(_op("call", Ty.i64, None, (), "h"), _op("get", Ty.i64, 0, (), 0),
                                                 _op("exit", args=(0,))), "a result needs a type"),
]


@pytest.mark.parametrize("body, message", [pytest.param(t, m, id=i) for i, t, m in VERIFY_ERRORS])
def test_verify_rejects_text(body, message):
    u = parse_unit(_text(body), FIELDS)
    with pytest.raises(VerifyError) as e:
        verify(u)
    assert message in str(e.value)


@pytest.mark.parametrize("make, message", [pytest.param(f, m, id=i) for i, f, m in MANUAL_ERRORS])
def test_verify_rejects_ops(make, message):
    with pytest.raises(VerifyError) as e:
        verify(make())
    assert message in str(e.value)


def test_verify_accepts_i1_in_i8_field_and_values_within_a_segment():
    verify(parse_unit(_text("""
        %0 = get.i64 @rax
        %1 = trunc.i1 %0
        put @cf, %1
        %2 = get.i1 @cf
        brif %2, L0
        put @rax, %0
        label L0
        %3 = get.i64 @rax
        exit %3
    """), FIELDS))
