"""Conditional data instructions: SETcc and CMOVcc (SDM Vol. 2); no flag is changed.

CMOVcc always reads its source (a memory source is loaded, and may fault, whatever the condition) and always writes
its destination: with a false condition a 32-bit destination in 64-bit mode is still zero-extended, as on the CPU.
"""

from __future__ import annotations

from ir import Ty

from dbt.lift import flags, lifter

_SET = {"SET" + cc.upper(): cc for cc in flags.CONDITIONS}
_CMOV = {"CMOV" + cc.upper(): cc for cc in flags.CONDITIONS}


@lifter(*_SET)
def lift_setcc(ctx):
    ctx.write(0, ctx.b.zext(Ty.i8, flags.condition(ctx, _SET[ctx.insn.name])))


@lifter(*_CMOV)
def lift_cmovcc(ctx):
    ty = ctx.ty(0)
    src = ctx.read(1, ty)
    cond = flags.condition(ctx, _CMOV[ctx.insn.name])
    ctx.write(0, ctx.b.select(cond, src, ctx.read(0)))
