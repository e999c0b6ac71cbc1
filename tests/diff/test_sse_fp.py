"""SSE/SSE2 floating-point arithmetic, compares and conversions against the host CPU, on both backends.

The operands are IEEE edge cases (±0, denormals, ±inf, QNaNs and SNaNs with payloads, the largest and smallest
normals, ±1, integer-range boundaries and halfway values for the conversions) and pairs built to need careful
rounding (``tests.fp.values``), lane by lane in the destination and in the source register or memory operand. MXCSR
is drawn per case: every rounding mode, DAZ and FTZ on and off, exception flags pre-set or clear (all exceptions
masked: #XM is not modelled). Every xmm register, MXCSR, the GPRs, EFLAGS and the memory window are compared with
the native oracle. Memory forms address ``[rbx + rcx]`` with aligned and misaligned offsets: packed (m128) forms must
see both their access and #GP(0), scalar ones never fault.
"""

from __future__ import annotations

import struct

import pytest

from ir.softfloat import F32, F64
from tests.diff import harness
from tests.diff.harness import quick_cases, require_backend, sweep_cases
from tests.diff.test_sse import MEMD, MEMQ, MEMX, OFFSETS, SseForm
from tests.fp.values import pair, random_bits, specials

FMT = {32: F32, 64: F64}
MODES = (64, 32)
_POOLS: dict = {}


def _ints_as_float(bits: int) -> list:
    """Values at the ends of the int32/int64 ranges and halfway between integers, as ``bits``-bit floats."""
    code = "<f" if bits == 32 else "<d"
    out = []
    for x in (2.0 ** 31, 2.0 ** 31 - 0.5, 2.0 ** 31 - 1, 2.0 ** 31 + 1, 2.0 ** 63, 2.0 ** 63 - 1024, 2.0 ** 62,
              0.5, 1.5, 2.5, 0.49999997, 3.5, 1e10, 123456.5, 2.0 ** 24 + 1, 2.0 ** 53 + 1):
        for s in (1, -1):
            out.append(int.from_bytes(struct.pack(code, s * x), "little"))
    return out


def pool(bits: int) -> list:
    p = _POOLS.get(bits)
    if p is None:
        import random
        p = _POOLS[bits] = specials(FMT[bits], random.Random(bits)) + _ints_as_float(bits)
    return p


def fp_lane(rng, bits: int) -> int:
    f = FMT[bits]
    return rng.choice(pool(bits)) if rng.random() < 0.5 else random_bits(f, rng)


def fp_pair_x(rng, bits: int) -> tuple[int, int]:
    """Two 128-bit values whose ``bits``-bit lanes are operand pairs."""
    a = b = 0
    for i in range(128 // bits):
        if rng.random() < 0.7:
            x, y = pair(FMT[bits], rng, pool(bits))
        else:
            x, y = fp_lane(rng, bits), fp_lane(rng, bits)
        a |= x << (i * bits)
        b |= y << (i * bits)
    return a, b


def mxcsr(rng) -> int:
    """All exceptions masked; any rounding mode; DAZ, FTZ and the sticky flags sometimes set."""
    v = 0x1F80 | rng.randrange(4) << 13
    if rng.random() < 0.3:
        v |= 0x40                        # DAZ
    if rng.random() < 0.3:
        v |= 0x8000                      # FTZ
    if rng.random() < 0.3:
        v |= rng.getrandbits(6)          # flags already set
    return v


class FpForm(SseForm):
    """``op xmmD, src`` with fp lanes of ``bits`` in xmmD and the source (an xmm register, a GPR or ``mem``: the
    memory operand at [rbx + rcx], 16-byte aligned or not)."""

    def __init__(self, mode, asm, bits, dst="xmm1", src="xmm2", mem=None, aligned=None, ints=False, **kw):
        self.bits, self.dst, self.src, self.mem, self.ints = bits, dst, src, mem, ints
        if mem:
            kw.update(faults=bool(aligned), mem_operand=True, setup=self.setup)
        super().__init__(mode, asm, regs=self.regs, **kw)

    def regs(self, rng):
        a, b = self.values(rng)
        r = {"mxcsr": mxcsr(rng)}
        if self.dst.startswith("xmm"):
            r[self.dst] = a
        if self.src.startswith("xmm"):
            r[self.src] = b
        if self.mem:
            r["rcx"] = rng.choice(OFFSETS)
        return r

    def values(self, rng):
        """(destination, source) values: fp lane pairs, or integer lanes in the source with ``ints``."""
        a, b = fp_pair_x(rng, self.bits)
        return (a, harness.xmm_value(rng)) if self.ints else (a, b)

    def setup(self, rng, regs, mem):
        """The memory source: lanes paired with the destination's (both drawn again)."""
        a, b = self.values(rng)
        if self.dst.startswith("xmm"):
            regs[self.dst] = a
        mem.put(mem.base + regs["rcx" if "rcx" in regs else "ecx"], 16, b)


# Arithmetic ---------------------------------------------------------------------------------------------------------

ARITH = ("add", "sub", "mul", "div", "min", "max", "sqrt")
SUFFIXES = {"ss": (32, MEMD), "sd": (64, MEMQ), "ps": (32, MEMX), "pd": (64, MEMX)}


def arith_forms():
    forms = []
    for op in ARITH:
        for sfx, (bits, mem) in SUFFIXES.items():
            m = op + sfx
            packed = sfx[0] == "p"
            forms.append(FpForm(64, f"{m} xmm1, xmm2", bits))
            forms.append(FpForm(64, f"{m} xmm1, {mem[64]}", bits, mem=True, aligned=packed))
            forms.append(FpForm(32, f"{m} xmm1, xmm2", bits))
            forms.append(FpForm(32, f"{m} xmm6, {mem[32]}", bits, dst="xmm6", mem=True, aligned=packed))
        forms.append(FpForm(64, f"{op}sd xmm9, xmm14", 64, dst="xmm9", src="xmm14"))
        forms.append(FpForm(64, f"{op}ps xmm3, xmm3", 32, dst="xmm3", src="xmm3"))
    return forms


# Compares -----------------------------------------------------------------------------------------------------------

def compare_forms():
    forms = []
    for m, bits, mem in (("ucomiss", 32, MEMD), ("comiss", 32, MEMD), ("ucomisd", 64, MEMQ), ("comisd", 64, MEMQ)):
        for mode in MODES:
            forms.append(FpForm(mode, f"{m} xmm1, xmm2", bits))
            forms.append(FpForm(mode, f"{m} xmm1, {mem[mode]}", bits, mem=True, aligned=False))
        forms.append(FpForm(64, f"{m} xmm10, xmm13", bits, dst="xmm10", src="xmm13"))
    for sfx, (bits, mem) in SUFFIXES.items():
        packed = sfx[0] == "p"
        for pred in range(8):
            forms.append(FpForm(64, f"cmp{sfx} xmm1, xmm2, {pred}", bits))
        forms.append(FpForm(64, f"cmp{sfx} xmm1, xmm2, 13", bits))       # imm8[7:3] ignored
        forms.append(FpForm(64, f"cmp{sfx} xmm12, {mem[64]}, 1", bits, dst="xmm12", mem=True, aligned=packed))
        forms.append(FpForm(32, f"cmp{sfx} xmm3, xmm5, 6", bits, dst="xmm3", src="xmm5"))
        forms.append(FpForm(32, f"cmp{sfx} xmm3, {mem[32]}, 3", bits, dst="xmm3", mem=True, aligned=packed))
    return forms


# Conversions --------------------------------------------------------------------------------------------------------

# mnemonic -> (source lane bits, memory operand, 16-byte aligned, integer source)
XMM_CVT = {
    "cvtss2sd": (32, MEMD, False, False), "cvtsd2ss": (64, MEMQ, False, False),
    "cvtps2pd": (32, MEMQ, False, False), "cvtpd2ps": (64, MEMX, True, False),
    "cvtdq2ps": (32, MEMX, True, True), "cvtps2dq": (32, MEMX, True, False), "cvttps2dq": (32, MEMX, True, False),
    "cvtdq2pd": (32, MEMQ, False, True), "cvtpd2dq": (64, MEMX, True, False), "cvttpd2dq": (64, MEMX, True, False),
}
TO_INT = {"cvtss2si": (32, MEMD), "cvttss2si": (32, MEMD), "cvtsd2si": (64, MEMQ), "cvttsd2si": (64, MEMQ)}


def convert_forms():
    forms = []
    for mode in MODES:
        for m, (bits, mem, aligned, ints) in XMM_CVT.items():
            forms.append(FpForm(mode, f"{m} xmm1, xmm2", bits, ints=ints))
            forms.append(FpForm(mode, f"{m} xmm4, {mem[mode]}", bits, dst="xmm4", mem=True, aligned=aligned,
                                ints=ints))
        for m in ("cvtsi2ss", "cvtsi2sd"):
            forms.append(FpForm(mode, f"{m} xmm1, edx", 32, src="edx"))
            forms.append(FpForm(mode, f"{m} xmm1, {MEMD[mode]}", 32, mem=True, aligned=False, ints=True))
        for m, (bits, mem) in TO_INT.items():
            forms.append(FpForm(mode, f"{m} eax, xmm2", bits, dst="eax"))
            forms.append(FpForm(mode, f"{m} edx, {mem[mode]}", bits, dst="edx", mem=True, aligned=False))
    for m in ("cvtsi2ss", "cvtsi2sd"):
        forms.append(FpForm(64, f"{m} xmm1, rdx", 32, src="rdx"))
        forms.append(FpForm(64, f"{m} xmm11, r9", 32, dst="xmm11", src="r9"))
        forms.append(FpForm(64, f"{m} xmm1, {MEMQ[64]}", 32, mem=True, aligned=False, ints=True))
    for m, (bits, mem) in TO_INT.items():
        forms.append(FpForm(64, f"{m} rax, xmm2", bits, dst="rax"))
        forms.append(FpForm(64, f"{m} r11, {mem[64]}", bits, dst="r11", mem=True, aligned=False))
        forms.append(FpForm(64, f"{m} r12d, xmm15", bits, dst="r12d", src="xmm15"))
    forms.append(FpForm(64, "cvtsd2ss xmm13, xmm13", 64, dst="xmm13", src="xmm13"))
    forms.append(FpForm(64, "cvtps2pd xmm8, xmm8", 32, dst="xmm8", src="xmm8"))
    return forms


FORMS = arith_forms() + compare_forms() + convert_forms()
IDS = [f.id for f in FORMS]
assert len(set(IDS)) == len(IDS), "duplicate forms"


@pytest.mark.parametrize("backend", harness.BACKENDS)
@pytest.mark.parametrize("form", FORMS, ids=IDS)
def test_sse_fp_quick(form, backend):
    require_backend(backend)
    form.run(backend, quick_cases())


@pytest.mark.diff
@pytest.mark.parametrize("backend", harness.BACKENDS)
@pytest.mark.parametrize("form", FORMS, ids=IDS)
def test_sse_fp_sweep(form, backend):
    require_backend(backend)
    form.run(backend, sweep_cases())
