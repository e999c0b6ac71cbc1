"""Segment descriptors: decoding, descriptor-table reads, and the protected-mode segment-register loads with their
checks (SDM Vol. 3 3.4-3.5, 5.5-5.8; Vol. 2 MOV/POP Sreg).

A segment register's hidden part lives in the state as ``<seg>_base``, ``<seg>_limit`` (in bytes, G applied) and
``<seg>_attr`` = descriptor bits 40..55 (type 0-3, S 4, DPL 5-6, P 7, AVL 12, L 13, D/B 14, G 15).
Errors carry the selector's index and TI bits (RPL cleared) as the SDM specifies.
"""

from __future__ import annotations

from dataclasses import dataclass

from dbt.memory import CpuException

GP, NP, SS_FAULT, TS = 13, 11, 12, 10
ATTR_P, ATTR_S, ATTR_DB, ATTR_G = 0x80, 0x10, 0x4000, 0x8000


@dataclass(frozen=True)
class Descriptor:
    lo: int
    hi: int

    @property
    def base(self) -> int:
        return (self.lo >> 16) | ((self.hi & 0xFF) << 16) | (self.hi & 0xFF000000)

    @property
    def limit(self) -> int:
        raw = (self.lo & 0xFFFF) | (self.hi & 0xF0000)
        return (raw << 12) | 0xFFF if self.hi & (1 << 23) else raw

    @property
    def attr(self) -> int:
        return (self.hi >> 8) & 0xF0FF

    @property
    def type(self) -> int:
        return (self.hi >> 8) & 0xF

    @property
    def system(self) -> bool:       # S = 0: a system descriptor (LDT, TSS, gate)
        return not self.hi & (1 << 12)

    @property
    def dpl(self) -> int:
        return (self.hi >> 13) & 3

    @property
    def present(self) -> bool:
        return bool(self.hi & (1 << 15))

    @property
    def code(self) -> bool:
        return not self.system and bool(self.type & 8)

    @property
    def conforming(self) -> bool:
        return self.code and bool(self.type & 4)

    @property
    def readable(self) -> bool:     # data, or readable code
        return not self.system and (not self.type & 8 or bool(self.type & 2))

    @property
    def writable_data(self) -> bool:
        return not self.system and not self.type & 8 and bool(self.type & 2)

    # gates
    @property
    def gate_selector(self) -> int:
        return self.lo >> 16

    @property
    def gate_offset(self) -> int:
        return (self.lo & 0xFFFF) | (self.hi & 0xFFFF0000)


# Decoded descriptors by their 8 bytes: an OS loads the same few descriptors over and over (every interrupt and
# system call reloads its data segments), and Descriptor is immutable.
_DESCRIPTORS: dict[int, Descriptor] = {}
_CACHE_FIELDS = {s: (s, s + "_base", s + "_limit", s + "_attr") for s in ("es", "cs", "ss", "ds", "fs", "gs")}


class Segments:
    """Descriptor-table access and segment loads for one CPU (``cpu`` gives state, memory and CPL)."""

    def __init__(self, cpu):
        self.cpu = cpu

    def table_entry(self, sel: int, err_vector: int = GP, ext: int = 0) -> tuple[Descriptor, int]:
        """(descriptor, linear address) of selector ``sel`` in the GDT or LDT; #GP(sel) (or err_vector) if outside."""
        st, mem = self.cpu.state, self.cpu.mem
        if sel & 4:
            base, limit = st["ldt_base"], st["ldt_limit"]
            if not st["ldtr"] & 0xFFFC:
                raise CpuException(err_vector, (sel & 0xFFFC) | ext)
        else:
            base, limit = st["gdt_base"], st["gdt_limit"]
        index = sel & 0xFFF8
        if index + 7 > limit:
            raise CpuException(err_vector, (sel & 0xFFFC) | ext)
        addr = (base + index) & 0xFFFFFFFF
        raw = mem.load_priv(addr, 8)
        d = _DESCRIPTORS.get(raw)
        if d is None:
            if len(_DESCRIPTORS) > 4096:
                _DESCRIPTORS.clear()
            d = _DESCRIPTORS[raw] = Descriptor(raw & 0xFFFFFFFF, raw >> 32)
        return d, addr

    def set_accessed(self, d: Descriptor, addr: int) -> None:
        if not d.system and not d.hi & 0x100:
            self.cpu.mem.store_priv(addr + 4, 4, d.hi | 0x100)

    def set_cache(self, seg: str, sel: int, d: Descriptor | None) -> None:
        st = self.cpu.state
        name, base, limit, attr = _CACHE_FIELDS[seg]
        st[name] = sel
        if d is None:                       # null selector: an unusable segment
            st[base], st[limit], st[attr] = 0, 0, 0
        else:
            st[base], st[limit], st[attr] = d.base, d.limit, d.attr

    def load_data(self, seg: str, sel: int) -> None:
        """MOV/POP/LxS into DS, ES, FS or GS in protected mode."""
        if not sel & 0xFFFC:
            self.set_cache(seg, sel, None)
            return
        d, addr = self.table_entry(sel)
        cpl, rpl = self.cpu.cpl, sel & 3
        if d.system or not d.readable:
            raise CpuException(GP, sel & 0xFFFC)
        if not d.conforming and (rpl > d.dpl or cpl > d.dpl):
            raise CpuException(GP, sel & 0xFFFC)
        if not d.present:
            raise CpuException(NP, sel & 0xFFFC)
        self.set_accessed(d, addr)
        self.set_cache(seg, sel, d)

    def check_stack(self, sel: int, cpl: int, vector: int = GP, ext: int = 0) -> tuple[Descriptor, int]:
        """The checks of a stack-segment load at privilege ``cpl`` (MOV SS: #GP; a stack switch: #TS)."""
        if not sel & 0xFFFC:
            raise CpuException(vector, ext)
        d, addr = self.table_entry(sel, vector, ext)
        if (sel & 3) != cpl or d.dpl != cpl or not d.writable_data:
            raise CpuException(vector, (sel & 0xFFFC) | ext)
        if not d.present:
            raise CpuException(SS_FAULT, (sel & 0xFFFC) | ext)
        return d, addr

    def load_ss(self, sel: int) -> None:
        d, addr = self.check_stack(sel, self.cpu.cpl)
        self.set_accessed(d, addr)
        self.set_cache("ss", sel, d)

    def load(self, seg: str, sel: int) -> None:
        if seg == "ss":
            self.load_ss(sel)
        elif seg == "cs":
            raise CpuException(6)          # MOV CS is #UD
        else:
            self.load_data(seg, sel)

    def null_outer_data(self, cpl: int) -> None:
        """After a return to an outer privilege: data segments the new CPL may not use become null."""
        st = self.cpu.state
        for seg in ("ds", "es", "fs", "gs"):
            attr = st[seg + "_attr"]
            is_conf_code = attr & 0x18 == 0x18 and attr & 4
            dpl = (attr >> 5) & 3
            if (attr & ATTR_S) and not is_conf_code and dpl < cpl:
                self.set_cache(seg, 0, None)
