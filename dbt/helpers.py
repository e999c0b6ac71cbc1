"""Helpers: guest operations done in Python and called from translated code (``call`` ops).

Each helper takes (state, memory, *args) and returns an integer (or None). They are the slow, rare operations that
need host facts: CPUID's CPU model and the time-stamp counter; and port I/O (``port_in``/``port_out``), which reads
all ones and drops writes until a device bus is attached.

The CPU model (CPUID) advertises only what the lifter implements: an x86-64 CPU with the base integer ISA, the x87 FPU
(``dbt.x87``), MMX (``dbt.lift.mmx``), CMPXCHG8B, CMPXCHG16B, CMOV (with FCMOV), POPCNT, LZCNT (ABM) and BMI1's TZCNT,
CLFLUSH, FXSAVE/FXRSTOR (FXSR), SSE and SSE2 (``dbt/lifters/sse_*.py``, ``fxsave.py``), and SYSCALL/SYSRET in 64-bit
mode (leaf 0x80000001 EDX bit 11; the process VM implements SYSCALL). That is the x86-64 baseline ISA level that
glibc's dynamic loader requires. Not advertised: SSE3 and later, XSAVE/OSXSAVE and AVX (so glibc's dynamic loader
saves state with FXSAVE), HTT, ERMS/FSRM.

The model, leaf by leaf (any other leaf, and any leaf above the maximum, returns zeros; a real Intel CPU would return
the highest basic leaf's data above the maximum, which no program relies on):

- 0: maximum basic leaf 7, vendor "GenuineIntel". glibc keys its feature detection on the vendor (an unknown vendor
  makes it skip the feature leaves), so the flat user modes claim Intel's.
- 1: family 6, model 0x0F, stepping 1 (Core 2 era; glibc applies no model quirk to it); EBX: CLFLUSH line 8 x 8 bytes,
  one logical processor (HTT clear, so glibc never walks leaf 4 or 0xB for sharing counts).
- 2: EAX = 0x0000FF01: one round, descriptor 0xFF ("use leaf 4"); EBX, ECX, EDX 0 (no descriptors).
- 4: deterministic cache parameters, ``CACHES`` below: L1d 32 KiB and L1i 32 KiB (8-way), L2 1 MiB (16-way), L3 8 MiB
  (16-way), 64-byte lines, each used by one thread of one core; subleaf 4 and up: type 0 (no more caches). glibc's
  ``handle_intel`` reads the sizes from here (they only tune its string functions' thresholds: our memory has no
  caches).
- 7 (subleaf 0): EAX 0 (no other subleaf), EBX BMI1; every other subleaf zeros.
- 0xB, 0x1F (topology): above the maximum leaf, so not enumerated (zeros).
- 0x80000000: maximum extended leaf 0x80000004; 0x80000001: ECX ABM, EDX SYSCALL (11) and LM (29);
  0x80000002..4: the brand string.

The system VM keeps its own CPU (``dbt.system.cpu``): it calls ``system_cpuid``, the model it always had (its own
vendor, no cache leaves), and overrides leaves 1, 7 and 0x80000001 itself.
"""

from __future__ import annotations

VENDOR = b"GenuineIntel"       # 12 bytes: EBX, EDX, ECX order as CPUID returns it
SYSTEM_VENDOR = b"DBTpyDBTpyVM"
MAX_LEAF = 7
MAX_EXT_LEAF = 0x80000004
BRAND = b"dbt x86 dynamic binary translator".ljust(48, b"\0")

# Leaf 1 EDX: FPU (0), TSC (4), CX8 (8), CMOV (15), CLFSH (19), MMX (23), FXSR (24), SSE (25), SSE2 (26);
# ECX: CMPXCHG16B (13), POPCNT (23).
LEAF1_EDX = (1 << 0) | (1 << 4) | (1 << 8) | (1 << 15) | (1 << 19) | (1 << 23) | (1 << 24) | (1 << 25) | (1 << 26)
LEAF1_ECX = (1 << 13) | (1 << 23)
LEAF7_EBX = 1 << 3                               # BMI1 (TZCNT)
EXT1_ECX = 1 << 5                                # ABM (LZCNT)
EXT1_EDX = (1 << 11) | (1 << 29)                 # SYSCALL/SYSRET, long mode
LEAF2 = (0x0000FF01, 0, 0, 0)                    # one round; descriptor 0xFF: see leaf 4

# Leaf 4 subleaves: (type: 1 data, 2 instruction, 3 unified; level; size in bytes; ways). 64-byte lines, one
# partition, self-initializing, one thread and one core per cache.
CACHES = ((1, 1, 32 << 10, 8), (2, 1, 32 << 10, 8), (3, 2, 1 << 20, 16), (3, 3, 8 << 20, 16))
LINE = 64


def _leaf4(subleaf: int) -> tuple[int, int, int, int]:
    if subleaf >= len(CACHES):
        return 0, 0, 0, 0
    kind, level, size, ways = CACHES[subleaf]
    sets = size // (ways * LINE)
    return kind | level << 5 | 1 << 8, (ways - 1) << 22 | (LINE - 1), sets - 1, 0


def _le(b: bytes) -> int:
    return int.from_bytes(b, "little")


def _vendor(vendor: bytes) -> tuple[int, int, int, int]:
    return MAX_LEAF, _le(vendor[0:4]), _le(vendor[8:12]), _le(vendor[4:8])


def system_cpuid(leaf: int, subleaf: int) -> tuple[int, int, int, int]:
    """The base of the system VM's CPU model: ``cpuid`` with its own vendor and without the cache leaves 2 and 4."""
    if leaf == 0:
        return _vendor(SYSTEM_VENDOR)
    if leaf in (2, 4):
        return 0, 0, 0, 0
    return cpuid(leaf, subleaf)


def cpuid(leaf: int, subleaf: int) -> tuple[int, int, int, int]:
    """(eax, ebx, ecx, edx) of the documented CPU model."""
    le = _le
    if leaf == 0:
        return _vendor(VENDOR)
    if leaf == 2:
        return LEAF2
    if leaf == 4:
        return _leaf4(subleaf)
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
