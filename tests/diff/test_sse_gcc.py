"""Loops vectorized by gcc (-O3, baseline x86-64: SSE2) run on both backends against the host CPU.

C functions of the kinds compilers turn into SSE2 integer code (saturating and averaging byte arithmetic, 16-bit
multiplies and multiply-adds, 32-bit multiplies built from PMULUDQ and shuffles, min/max reductions, compares and
counts, variable and constant shifts, widening and narrowing conversions, block copies) are compiled at test time
with the host's gcc into flat position-independent images (code, then its constants; mode 32: -march=pentium4, the
first SSE2 CPU, with register arguments), called from a short prologue, and run on random arrays placed at random alignments in the compared memory window. Every GPR, xmm
register and the window are compared (flags other than DF are not: what a compiled function leaves in them is
beside the point). The module is skipped, saying so, when gcc, ld or objcopy is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.diff.harness import BACKENDS, NO_FLAGS, check, quick_cases, require_backend, sweep_cases

HEADER = "#include <stdint.h>\n#define R restrict\n"
# Mode 32: the first three arguments in EAX, EDX, ECX (regparm), the count on the stack.
ATTR = {64: "", 32: "__attribute__((regparm(3)))"}

# name -> (C source, element sizes of the arguments (d, a, b) in bytes: None for an absent array, extra argument)
FUNCS = {
    "add_sat_u8": ("void f(uint8_t *R d, const uint8_t *R a, const uint8_t *R b, long n)"
                   "{ for (long i = 0; i < n; i++) { unsigned x = a[i] + b[i]; d[i] = x > 255 ? 255 : x; } }",
                   (1, 1, 1)),
    "sub_sat_u8": ("void f(uint8_t *R d, const uint8_t *R a, const uint8_t *R b, long n)"
                   "{ for (long i = 0; i < n; i++) { int x = a[i] - b[i]; d[i] = x < 0 ? 0 : x; } }", (1, 1, 1)),
    "add_sat_s16": ("void f(int16_t *R d, const int16_t *R a, const int16_t *R b, long n)"
                    "{ for (long i = 0; i < n; i++) { int x = a[i] + b[i];"
                    " d[i] = x > 32767 ? 32767 : x < -32768 ? -32768 : x; } }", (2, 2, 2)),
    "avg_u8": ("void f(uint8_t *R d, const uint8_t *R a, const uint8_t *R b, long n)"
               "{ for (long i = 0; i < n; i++) d[i] = (a[i] + b[i] + 1) >> 1; }", (1, 1, 1)),
    "mulhi_s16": ("void f(int16_t *R d, const int16_t *R a, const int16_t *R b, long n)"
                  "{ for (long i = 0; i < n; i++) d[i] = (a[i] * b[i]) >> 16; }", (2, 2, 2)),
    "mulhi_u16": ("void f(uint16_t *R d, const uint16_t *R a, const uint16_t *R b, long n)"
                  "{ for (long i = 0; i < n; i++) d[i] = ((uint32_t)a[i] * b[i]) >> 16; }", (2, 2, 2)),
    "mul_u32": ("void f(uint32_t *R d, const uint32_t *R a, const uint32_t *R b, long n)"
                "{ for (long i = 0; i < n; i++) d[i] = a[i] * b[i]; }", (4, 4, 4)),
    "interleave_u16": ("void f(uint16_t *R d, const uint16_t *R a, const uint16_t *R b, long n)"
                       "{ for (long i = 0; i < n / 2; i++) { d[2 * i] = a[i]; d[2 * i + 1] = b[i]; } }", (2, 2, 2)),
    "dot_s16": ("long f(long *R d, const int16_t *R a, const int16_t *R b, long n)"
                "{ int s = 0; for (long i = 0; i < n; i++) s += a[i] * b[i]; return s; }", (None, 2, 2)),
    "sad_u8": ("long f(long *R d, const uint8_t *R a, const uint8_t *R b, long n)"
               "{ unsigned s = 0; for (long i = 0; i < n; i++) { int x = a[i] - b[i]; s += x < 0 ? -x : x; }"
               " return s; }", (None, 1, 1)),
    "max_u8": ("long f(long *R d, const uint8_t *R a, const uint8_t *R b, long n)"
               "{ uint8_t m = 0; for (long i = 0; i < n; i++) m = a[i] > m ? a[i] : m; return m; }", (None, 1, None)),
    "min_s16": ("long f(long *R d, const int16_t *R a, const int16_t *R b, long n)"
                "{ int16_t m = 32767; for (long i = 0; i < n; i++) m = a[i] < m ? a[i] : m; return m; }",
                (None, 2, None)),
    "max_s32": ("long f(long *R d, const int32_t *R a, const int32_t *R b, long n)"
                "{ int32_t m = -2147483647 - 1; for (long i = 0; i < n; i++) m = a[i] > m ? a[i] : m; return m; }",
                (None, 4, None)),
    "count_eq_u16": ("long f(long *R d, const uint16_t *R a, const uint16_t *R b, long n)"
                     "{ int c = 0; for (long i = 0; i < n; i++) c += a[i] == b[i]; return c; }", (None, 2, 2)),
    "count_gt_s8": ("long f(long *R d, const int8_t *R a, const int8_t *R b, long n)"
                    "{ int c = 0; for (long i = 0; i < n; i++) c += a[i] > b[i]; return c; }", (None, 1, 1)),
    "sum_u64": ("long f(long *R d, const uint64_t *R a, const uint64_t *R b, long n)"
                "{ uint64_t s = 0; for (long i = 0; i < n; i++) s += a[i] ^ b[i]; return s; }", (None, 8, 8)),
    "sar_s32": ("void f(int32_t *R d, const int32_t *R a, const int32_t *R b, long n)"
                "{ int s = b[0] & 31; for (long i = 0; i < n; i++) d[i] = a[i] >> s; }", (4, 4, 4)),
    "shr_u64": ("void f(uint64_t *R d, const uint64_t *R a, const uint64_t *R b, long n)"
                "{ int s = b[0] & 63; for (long i = 0; i < n; i++) d[i] = a[i] >> s; }", (8, 8, 8)),
    "shl_u16": ("void f(uint16_t *R d, const uint16_t *R a, const uint16_t *R b, long n)"
                "{ for (long i = 0; i < n; i++) d[i] = (uint16_t)(a[i] << 3) | (b[i] >> 13); }", (2, 2, 2)),
    "pack_u8": ("void f(uint8_t *R d, const int16_t *R a, const int16_t *R b, long n)"
                "{ for (long i = 0; i < n; i++) { int x = a[i]; d[i] = x < 0 ? 0 : x > 255 ? 255 : x; } }",
                (1, 2, None)),
    "widen_u8": ("void f(uint32_t *R d, const uint8_t *R a, const uint8_t *R b, long n)"
                 "{ for (long i = 0; i < n; i++) d[i] = a[i]; }", (4, 1, None)),
    "widen_s16": ("void f(int32_t *R d, const int16_t *R a, const int16_t *R b, long n)"
                  "{ for (long i = 0; i < n; i++) d[i] = a[i]; }", (4, 2, None)),
    "reverse_u32": ("void f(uint32_t *R d, const uint32_t *R a, const uint32_t *R b, long n)"
                    "{ for (long i = 0; i < n; i++) d[i] = a[n - 1 - i]; }", (4, 4, None)),
    "blend_u16": ("void f(uint16_t *R d, const uint16_t *R a, const uint16_t *R b, long n)"
                  "{ for (long i = 0; i < n; i++) d[i] = (a[i] & 0xF0F0) | (~a[i] & b[i]); }", (2, 2, 2)),
    "copy64": ("struct s { char b[64]; };"
               "void f(struct s *R d, const struct s *R a, const struct s *R b, long n) { *d = *a; }", (64, 64, None)),
}

CFLAGS = ["-O3", "-mtune=generic", "-ffreestanding", "-fno-builtin", "-fno-stack-protector",
          "-fPIE", "-fno-asynchronous-unwind-tables", "-fno-tree-loop-distribute-patterns", "-fcf-protection=none"]
ARCH = {64: ["-m64", "-march=x86-64"], 32: ["-m32", "-march=pentium4", "-msse2"]}     # pentium4: SSE2, no more
LD = {64: [], 32: ["-m", "elf_i386"]}
PROLOGUE = 16            # call f; jmp end; padding: f starts 16-byte aligned, so do its constants
# The call into f: mode 64 passes the count in rcx already; mode 32 pushes it (from ebx) and pops it after.
CALL = {64: (b"", b""), 32: (b"\x53", b"\x83\xc4\x04")}


def _tools():
    missing = [t for t in ("gcc", "ld", "objcopy") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} to compile the test functions")


def build(name: str, mode: int, funcs=None, cflags=None, arch=None) -> bytes:
    """The fragment: ``call f; jmp end`` (mode 32: ``push ebx; call f; add esp, 4; jmp end``), f's image (code
    then constants), end. ``funcs``, ``cflags``, ``arch``: other tables than this module's (``test_sse_fp_gcc``)."""
    src, _ = (funcs or FUNCS)[name]
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "f.c").write_text(HEADER + src.replace(" f(", f" {ATTR[mode]} f(", 1) + "\n")
        subprocess.run(["gcc", *(cflags or CFLAGS), *(arch or ARCH)[mode], "-c", "f.c", "-o", "f.o"], cwd=t,
                       check=True)
        subprocess.run(["ld", *LD[mode], "-N", "-Ttext=0", "-e", "f", "-o", "f.elf", "f.o",
                        "--no-warn-rwx-segments"], cwd=t, check=True, capture_output=True)
        subprocess.run(["objcopy", "-O", "binary", "-j", ".text", "-j", ".rodata", "f.elf", "f.bin"], cwd=t,
                       check=True)
        dis = subprocess.run(["objdump", "-d", "f.elf"], cwd=t, capture_output=True, text=True).stdout \
            if shutil.which("objdump") else ""
        image = (t / "f.bin").read_bytes()
    calls = [ln for ln in dis.splitlines() if "call" in ln and "get_pc_thunk" not in ln]
    assert not calls, f"{name}: the compiled function calls out: {calls}"
    end = PROLOGUE + len(image)
    push, pop = CALL[mode]
    call = push + b"\xe8" + (PROLOGUE - len(push) - 5).to_bytes(4, "little", signed=True) + pop
    head = call + b"\xe9" + (end - len(call) - 5).to_bytes(4, "little", signed=True)
    return head + b"\xcc" * (PROLOGUE - len(head)) + image


_BUILT: dict = {}


def fragment(name: str, mode: int) -> bytes:
    _tools()
    if (name, mode) not in _BUILT:
        _BUILT[name, mode] = build(name, mode)
    return _BUILT[name, mode]


ARGS = {64: ("rdi", "rsi", "rdx", "rcx"), 32: ("eax", "edx", "ecx", "ebx")}


def arrays_setup(name, mode):
    """d, a, b (each at a random alignment in its own part of the window) and the count n, in the argument
    registers of the mode."""
    _, sizes = FUNCS[name]

    def setup(rng, regs, mem):
        base = mem.base
        slots = (base + 0x10, base - 0x100, base - 0x80)          # d above the base, a and b below it
        n = 1 if sizes[0] == 64 else rng.choice((0, 1, 7, 8, 15, 16, 17, rng.randrange(0, 0x70 // max(
            s for s in sizes if s))))
        d, a, b, count = ARGS[mode]
        for reg, slot, size in zip((d, a, b), slots, sizes):
            regs[reg] = slot + (rng.randrange(0, 16) & -(size or 1) if size and size < 16 else 0)
        regs[count] = n
    return setup


def run(name, mode, backend, cases):
    return check(fragment(name, mode), mode, cases, backends=(backend,), sse=True, mem_operand=True,
                 setup=arrays_setup(name, mode), flags_defined_mask=NO_FLAGS, oracles=("native",),
                 mem_window=(-0x100, 0x200))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", [64, 32])
@pytest.mark.parametrize("name", list(FUNCS))
def test_gcc_vectorized(name, mode, backend):
    require_backend(backend)
    run(name, mode, backend, quick_cases())


@pytest.mark.diff
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", [64, 32])
@pytest.mark.parametrize("name", list(FUNCS))
def test_gcc_vectorized_sweep(name, mode, backend):
    require_backend(backend)
    run(name, mode, backend, sweep_cases())
