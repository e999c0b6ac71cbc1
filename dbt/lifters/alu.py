"""Integer arithmetic and logic: ADD ADC SUB SBB AND OR XOR CMP TEST INC DEC NEG NOT (SDM Vol. 2)."""

from __future__ import annotations

from dbt.lift import flags, lifter

_COMPUTE = {
    "ADD": lambda b, a, c, cin: b.add(a, c),
    "SUB": lambda b, a, c, cin: b.sub(a, c),
    "CMP": lambda b, a, c, cin: b.sub(a, c),
    "ADC": lambda b, a, c, cin: b.add(b.add(a, c), b.zext(b.type_of(a), cin)),
    "SBB": lambda b, a, c, cin: b.sub(b.sub(a, c), b.zext(b.type_of(a), cin)),
    "AND": lambda b, a, c, cin: b.and_(a, c),
    "TEST": lambda b, a, c, cin: b.and_(a, c),
    "OR": lambda b, a, c, cin: b.or_(a, c),
    "XOR": lambda b, a, c, cin: b.xor(a, c),
}
_FLAGS = {
    "ADD": lambda ctx, a, c, r, cin: flags.add(ctx, a, c, r),
    "ADC": lambda ctx, a, c, r, cin: flags.add(ctx, a, c, r, cin),
    "SUB": lambda ctx, a, c, r, cin: flags.sub(ctx, a, c, r),
    "CMP": lambda ctx, a, c, r, cin: flags.sub(ctx, a, c, r),
    "SBB": lambda ctx, a, c, r, cin: flags.sub(ctx, a, c, r, cin),
}
_NO_WRITE = {"CMP", "TEST"}


@lifter(*_COMPUTE)
def lift_alu(ctx):
    name = ctx.insn.name
    b = ctx.b
    ty = ctx.ty(0)
    if name in _NO_WRITE:
        a, addr = ctx.read(0), None
    else:
        a, addr = ctx.read_rmw(0)
    c = ctx.read(1, ty)
    cin = ctx.flag("cf") if name in ("ADC", "SBB") else None
    r = _COMPUTE[name](b, a, c, cin)
    if name not in _NO_WRITE:
        ctx.write(0, r, addr)
    _FLAGS.get(name, lambda ctx, a, c, r, cin: flags.logic(ctx, r))(ctx, a, c, r, cin)


@lifter("INC", "DEC")
def lift_incdec(ctx):
    b = ctx.b
    a, addr = ctx.read_rmw(0)
    one = b.const(b.type_of(a), 1)
    inc = ctx.insn.name == "INC"
    r = b.add(a, one) if inc else b.sub(a, one)
    ctx.write(0, r, addr)
    flags.incdec(ctx, a, r, inc)


@lifter("NEG")
def lift_neg(ctx):
    b = ctx.b
    a, addr = ctx.read_rmw(0)
    zero = b.const(b.type_of(a), 0)
    r = b.sub(zero, a)
    ctx.write(0, r, addr)
    flags.sub(ctx, zero, a, r)


@lifter("NOT")
def lift_not(ctx):
    a, addr = ctx.read_rmw(0)
    ctx.write(0, ctx.b.not_(a), addr)

