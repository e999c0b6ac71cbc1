#!/usr/bin/env python3
"""Whole-process speed of the process VM: seven CPU-bound C programs (bench/programs/*.c: sieve, sha256, crc32,
matmul, qsort, bytecode, nbody) run natively, under ``qemu-x86_64`` (qemu-user, TCG) and under ``python -m dbt
run``, side by side in one pyperf run.

The programs are built with ``gcc -O2 -static PROGRAM.c -lm`` (static: no dynamic loader or shared-library
relocation in the measurement, the same binary for every runner) into ``$TMPDIR/dbt-bench-process/``, keyed by a
hash of the source and of ``gcc --version``, so a rebuild happens only when one of them changes. Each program takes
0.5-2 s natively on the 2-core reference machine with its ``SIZES["full"]`` arguments and prints a
``checksum: ...`` line; its complete stdout from one native run is the reference, and every timed run, on every
runner, must print exactly that and exit 0 (a wrong result raises instead of being timed).

    process-<program>-native   the program as a subprocess
    process-<program>-qemu     qemu-x86_64 PROGRAM
    process-<program>-dbt      python -m dbt run PROGRAM (PYTHONPATH = this checkout; its interpreter start-up,
                               ~50-100 ms, is part of the process, as QEMU's own start-up is)

One timed value is one whole process, started with subprocess.run() (stdin /dev/null, stdout captured); loops are
fixed to 1, values per worker process and worker processes are pyperf's options (defaults here: 6 processes x 3
values after 1 warm-up; ``--fast``: 3 processes x 2 values). Nothing is kept between two runs of dbt (it has no
persistent translation cache yet), so each run pays its whole translation.

dbt benchmarks also run one untimed ``python -m dbt run --stats PROGRAM`` per worker process and keep what it
prints about translation as per-run metadata (see ``parse_dbt_stats``), plus the checkout's commit as dbt_revision.

    python bench/bench_process.py -o /tmp/p.json --fast --runners native,qemu         # no dbt: ~10 min on 2 cores
    python bench/bench_process.py --append /tmp/p.json --fast --runners dbt --programs sieve,crc32
    python bench/report.py /tmp/p.json

``--programs`` picks a subset (default: all), ``--size small`` runs every program with ~10x smaller arguments
(a smoke test of the harness, not a measurement).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS_DIR = Path(__file__).resolve().parent / "programs"
RUNNERS = ("native", "qemu", "dbt")
QEMU = shutil.which("qemu-x86_64")
CFLAGS = ("-O2", "-static")
# Arguments per program: "full" takes 0.5-2 s natively on the reference machine (0.6-0.7 s when last set, on
# 2026-11-27: sieve, sha256, crc32, matmul and nbody had drifted below 0.5 s with the earlier rounds), "small" ~10x
# less.
SIZES = {
    "sieve": {"full": ("20000000", "7"), "small": ("2000000", "4")},
    "sha256": {"full": ("1048576", "170"), "small": ("1048576", "10")},
    "crc32": {"full": ("4194304", "68"), "small": ("4194304", "4")},
    "matmul": {"full": ("400", "27"), "small": ("200", "12")},
    "qsort": {"full": ("1000000", "3"), "small": ("100000", "3")},
    "bytecode": {"full": ("200000",), "small": ("20000",)},
    "nbody": {"full": ("7500000",), "small": ("500000",)},
}
CHECKSUM = re.compile(rb"^checksum: .+$", re.MULTILINE)
TIMEOUT = 3600


def build(program: str) -> Path:
    """gcc -O2 -static programs/PROGRAM.c, cached by content (source + compiler version)."""
    src = PROGRAMS_DIR / f"{program}.c"
    cc = subprocess.run(["gcc", "--version"], capture_output=True, check=True).stdout
    key = hashlib.sha256(src.read_bytes() + cc + " ".join(CFLAGS).encode()).hexdigest()[:16]
    out_dir = Path(tempfile.gettempdir()) / "dbt-bench-process"
    out_dir.mkdir(exist_ok=True)
    exe = out_dir / f"{program}-{key}"
    if not exe.exists():
        tmp = exe.with_suffix(f".tmp{os.getpid()}")
        subprocess.run(["gcc", *CFLAGS, str(src), "-o", str(tmp), "-lm"], check=True)
        tmp.rename(exe)      # atomic: concurrent workers never see a partial file
    return exe


def reference_output(exe: Path, args: tuple[str, ...]) -> bytes:
    """The program's stdout from one native run (cached next to the binary, per argument list)."""
    tag = hashlib.sha256("\0".join(args).encode()).hexdigest()[:12]
    ref = exe.with_name(f"{exe.name}.{tag}.out")
    if not ref.exists():
        done = subprocess.run([str(exe), *args], stdin=subprocess.DEVNULL, capture_output=True, check=False)
        if done.returncode != 0 or not CHECKSUM.search(done.stdout):
            raise RuntimeError(f"native {exe.name} {args}: status {done.returncode}, stdout {done.stdout[-300:]!r}")
        tmp = ref.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(done.stdout)
        tmp.rename(ref)
    return ref.read_bytes()


def runner_command(runner: str, stats: bool = False) -> tuple[list[str], dict[str, str] | None]:
    """The command prefix and environment (None: inherit) of a runner."""
    if runner == "native":
        return [], None
    if runner == "qemu":
        if QEMU is None:
            raise SystemExit("qemu-x86_64 is not installed (apt-get install qemu-user)")
        return [QEMU], None
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return [sys.executable, "-m", "dbt", "run", *(["--stats"] if stats else [])], env


# dbt's --stats output, read tolerantly: every "name: number[unit]", "name=number[unit]" or "name number[unit]"
# (the last with a one-word name). Names are lower-cased, other characters become "_"; units s/ms/us convert to
# seconds and % to a fraction. The linux branch prints, on stderr after the guest exits, one line like
#   dbt stats: blocks_translated 4, insns_translated 13, blocks_compiled 1, ..., insns_executed 200009;
#   decode 0.001s, lift 0.044s, optimize 0.000s, compile 0.017s, execute 0.016s
# but "decode: 0.12 s", "compile=340ms" or "translate share: 42%" would be read as well. Whatever else it prints
# is ignored.
_NUMBER = r"([-+]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*(ms|us|µs|s|%)?(?=[\s,;|)]|$)"
STATS = (re.compile(r"([A-Za-z][A-Za-z0-9_ .\-/()]*?)\s*[:=]\s*" + _NUMBER),
         re.compile(r"(?<![\w.])([A-Za-z][A-Za-z0-9_]*)\s+" + _NUMBER))
PHASES = ("decode", "lift", "optimize", "compile")
UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "%": 0.01, None: 1.0}


def parse_dbt_stats(text: str, wall: float) -> dict[str, float]:
    """Numbers from ``dbt run --stats`` as metadata ``dbt_<name>``, and ``translate_share``: the printed one if a
    key names a translation share, else (decode + lift + optimize + compile seconds) / this run's wall time when
    at least one phase time was printed. Tolerant: unknown formats give fewer keys, never an error."""
    stats: dict[str, float] = {}
    for line in text.splitlines():
        for name, value, unit in (m for rx in STATS for m in rx.findall(line)):
            key = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")[-40:]
            try:
                stats[key] = float(value.replace(",", "")) * UNITS[unit or None]
            except ValueError:
                continue
    md = {f"dbt_{k}": v for k, v in stats.items() if k}
    share = next((v for k, v in stats.items() if "translat" in k and "share" in k), None)
    if share is None:
        phase = {p: v for k, v in stats.items() for p in PHASES if k.endswith(p) or k.startswith(f"seconds_{p}")}
        if phase and wall > 0:
            share = sum(phase.values()) / wall
    if share is not None:
        md["translate_share"] = float(share)
    md["stats_run_seconds"] = wall
    return md


def source_revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "dbt", "ir", "backends", "devices"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


class ProcessBench:
    """One whole process per timed loop, its stdout checked against the native reference."""

    def __init__(self, program: str, runner: str, size: str, setup: bool):
        self.program, self.runner = program, runner
        self.args = SIZES[program][size]
        self.metadata = {"program": program, "runner": runner, "size": size, "args": " ".join(self.args) or "-",
                         "cflags": " ".join(CFLAGS)}
        self.cmd = self.env = self.expected = None
        if not setup:
            return
        exe = build(program)
        self.expected = reference_output(exe, self.args)
        self.metadata["checksum"] = CHECKSUM.search(self.expected).group(0).decode()[len("checksum: "):][:100]
        prefix, self.env = runner_command(runner)
        self.cmd = [*prefix, str(exe), *self.args]
        if runner == "qemu":
            self.metadata["qemu_version"] = subprocess.run([QEMU, "--version"], capture_output=True, text=True,
                                                           check=False).stdout.splitlines()[0]
        if runner == "dbt":
            self.metadata["dbt_revision"] = source_revision()
            self.metadata.update(self.stats_run(exe))

    def run_once(self, cmd) -> tuple[float, subprocess.CompletedProcess]:
        t0 = time.perf_counter()
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, env=self.env, timeout=TIMEOUT,
                              check=False)
        return time.perf_counter() - t0, done

    def check(self, done: subprocess.CompletedProcess) -> None:
        if done.returncode != 0 or done.stdout != self.expected:
            raise RuntimeError(f"{self.runner} {self.program} {self.args}: status {done.returncode}, stdout "
                               f"{done.stdout[-300:]!r}, expected {self.expected[-300:]!r}; stderr "
                               f"{done.stderr[-500:]!r}")

    def stats_run(self, exe: Path) -> dict:
        prefix, _ = runner_command("dbt", stats=True)
        wall, done = self.run_once([*prefix, str(exe), *self.args])
        self.check(done)
        return parse_dbt_stats(done.stderr.decode("utf-8", "replace"), wall)

    def time_func(self, loops: int) -> float:
        total = 0.0
        for _ in range(loops):
            dt, done = self.run_once(self.cmd)
            self.check(done)
            total += dt
        return total


def runs_here(runner, args) -> bool:
    """True in the process that runs the next benchmark (a pyperf worker on its task, or --in-process)."""
    if args.worker:
        return runner._worker_task == args.worker_task
    return bool(getattr(args, "in_process", False))


def main():
    import pyperf

    def add_cmdline_args(cmd, args):
        cmd.extend(("--runners", args.runners, "--programs", args.programs, "--size", args.size))

    runner = pyperf.Runner(processes=6, values=3, warmups=1, loops=1, add_cmdline_args=add_cmdline_args)
    runner.argparser.add_argument("--runners", default="native,qemu,dbt",
                                  help="comma-separated subset of native,qemu,dbt (default: all three)")
    runner.argparser.add_argument("--programs", default=",".join(SIZES),
                                  help=f"comma-separated subset of {','.join(SIZES)} (default: all)")
    runner.argparser.add_argument("--size", default="full", choices=("full", "small"),
                                  help="program arguments: full (0.5-2 s natively) or small (~10x less)")
    args = runner.parse_args()
    runners = [r for r in args.runners.split(",") if r]
    programs = [p for p in args.programs.split(",") if p]
    for bad in set(runners) - set(RUNNERS) | set(programs) - set(SIZES):
        raise SystemExit(f"unknown runner or program {bad!r}")
    if "qemu" in runners and QEMU is None:
        raise SystemExit("qemu-x86_64 is not installed (apt-get install qemu-user)")
    for program in programs:
        if not args.worker:
            reference_output(build(program), SIZES[program][args.size])    # fail early, before any worker
        for r in RUNNERS:
            if r in runners:
                bench = ProcessBench(program, r, args.size, runs_here(runner, args))
                runner.bench_time_func(f"process-{program}-{r}", bench.time_func, metadata=bench.metadata)


if __name__ == "__main__":
    main()
