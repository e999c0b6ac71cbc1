"""``python -m dbt boot``: boot a PC guest headless, options spelled as QEMU spells them.

    python -m dbt boot                                  the bundled guest OS (dbt/guests/os)
    python -m dbt boot -kernel K.elf -append "..." -m 64 -serial file:out.txt -d int -D log.txt --stats

``-nographic`` is accepted and implied (there is no display). The exit status is the guest's isa-debug-exit status
((value << 1) | 1, as QEMU's); 1 when the VM stopped otherwise (triple fault, reset, halt with interrupts off,
unsupported feature), with the reason on stderr; 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys

TRACE_ITEMS = ("in_asm", "op", "out_asm", "int")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("boot", help="boot a PC guest (default: the bundled multiboot OS) on the serial console",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-kernel", metavar="FILE", help="multiboot kernel (ELF32 or a.out kludge); default: bundled OS")
    p.add_argument("-append", metavar="CMDLINE", default="", help="kernel command line")
    p.add_argument("-initrd", metavar="FILE[,FILE...]", help="multiboot modules (each 'file args...' allowed)")
    p.add_argument("-bios", metavar="FILE", help="ROM image started from the reset vector in real mode")
    p.add_argument("-m", metavar="MB", default="32", help="RAM size in MiB (suffix M or G allowed; default 32)")
    p.add_argument("-serial", metavar="DEV", default="stdio", help="COM1: stdio, file:PATH or none")
    p.add_argument("-debugcon", metavar="DEV", default="none", help="ports 0xE9/0x402: stdio, file:PATH or none")
    p.add_argument("-nographic", action="store_true", help="accepted for QEMU compatibility (always headless)")
    p.add_argument("-d", metavar="ITEMS", default="", help="log items, comma separated: " + ",".join(TRACE_ITEMS))
    p.add_argument("-D", metavar="LOGFILE", help="write the -d log here (default stderr)")
    p.add_argument("-icount", metavar="shift=N", help="virtual time: 2**N ns per guest instruction (default 0)")
    p.add_argument("--clock", choices=["virtual", "host"], default="virtual",
                   help="virtual time from instruction counts (deterministic, default) or host time")
    p.add_argument("--backend", choices=["auto", "interp", "llvm"], default="auto")
    p.add_argument("--stats", action="store_true", help="print translation and device statistics at exit")
    return p


def _sink(spec: str, what: str, opened: list, on_closed=None):
    if spec == "none":
        return None
    if spec == "stdio":
        out = sys.stdout.buffer

        def write(data: bytes) -> None:
            try:
                out.write(data)
                out.flush()
            except BrokenPipeError:
                # The reader went away (| head): drop further output and stop the VM, as a pipe's writer would.
                import os
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                if on_closed is not None:
                    on_closed()
        return write
    if spec.startswith("file:") and len(spec) > 5:
        f = open(spec[5:], "wb")        # noqa: SIM115  (closed by run() when the VM stops)
        opened.append(f)
        return f.write
    raise SystemExit(f"dbt boot: {what} {spec!r}: use stdio, file:PATH or none")


def _ram_mb(text: str) -> int:
    t = text.strip().upper()
    mult = 1
    if t.endswith("G"):
        t, mult = t[:-1], 1024
    elif t.endswith("M"):
        t = t[:-1]
    try:
        mb = int(t) * mult
    except ValueError:
        raise SystemExit(f"dbt boot: -m {text!r}: expected a size in MiB such as 32, 64M or 1G") from None
    if not 2 <= mb <= 3072:
        raise SystemExit(f"dbt boot: -m {text!r}: RAM must be between 2 MiB and 3 GiB")
    return mb


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise SystemExit(f"dbt boot: cannot read {what} {path!r}: {e.strerror}") from None


def run(args) -> int:
    import gc

    from dbt.machine import PcMachine
    # The VM allocates many small, long-lived objects (translations, IR): collect the young generation less often.
    # PcMachine.run() does the same while it runs; the CLI's process is the VM's, so it keeps the setting throughout
    # (building the kernel and the machine too).
    gc.set_threshold(50_000, 20, 20)
    from dbt.multiboot import MultibootError
    items = [i for i in args.d.split(",") if i]
    bad = [i for i in items if i not in TRACE_ITEMS]
    if bad:
        raise SystemExit(f"dbt boot: unknown -d item(s) {', '.join(bad)}; choose from {', '.join(TRACE_ITEMS)}")
    shift = 0
    if args.icount:
        try:
            key, _, val = args.icount.partition("=")
            shift = int(val if key == "shift" else key)
            if not 0 <= shift <= 10:
                raise ValueError
        except ValueError:
            raise SystemExit(f"dbt boot: -icount {args.icount!r}: expected shift=N with N in 0..10") from None
    if args.kernel and args.bios:
        raise SystemExit("dbt boot: give either -kernel or -bios, not both")
    opened: list = []
    machine: list = []                  # the VM, once made (the stdio sinks stop it when their pipe closes)

    def closed() -> None:
        if machine:
            machine[0]._stop("the console's reader closed the pipe")
    try:
        serial = _sink(args.serial, "-serial", opened, closed)
        debugcon = _sink(args.debugcon, "-debugcon", opened, closed)
        log_file = open(args.D, "w") if args.D else sys.stderr     # noqa: SIM115
        if args.D:
            opened.append(log_file)
        vm = PcMachine(_ram_mb(args.m), backend=args.backend, serial=serial, debugcon=debugcon, clock=args.clock,
                       icount_shift=shift)
        machine.append(vm)
        if items:
            vm.engine.trace = frozenset(items)
            vm.engine.log = log_file.write
            if "int" in items:
                vm.log = lambda s: log_file.write(s + "\n")
                _trace_exceptions(vm, log_file)
        try:
            if args.bios:
                vm.load_bios(_read(args.bios, "BIOS image"))
            else:
                modules = []
                for spec in (args.initrd.split(",") if args.initrd else []):
                    path, _, margs = spec.strip().partition(" ")
                    modules.append((_read(path, "module"), spec.strip()))
                if args.kernel:
                    image, name = _read(args.kernel, "kernel"), args.kernel
                else:
                    from dbt.guests.os import build_kernel
                    image, name = build_kernel(), "dbt-guest-os"
                vm.load_multiboot(image, args.append, modules, name=name)
        except (MultibootError, ValueError) as e:
            raise SystemExit(f"dbt boot: {e}") from None
        status = vm.run()
    finally:
        for f in opened:
            f.close()
    if args.stats:
        _print_stats(vm)
    if status is not None:
        return status
    print(f"dbt boot: {vm.stop_reason}", file=sys.stderr)
    return 130 if "Ctrl-C" in (vm.stop_reason or "") else 1


def _trace_exceptions(vm, log_file) -> None:
    deliver = vm.engine.deliver
    st = vm.engine.state

    def traced(vector, error, pc):
        log_file.write(f"exception vector {vector} error {error:#x} at {st['cs']:04x}:{pc:08x}"
                       + (f" cr2={st['fault_addr']:#x}" if vector == 14 else "") + "\n")
        vm.stats.exceptions += 1
        deliver(vector, error, pc)
    vm.engine.deliver = traced


def _print_stats(vm) -> None:
    d = vm.stats_dict()
    e = d["engine"]
    m = d["machine"]
    out = sys.stderr
    print("--- dbt statistics ---", file=out)
    print(f"guest instructions {d['instructions']:,}; blocks translated {e['blocks_translated']:,} "
          f"({e['insns_translated']:,} instructions), compiled {e['blocks_compiled']:,}, "
          f"invalidated {e['blocks_invalidated']:,}", file=out)
    print("seconds: " + ", ".join(f"{k} {v:.3f}" for k, v in e["seconds"].items()), file=out)
    print(f"interrupts {m['interrupts']:,} (by vector: {dict(sorted(m['vectors'].items()))}), HLT idles "
          f"{m['halts']:,} ({m['idle_ns'] / 1e6:.1f} ms virtual), slices {m['slices']:,}, page walks "
          f"{d['page_walks']:,}", file=out)
    if "ports" in d:
        print(f"port accesses: {d['ports']}", file=out)
