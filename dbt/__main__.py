"""Command line: ``python -m dbt boot`` boots a PC guest on its serial console (dbt/boot.py); ``python -m dbt run``
runs a Linux x86-64 program in the process VM (dbt/linux/cli.py); ``python -m dbt demo`` runs a bundled x86-64
program and prints its result and statistics."""

from __future__ import annotations

import argparse
import sys
import time


def _demo(args) -> int:
    from dbt.guests import KERNELS, load
    names = list(KERNELS) if args.kernel == "all" else [args.kernel]
    status = 0
    for name in names:
        k = KERNELS[name]
        emu = load(k, backend=args.backend)
        t0 = time.perf_counter()
        stop = emu.emu_start(0x10000)
        dt = time.perf_counter() - t0
        got = emu.reg_read("rax")
        want = k.expect(k.regs)
        st = emu.stats
        ok = got == want
        status |= not ok
        print(f"{name:8s} {k.summary}")
        print(f"  result rax = {got} ({'ok' if ok else f'WRONG, expected {want}'}), stop: {stop}")
        print(f"  {st['insns_executed']:,} guest instructions in {dt:.3f} s = "
              f"{st['insns_executed'] / dt / 1e6:.1f} MIPS (backend {args.backend})")
        print(f"  translated {st['blocks_translated']} blocks / {st['insns_translated']} instructions, "
              f"compiled {st['blocks_compiled']}, interpreted block runs {st['blocks_executed']}")
        secs = ", ".join(f"{p} {s * 1e3:.1f} ms" for p, s in st["seconds"].items())
        print(f"  time per phase: {secs}")
    return status


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m dbt", description="dbt: x86 dynamic binary translator")
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="run a bundled x86-64 program and print its result and translation statistics")
    d.add_argument("--kernel", default="sieve", help="alu, memcpy, fib, branchy, strings, sieve or all")
    d.add_argument("--backend", default="auto", choices=["auto", "interp", "llvm"])
    from dbt import boot
    boot.add_parser(sub)
    from dbt.linux import cli as linux_cli
    linux_cli.add_parser(sub)
    args = p.parse_args(argv)
    if args.cmd == "boot":
        return boot.run(args)
    if args.cmd == "run":
        return linux_cli.run(args)
    if args.cmd == "demo":
        from dbt.guests import KERNELS
        if args.kernel != "all" and args.kernel not in KERNELS:
            p.error(f"unknown kernel {args.kernel!r}; choose from {', '.join(KERNELS)} or all")
        return _demo(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
