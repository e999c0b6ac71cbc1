"""Helpers: guest operations done in Python and called from translated code (``call`` ops).

Each helper takes (state, memory, *args) and returns an integer (or None). They are the slow, rare operations that
need host facts: CPUID's CPU model and the time-stamp counter; and port I/O (``port_in``/``port_out``), which reads
all ones and drops writes until a device bus is attached.

The CPU model (CPUID) advertises only what the lifter implements: an x86-64 CPU with the base integer ISA, the x87 FPU
(``dbt.x87``), CMPXCHG8B, CMPXCHG16B, CMOV (with FCMOV), POPCNT, LZCNT (ABM) and BMI1's TZCNT, CLFLUSH, FXSAVE/FXRSTOR
(FXSR), SSE and SSE2 (``dbt/lifters/sse_*.py``, ``fxsave.py``). Not advertised: MMX (its register forms raise #UD),
SSE3 and later, XSAVE/OSXSAVE and AVX (so glibc's dynamic loader saves state with FXSAVE). The system VM has its own
leaf 1 (``dbt.system.cpu``: no SSE there).
"""

from __future__ import annotations

VENDOR = b"DBTpyDBTpyVM"       # 12 bytes: EBX, EDX, ECX order as CPUID returns it
MAX_LEAF = 7
MAX_EXT_LEAF = 0x80000004
BRAND = b"dbt x86 dynamic binary translator".ljust(48, b"\0")

# Leaf 1 EDX: FPU (0), TSC (4), CX8 (8), CMOV (15), CLFSH (19), FXSR (24), SSE (25), SSE2 (26);
# ECX: CMPXCHG16B (13), POPCNT (23).
LEAF1_EDX = (1 << 0) | (1 << 4) | (1 << 8) | (1 << 15) | (1 << 19) | (1 << 24) | (1 << 25) | (1 << 26)
LEAF1_ECX = (1 << 13) | (1 << 23)
LEAF7_EBX = 1 << 3                               # BMI1 (TZCNT)
EXT1_ECX = 1 << 5                                # ABM (LZCNT)
EXT1_EDX = (1 << 29)                             # long mode


def cpuid(leaf: int, subleaf: int) -> tuple[int, int, int, int]:
    """(eax, ebx, ecx, edx) of the documented CPU model."""
    le = lambda b: int.from_bytes(b, "little")  # noqa: E731
    if leaf == 0:
        return MAX_LEAF, le(VENDOR[0:4]), le(VENDOR[8:12]), le(VENDOR[4:8])
    if leaf == 1:
        # family 6, model 0x0F, stepping 1; CLFLUSH line size 8 (x 8 bytes) in EBX[15:8]
        return 0x000006F1, 8 << 8, LEAF1_ECX, LEAF1_EDX
    if leaf == 7 and subleaf == 0:
        return 0, LEAF7_EBX, 0, 0
    if leaf == 0x80000000:
        return MAX_EXT_LEAF, 0, 0, 0
    if leaf == 0x80000001:
        return 0, 0, EXT1_ECX, EXT1_EDX
    if 0x80000002 <= leaf <= 0x80000004:
        part = BRAND[(leaf - 0x80000002) * 16:][:16]
        return tuple(le(part[i:i + 4]) for i in range(0, 16, 4))
    return 0, 0, 0, 0


def _cpuid_helper(state, memory, leaf, subleaf):
    eax, ebx, ecx, edx = cpuid(leaf & 0xFFFFFFFF, subleaf & 0xFFFFFFFF)
    state["rax"], state["rbx"], state["rcx"], state["rdx"] = eax, ebx, ecx, edx
    return 0


def _port_in(state, memory, port, size):
    """IN/INS: no devices are attached to the CPU-only engine, so every port reads as all ones (an open bus)."""
    return (1 << (8 * size)) - 1


def _port_out(state, memory, port, size, value):
    """OUT/OUTS: writes to ports are ignored until a device bus is attached."""
    return 0


def _no_syscall(state, memory, next_ip):
    """SYSCALL with no OS personality attached (the plain Emulator): #UD, as with IA32_EFER.SCE = 0. A process VM
    (dbt.linux) replaces this helper with its system-call dispatcher."""
    from dbt.memory import CpuException
    raise CpuException(6, 0, "SYSCALL: no operating system is attached to this engine")


def install(engine) -> None:
    """Registers the helpers an engine's translated code may call."""
    def rdtsc(state, memory):
        # Virtual time: a counter derived from retired instructions, so runs are deterministic.
        return (engine.icount() * 4 + state["tsc"]) & ((1 << 64) - 1)
    engine.helpers["cpuid"] = _cpuid_helper
    engine.helpers["rdtsc"] = rdtsc
    engine.helpers["port_in"] = _port_in
    engine.helpers["port_out"] = _port_out
    engine.helpers["syscall"] = _no_syscall
    from dbt.lifters.mxcsr import HELPERS as MXCSR_HELPERS
    from dbt.x87 import HELPERS as X87_HELPERS
    engine.helpers.update(X87_HELPERS)
    engine.helpers.update(MXCSR_HELPERS)
    from dbt.lifters.fxsave import HELPERS as FXSAVE_HELPERS
    engine.helpers.update(FXSAVE_HELPERS)
