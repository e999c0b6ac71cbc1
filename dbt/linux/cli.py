"""``python -m dbt run``: run a Linux x86-64 program in the process VM, options spelled as qemu-user spells them.

    python -m dbt run [-L SYSROOT] [-E VAR=VALUE] [-U VAR] [--strace] [-d in_asm,op,out_asm] [-D FILE] [--stats]
                      [--backend auto|interp|llvm] PROGRAM [ARGS...]

The guest's environment is the host's with -E/-U applied; stdin, stdout and stderr are the host's. The exit status is
the program's, or 128 + N when signal N killed it. A file that cannot be run (not ELF, 32-bit, another machine,
truncated...) is reported on one line, ``dbt: PROGRAM: problem``, with status 1.
"""

from __future__ import annotations

import argparse
import os
import sys

TRACE_ITEMS = ("in_asm", "op", "out_asm")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("run", help="run a Linux x86-64 program (process VM, like qemu-x86_64)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-L", metavar="SYSROOT", default="/", help="where the dynamic loader is looked up (default /)")
    p.add_argument("-E", metavar="VAR=VALUE", action="append", default=[], help="set a guest environment variable")
    p.add_argument("-U", metavar="VAR", action="append", default=[], help="remove a guest environment variable")
    p.add_argument("--strace", action="store_true", help="log each system call and its result on stderr")
    p.add_argument("-d", metavar="ITEMS", default="", help="log items, comma separated: " + ",".join(TRACE_ITEMS))
    p.add_argument("-D", metavar="LOGFILE", help="write the -d and --strace log here (default stderr)")
    p.add_argument("--stats", action="store_true", help="print translation statistics at exit")
    p.add_argument("--backend", choices=["auto", "interp", "llvm"], default="auto")
    p.add_argument("program", metavar="PROGRAM")
    p.add_argument("args", metavar="ARGS", nargs=argparse.REMAINDER)
    return p


def run(args) -> int:
    from dbt.linux import ElfError, Process
    items = [i for i in args.d.split(",") if i]
    bad = [i for i in items if i not in TRACE_ITEMS]
    if bad:
        print(f"dbt run: -d {','.join(bad)}: unknown log item; choose from {', '.join(TRACE_ITEMS)}",
              file=sys.stderr)
        return 1
    env = dict(os.environ)
    for kv in args.E:
        if "=" not in kv or kv.startswith("="):
            print(f"dbt run: -E {kv!r}: expected VAR=VALUE", file=sys.stderr)
            return 1
        k, v = kv.split("=", 1)
        env[k] = v
    for k in args.U:
        env.pop(k, None)
    logf = None
    if args.D:
        try:
            logf = open(args.D, "w")      # noqa: SIM115  (closed below)
        except OSError as e:
            print(f"dbt run: -D {args.D}: {e.strerror}", file=sys.stderr)
            return 1

    def log(text: str) -> None:
        (logf or sys.stderr).write(text)
        (logf or sys.stderr).flush()
    proc = Process([args.program] + args.args, env=env, sysroot=args.L, backend=args.backend, strace=args.strace,
                   log=log, trace=items)
    if logf is not None:
        proc.reserved_fds.add(logf.fileno())
    try:
        proc.start()
        status = proc.run()
    except ElfError as e:
        print(f"dbt: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        status = 130
    finally:
        if logf is not None:
            logf.close()
    if args.stats:
        st = proc.engine.stats.as_dict()
        secs = ", ".join(f"{k} {v:.3f}s" for k, v in st.pop("seconds").items())
        print("dbt stats: " + ", ".join(f"{k} {v}" for k, v in st.items()) + f"; {secs}", file=sys.stderr)
    return status
