#!/usr/bin/env python3
"""Steady-state speed of the bundled kernels: dbt (backend "auto") side by side with Unicorn.

For each kernel two benchmarks run in the same pyperf run:

* ``kernel-<name>-dbt``: one Emulator per worker, run once to warm up (translation + hot compilation), then each
  timed loop resets the input registers and runs the kernel to its HLT.
* ``kernel-<name>-unicorn``: Unicorn (UC_MODE_64) with the same code/data/stack mapping and inputs, run from
  CODE_BASE until the address of the kernel's final HLT (Unicorn stops before executing it).

Both benchmarks carry the metadata ``guest_insns`` (instructions executed by one run, from dbt's own counters) so
``bench/report.py`` can turn times into guest MIPS.

    python bench/bench_kernels.py -o /tmp/k.json --fast
    python bench/bench_kernels.py -o /tmp/k.json --fast --kernels fib,alu
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyperf  # noqa: E402

from dbt.guests import (CODE_BASE, DATA_BASE, DATA_SIZE, KERNELS, STACK_TOP,  # noqa: E402
                        assemble, load, reset)

# Inputs chosen so one run takes roughly 10-300 ms on both sides (same inputs for both).
OVERRIDES = {
    "alu": {"rcx": 4_000_000},
    "memcpy": {"rcx": 10_000},
    "fib": {"rcx": 29},
    "branchy": {"rcx": 2_000_000},
    "strings": {"rcx": 500},
    "sieve": {"rcx": 600_000},
}

ZEROED = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11")


def kernel(name):
    k = KERNELS[name]
    return dataclasses.replace(k, regs=dict(OVERRIDES.get(name, k.regs)))


class DbtCase:
    """An emulator built and warmed once per process; the warm-up run also yields guest_insns and the HLT address."""

    def __init__(self, k):
        self.k = k
        self.expected = k.expect(k.regs)
        self.emu = load(k, "auto")
        stop = self.emu.emu_start(CODE_BASE)
        rax = self.emu.reg_read("rax")
        self.guest_insns = self.emu.stats["insns_executed"]
        self.hlt_address = self.emu.reg_read("rip") - 1      # rip is past the HLT once it has executed
        self.ok = stop == "hlt" and rax == self.expected
        if not self.ok:
            print(f"WARNING: dbt kernel {k.name}: stop={stop} rax={rax:#x} expected={self.expected:#x}",
                  file=sys.stderr)
        self.checked = False

    def time_func(self, loops):
        emu, k = self.emu, self.k
        t0 = time.perf_counter()
        for _ in range(loops):
            reset(emu, k)
            emu.emu_start(CODE_BASE)
        dt = time.perf_counter() - t0
        if not self.checked:
            self.checked = True
            rax = emu.reg_read("rax")
            if rax != self.expected and self.ok:      # a wrong warm-up result is already in the metadata
                raise RuntimeError(f"dbt kernel {k.name}: rax={rax:#x} expected={self.expected:#x}")
        return dt


class UnicornCase:
    def __init__(self, k, hlt_address):
        import unicorn as U
        from unicorn import x86_const as X
        self.k, self.hlt = k, hlt_address
        self.expected = k.expect(k.regs)
        code = assemble(k.source)
        uc = U.Uc(U.UC_ARCH_X86, U.UC_MODE_64)
        uc.mem_map(CODE_BASE, (len(code) + 0xFFF) & ~0xFFF, U.UC_PROT_READ | U.UC_PROT_EXEC)
        uc.mem_write(CODE_BASE, code)
        uc.mem_map(DATA_BASE, DATA_SIZE, U.UC_PROT_READ | U.UC_PROT_WRITE)
        uc.mem_map(STACK_TOP - 0x10000, 0x10000, U.UC_PROT_READ | U.UC_PROT_WRITE)
        self.uc = uc
        self.rax = X.UC_X86_REG_RAX
        self.rsp = X.UC_X86_REG_RSP
        self.zero = [getattr(X, "UC_X86_REG_" + r.upper()) for r in ZEROED]
        self.inputs = [(getattr(X, "UC_X86_REG_" + r.upper()), v) for r, v in k.regs.items()]
        self.checked = False

    def reset(self):
        uc = self.uc
        for r in self.zero:
            uc.reg_write(r, 0)
        uc.reg_write(self.rsp, STACK_TOP - 0x100)
        for r, v in self.inputs:
            uc.reg_write(r, v)

    def time_func(self, loops):
        uc, hlt = self.uc, self.hlt
        t0 = time.perf_counter()
        for _ in range(loops):
            self.reset()
            uc.emu_start(CODE_BASE, hlt)
        dt = time.perf_counter() - t0
        if not self.checked:
            self.checked = True
            rax = uc.reg_read(self.rax)
            if rax != self.expected:
                raise RuntimeError(f"unicorn kernel {self.k.name}: rax={rax:#x} expected={self.expected:#x}")
        return dt


def add_cmdline_args(cmd, args):
    if args.kernels:
        cmd.extend(("--kernels", args.kernels))


def main():
    runner = pyperf.Runner(add_cmdline_args=add_cmdline_args)
    runner.argparser.add_argument("--kernels", default="", help="comma-separated subset of: " + ",".join(KERNELS))
    args = runner.parse_args()
    names = [n for n in args.kernels.split(",") if n] or list(KERNELS)
    for name in names:
        k = kernel(name)
        for engine in ("dbt", "unicorn"):
            bench_name = f"kernel-{name}-{engine}"
            if args.worker and runner._worker_task != args.worker_task:
                # a worker runs one benchmark: skip building (and warming) the others
                runner._bench_names.add(bench_name)
                runner._worker_task += 1
                continue
            dbt = DbtCase(k)   # warm-up run: also gives guest_insns and the HLT address for Unicorn
            meta = {"guest_insns": int(dbt.guest_insns), "kernel": name,
                    "kernel_inputs": ",".join(f"{r}={v}" for r, v in k.regs.items()),
                    "dbt_result_ok": str(dbt.ok), "engine": "dbt-auto" if engine == "dbt" else "unicorn"}
            case = dbt if engine == "dbt" else UnicornCase(k, dbt.hlt_address)
            runner.bench_time_func(bench_name, case.time_func, metadata=meta)

if __name__ == "__main__":
    main()
