#!/usr/bin/env python3
"""Translation cost: cold start over 10,000 distinct basic blocks, and per-phase cost per block / per instruction.

The guest program is 10,000 distinct basic blocks chained linearly, each ``add eax, <i+1>; xor ebx, eax; jmp next``
(3 instructions, 9 bytes), then HLT. Every block runs exactly once, so the run is all translation (cold start).

pyperf mode (each timed loop builds a fresh emulator outside the timed region and times one whole cold run):

    python bench/bench_translate.py -o /tmp/t.json --fast

    cold-10k-blocks-dbt-auto     backend "auto": every block stays cold (interpreted, below the hot threshold)
    cold-10k-blocks-dbt-llvm     backend "llvm": every block is compiled to native code before it runs
    cold-10k-blocks-unicorn      Unicorn (QEMU TCG) translating and running the same code

Phase mode (plain script, one run on backend "llvm", split by phase from emu.stats["seconds"]):

    python bench/bench_translate.py --phases [--blocks N]
"""

from __future__ import annotations

import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dbt.guests import CODE_BASE, DATA_BASE, DATA_SIZE, STACK_TOP  # noqa: E402

NBLOCKS = 10_000
INSNS_PER_BLOCK = 3


def program(nblocks: int = NBLOCKS) -> bytes:
    out = bytearray()
    for i in range(nblocks):
        out += b"\x05" + struct.pack("<I", i + 1)   # add eax, imm32
        out += b"\x31\xc3"                          # xor ebx, eax
        out += b"\xeb\x00"                          # jmp next block (rel8 0)
    out += b"\xf4"                                  # hlt
    return bytes(out)


def expected(nblocks: int = NBLOCKS):
    eax = ebx = 0
    for i in range(nblocks):
        eax = (eax + i + 1) & 0xFFFFFFFF
        ebx ^= eax
    return eax, ebx


def make_dbt(code: bytes, backend: str):
    from dbt import Emulator
    emu = Emulator(64, backend=backend)
    emu.mem_map(CODE_BASE, (len(code) + 0xFFF) & ~0xFFF, "rx")
    emu.mem_write(CODE_BASE, code)
    emu.mem_map(DATA_BASE, DATA_SIZE, "rw")
    emu.mem_map(STACK_TOP - 0x10000, 0x10000, "rw")
    emu.reg_write("rsp", STACK_TOP - 0x100)
    return emu


def make_unicorn(code: bytes):
    import unicorn as U
    from unicorn import x86_const as X
    uc = U.Uc(U.UC_ARCH_X86, U.UC_MODE_64)
    uc.mem_map(CODE_BASE, (len(code) + 0xFFF) & ~0xFFF, U.UC_PROT_READ | U.UC_PROT_EXEC)
    uc.mem_write(CODE_BASE, code)
    uc.mem_map(DATA_BASE, DATA_SIZE, U.UC_PROT_READ | U.UC_PROT_WRITE)
    uc.mem_map(STACK_TOP - 0x10000, 0x10000, U.UC_PROT_READ | U.UC_PROT_WRITE)
    uc.reg_write(X.UC_X86_REG_RSP, STACK_TOP - 0x100)
    return uc


def check_dbt(emu, nblocks=NBLOCKS):
    eax, ebx = expected(nblocks)
    got = (emu.reg_read("rax") & 0xFFFFFFFF, emu.reg_read("rbx") & 0xFFFFFFFF)
    if got != (eax, ebx):
        raise RuntimeError(f"dbt: (eax, ebx) = {got[0]:#x}, {got[1]:#x}; expected {eax:#x}, {ebx:#x}")


def cold_dbt(backend):
    code = program()

    def time_func(loops):
        total = 0.0
        for _ in range(loops):
            emu = make_dbt(code, backend)              # not timed
            t0 = time.perf_counter()
            stop = emu.emu_start(CODE_BASE)
            total += time.perf_counter() - t0
            if stop != "hlt":
                raise RuntimeError(f"dbt {backend}: stopped with {stop}")
            check_dbt(emu)
            del emu
        return total
    return time_func


def cold_unicorn():
    from unicorn import x86_const as X
    code = program()
    hlt = CODE_BASE + len(code) - 1
    eax, ebx = expected()

    def time_func(loops):
        total = 0.0
        for _ in range(loops):
            uc = make_unicorn(code)                    # not timed
            t0 = time.perf_counter()
            uc.emu_start(CODE_BASE, hlt)
            total += time.perf_counter() - t0
            got = (uc.reg_read(X.UC_X86_REG_RAX) & 0xFFFFFFFF, uc.reg_read(X.UC_X86_REG_RBX) & 0xFFFFFFFF)
            if got != (eax, ebx):
                raise RuntimeError(f"unicorn: wrong result {got}")
            del uc
        return total
    return time_func


def phases(nblocks: int, backend: str = "llvm") -> None:
    code = program(nblocks)
    emu = make_dbt(code, backend)
    t0 = time.perf_counter()
    stop = emu.emu_start(CODE_BASE)
    wall = time.perf_counter() - t0
    check_dbt(emu, nblocks)
    st = emu.stats
    sec = st["seconds"]
    nb = st["blocks_translated"]
    ni = st["insns_translated"]
    print(f"backend={backend} blocks_translated={nb} insns_translated={ni} insns_executed={st['insns_executed']} "
          f"stop={stop} wall={wall * 1e3:.1f} ms")
    # emu.stats["seconds"]: decode (Capstone), lift, optimize, compile, and execute (the rest of emu_start).
    rows = [(p, sec.get(p, 0.0)) for p in ("decode", "lift", "optimize", "compile", "execute")]
    rows.append(("total = emu_start", wall))
    print()
    print("| phase | total ms | us / block | us / guest insn |")
    print("|---|---:|---:|---:|")
    for name, s in rows:
        print(f"| {name} | {s * 1e3:.1f} | {s * 1e6 / nb:.1f} | {s * 1e6 / ni:.2f} |")


def main():
    if "--phases" in sys.argv:
        import argparse
        ap = argparse.ArgumentParser()
        ap.add_argument("--phases", action="store_true")
        ap.add_argument("--blocks", type=int, default=NBLOCKS)
        ap.add_argument("--backend", default="llvm")
        a = ap.parse_args()
        phases(a.blocks, a.backend)
        return
    import pyperf

    def add_cmdline_args(cmd, args):
        cmd.extend(("--engines", args.engines))

    runner = pyperf.Runner(add_cmdline_args=add_cmdline_args)
    runner.argparser.add_argument("--engines", default="auto,llvm,unicorn",
                                  help="comma-separated subset of auto,llvm,unicorn (llvm is slow: run it apart)")
    args = runner.parse_args()
    engines = args.engines.split(",")
    meta = {"blocks": NBLOCKS, "guest_insns": NBLOCKS * INSNS_PER_BLOCK + 1}
    for backend in ("auto", "llvm"):
        if backend in engines:
            runner.bench_time_func(f"cold-10k-blocks-dbt-{backend}", cold_dbt(backend),
                                   metadata=dict(meta, engine=f"dbt-{backend}"))
    if "unicorn" in engines:
        runner.bench_time_func("cold-10k-blocks-unicorn", cold_unicorn(), metadata=dict(meta, engine="unicorn"))


if __name__ == "__main__":
    main()
