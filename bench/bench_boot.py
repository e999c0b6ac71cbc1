#!/usr/bin/env python3
"""Boot-to-exit of the bundled guest OS (dbt/guests/os): dbt's PcMachine side by side with qemu-system-i386 (TCG).

Every benchmark boots the same multiboot image with the same ``-m 32`` and command line, to its isa-debug-exit,
in the same pyperf run. One timed loop is one whole boot; each boot's exit status (33) and its
``work: n=... crc32=...`` line (against ``expected_checksum``) are checked, on both sides, for every boot.

    boot-dbt-auto / boot-dbt-llvm   a fresh PcMachine per boot (nothing translated), default workload
                                    (work=1000000 spin=4000000); timed: PcMachine(...) + load_multiboot + run().
                                    Not timed: imports, building the kernel image, checking the output.
    boot-qemu                       ``qemu-system-i386 -accel tcg -kernel K -append ARGS -m 32 ...`` as a
                                    subprocess, serial on stdout (captured); timed: the whole subprocess.run().
    bigwork-<engine>                the same with work=4194304 (WORK_MAX): ~172M more guest instructions, all in the
                                    ring-3 workload. (bigwork - boot) gives the guest MIPS during the workload.
    startup-<engine>                a 42-byte multiboot kernel (a.out kludge) that writes isa-debug-exit at once:
                                    the fixed cost of a boot (QEMU: process start, SeaBIOS, option ROM; dbt: building
                                    the machine).

dbt benchmarks run one extra, untimed boot in each worker process, after a throwaway partial boot (LLVM
initialisation, lazy imports), and store its engine statistics as per-run metadata: guest_insns (instructions
retired, the same count for QEMU: the guest is deterministic), blocks translated/compiled, seconds per phase
(decode, lift, optimize, compile, execute) and that boot's wall time. ``bench/report.py`` turns them into the
tables.

    python bench/bench_boot.py -o /tmp/b.json --fast                          # auto and QEMU, ~3 min on 2 cores
    python bench/bench_boot.py --append /tmp/b.json --fast --engines llvm     # optional: backend "llvm"
    python bench/report.py /tmp/b.json

Phase mode (plain script: one boot, statistics, optionally the top of a cProfile of it):

    python bench/bench_boot.py --phases [--backend auto|llvm|interp] [--cmdline "work=N"] [--profile 25]
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dbt.guests.os import EXIT_STATUS, SPIN_DEFAULT, WORK_DEFAULT, build_kernel, expected_checksum  # noqa: E402
from dbt.guests.os.layout import DEBUG_EXIT_PORT, EXIT_OK, WORK_MAX  # noqa: E402

RAM_MB = 32
CASES = {
    "boot": f"work={WORK_DEFAULT} spin={SPIN_DEFAULT}",
    "bigwork": f"work={WORK_MAX} spin={SPIN_DEFAULT}",
    "startup": "",
}
ENGINES = ("auto", "llvm", "qemu")
QEMU = shutil.which("qemu-system-i386")
WORK_LINE = re.compile(rb"^work: n=(\d+) .*crc32=([0-9A-F]{8})\r?$", re.MULTILINE)
PHASES = ("decode", "lift", "optimize", "compile", "execute")


def empty_kernel(base: int = 0x100000) -> bytes:
    """A multiboot v1 image using the a.out kludge (header flag 16): ``mov dx, port; mov al, EXIT_OK; out dx, al``,
    then HLT forever. Both QEMU and dbt's loader take it; it exits with EXIT_STATUS before doing anything else."""
    code = b"\x66\xba" + struct.pack("<H", DEBUG_EXIT_PORT) + bytes([0xB0, EXIT_OK, 0xEE, 0xF4, 0xEB, 0xFD])
    magic, flags = 0x1BADB002, 0x00010000
    header = struct.pack("<8I", magic, flags, -(magic + flags) & 0xFFFFFFFF, base, base, 0, 0, base + 32)
    return header + code


def source_revision() -> str:
    """The checkout's commit, with "+dirty" when the code under test (dbt, ir, backends, devices) has local changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "dbt", "ir", "backends", "devices"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


def image_for(case: str) -> bytes:
    return empty_kernel() if case == "startup" else build_kernel()


def check_output(who: str, status, serial: bytes, case: str, expected_crc) -> None:
    """Exit status 33, and for the real kernel the workload line with the right n and crc32."""
    if status != EXIT_STATUS:
        tail = serial.decode("ascii", "replace").splitlines()[-3:]
        raise RuntimeError(f"{who} {case}: exit status {status}, expected {EXIT_STATUS}; serial tail: {tail}")
    if expected_crc is None:
        return
    m = WORK_LINE.search(serial)
    want_n, want_crc = expected_crc
    if not m or int(m.group(1)) != want_n or int(m.group(2), 16) != want_crc:
        got = m.group(0).decode() if m else "no work: line"
        raise RuntimeError(f"{who} {case}: {got!r}, expected n={want_n} crc32={want_crc:08X}")


def expected_for(case: str):
    if case == "startup":
        return None
    n = min(int(CASES[case].split()[0].split("=")[1]), WORK_MAX)
    return n, expected_checksum(n)


class DbtBoot:
    """One boot per timed loop, each in a fresh PcMachine."""

    def __init__(self, case: str, backend: str, setup: bool):
        self.case, self.backend = case, backend
        self.image = image_for(case)
        self.append = CASES[case]
        self.expected = expected_for(case) if setup else None
        self.metadata = {"engine": f"dbt-{backend}", "case": case, "append": self.append or "-", "ram_mb": RAM_MB}
        if setup:
            self.metadata["dbt_revision"] = source_revision()
            self.metadata.update(self.stats_boot())

    def boot(self):
        from dbt.machine import PcMachine
        out = bytearray()
        t0 = time.perf_counter()
        vm = PcMachine(RAM_MB, backend=self.backend, serial=out.extend)
        vm.load_multiboot(self.image, self.append)
        status = vm.run()
        dt = time.perf_counter() - t0
        check_output(f"dbt-{self.backend}", status, bytes(out), self.case, self.expected)
        return dt, vm

    def stats_boot(self) -> dict:
        """An untimed boot for the statistics, after warm_process()."""
        warm_process(self.backend)
        dt, vm = self.boot()
        st = vm.engine.stats
        md = {k: v for k, v in st.as_dict().items() if isinstance(v, int)}    # blocks_translated, _compiled...
        md.update({"guest_insns": int(vm.engine.icount()), "stats_boot_seconds": dt, "slices": vm.stats.slices,
                   "interrupts": vm.stats.interrupts})
        md.update({f"seconds_{p}": float(st.seconds[p]) for p in PHASES})
        return md

    def time_func(self, loops: int) -> float:
        total = 0.0
        for _ in range(loops):
            dt, vm = self.boot()
            total += dt
            del vm
        return total


class QemuBoot:
    """qemu-system-i386 as a subprocess per timed loop; serial on stdout, captured and checked."""

    def __init__(self, case: str, setup: bool):
        if QEMU is None:
            raise SystemExit("qemu-system-i386 is not installed (apt-get install qemu-system-x86)")
        self.case = case
        self.append = CASES[case]
        self.expected = expected_for(case) if setup else None
        self.metadata = {"engine": "qemu", "case": case, "append": self.append or "-", "ram_mb": RAM_MB}
        self.cmd = None
        if setup:
            fd, path = tempfile.mkstemp(prefix="bench_boot_", suffix=".elf")
            with os.fdopen(fd, "wb") as f:
                f.write(image_for(case))
            atexit.register(os.unlink, path)
            self.cmd = qemu_command(path, self.append)
            self.metadata["qemu_version"] = subprocess.run([QEMU, "--version"], capture_output=True, check=False,
                                                           text=True).stdout.splitlines()[0]

    def time_func(self, loops: int) -> float:
        total = 0.0
        for _ in range(loops):
            t0 = time.perf_counter()
            done = subprocess.run(self.cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=300,
                                  check=False)
            total += time.perf_counter() - t0
            check_output("qemu", done.returncode, done.stdout, self.case, self.expected)
        return total


def qemu_command(image_path: str, append: str) -> list[str]:
    cmd = [QEMU, "-accel", "tcg", "-kernel", image_path]
    if append:
        cmd += ["-append", append]
    return cmd + ["-m", str(RAM_MB), "-display", "none", "-no-reboot", "-serial", "stdio", "-monitor", "none",
                  "-device", f"isa-debug-exit,iobase={DEBUG_EXIT_PORT:#x},iosize=2"]


def warm_process(backend: str) -> None:
    """The process's one-time costs, so a measured boot does not pay them: LLVM initialisation and the lazy
    imports (ELF loader, optimizer passes), by the first 2M instructions of a throwaway boot."""
    from dbt.machine import PcMachine
    vm = PcMachine(RAM_MB, backend=backend)
    vm.load_multiboot(build_kernel(), CASES["boot"])
    vm.run(max_insns=2_000_000)


def phases(backend: str, cmdline: str, profile: int) -> None:
    case = "custom"
    image = build_kernel()
    from dbt.machine import PcMachine
    warm_process(backend)
    out = bytearray()
    prof = None
    if profile:
        import cProfile
        prof = cProfile.Profile()
        prof.enable()
    t0 = time.perf_counter()
    vm = PcMachine(RAM_MB, backend=backend, serial=out.extend)
    vm.load_multiboot(image, cmdline)
    status = vm.run()
    wall = time.perf_counter() - t0
    if prof:
        prof.disable()
    m = WORK_LINE.search(bytes(out))
    exp = None
    if m:
        exp = (int(m.group(1)), expected_checksum(int(m.group(1))))
    check_output(f"dbt-{backend}", status, bytes(out), case, exp)
    st = vm.engine.stats
    sec = st.seconds
    ni = vm.engine.icount()
    print(f"backend={backend} cmdline={cmdline!r} status={status} guest_insns={ni:,} wall={wall:.3f} s "
          f"({ni / wall / 1e6:.0f} MIPS) blocks_translated={st.blocks_translated} "
          f"insns_translated={st.insns_translated} blocks_compiled={st.blocks_compiled} "
          f"blocks_reoptimized={getattr(st, 'blocks_reoptimized', '-')} "
          f"blocks_executed(interp)={st.blocks_executed} slices={vm.stats.slices} interrupts={vm.stats.interrupts}")
    print()
    print("| phase | seconds | share of the boot |")
    print("|---|---:|---:|")
    for p in PHASES:
        print(f"| {p} | {sec[p]:.3f} | {sec[p] / wall:.0%} |")
    translate = sum(sec[p] for p in PHASES[:4])
    print(f"| translate (decode+lift+optimize+compile) | {translate:.3f} | {translate / wall:.0%} |")
    rest = wall - translate - sec["execute"]
    print(f"| outside engine.run (machine, devices, run loop) | {rest:.3f} | {rest / wall:.0%} |")
    print(f"| total (PcMachine + load + run) | {wall:.3f} | 100% |")
    if prof:
        import pstats
        print()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(profile)
        pstats.Stats(prof).sort_stats("tottime").print_stats(profile)


def runs_here(runner, args) -> bool:
    """True in the process that runs the next benchmark (a pyperf worker on its task, or --in-process)."""
    if args.worker:
        return runner._worker_task == args.worker_task
    return bool(getattr(args, "in_process", False))


def main():
    if "--phases" in sys.argv:
        import argparse
        ap = argparse.ArgumentParser()
        ap.add_argument("--phases", action="store_true")
        ap.add_argument("--backend", default="auto", choices=("auto", "llvm", "interp"))
        ap.add_argument("--cmdline", default=CASES["boot"])
        ap.add_argument("--profile", type=int, default=0, metavar="N", help="print the top N of a cProfile")
        a = ap.parse_args()
        phases(a.backend, a.cmdline, a.profile)
        return
    import pyperf

    def add_cmdline_args(cmd, args):
        cmd.extend(("--engines", args.engines, "--cases", args.cases))

    runner = pyperf.Runner(add_cmdline_args=add_cmdline_args)
    runner.argparser.add_argument("--engines", default="auto,qemu",
                                  help="comma-separated subset of auto,llvm,qemu (default: auto,qemu)")
    runner.argparser.add_argument("--cases", default="boot,bigwork,startup",
                                  help="comma-separated subset of boot,bigwork,startup")
    args = runner.parse_args()
    engines = [e for e in args.engines.split(",") if e]
    cases = [c for c in args.cases.split(",") if c]
    for bad in set(engines) - set(ENGINES) | set(cases) - set(CASES):
        raise SystemExit(f"unknown engine or case {bad!r}")
    for case in cases:
        for engine in ENGINES:
            if engine not in engines:
                continue
            name = f"{case}-qemu" if engine == "qemu" else f"{case}-dbt-{engine}"
            setup = runs_here(runner, args)
            bench = QemuBoot(case, setup) if engine == "qemu" else DbtBoot(case, engine, setup)
            runner.bench_time_func(name, bench.time_func, metadata=bench.metadata)


if __name__ == "__main__":
    main()
