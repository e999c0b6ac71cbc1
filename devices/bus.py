"""The bus devices sit on: an I/O port space, an MMIO address space and IRQ lines.

A device is any object with ``read(offset, size) -> int`` and ``write(offset, size, value)``; the bus hands it
``offset = address - base + mapping offset`` (the mapping offset lets one device own sparse ranges, e.g. the i8042 at
0x60 and 0x64). Ranges are registered with ``add_ports``/``add_mmio`` and may not overlap: a clash is a ``ValueError``
naming both devices.

Access rules (the ISA/PCI facts they follow, and where they simplify):

- Port accesses are 1, 2 or 4 bytes, MMIO accesses 1, 2, 4 or 8 bytes, little-endian.
- Every mapping has a ``width``: the widest access its device accepts (ports default to 1, the 8-bit ISA device; MMIO
  defaults to 8). A wider access is split into ``width``-sized little-endian pieces, lowest address first, as the ISA
  bus splits a 16-bit cycle to an 8-bit device into two 8-bit cycles.
- An access that one mapping does not fully cover is split at mapping boundaries; each part goes to its owner as one
  access (a 3-byte part as 2 + 1), so ``outl`` to a 2-byte device passes the low 16 bits to it in one write.
- Unassigned bytes read all ones (0xFF per byte: an undriven ISA bus floats high) and ignore writes.
- Port numbers past 0xFFFF in a multi-byte access are unassigned (no wrap-around to port 0).

``IrqLine`` is a named wire with a level. A source drives it (``raise_``, ``lower``, ``set``, ``pulse``); receivers
``connect`` a callback that sees every level change. Edge-triggered ISA sources use ``pulse()``: the rising edge is what
an edge-triggered 8259 input latches.

Optional statistics (``Bus(stats=True)``) count reads and writes per device name for a ``--stats`` report.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

UNASSIGNED = "(unassigned)"


class IrqLine:
    """One interrupt request wire. ``level`` is True while the source asserts it."""

    __slots__ = ("_receivers", "level", "name")

    def __init__(self, name: str, level: bool = False):
        self.name = name
        self.level = bool(level)
        self._receivers: list[Callable[[bool], None]] = []

    def connect(self, receiver: Callable[[bool], None]) -> None:
        """Call ``receiver(level)`` on every level change of this line (several receivers may listen)."""
        self._receivers.append(receiver)

    def set(self, level) -> None:
        level = bool(level)
        if level != self.level:
            self.level = level
            for receiver in self._receivers:
                receiver(level)

    def raise_(self) -> None:
        self.set(True)

    def lower(self) -> None:
        self.set(False)

    def pulse(self) -> None:
        """A rising then a falling edge (an edge-triggered request); leaves the line low."""
        self.set(False)
        self.set(True)
        self.set(False)

    def restore(self, level) -> None:
        """Set the level without telling receivers (``set_state``: each side restores its own view of the wire)."""
        self.level = bool(level)

    def __repr__(self) -> str:
        return f"IrqLine({self.name!r}, level={int(self.level)})"


@dataclass(frozen=True)
class Mapping:
    """One registered range: ``[base, base + size)`` of a space, owned by ``device``."""

    base: int
    size: int
    device: Any
    name: str
    offset: int = 0
    width: int = 1

    @property
    def end(self) -> int:
        return self.base + self.size


def _pieces(n: int):
    """Split a run of n bytes into power-of-two sizes, largest first (3 -> 2, 1)."""
    while n:
        c = 1 << (n.bit_length() - 1)
        yield c
        n -= c


class _Space:
    """An address space of non-overlapping mappings; ``find(addr)`` -> Mapping | None."""

    def __init__(self, kind: str, limit: int):
        self.kind = kind
        self.limit = limit
        self._bases: list[int] = []
        self._maps: list[Mapping] = []

    def add(self, m: Mapping) -> None:
        if m.size <= 0 or m.base < 0 or m.end > self.limit:
            raise ValueError(f"{self.kind} range {m.base:#x}+{m.size:#x} for {m.name!r} is outside the space")
        if m.width not in (1, 2, 4, 8):
            raise ValueError(f"access width {m.width} for {m.name!r} is not 1, 2, 4 or 8")
        i = bisect.bisect_left(self._bases, m.base)
        for other in self._maps[max(i - 1, 0):i + 1]:
            if other.base < m.end and m.base < other.end:
                raise ValueError(f"{self.kind} range {m.base:#x}-{m.end - 1:#x} for {m.name!r} overlaps {other.name!r} "
                                 f"at {other.base:#x}-{other.end - 1:#x}")
        self._bases.insert(i, m.base)
        self._maps.insert(i, m)

    def find(self, addr: int) -> Mapping | None:
        i = bisect.bisect_right(self._bases, addr) - 1
        if i >= 0:
            m = self._maps[i]
            if addr < m.end:
                return m
        return None

    def mappings(self) -> list[Mapping]:
        return list(self._maps)


class Bus:
    """Port and MMIO address decoding for a set of devices. One bus per VM; no shared state between buses."""

    def __init__(self, stats: bool = False):
        self._io = _Space("port", 0x10000)
        self._mmio = _Space("MMIO", 1 << 64)
        self._port_map: dict[int, Mapping] = {}     # port -> mapping: the hot lookup is one dict get
        self._stats: dict[str, list[int]] | None = {} if stats else None

    # -- registration --------------------------------------------------------------------------------------------

    def add_ports(self, base: int, count: int, device, name: str, *, offset: int = 0, width: int = 1) -> Mapping:
        """Map ports ``base .. base + count - 1`` to ``device`` (which sees ``port - base + offset``)."""
        m = Mapping(base, count, device, name, offset, width)
        self._io.add(m)
        for p in range(base, base + count):
            self._port_map[p] = m
        return m

    def add_mmio(self, base: int, size: int, device, name: str, *, offset: int = 0, width: int = 8) -> Mapping:
        """Map physical addresses ``[base, base + size)`` to ``device`` (which sees ``addr - base + offset``)."""
        m = Mapping(base, size, device, name, offset, width)
        self._mmio.add(m)
        return m

    def port_mapping(self, port: int) -> Mapping | None:
        return self._port_map.get(port)

    def mmio_mapping(self, addr: int) -> Mapping | None:
        """The MMIO mapping covering ``addr`` (base, size, device, name), or None."""
        return self._mmio.find(addr)

    def mmio_window(self, addr: int):
        """The device covering ``addr``, or None (RAM or nothing)."""
        m = self._mmio.find(addr)
        return None if m is None else m.device

    def port_mappings(self) -> list[Mapping]:
        return self._io.mappings()

    def mmio_mappings(self) -> list[Mapping]:
        return self._mmio.mappings()

    # -- accesses -----------------------------------------------------------------------------------------------

    def io_read(self, port: int, size: int) -> int:
        if size not in (1, 2, 4):
            raise ValueError(f"port access size {size} (must be 1, 2 or 4)")
        m = self._port_map.get(port)
        if m is not None and port + size <= m.end:
            return self._read(m, port, size)
        return self._split_read(self._port_map.get, port, size)

    def io_write(self, port: int, size: int, value: int) -> None:
        if size not in (1, 2, 4):
            raise ValueError(f"port access size {size} (must be 1, 2 or 4)")
        value &= (1 << (8 * size)) - 1
        m = self._port_map.get(port)
        if m is not None and port + size <= m.end:
            self._write(m, port, size, value)
        else:
            self._split_write(self._port_map.get, port, size, value)

    def mmio_read(self, addr: int, size: int) -> int:
        if size not in (1, 2, 4, 8):
            raise ValueError(f"MMIO access size {size} (must be 1, 2, 4 or 8)")
        m = self._mmio.find(addr)
        if m is not None and addr + size <= m.end:
            return self._read(m, addr, size)
        return self._split_read(self._mmio.find, addr, size)

    def mmio_write(self, addr: int, size: int, value: int) -> None:
        if size not in (1, 2, 4, 8):
            raise ValueError(f"MMIO access size {size} (must be 1, 2, 4 or 8)")
        value &= (1 << (8 * size)) - 1
        m = self._mmio.find(addr)
        if m is not None and addr + size <= m.end:
            self._write(m, addr, size, value)
        else:
            self._split_write(self._mmio.find, addr, size, value)

    def _read(self, m: Mapping, addr: int, size: int) -> int:
        """An access fully inside ``m``: one device read, or ``width``-sized pieces."""
        if self._stats is not None:
            self._count(m.name, 0)
        off = addr - m.base + m.offset
        if size <= m.width:
            return m.device.read(off, size) & ((1 << (8 * size)) - 1)
        w, wmask, value = m.width, (1 << (8 * m.width)) - 1, 0
        for i in range(0, size, w):
            value |= (m.device.read(off + i, w) & wmask) << (8 * i)
        return value

    def _write(self, m: Mapping, addr: int, size: int, value: int) -> None:
        if self._stats is not None:
            self._count(m.name, 1)
        off = addr - m.base + m.offset
        if size <= m.width:
            m.device.write(off, size, value)
            return
        w, wmask = m.width, (1 << (8 * m.width)) - 1
        for i in range(0, size, w):
            m.device.write(off + i, w, (value >> (8 * i)) & wmask)

    def _runs(self, find, addr: int, size: int):
        """(mapping or None, address, byte index, length) pieces of a partly covered access."""
        i = 0
        while i < size:
            a = addr + i
            m = find(a)
            if m is None:
                yield None, a, i, 1
                i += 1
                continue
            for c in _pieces(min(size - i, m.end - a)):
                yield m, a, i, c
                a += c
                i += c

    def _split_read(self, find, addr: int, size: int) -> int:
        value = 0
        for m, a, i, n in self._runs(find, addr, size):
            if m is None:
                if self._stats is not None:
                    self._count(UNASSIGNED, 0)
                value |= 0xFF << (8 * i)
            else:
                value |= self._read(m, a, n) << (8 * i)
        return value

    def _split_write(self, find, addr: int, size: int, value: int) -> None:
        for m, a, i, n in self._runs(find, addr, size):
            if m is None:
                if self._stats is not None:
                    self._count(UNASSIGNED, 1)
            else:
                self._write(m, a, n, (value >> (8 * i)) & ((1 << (8 * n)) - 1))

    # -- statistics ---------------------------------------------------------------------------------------------

    def _count(self, name: str, kind: int) -> None:
        entry = self._stats.get(name)
        if entry is None:
            entry = self._stats[name] = [0, 0]
        entry[kind] += 1

    def stats(self) -> dict:
        """``{device name: {"reads": n, "writes": n}}``; empty when the bus was built without ``stats=True``."""
        if self._stats is None:
            return {}
        return {name: {"reads": r, "writes": w} for name, (r, w) in sorted(self._stats.items())}
