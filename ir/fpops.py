"""Reference semantics of the IR's floating-point ops (``fpenv`` ops of ``ir.ops``) on top of ``ir.softfloat``.

``evaluate(name, mxcsr, args, ty_bits, arg_bits) -> (result, flags)``: the op applied to integer bit patterns under
the SSE environment ``mxcsr`` (RC, DAZ, FTZ), giving the result (masked to ``ty_bits``) and the exception flags to OR
into MXCSR. The interpreter and its generated code call it; the LLVM backend runs the host's SSE unit instead and the
tests check both against it and against the host.

Constraint: the exception masks must all be set (every exception masked); an unmasked exception would need the #XM
fault path, which is not implemented, so ``evaluate`` raises NotImplementedError naming it.
"""

from __future__ import annotations

from ir import softfloat as sf
from ir.ops import FCMP_EQ, FCMP_GT, FCMP_LT, FCMP_UNORDERED

MXCSR_MASKS = 0x1F80
_REL = {sf.LT: FCMP_LT, sf.EQ: FCMP_EQ, sf.GT: FCMP_GT, sf.UNORDERED: FCMP_UNORDERED}
_FMT = {32: sf.F32, 64: sf.F64}


class UnmaskedFPException(NotImplementedError):
    def __init__(self, mxcsr: int):
        super().__init__(f"not implemented: unmasked SIMD floating-point exceptions (MXCSR {mxcsr:#06x} clears "
                         f"exception mask bits {~mxcsr & MXCSR_MASKS:#06x}; #XM delivery is not modelled)")


def _signed(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


_OPS = {
    "fadd": lambda f, env, a, b, tb: sf.add(f, a, b, env),
    "fsub": lambda f, env, a, b, tb: sf.sub(f, a, b, env),
    "fmul": lambda f, env, a, b, tb: sf.mul(f, a, b, env),
    "fdiv": lambda f, env, a, b, tb: sf.div(f, a, b, env),
    "fcmpq": lambda f, env, a, b, tb: _REL[sf.compare(f, a, b, env, signaling=False)],
    "fcmps": lambda f, env, a, b, tb: _REL[sf.compare(f, a, b, env, signaling=True)],
    "fmin": lambda f, env, a, b, tb: sf.minmax(f, a, b, env, is_max=False),
    "fmax": lambda f, env, a, b, tb: sf.minmax(f, a, b, env, is_max=True),
    "fsqrt": lambda f, env, a, tb: sf.sqrt(f, a, env),
    "fround": lambda f, env, a, tb: sf.round_int(f, a, env),
    "fcvt": lambda f, env, a, tb: sf.convert(f, _FMT[tb], a, env),
    "sitof": lambda f, env, a, tb: sf.from_int(_FMT[tb], _signed(a, f.width), env),
    "ftosi": lambda f, env, a, tb: sf.to_int(f, a, tb, env),
    "ftosit": lambda f, env, a, tb: sf.to_int(f, a, tb, env, truncate=True),
}


def evaluate(name: str, mxcsr: int, args, ty_bits: int, arg_bits: int) -> tuple[int, int]:
    """(result, exception flags) of fp op ``name`` on ``args`` (bit patterns of ``arg_bits``) under ``mxcsr``."""
    if mxcsr & MXCSR_MASKS != MXCSR_MASKS:
        raise UnmaskedFPException(mxcsr)
    env = sf.Env.from_mxcsr(mxcsr)
    r = _OPS[name](_FMT[arg_bits], env, *args, ty_bits)
    return r & ((1 << ty_bits) - 1), env.flags


def function(name: str, ty_bits: int, arg_bits: int):
    """``fn(slots, slot, *args) -> result``: the op on the state array ``slots`` whose ``slot`` holds MXCSR (the
    flags are ORed into it). What both interpreter forms call."""
    op = _OPS[name]
    f = _FMT[arg_bits]
    mask = (1 << ty_bits) - 1

    def fn(slots, slot, *args):
        mxcsr = slots[slot]
        if mxcsr & MXCSR_MASKS != MXCSR_MASKS:
            raise UnmaskedFPException(mxcsr)
        env = sf.Env.from_mxcsr(mxcsr)
        r = op(f, env, *args, ty_bits)
        if env.flags:
            slots[slot] = mxcsr | env.flags
        return r & mask
    fn.__name__ = f"{name}_{ty_bits}_{arg_bits}"
    return fn
