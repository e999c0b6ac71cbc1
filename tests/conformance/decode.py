"""Minimal 16-bit (80286 real mode) instruction decoder for the conformance harness.

Only what the harness needs: prefixes, opcode, ModRM reg field, instruction length, and
the memory accesses an instruction makes (segment, offset, size), used by the per-test
exclusion predicates in ``excluded.py`` and the per-ModRM-reg flag masks in ``sst.py``.
This is deliberately independent of the emulator under test (dbt/): it must never share code with it.
"""
from __future__ import annotations

from dataclasses import dataclass

SEG_PREFIX = {0x26: "es", 0x2E: "cs", 0x36: "ss", 0x3E: "ds"}
PREFIXES = frozenset((0x26, 0x2E, 0x36, 0x3E, 0xF0, 0xF2, 0xF3))  # the 286 has no 64-67

# Opcodes followed by a ModRM byte (80286 one-byte map; 0F is not in the data set).
_MODRM = set()
for _base in range(0x00, 0x40, 8):
    _MODRM.update(range(_base, _base + 4))
_MODRM.update((0x62, 0x63, 0x69, 0x6B, 0xC0, 0xC1, 0xC4, 0xC5, 0xC6, 0xC7, 0xD0, 0xD1, 0xD2, 0xD3,
               0xF6, 0xF7, 0xFE, 0xFF))
_MODRM.update(range(0x80, 0x90))
_MODRM.update(range(0xD8, 0xE0))
MODRM_OPCODES = frozenset(_MODRM)

# Immediate bytes that follow opcode (+ModRM/displacement), 16-bit operand size.
_IMM = {}
for _base in range(0x00, 0x40, 8):
    _IMM[_base + 4] = 1
    _IMM[_base + 5] = 2
_IMM.update({0x68: 2, 0x69: 2, 0x6A: 1, 0x6B: 1, 0x80: 1, 0x81: 2, 0x82: 1, 0x83: 1,
             0x9A: 4, 0xEA: 4, 0xA0: 2, 0xA1: 2, 0xA2: 2, 0xA3: 2, 0xA8: 1, 0xA9: 2,
             0xC0: 1, 0xC1: 1, 0xC2: 2, 0xCA: 2, 0xC6: 1, 0xC7: 2, 0xC8: 3, 0xCD: 1,
             0xD4: 1, 0xD5: 1, 0xE8: 2, 0xE9: 2, 0xEB: 1})
for _op in range(0x70, 0x80):
    _IMM[_op] = 1
for _op in range(0xB0, 0xB8):
    _IMM[_op] = 1
for _op in range(0xB8, 0xC0):
    _IMM[_op] = 2
for _op in range(0xE0, 0xE8):
    _IMM[_op] = 1

# ModRM base registers -> (regs summed, default segment)
_EA = {0: (("bx", "si"), "ds"), 1: (("bx", "di"), "ds"), 2: (("bp", "si"), "ss"), 3: (("bp", "di"), "ss"),
       4: (("si",), "ds"), 5: (("di",), "ds"), 6: (("bp",), "ss"), 7: (("bx",), "ds")}


@dataclass
class Insn:
    prefixes: bytes          # prefix bytes in order
    opcode: int
    opcode_pos: int          # index of the opcode byte
    modrm: int | None = None
    length: int = 0          # full instruction length (prefixes included)
    disp: int = 0            # displacement (sign-extended to python int) if any
    imm_pos: int = 0         # index of the first immediate byte

    @property
    def lock(self) -> bool:
        return 0xF0 in self.prefixes

    @property
    def rep(self) -> bool:
        return 0xF2 in self.prefixes or 0xF3 in self.prefixes

    @property
    def seg_override(self) -> str | None:
        seg = None
        for p in self.prefixes:          # the last segment prefix wins
            if p in SEG_PREFIX:
                seg = SEG_PREFIX[p]
        return seg

    @property
    def mod(self) -> int | None:
        return None if self.modrm is None else self.modrm >> 6

    @property
    def reg(self) -> int | None:
        return None if self.modrm is None else (self.modrm >> 3) & 7

    @property
    def rm(self) -> int | None:
        return None if self.modrm is None else self.modrm & 7

    @property
    def has_mem_operand(self) -> bool:
        return self.modrm is not None and self.mod != 3


def decode(code: bytes | list) -> Insn:
    """Decode the first instruction of ``code`` (prefixes, opcode, ModRM, length)."""
    b = bytes(code)
    i = 0
    while i < len(b) and b[i] in PREFIXES:
        i += 1
    op = b[i] if i < len(b) else 0xF4
    ins = Insn(prefixes=b[:i], opcode=op, opcode_pos=i)
    j = i + 1
    if op in MODRM_OPCODES and j < len(b):
        modrm = b[j]
        ins.modrm = modrm
        j += 1
        mod, rm = modrm >> 6, modrm & 7
        if mod == 1:
            ins.disp = _sx8(b[j]) if j < len(b) else 0
            j += 1
        elif mod == 2 or (mod == 0 and rm == 6):
            ins.disp = int.from_bytes(b[j:j + 2], "little") if j + 1 < len(b) else 0
            j += 2
    imm = _IMM.get(op, 0)
    if op in (0xF6, 0xF7) and ins.reg is not None and ins.reg in (0, 1):
        imm = 1 if op == 0xF6 else 2
    if op in (0xA0, 0xA1, 0xA2, 0xA3):
        ins.disp = int.from_bytes(b[j:j + 2], "little")
    ins.imm_pos = j
    ins.length = j + imm
    return ins


def _sx8(v: int) -> int:
    return v - 0x100 if v & 0x80 else v


def modrm_reg(code) -> int | None:
    """ModRM reg field of the instruction (None if the opcode has no ModRM)."""
    return decode(code).reg


@dataclass
class Access:
    seg: str
    offset: int          # 16-bit offset of the first byte (may be 0xFFFF etc.)
    size: int
    what: str = ""

    @property
    def wraps(self) -> bool:
        """True if the access crosses offset 0xFFFF -> 0 (a segment-limit violation on 286/386)."""
        return self.offset + self.size > 0x10000


# Memory-operand sizes of ModRM forms (bytes); default: 1 for even ALU-style opcodes, 2 for odd.
_MEM_SIZE = {0x62: 4, 0xC4: 4, 0xC5: 4, 0x69: 2, 0x6B: 2, 0x8C: 2, 0x8E: 2, 0x8F: 2, 0xC6: 1, 0xC7: 2,
             0xD8: 4, 0x8D: 0}
_PUSH1 = {0x06, 0x0E, 0x16, 0x1E, 0x68, 0x6A, 0x9C, 0xE8} | set(range(0x50, 0x58))
_POP1 = {0x07, 0x17, 0x1F, 0x9D, 0xC3, 0xC2} | set(range(0x58, 0x60))


def mem_accesses(ins: Insn, regs: dict) -> list[Access]:
    """Memory accesses of the instruction, in execution order (best effort, 286 real mode).

    Covers ModRM memory operands, moffs (A0-A3), string instructions (all REP iterations),
    and implicit stack accesses of PUSH/POP/CALL/RET/PUSHA/POPA/LEAVE/IRET. Exception frames are not included.
    """
    op, acc = ins.opcode, []
    ovr = ins.seg_override

    def stack(offset, n_words, what, step=2):
        for k in range(n_words):
            acc.append(Access("ss", (offset + step * k) & 0xFFFF, 2, what))

    sp = regs["sp"]
    if ins.has_mem_operand:
        base, dseg = _EA[ins.rm]
        if ins.mod == 0 and ins.rm == 6:
            off, dseg = ins.disp & 0xFFFF, "ds"
        else:
            off = (sum(regs[r] for r in base) + ins.disp) & 0xFFFF
        size = _MEM_SIZE.get(op)
        if size is None:
            if op in (0xFF,):
                size = 4 if ins.reg in (3, 5) else 2
            elif op in (0xFE,):
                size = 1
            else:
                size = 1 if op % 2 == 0 else 2
        seg = ovr or dseg
        if op == 0x8F:                       # POP r/m: stack read first, then the memory write
            stack(sp, 1, "pop")
            acc.append(Access(seg, off, size, "modrm"))
            return acc
        if size:
            acc.append(Access(seg, off, size, "modrm"))
        if op == 0xFF and ins.reg in (2, 6):
            stack(sp - 2, 1, "push")
        elif op == 0xFF and ins.reg == 3:
            stack(sp - 4, 2, "push")
        return acc
    if op in (0xA0, 0xA1, 0xA2, 0xA3):
        acc.append(Access(ovr or "ds", ins.disp & 0xFFFF, 1 if op % 2 == 0 else 2, "moffs"))
    elif op in _PUSH1:
        stack(sp - 2, 1, "push")
    elif op in _POP1:
        stack(sp, 1, "pop")
    elif op == 0x9A:
        stack(sp - 4, 2, "push")
    elif op in (0xCA, 0xCB):
        stack(sp, 2, "pop")
    elif op == 0xCF:
        stack(sp, 3, "pop")
    elif op == 0x60:
        stack(sp - 16, 8, "push")
    elif op == 0x61:
        stack(sp, 8, "pop")
    elif op == 0xC9:
        stack(regs["bp"], 1, "pop")
    elif op in (0xA4, 0xA5, 0xA6, 0xA7, 0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF, 0x6C, 0x6D, 0x6E, 0x6F):
        size = 1 if op % 2 == 0 else 2
        step = -size if regs["flags"] & 0x400 else size
        uses_si = op in (0xA4, 0xA5, 0xA6, 0xA7, 0xAC, 0xAD, 0x6E, 0x6F)
        uses_di = op in (0xA4, 0xA5, 0xA6, 0xA7, 0xAA, 0xAB, 0xAE, 0xAF, 0x6C, 0x6D)
        iters = (regs["cx"] if ins.rep else 1)
        si, di = regs["si"], regs["di"]
        for _ in range(min(iters, 0x10000)):
            if uses_si:
                acc.append(Access(ovr or "ds", si, size, "si"))
            if uses_di:
                acc.append(Access("es", di, size, "di"))
            si, di = (si + step) & 0xFFFF, (di + step) & 0xFFFF
    return acc


def first_wrapping_access(ins: Insn, regs: dict) -> Access | None:
    for a in mem_accesses(ins, regs):
        if a.wraps:
            return a
    return None
