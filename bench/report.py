#!/usr/bin/env python3
"""Markdown tables from pyperf JSON files written by bench_kernels.py / bench_translate.py / bench_boot.py /
bench_process.py (``-o FILE``).

    python bench/report.py /tmp/k.json /tmp/t.json /tmp/b.json /tmp/p.json

Kernel table: guest MIPS = guest_insns (metadata, one run) / mean seconds per run; ratio = dbt MIPS / Unicorn MIPS
(> 1: dbt is faster), with the geometric mean of the ratios. Cold-start table: time per whole cold run over the
10,000-block program, per block and per guest instruction.

Boot tables (bench_boot.py): time per boot-to-exit and the *time* ratio dbt/QEMU (< 1: dbt is faster) of the means,
of the medians (less sensitive to a busy host), and of the means without each side's fixed startup cost (the
``startup-*`` boot of an empty kernel); guest MIPS during the workload = (guest_insns(bigwork) - guest_insns(boot))
/ (time(bigwork) - time(boot)), the instruction counts being dbt's (the guest is deterministic; QEMU runs the same
instructions up to timer-interrupt handlers); and the translation share of a dbt cold boot from engine.stats (the
untimed statistics boot of each worker, averaged over workers). "load avg" is the mean of pyperf's load_avg_1min
over the runs: the host's load while that benchmark ran (2 cores).

Process table (bench_process.py): mean time of one whole process per program and runner, and the time ratios
dbt/native, qemu/native and dbt/qemu (> 1: the first is slower), with their geometric means over the programs that
have both sides; "translate share" is dbt's translation time (decode + lift + optimize + compile) over the wall time
of its untimed --stats run (mean over workers), and "guest insns" the instructions it executed, when dbt printed them.
"""

from __future__ import annotations

import math
import sys

import pyperf


def load(paths):
    benches = {}
    for p in paths:
        for b in pyperf.BenchmarkSuite.load(p).get_benchmarks():
            benches[b.get_name()] = b
    return benches


def mean(b):
    return b.mean() if b.get_nvalue() > 1 else b.get_values()[0]


def fmt_time(s):
    return f"{s * 1e3:.1f} ms" if s < 10 else f"{s:.1f} s"


def kernel_table(benches):
    names = sorted({n[len("kernel-"):].rsplit("-", 1)[0] for n in benches if n.startswith("kernel-")})
    if not names:
        return
    print("| kernel | guest insns / run | dbt time / run | Unicorn time / run | dbt MIPS | Unicorn MIPS "
          "| speed ratio dbt/unicorn |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    ratios = []
    for k in names:
        d, u = benches.get(f"kernel-{k}-dbt"), benches.get(f"kernel-{k}-unicorn")
        b = d or u
        n = int(b.get_metadata()["guest_insns"])
        note = ""
        if d is not None and str(d.get_metadata().get("dbt_result_ok", "True")) != "True":
            note = " (dbt WRONG RESULT)"
        dt = mean(d) if d else None
        ut = mean(u) if u else None
        dm = n / dt / 1e6 if dt else None
        um = n / ut / 1e6 if ut else None
        r = dm / um if dm and um else None
        if r:
            ratios.append(r)
        cell = lambda v, f: f.format(v) if v is not None else "-"  # noqa: E731
        print(f"| {k}{note} | {n:,} | {fmt_time(dt) if dt else '-'} "
              f"| {fmt_time(ut) if ut else '-'} | {cell(dm, '{:.0f}')} | {cell(um, '{:.0f}')} | {cell(r, '{:.2f}x')} |")
    if ratios:
        g = math.exp(sum(map(math.log, ratios)) / len(ratios))
        print(f"| **geometric mean** | | | | | | **{g:.2f}x** |")
    print()


def cold_table(benches):
    names = [n for n in benches if n.startswith("cold-")]
    if not names:
        return
    print("| cold start (10,000 distinct blocks, each run once) | time / run | us / block | us / guest insn "
          "| runs (values) |")
    print("|---|---:|---:|---:|---:|")
    order = {"dbt-auto": 0, "dbt-llvm": 1, "unicorn": 2}
    for n in sorted(names, key=lambda n: order.get(n.split("blocks-", 1)[-1], 9)):
        b = benches[n]
        md = b.get_metadata()
        t = mean(b)
        nb, ni = int(md["blocks"]), int(md["guest_insns"])
        sd = f" ± {fmt_time(b.stdev())}" if b.get_nvalue() > 1 else ""
        print(f"| {n} | {fmt_time(t)}{sd} | {t * 1e6 / nb:.1f} | {t * 1e6 / ni:.2f} | {b.get_nvalue()} |")
    print()


BOOT_ENGINES = ("dbt-auto", "dbt-llvm", "qemu")
PHASES = ("decode", "lift", "optimize", "compile", "execute")


def boot_name(case, engine):
    return f"{case}-{engine}"


def run_mean(b, key):
    """Mean of a per-run metadata value over the runs that have it (None if none has)."""
    vals = [r.get_metadata()[key] for r in b.get_runs() if key in r.get_metadata()]
    return sum(vals) / len(vals) if vals else None


def boot_insns(benches, case):
    """dbt's instruction count of one boot of ``case`` (the same for every dbt backend)."""
    for e in BOOT_ENGINES[:2]:
        b = benches.get(boot_name(case, e))
        if b is not None:
            n = run_mean(b, "guest_insns")
            if n:
                return int(n)
    return None


def boot_tables(benches):
    if not any(boot_name(c, e) in benches for c in ("boot", "bigwork", "startup") for e in BOOT_ENGINES):
        return
    startup = {e: mean(benches[boot_name("startup", e)]) for e in BOOT_ENGINES if boot_name("startup", e) in benches}
    print("| boot-to-exit (`-m 32`) | engine | guest insns | time / boot | median | time ratio dbt/QEMU "
          "| ratio of medians | ratio without startup | whole-boot MIPS | values | load avg |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for case in ("boot", "bigwork", "startup"):
        q = benches.get(boot_name(case, "qemu"))
        qt = mean(q) if q else None
        qmed = q.median() if q else None
        n = boot_insns(benches, case)
        for e in BOOT_ENGINES:
            b = benches.get(boot_name(case, e))
            if b is None:
                continue
            t = mean(b)
            sd = f" ± {fmt_time(b.stdev())}" if b.get_nvalue() > 1 else ""
            tmed = b.median()
            ratio = bare = medratio = "-"
            if qt and e != "qemu":
                ratio = f"{t / qt:.2f}x"
                medratio = f"{tmed / qmed:.2f}x"
                if case != "startup" and e in startup and "qemu" in startup:
                    bare = f"{(t - startup[e]) / (qt - startup['qemu']):.2f}x"
            mips = f"{n / t / 1e6:.0f}" if n and case != "startup" else "-"
            append = b.get_metadata().get("append", "-")
            load = run_mean(b, "load_avg_1min")
            print(f"| {case} `{append}` | {e} | {f'{n:,}' if n else '-'} | {fmt_time(t)}{sd} | {fmt_time(tmed)} "
                  f"| {ratio} | {medratio} | {bare} | {mips} | {b.get_nvalue()} "
                  f"| {f'{load:.1f}' if load is not None else '-'} |")
    print()
    nb, nw = boot_insns(benches, "boot"), boot_insns(benches, "bigwork")
    rows = []
    for e in BOOT_ENGINES:
        b, w = benches.get(boot_name("boot", e)), benches.get(boot_name("bigwork", e))
        if b is not None and w is not None and nb and nw:
            rows.append((e, mean(w) - mean(b), w.median() - b.median()))
    if rows:
        dn = nw - nb
        q = {e: (dt, dmin) for e, dt, dmin in rows}.get("qemu")
        print("| workload (bigwork - boot) | engine | guest insns | time | guest MIPS | time ratio dbt/QEMU "
              "| from the medians: MIPS | ratio |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for e, dt, dmed in rows:
            ratio = f"{dt / q[0]:.2f}x" if q and e != "qemu" else "-"
            rmed = f"{dmed / q[1]:.2f}x" if q and e != "qemu" else "-"
            print(f"| workload | {e} | {dn:,} | {fmt_time(dt)} | {dn / dt / 1e6:.0f} | {ratio} "
                  f"| {dn / dmed / 1e6:.0f} | {rmed} |")
        print()
    dbt = [(c, e) for c in ("boot", "bigwork") for e in BOOT_ENGINES[:2] if boot_name(c, e) in benches]
    dbt = [(c, e, benches[boot_name(c, e)]) for c, e in dbt if run_mean(benches[boot_name(c, e)], "seconds_compile")
           is not None]
    if dbt:
        print("| dbt cold boot (stats boot, mean over workers) | blocks translated | insns translated "
              "| blocks compiled | " + " | ".join(PHASES) + " | outside engine | boot | translate share |")
        print("|---|---:|---:|---:|" + "---:|" * len(PHASES) + "---:|---:|---:|")
        for c, e, b in dbt:
            sec = {p: run_mean(b, f"seconds_{p}") for p in PHASES}
            wall = run_mean(b, "stats_boot_seconds")
            translate = sum(sec[p] for p in PHASES[:4])
            other = wall - translate - sec["execute"]
            cells = " | ".join(fmt_time(sec[p]) for p in PHASES)
            reopt = run_mean(b, "blocks_reoptimized")
            reopt = f" (+{reopt:.0f} at opt 2)" if reopt else ""
            print(f"| {c}-{e} | {run_mean(b, 'blocks_translated'):.0f} | {run_mean(b, 'insns_translated'):.0f} "
                  f"| {run_mean(b, 'blocks_compiled'):.0f}{reopt} | {cells} | {fmt_time(other)} | {fmt_time(wall)} "
                  f"| {translate / wall:.0%} |")
        print()


PROCESS_RUNNERS = ("native", "qemu", "dbt")


def geomean(xs):
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else None


def process_table(benches):
    programs = sorted({n[len("process-"):].rsplit("-", 1)[0] for n in benches if n.startswith("process-")})
    if not programs:
        return
    print("| program (`gcc -O2 -static`) | native | qemu-x86_64 | dbt run | dbt/native | qemu/native | dbt/qemu "
          "| dbt translate share | guest insns (dbt) | values (n/q/d) | load avg |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    pairs = {"dbt/native": ("dbt", "native"), "qemu/native": ("qemu", "native"), "dbt/qemu": ("dbt", "qemu")}
    ratios = {k: [] for k in pairs}
    for prog in programs:
        b = {r: benches.get(f"process-{prog}-{r}") for r in PROCESS_RUNNERS}
        t = {r: mean(x) if x is not None else None for r, x in b.items()}
        cells = []
        for k, (num, den) in pairs.items():
            if t[num] and t[den]:
                ratios[k].append(t[num] / t[den])
                cells.append(f"{t[num] / t[den]:.2f}x")
            else:
                cells.append("-")
        share = run_mean(b["dbt"], "translate_share") if b["dbt"] is not None else None
        insns = run_mean(b["dbt"], "dbt_insns_executed") if b["dbt"] is not None else None
        times = " | ".join(f"{fmt_time(t[r])} ± {fmt_time(b[r].stdev())}" if b[r] is not None and b[r].get_nvalue() > 1
                           else (fmt_time(t[r]) if t[r] else "-") for r in PROCESS_RUNNERS)
        nvals = "/".join(str(b[r].get_nvalue()) if b[r] is not None else "-" for r in PROCESS_RUNNERS)
        loads = [v for v in (run_mean(x, "load_avg_1min") for x in b.values() if x is not None) if v is not None]
        load = f"{sum(loads) / len(loads):.1f}" if loads else "-"
        print(f"| {prog} | {times} | {' | '.join(cells)} | {f'{share:.0%}' if share is not None else '-'} "
              f"| {f'{insns:,.0f}' if insns else '-'} | {nvals} | {load} |")
    g = [f"**{geomean(ratios[k]):.2f}x**" if ratios[k] else "-" for k in pairs]
    print(f"| **geometric mean** | | | | {' | '.join(g)} | | | | |")
    print()


def main(argv):
    if not argv:
        print(__doc__)
        return 2
    benches = load(argv)
    kernel_table(benches)
    cold_table(benches)
    boot_tables(benches)
    process_table(benches)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
