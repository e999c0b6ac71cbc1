"""x86 decoding: the only module that imports Capstone.

Capstone's detailed records are slow to build and to walk (~19 us per instruction), so each instruction is turned
once into a small frozen ``Insn`` that holds just what the lifter reads, and ``Decoder`` caches those by (mode, bytes):
the same bytes in the same mode are decoded once per process, whatever their address.

Instructions are decoded at address 0, so a record does not depend on where the bytes sit: a relative branch keeps
``imm`` = length + displacement (Capstone's target for address 0) and the lifter adds the real pc.
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass

import capstone
from capstone import x86_const as X

MAX_INSN_LEN = 15
_CS = capstone._cs                 # the C library and the struct of its records (capstone's binding exposes both)
_CS_INSN = capstone._cs_insn

_CS_MODES = {16: capstone.CS_MODE_16, 32: capstone.CS_MODE_32, 64: capstone.CS_MODE_64}
_SEG_NAMES = {X.X86_REG_ES: "es", X.X86_REG_CS: "cs", X.X86_REG_SS: "ss", X.X86_REG_DS: "ds",
              X.X86_REG_FS: "fs", X.X86_REG_GS: "gs"}

# Capstone instruction id -> mnemonic constant name without the prefix ("ADD"); the lifter registry uses these.
INSN_NAMES = {v: k[len("X86_INS_"):] for k, v in vars(X).items() if k.startswith("X86_INS_")}
INSN_IDS = {name: v for v, name in INSN_NAMES.items()}


@dataclass(frozen=True, slots=True)
class Operand:
    kind: str            # "reg" | "imm" | "mem"
    size: int            # bytes
    reg: str = ""        # register name as Capstone spells it ("eax", "ah", "r8w", "cs", "rip")
    imm: int = 0
    seg: str = ""        # explicit segment override ("" = default for the base register)
    base: str = ""
    index: str = ""
    scale: int = 1
    disp: int = 0


@dataclass(frozen=True, slots=True)
class Insn:
    name: str            # Capstone mnemonic id name: "ADD", "MOVSB", ... ("INVALID" if undecodable)
    text: str            # disassembly, for messages and logs
    length: int
    raw: bytes
    operands: tuple
    rep: int             # 0, 0xF3 (REP/REPE) or 0xF2 (REPNE)
    lock: bool
    seg: str             # segment override prefix or ""
    opsize: int          # operand-size attribute in bytes (from prefixes/REX.W and mode)
    addrsize: int        # address-size attribute in bytes
    opcode: bytes
    modrm: int

    @property
    def valid(self) -> bool:
        return self.name != "INVALID"


class Decoder:
    """Decodes one instruction at a time for one CPU mode, caching records by their bytes."""

    def __init__(self, mode: int, cache: dict | None = None):
        self.mode = mode
        self._md = capstone.Cs(capstone.CS_ARCH_X86, _CS_MODES[mode])
        self._md.detail = True
        self._reg_names: dict[int, str] = {}
        self._cache = cache if cache is not None else {}
        self.decoded = 0      # cache misses (real Capstone decodes)
        self.seconds = 0.0    # time spent in Capstone and building records

    def decode(self, window: bytes) -> Insn:
        """Decodes the instruction at the start of ``window`` (up to 15 bytes)."""
        key = window[:MAX_INSN_LEN]
        rec = self._cache.get(key)
        if rec is None:
            rec = self._cache[key] = self._decode(key)
        return rec

    def _decode(self, code: bytes) -> Insn:
        """One Capstone call through its C API, reading the x86 detail struct in place: the Python binding's
        ``CsInsn`` copies the whole detail struct and wraps every field access, which costs more than the decode."""
        self.decoded += 1
        t0 = time.perf_counter()
        raw = ctypes.POINTER(_CS_INSN)()
        n = _CS.cs_disasm(self._md.csh, code, len(code), 0, 1, ctypes.byref(raw))
        try:
            if not n:
                return Insn("INVALID", "(bad)", 1, code[:1], (), 0, False, "", 0, 0, b"", 0)
            return self._record_raw(raw[0])
        finally:
            if n:
                _CS.cs_free(raw, n)
            self.seconds += time.perf_counter() - t0

    def _reg_name(self, reg: int) -> str:
        name = self._reg_names.get(reg)
        if name is None:
            name = self._reg_names[reg] = self._md.reg_name(reg)
        return name

    def _record_raw(self, ins) -> Insn:
        """The ``Insn`` of a raw ``cs_insn`` (what ``_record`` builds from the binding's ``CsInsn``)."""
        x = ins.detail.contents.arch.x86
        reg_name = self._reg_name
        ops = []
        for o in x.operands[:x.op_count]:
            t = o.type
            if t == X.X86_OP_REG:
                ops.append(Operand("reg", o.size, reg=reg_name(o.value.reg)))
            elif t == X.X86_OP_IMM:
                ops.append(Operand("imm", o.size, imm=o.value.imm))
            elif t == X.X86_OP_MEM:
                m = o.value.mem
                ops.append(Operand("mem", o.size, seg=_SEG_NAMES.get(m.segment, ""),
                                   base=reg_name(m.base) if m.base else "",
                                   index=reg_name(m.index) if m.index else "",
                                   scale=m.scale, disp=m.disp))
        p = x.prefix
        size = ins.size
        raw = bytes(ins.bytes[:size])
        mnemonic, op_str = ins.mnemonic.decode("ascii"), ins.op_str.decode("ascii")
        name = INSN_NAMES.get(ins.id, "INVALID")
        opcode = bytes(b for b in x.opcode if b)
        rep = self._rep(raw)
        if opcode == b"\x0f\xc2" and name in _SSE_CMP_MISNAMED:
            name, ops = self._sse_cmp(raw, rep, p, ops)
        return Insn(name, f"{mnemonic} {op_str}".strip(), size, raw, tuple(ops),
                    rep, p[0] == 0xF0, _SEG_NAMES.get(_PREFIX_SEG.get(p[1], 0), ""),
                    self._opsize(p, x.rex), x.addr_size, opcode, x.modrm)

    @staticmethod
    def _sse_cmp(raw: bytes, rep: int, prefix, ops: list):
        """Legacy-SSE 0F C2 (CMPPS/CMPPD/CMPSS/CMPSD): Capstone 5 names it after its predicate immediate (CMPPD for
        0, CMPSB for 2, CMPXCHG16B for 7...) and drops the immediate for 0-7. The name comes from the mandatory
        prefix (F3, F2, else 66), and the immediate, the last byte, is always operand 2."""
        name = {0xF3: "CMPSS", 0xF2: "CMPSD"}.get(rep) or ("CMPPD" if prefix[2] == 0x66 else "CMPPS")
        return name, ops[:2] + [Operand("imm", 1, imm=raw[-1])]

    def _record(self, ins) -> Insn:
        reg_name = ins.reg_name
        ops = []
        for o in ins.operands:
            if o.type == X.X86_OP_REG:
                ops.append(Operand("reg", o.size, reg=reg_name(o.reg)))
            elif o.type == X.X86_OP_IMM:
                ops.append(Operand("imm", o.size, imm=o.imm))
            elif o.type == X.X86_OP_MEM:
                m = o.mem
                ops.append(Operand("mem", o.size, seg=_SEG_NAMES.get(m.segment, ""),
                                   base=reg_name(m.base) if m.base else "",
                                   index=reg_name(m.index) if m.index else "",
                                   scale=m.scale, disp=m.disp))
        p = ins.prefix
        rep = self._rep(bytes(ins.bytes))
        name = INSN_NAMES.get(ins.id, "INVALID")
        opsize = self._opsize(p, ins.rex)
        return Insn(name, f"{ins.mnemonic} {ins.op_str}".strip(), ins.size, bytes(ins.bytes), tuple(ops), rep,
                    p[0] == 0xF0, _SEG_NAMES.get(_PREFIX_SEG.get(p[1], 0), ""), opsize, ins.addr_size,
                    bytes(b for b in ins.opcode if b), ins.modrm)

    def _rep(self, raw: bytes) -> int:
        """0, 0xF3 (REP/REPE) or 0xF2 (REPNE): the last of F2/F3 among the legacy prefixes. Read from the bytes
        because Capstone drops F2 from ``F2 A5`` (it takes it for the mandatory prefix of SSE's MOVSD)."""
        rep = 0
        for byte in raw:
            if byte in (0xF2, 0xF3):
                rep = byte
            elif byte not in _LEGACY_PREFIXES and not (self.mode == 64 and 0x40 <= byte <= 0x4F):   # REX
                break
        return rep

    def _opsize(self, prefix, rex: int) -> int:
        if self.mode == 64 and rex & 8:
            return 8
        has66 = prefix[2] == 0x66
        if self.mode == 16:
            return 4 if has66 else 2
        return 2 if has66 else 4


_SSE_CMP_MISNAMED = frozenset(("CMPPS", "CMPPD", "CMPSS", "CMPSD", "CMPSB", "CMPSW", "CMPSQ", "CMPXCHG16B"))
_LEGACY_PREFIXES = frozenset([0xF0, 0xF2, 0xF3, 0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65, 0x66, 0x67])
_PREFIX_SEG = {0x26: X.X86_REG_ES, 0x2E: X.X86_REG_CS, 0x36: X.X86_REG_SS, 0x3E: X.X86_REG_DS,
               0x64: X.X86_REG_FS, 0x65: X.X86_REG_GS}
