"""MMX registers for the SIMD lifters (``dbt/lifters/sse_*.py``, ``dbt/lifters/mmx.py``), and the register-class
view that lets one lifter serve both the XMM and the MMX form of an instruction.

- mm0..mm7 are the x87 physical registers R0..R7 (not ST(i): the stack top does not matter): ``fprN`` holds the
  64-bit value, and a write sets ``fprN_se`` (sign and exponent) to 0xFFFF, as the SDM says (Vol. 1 9.5.1).
- Every MMX instruction sets FSW.TOP = 0 and marks all eight registers valid (tag word 0: our ``ftw`` keeps full
  tags, and only "empty" is ever tested; FNSTENV/FNSAVE recompute the other tags from the contents, so a written
  register reads back as "special", as on the processor). EMMS marks them all empty (0xFFFF) and also sets TOP = 0
  (SDM Vol. 1 Table 9-2; the host CPU agrees, ``tests/diff/test_mmx.py``).
- The transition is a held-back state write like any other, so a faulting memory operand leaves the x87 state as it
  was (the fault is precise).
- MMX memory operands (m64, m32) have no alignment rule.
- The system CPU model has no FPU and no MMX in its CPUID: every MMX instruction raises #UD there, as the SSE
  lifters do (CR0.EM/TS are therefore never consulted).

``regclass(ctx)`` returns ``XMM`` or ``MMX`` for the instruction's register operands; both read and write operands as
i128 values (an MMX value zero-extended), so the lane-wise vector ops of ``ir.vector`` serve both. Lane layouts that
depend on the register width (packs, unpacks, shuffles) use ``rc.bits``.
"""

from __future__ import annotations

from ir import Ty

from dbt.lift.context import LiftError
from dbt.lift.xmm import read_x, require_sse, write_x

TOP_MASK = 0x3800          # FSW bits 13:11
TAGS_VALID, TAGS_EMPTY = 0, 0xFFFF


def is_mm(op) -> bool:
    return op.kind == "reg" and op.reg.startswith("mm")


def mm_index(op) -> int:
    return int(op.reg[2:])


def require_mmx(ctx) -> None:
    if ctx.cpu.system:
        raise LiftError(f"{ctx.insn.text}: the system CPU model has no MMX")


def transition(ctx, tags: int = TAGS_VALID) -> None:
    """The x87 -> MMX transition (TOP = 0, all tags valid), or EMMS's (TOP = 0, all tags empty: ``TAGS_EMPTY``)."""
    b = ctx.b
    ctx.put("fsw", b.and_(ctx.get("fsw"), b.const(Ty.i16, 0xFFFF ^ TOP_MASK)))
    ctx.put("ftw", b.const(Ty.i16, tags))


def get_mm(ctx, n: int) -> int:
    """mmN as an i64."""
    return ctx.get(f"fpr{n}")


def set_mm(ctx, n: int, v: int) -> None:
    """mmN = the i64 v; its sign/exponent field becomes all ones."""
    ctx.put(f"fpr{n}", v)
    ctx.put(f"fpr{n}_se", ctx.b.const(Ty.i16, 0xFFFF))


def read_mm(ctx, i: int) -> int:
    """Operand i as an i64: an MMX register or 8 bytes of memory (no alignment rule)."""
    op = ctx.insn.operands[i]
    if op.kind == "reg":
        return get_mm(ctx, mm_index(op))
    return ctx.load(Ty.i64, ctx.addr(i))


class _Xmm:
    bits = 128

    @staticmethod
    def read(ctx, i: int) -> int:
        return read_x(ctx, i)

    @staticmethod
    def write(ctx, i: int, v: int) -> None:
        write_x(ctx, i, v)


class _Mmx:
    bits = 64

    @staticmethod
    def read(ctx, i: int) -> int:
        return ctx.b.zext(Ty.i128, read_mm(ctx, i))

    @staticmethod
    def write(ctx, i: int, v: int) -> None:
        op = ctx.insn.operands[i]
        v64 = ctx.b.trunc(Ty.i64, v)
        if op.kind == "reg":
            set_mm(ctx, mm_index(op), v64)
        else:
            ctx.store(ctx.addr(i), v64)


XMM, MMX = _Xmm(), _Mmx()


def regclass(ctx):
    """``MMX`` when an operand is an MMX register (after the x87 -> MMX transition, emitted here), else ``XMM``
    after the SSE checks."""
    if any(is_mm(o) for o in ctx.insn.operands):
        require_mmx(ctx)
        transition(ctx)
        return MMX
    require_sse(ctx)
    return XMM
