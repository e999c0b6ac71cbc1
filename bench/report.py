#!/usr/bin/env python3
"""Markdown tables from pyperf JSON files written by bench_kernels.py / bench_translate.py (``-o FILE``).

    python bench/report.py /tmp/k.json /tmp/t.json

Kernel table: guest MIPS = guest_insns (metadata, one run) / mean seconds per run; ratio = dbt MIPS / Unicorn MIPS
(> 1: dbt is faster), with the geometric mean of the ratios. Cold-start table: time per whole cold run over the
10,000-block program, per block and per guest instruction.
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


def main(argv):
    if not argv:
        print(__doc__)
        return 2
    benches = load(argv)
    kernel_table(benches)
    cold_table(benches)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
