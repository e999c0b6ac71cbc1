"""Float kernels compiled by gcc -O2 (SSE/SSE2 floating point: mode 64 baseline x86-64, mode 32 -march=pentium4
-mfpmath=sse) run on both backends against the host CPU, bit for bit.

A dot product, a polynomial (Horner), float <-> int and float <-> double conversions, square roots, compare-heavy
loops (counts, clamps, min/max) are compiled at test time into flat images (``tests.diff.test_sse_gcc.build``) and
run on arrays of random bytes (so every fp class occurs: NaNs, infinities, denormals) and of edge values, under a
random MXCSR (rounding mode, DAZ, FTZ, flags pre-set). Results go to memory (no x87 return values in mode 32);
every GPR, xmm register, MXCSR and the memory window are compared. Skipped, saying so, without gcc/ld/objcopy.
"""

from __future__ import annotations

import pytest

from tests.diff.harness import BACKENDS, NO_FLAGS, check, quick_cases, require_backend, sweep_cases
from tests.diff.test_sse_fp import fp_lane, mxcsr
from tests.diff.test_sse_gcc import ARGS, _tools, build

SIG = "void f({d} *R d, const {a} *R a, const {b} *R b, long n)"

# name -> (C source, (d, a, b) element types)
KERNELS = {
    "dot_f32": ("{ float s = 0; for (long i = 0; i < n; i++) s += a[i] * b[i]; d[0] = s; }",
                ("float", "float", "float")),
    "dot_f64": ("{ double s = 0; for (long i = 0; i < n; i++) s += a[i] * b[i]; d[0] = s; }",
                ("double", "double", "double")),
    "poly_f64": ("{ for (long i = 0; i < n; i++) { double x = a[i];"
                 " d[i] = ((0.25 * x - 1.5) * x + b[0]) * x / 3.0 - 7.0; } }", ("double", "double", "double")),
    "poly_f32": ("{ for (long i = 0; i < n; i++) { float x = a[i]; d[i] = ((x * 0.5f + 2.0f) * x - b[i]) * x; } }",
                 ("float", "float", "float")),
    "f32_to_i32": ("{ for (long i = 0; i < n; i++) d[i] = (int32_t)a[i] + (int32_t)(a[i] * 0.5f); }",
                   ("int32_t", "float", "float")),
    "f64_to_i64": ("{ for (long i = 0; i < n; i++) d[i] = (int64_t)a[i] ^ __builtin_lrint(b[i]); }",
                   ("int64_t", "double", "double")),
    "i32_to_f": ("{ for (long i = 0; i < n; i++) d[i] = (double)a[i] * 0.5 + (float)b[i]; }",
                 ("double", "int32_t", "int32_t")),
    "i64_to_f": ("{ for (long i = 0; i < n; i++) d[i] = (float)a[i] - (float)(double)b[i]; }",
                 ("float", "int64_t", "int64_t")),
    "narrow_widen": ("{ for (long i = 0; i < n; i++) d[i] = (double)(float)(a[i] * 2.5) + (double)(float)b[i]; }",
                     ("double", "double", "double")),
    "sqrt_div": ("{ for (long i = 0; i < n; i++) d[i] = __builtin_sqrtf(a[i]) / (b[i] - 1.0f); }",
                 ("float", "float", "float")),
    "count_lt": ("{ long c = 0, e = 0; for (long i = 0; i < n; i++) { c += a[i] < b[i]; e += a[i] == b[i]; }"
                 " d[0] = c * 1000 + e; }", ("long", "double", "double")),
    "clamp_minmax": ("{ for (long i = 0; i < n; i++) { float x = a[i] < -1.0f ? -1.0f : a[i] > 1.0f ? 1.0f : a[i];"
                     " d[i] = x > b[i] ? x : b[i]; } }", ("float", "float", "float")),
    "argmax_f64": ("{ double m = a[0]; long k = 0; for (long i = 1; i < n; i++) if (a[i] > m) { m = a[i]; k = i; }"
                   " d[0] = k; }", ("long", "double", "double")),
    "unordered_f32": ("{ long c = 0; for (long i = 0; i < n; i++) c += !(a[i] <= b[i]) + 2 * (a[i] != a[i]);"
                      " d[0] = c; }", ("long", "float", "float")),
    # fixed trip counts: -O2's cheap vectorizer turns these into packed code (MULPS ADDPS CVTDQ2PS CVTTPS2DQ ...)
    "packed_f32": ("{ for (long i = 0; i < 16; i++) d[i] = a[i] * b[i] + a[i] / (b[i] - a[i]); }",
                   ("float", "float", "float")),
    "packed_f64": ("{ for (long i = 0; i < 8; i++) d[i] = __builtin_sqrt(a[i]) - b[i] * 0.5; }",
                   ("double", "double", "double")),
    "packed_cvt": ("{ for (long i = 0; i < 8; i++) d[i] = (int32_t)(a[i] * 3.0f) + (int32_t)(float)b[i]; }",
                   ("int32_t", "float", "int32_t")),
    "packed_widen": ("{ for (long i = 0; i < 8; i++) d[i] = (double)a[i] + (double)b[i]; }",
                     ("double", "float", "int32_t")),
}
FUNCS = {name: (SIG.format(d=t[0], a=t[1], b=t[2]) + body, t) for name, (body, t) in KERNELS.items()}
SIZES = {"float": 4, "int32_t": 4, "double": 8, "int64_t": 8, "long": 8}
FLOATS = {"float": 32, "double": 64}

CFLAGS = ["-O2", "-ffreestanding", "-fno-builtin", "-fno-math-errno", "-fno-stack-protector", "-fPIE",
          "-fno-asynchronous-unwind-tables", "-fno-tree-loop-distribute-patterns", "-fcf-protection=none"]
ARCH = {64: ["-m64", "-march=x86-64"], 32: ["-m32", "-march=pentium4", "-msse2", "-mfpmath=sse"]}

_BUILT: dict = {}


def fragment(name: str, mode: int) -> bytes:
    _tools()
    if (name, mode) not in _BUILT:
        _BUILT[name, mode] = build(name, mode, FUNCS, CFLAGS, ARCH)
    return _BUILT[name, mode]


def setup_for(name: str, mode: int):
    """d above the memory base, a and b below it (each 16-byte aligned plus a multiple of its element size), the
    count n; a and b hold random bytes or edge values; MXCSR random."""
    types = KERNELS[name][1]

    def setup(rng, regs, mem):
        base = mem.base
        n = 16 if name.startswith("packed") else rng.choice((1, 2, 3, 7, 8, 9, 16, 17))
        d, a, b, count = ARGS[mode]
        for reg, slot, t in zip((d, a, b), (base + 0x10, base - 0x100, base - 0x80), types):
            size = SIZES[t]
            at = slot + size * rng.randrange(0, 16 // size)
            regs[reg] = at
            if reg != d and t in FLOATS and rng.random() < 0.7:
                for i in range(n):
                    mem.put(at + size * i, size, fp_lane(rng, FLOATS[t]))
        regs[count] = n
        regs["mxcsr"] = mxcsr(rng)
    return setup


def run(name, mode, backend, cases):
    return check(fragment(name, mode), mode, cases, backends=(backend,), sse=True, mem_operand=True,
                 setup=setup_for(name, mode), flags_defined_mask=NO_FLAGS, oracles=("native",),
                 mem_window=(-0x100, 0x200))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", [64, 32])
@pytest.mark.parametrize("name", list(KERNELS))
def test_gcc_float_kernels(name, mode, backend):
    require_backend(backend)
    run(name, mode, backend, max(10, quick_cases() // 2))


@pytest.mark.diff
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", [64, 32])
@pytest.mark.parametrize("name", list(KERNELS))
def test_gcc_float_kernels_sweep(name, mode, backend):
    require_backend(backend)
    run(name, mode, backend, sweep_cases())
