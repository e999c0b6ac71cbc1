"""gcc-compiled long double code (``x87_kernels.c``, -O2 -mno-sse: every operation on the x87) run in the emulator
on both backends and natively through ctypes, from the very same shared object: outputs must be identical bytes.

The object is position independent; its PT_LOAD segments are mapped into the guest at BASE, a call is made by
setting the System V argument registers and pushing a return address that points at a HLT.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import random
import shutil
import subprocess
import tempfile

import pytest

from ir import softfloat as sf
from tests.fp.values import specials

SRC = os.path.join(os.path.dirname(__file__), "x87_kernels.c")
BASE, DATA, STACK, HLT = 0x400000, 0x600000, 0x800000, 0x700000
FLAGS = ["-O2", "-mno-sse", "-mno-sse2", "-mfpmath=387", "-fno-math-errno", "-fPIC", "-shared", "-nostdlib",
         "-fno-stack-protector", "-fno-asynchronous-unwind-tables"]


@pytest.fixture(scope="module")
def kernels():
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the long double kernels")
    with open(SRC, "rb") as fh:
        tag = hashlib.sha256(fh.read() + " ".join(FLAGS).encode()).hexdigest()[:16]
    path = os.path.join(tempfile.gettempdir(), f"dbt-x87k-{tag}.so")
    if not os.path.exists(path):
        tmp = f"{path}.{os.getpid()}"
        subprocess.run(["gcc", *FLAGS, "-o", tmp, SRC], check=True)
        os.replace(tmp, path)
    from elftools.elf.elffile import ELFFile
    with open(path, "rb") as fh:
        elf = ELFFile(fh)
        segs = [(s["p_vaddr"], s.data(), s["p_memsz"]) for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
        syms = {s.name: s["st_value"] for s in elf.get_section_by_name(".dynsym").iter_symbols() if s.name}
    return ctypes.CDLL(path), segs, syms


def emulator(backend, segs):
    from dbt import Emulator
    emu = Emulator(64, backend)
    top = max(v + m for v, _, m in segs)
    emu.mem_map(BASE, (top + 0xFFF) & ~0xFFF)
    for vaddr, data, _ in segs:
        emu.mem_write(BASE + vaddr, data)
    emu.mem_map(DATA, 0x10000)
    emu.mem_map(HLT, 0x1000)
    emu.mem_write(HLT, b"\xf4")
    emu.mem_map(STACK - 0x10000, 0x10000)
    return emu


def call(emu, syms, name, args, stack_args=b""):
    sp = STACK - 0x100
    emu.mem_write(sp, HLT.to_bytes(8, "little") + stack_args)
    for reg, v in zip(("rdi", "rsi", "rdx", "rcx", "r8", "r9"), args):
        emu.reg_write(reg, v)
    emu.reg_write("rsp", sp)
    assert emu.emu_start(BASE + syms[name], count=10_000_000) == "hlt"


def inputs(rng, n):
    f = sf.F80
    pool = [v for v in specials(f, rng) if sf.classify(f, v) not in ("snan",)]
    vals = [rng.choice(pool) for _ in range(n // 4)]
    vals += [sf.from_int(f, rng.randrange(-10**6, 10**6), sf.Env()) for _ in range(n // 4)]
    while len(vals) < n:
        vals.append(f.encode(rng.getrandbits(1), f.bias + rng.randrange(-30, 62), rng.getrandbits(63)))
    return vals


def ld_bytes(vals):
    return b"".join(v.to_bytes(16, "little") for v in vals)        # long double: 10 bytes padded to 16


@pytest.mark.parametrize("backend", ["interp", "llvm"])
def test_gcc_long_double_kernels(kernels, backend):
    lib, segs, syms = kernels
    rng = random.Random(80)
    n = 64
    vals = inputs(rng, n)
    emu = emulator(backend, segs)
    finite = [v for v in vals if sf.classify(sf.F80, v) in ("zero", "normal", "denormal")]
    m = len(finite)
    moderate = [v for v in finite if abs(((v >> 64) & 0x7FFF) - 0x3FFF) < 64]     # sums of squares stay finite
    for name, data, out_size in (("poly", vals, 16 * n), ("stats", moderate, 64)):
        src = (ctypes.c_char * (16 * len(data))).from_buffer_copy(ld_bytes(data))
        out = ctypes.create_string_buffer(out_size)
        getattr(lib, name)(src, out, len(data))
        emu.mem_write(DATA, ld_bytes(data))
        emu.mem_write(DATA + 0x4000, bytes(out_size))
        call(emu, syms, name, (DATA, DATA + 0x4000, len(data)))
        assert emu.mem_read(DATA + 0x4000, out_size) == out.raw, name
    src = (ctypes.c_char * (16 * m)).from_buffer_copy(ld_bytes(finite))
    iout, dout, fout = (ctypes.create_string_buffer(k * m) for k in (16, 8, 4))
    lib.convert(src, iout, dout, fout, m)
    emu.mem_write(DATA, ld_bytes(finite))
    call(emu, syms, "convert", (DATA, DATA + 0x4000, DATA + 0x8000, DATA + 0xA000, m))
    assert emu.mem_read(DATA + 0x4000, 16 * m) == iout.raw
    assert emu.mem_read(DATA + 0x8000, 8 * m) == dout.raw
    assert emu.mem_read(DATA + 0xA000, 4 * m) == fout.raw
    lib.digits.argtypes = [ctypes.c_longdouble, ctypes.c_char_p, ctypes.c_int]
    for x in (3.141592653589793, -2.5, 1e17 / 3, 0.1, 123456.789):
        buf = ctypes.create_string_buffer(64)
        lib.digits(x, buf, 25)
        xb = sf.convert(sf.F64, sf.F80, int.from_bytes(ctypes.c_double(x), "little"), sf.Env())
        call(emu, syms, "digits", (DATA + 0xC000, 25), xb.to_bytes(16, "little"))
        assert emu.mem_read(DATA + 0xC000, 64).split(b"\0")[0] == buf.value, x
