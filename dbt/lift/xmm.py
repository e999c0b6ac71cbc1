"""Operand access for the legacy-SSE lifters (``dbt/lifters/sse_*.py``): XMM registers, 128-bit memory operands and
their alignment rule, lane helpers over i128 values.

- XMM registers are i128 state fields (``dbt/state.py``); Capstone names them ``xmm0``..``xmm15`` and ``ctx.reg``
  reads them like any register (``dbt/lift/regs.py``).
- A 16-byte memory operand of a legacy-SSE (non-VEX) instruction must be 16-byte aligned, or the instruction raises
  #GP(0) (SDM Vol. 1 10.4.1 / Vol. 2 "Exceptions Type 1/4"), except the explicitly unaligned moves (MOVDQU, MOVUPS,
  MOVUPD, MOVNTI) and the narrower operands (m64, m32, m16). The check is on the linear address, before any state
  changes, so the fault is precise.
- MMX-register forms (``mm0``..``mm7``) go through ``dbt.lift.mmx.regclass``; a lifter that still calls
  ``require_sse`` directly has no MMX form: it raises ``LiftError``, which the driver turns into #UD exactly as for
  an instruction that has no lifter.
- The system CPU model has no SSE: its CR4.OSFXSR can never be set, and with OSFXSR = 0 every instruction that
  touches an XMM register raises #UD (SDM Vol. 3 2.5, 13.1). The flat user-mode engines run as an OS that enabled
  SSE would leave them.
"""

from __future__ import annotations

from ir import Ty

from dbt.lift.context import GP, TY_BY_SIZE, LiftError

M64 = (1 << 64) - 1


def require_sse(ctx) -> None:
    """Raises LiftError (the guest sees #UD) for an MMX-register form of a lifter that has none, and for any XMM
    instruction in the system CPU model (CR4.OSFXSR = 0)."""
    if ctx.cpu.system:
        raise LiftError(f"{ctx.insn.text}: SSE is disabled (CR4.OSFXSR = 0)")
    for o in ctx.insn.operands:
        if o.kind == "reg" and o.reg.startswith("mm"):
            raise LiftError(f"MMX form {ctx.insn.text} is not implemented (no MMX form of this instruction)")


def mem_addr(ctx, i: int, align: int = 0) -> int:
    """Linear address of memory operand i; with ``align``, #GP(0) unless it is a multiple of ``align``."""
    a = ctx.addr(i)
    if align:
        b = ctx.b
        ctx.trap_if(b.ne(b.and_(a, b.const(Ty.i64, align - 1)), b.const(Ty.i64, 0)), GP)
    return a


def read_x(ctx, i: int, aligned: bool = True) -> int:
    """Operand i as an i128: an XMM register, or 16 bytes of memory (16-byte aligned when ``aligned``)."""
    op = ctx.insn.operands[i]
    if op.kind == "reg":
        return ctx.reg(op.reg)
    return ctx.load(Ty.i128, mem_addr(ctx, i, 16 if aligned else 0))


def read_low(ctx, i: int, ty: Ty) -> int:
    """The low ``ty`` bits of operand i: of an XMM or general register, or ``ty`` bytes of memory (no alignment)."""
    op = ctx.insn.operands[i]
    if op.kind == "reg":
        return ctx.resize(ctx.reg(op.reg), ty)
    if op.kind == "imm":
        return ctx.const(ty, op.imm)
    return ctx.load(ty, ctx.addr(i))


def write_x(ctx, i: int, v: int, aligned: bool = True) -> None:
    """Writes an i128 to operand i: an XMM register, or 16 bytes of memory (aligned when ``aligned``)."""
    op = ctx.insn.operands[i]
    if op.kind == "reg":
        ctx.set_reg(op.reg, v)
    else:
        ctx.store(mem_addr(ctx, i, 16 if aligned else 0), v)


def write_gpr(ctx, i: int, v: int) -> None:
    """Writes an integer result to general register operand i at its own size (a 32-bit write zero-extends)."""
    op = ctx.insn.operands[i]
    ctx.set_reg(op.reg, ctx.resize(v, TY_BY_SIZE[op.size]))


def lo64(ctx, x: int) -> int:
    return ctx.b.trunc(Ty.i64, x)


def hi64(ctx, x: int) -> int:
    b = ctx.b
    return b.trunc(Ty.i64, b.lshr(x, b.const(Ty.i128, 64)))


def merge_low(ctx, old: int, new: int) -> int:
    """``old`` with its low bits (as many as ``new`` has) replaced by ``new``."""
    b = ctx.b
    bits = b.type_of(new).bits
    keep = b.and_(old, b.const(Ty.i128, ((1 << 128) - 1) ^ ((1 << bits) - 1)))
    return b.or_(keep, b.zext(Ty.i128, new))


def with_high64(ctx, old: int, new: int) -> int:
    """``old`` with its upper 64 bits replaced by the i64 ``new``."""
    b = ctx.b
    low = b.and_(old, b.const(Ty.i128, M64))
    return b.or_(low, b.shl(b.zext(Ty.i128, new), b.const(Ty.i128, 64)))


def lane_bytes(lanes: list, L: int) -> list:
    """vshuffle byte indices for a result made of L-bit lanes, given as (source, lane) pairs: source 0 is the
    first operand, 1 the second, None a zero lane (the second operand must then be zero)."""
    k = L // 8
    out = []
    for src, lane in lanes:
        base = 16 if src == 1 else 0
        out += [base + lane * k + j for j in range(k)] if src is not None else [16] * k
    return out
