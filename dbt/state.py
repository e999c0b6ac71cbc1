"""The CPU state layout: every guest-state field, its offset and its IR type, defined here and nowhere else.

The state is an array of 8-byte slots, one field per slot, shared by both backends (the LLVM code addresses fields by
byte offset, the interpreter by slot index = offset // 8), the Python API, snapshots and the debugger. A field whose
type is narrower than 64 bits occupies the low bytes of its slot; its upper bytes stay zero. An i128 field (the XMM
registers) takes two consecutive slots, low half first (little endian, as the LLVM code loads it); its offset is only
8-aligned, so 128-bit accesses to it must not assume 16-byte alignment.

Arithmetic flags are kept one per field (0 or 1) so the optimizer can drop each dead flag on its own; ``eflags`` holds
every other RFLAGS bit (IF, TF, IOPL, NT, AC, ID, reserved bit 1) and is merged with them by ``pack_flags``.
The tail of the layout holds the run-time fields the engine and the JIT share (exit reason, exception, budget, TLB).
"""

from __future__ import annotations

import ctypes

from ir import Field, Fields, Ty

GPR64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
         "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"]
SEGMENTS = ["es", "cs", "ss", "ds", "fs", "gs"]          # x86 encoding order of Sreg
FLAG_BITS = {"cf": 0, "pf": 2, "af": 4, "zf": 6, "sf": 7, "df": 10, "of": 11}
FLAG_FIELDS = list(FLAG_BITS)
ARITH_FLAGS_MASK = sum(1 << b for b in FLAG_BITS.values())

# Exit reasons written to the ``exit_reason`` field by translated code and helpers.
EXIT_NONE = 0       # fell off the unit normally (rip holds the next pc)
EXIT_HLT = 1        # HLT executed; rip points past it
EXIT_TRAP = 2       # guest exception: exc_vector / exc_error; rip at the faulting instruction
EXIT_BUDGET = 3     # instruction budget used up before the unit started; rip = unit pc
EXIT_RESTART = 4    # memory slow path asked to re-run the current instruction (self-modifying code)
EXIT_STOP = 5       # a helper asked to stop (breakpoint, host request)

XMM = [f"xmm{i}" for i in range(16)]
MXCSR_RESET = 0x1F80    # all SIMD exceptions masked, round to nearest, no DAZ/FTZ
FCW_RESET, FTW_RESET = 0x37F, 0xFFFF    # x87 after FNINIT (a Linux process starts so); the system VM resets its own

_FIELDS: list[tuple[str, Ty]] = (
    [(n, Ty.i64) for n in GPR64]
    + [("rip", Ty.i64)]
    + [(n, Ty.i8) for n in FLAG_FIELDS]
    + [("eflags", Ty.i32)]
    + [(s, Ty.i16) for s in SEGMENTS]
    + [(s + "_base", Ty.i64) for s in SEGMENTS]
    + [("exit_reason", Ty.i32), ("exc_vector", Ty.i32), ("exc_error", Ty.i32), ("fault_addr", Ty.i64),
       ("budget", Ty.i64), ("tsc", Ty.i64), ("tbflags", Ty.i32)]
    # System state (the system VM; the flat user-level engines leave it at zero). Segment descriptor caches: limit
    # (byte granular, i.e. already scaled by G) and attributes (descriptor bits 40..55: type, S, DPL, P, AVL, L, D/B, G).
    + [(s + "_limit", Ty.i32) for s in SEGMENTS]
    + [(s + "_attr", Ty.i32) for s in SEGMENTS]
    + [("cr0", Ty.i32), ("cr2", Ty.i32), ("cr3", Ty.i32), ("cr4", Ty.i32),
       ("gdt_base", Ty.i32), ("gdt_limit", Ty.i32), ("idt_base", Ty.i32), ("idt_limit", Ty.i32),
       ("ldtr", Ty.i16), ("ldt_base", Ty.i32), ("ldt_limit", Ty.i32), ("ldt_attr", Ty.i32),
       ("tr", Ty.i16), ("tr_base", Ty.i32), ("tr_limit", Ty.i32), ("tr_attr", Ty.i32),
       ("sysenter_cs", Ty.i32), ("sysenter_esp", Ty.i64), ("sysenter_eip", Ty.i64),
       ("fcw", Ty.i16), ("fsw", Ty.i16), ("ftw", Ty.i16),
       ("irq_shadow", Ty.i8)]     # 1 after STI / MOV SS / POP SS: no interrupt before the next instruction ends
    # SSE control/status register (rounding, DAZ/FTZ, exception masks and sticky flags); reset value 0x1F80.
    + [("mxcsr", Ty.i32)]
    # SSE registers (two slots each).
    + [(n, Ty.i128) for n in XMM]
    # x87 register file (dbt.x87): physical registers R0..R7, significand with its explicit integer bit (i64) and
    # sign + exponent (i16); ST(i) is R((FSW.TOP + i) mod 8). Control, status and tag words are fcw/fsw/ftw above.
    + [(f"fpr{i}", Ty.i64) for i in range(8)]
    + [(f"fpr{i}_se", Ty.i16) for i in range(8)]
)


class StateLayout:
    """Field name -> (offset, type). ``off.rax`` is the byte offset of rax; ``slot("rax")`` its slot index."""

    SLOT = 8

    def __init__(self, fields: list[tuple[str, Ty]]):
        offsets, n = {}, 0
        for name, t in fields:
            offsets[name] = n * self.SLOT
            n += max(1, t.bits // 64)          # i128: two slots
        self.fields = Fields([Field(name, offsets[name], t) for name, t in fields])
        self.nslots = n
        self.size = self.nslots * self.SLOT
        self.off = type("Offsets", (), offsets)
        self.types = {name: t for name, t in fields}
        self.wide = frozenset(name for name, t in fields if t.bits > 64)
        # hot (CpuState[...]): name -> slot index and mask of the one-slot fields; i128 fields go the slow way
        self.slots = {f.name: f.offset // self.SLOT for f in self.fields.by_name.values() if f.name not in self.wide}
        self.masks = {name: t.mask for name, t in fields}

    def offset(self, name: str) -> int:
        return self.fields.by_name[name].offset

    def slot(self, name: str) -> int:
        return self.fields.by_name[name].offset // self.SLOT


LAYOUT = StateLayout(_FIELDS)


class CpuState:
    """One VM's CPU state: a ctypes array of slots (its address is what JIT code receives)."""

    def __init__(self, layout: StateLayout = LAYOUT):
        self.layout = layout
        self.buf = (ctypes.c_uint64 * layout.nslots)()
        self.slots = memoryview(self.buf).cast("B").cast("Q")
        self.address = ctypes.addressof(self.buf)
        self._slot = layout.slots
        self._mask = layout.masks
        self.slots[layout.slot("eflags")] = 0x2
        self.slots[layout.slot("mxcsr")] = MXCSR_RESET
        self.slots[layout.slot("fcw")] = FCW_RESET
        self.slots[layout.slot("ftw")] = FTW_RESET

    def __getitem__(self, name: str) -> int:
        try:
            return self.slots[self._slot[name]]
        except KeyError:
            s = self.layout.slot(name)
            return self.slots[s] | self.slots[s + 1] << 64

    def __setitem__(self, name: str, value: int) -> None:
        try:
            self.slots[self._slot[name]] = value & self._mask[name]
        except KeyError:
            s = self.layout.slot(name)
            value &= self.layout.types[name].mask
            self.slots[s + 1] = value >> 64
            self.slots[s] = value & 0xFFFFFFFFFFFFFFFF

    def pack_flags(self) -> int:
        """RFLAGS as the guest sees it: the separate flag fields merged into ``eflags``."""
        v = self["eflags"] & ~ARITH_FLAGS_MASK
        for name, bit in FLAG_BITS.items():
            v |= (self[name] & 1) << bit
        return v | 0x2

    def unpack_flags(self, value: int) -> None:
        for name, bit in FLAG_BITS.items():
            self[name] = (value >> bit) & 1
        self["eflags"] = (value & ~ARITH_FLAGS_MASK) | 0x2

    def snapshot(self) -> bytes:
        return bytes(self.buf)

    def restore(self, data: bytes) -> None:
        if len(data) != self.layout.size:
            raise ValueError(f"state snapshot is {len(data)} bytes, expected {self.layout.size}")
        ctypes.memmove(self.buf, data, len(data))
