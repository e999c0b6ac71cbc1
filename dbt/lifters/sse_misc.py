"""The SSE-era hints and fences user code runs (glibc's string functions and spin loops): PREFETCHT0/T1/T2/NTA,
PREFETCHW, PREFETCH (0F 0D /0), LFENCE MFENCE SFENCE, CLFLUSH, PAUSE.

Our memory model has no caches and executes one guest thread's accesses in program order, so all of them are
no-ops, except that CLFLUSH of an address that is not mapped faults on hardware (#PF): it probes the byte with a
read whose value is unused (departure: a read of an MMIO address would reach the device). Prefetches never fault,
whatever the address (SDM: a hint). None of them depends on CR4.OSFXSR.
"""

from __future__ import annotations

from ir import Ty

from dbt.lift import lifter


@lifter("PREFETCHT0", "PREFETCHT1", "PREFETCHT2", "PREFETCHNTA", "PREFETCHW", "PREFETCH", "LFENCE", "MFENCE",
        "SFENCE", "PAUSE")
def lift_hint(ctx):
    pass


@lifter("CLFLUSH")
def lift_clflush(ctx):
    ctx.load(Ty.i8, ctx.addr(0))
