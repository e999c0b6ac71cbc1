"""Guest memory: mapped regions backed by host mmaps, a software TLB, and code-page tracking for self-modifying code.

The guest's RAM lives in anonymous host mmaps, one per ``map`` call, so JIT code can reach it by a host address.
Every guest access goes through a translation from guest page to (host buffer, permissions):

- ``tlb`` is the QEMU-style software TLB that JIT code reads inline: ``tlb_size`` entries (a power of two,
  ``TLB_SIZE`` by default) of four u64 words (read tag, write tag, exec tag, host addend), indexed by
  ``page & (tlb_size - 1)``. A tag is the guest page address when the access is allowed directly, or
  ``INVALID_TAG``; the host address is ``guest address + addend``. A write tag is left invalid for pages that hold
  translated code, so writes to them take the slow path, which invalidates the stale translations.
- The Python side (interpreter, API) uses the same page table through ``load``/``store``.

A guest address that is not mapped, or not mapped with the needed permission, raises ``MemoryFault``: it never
reaches host memory outside the guest's buffers.
"""

from __future__ import annotations

import ctypes
import mmap
from dataclasses import dataclass

PAGE = 4096
PAGE_MASK = ~(PAGE - 1)
TLB_SIZE = 1024
INVALID_TAG = (1 << 64) - 1
TLB_READ, TLB_WRITE, TLB_EXEC, TLB_ADDEND = range(4)
PERM_R, PERM_W, PERM_X = 1, 2, 4

# Error-code bits of a page fault (SDM Vol. 3 4.7), used for unmapped and protection faults alike.
PF_PRESENT, PF_WRITE, PF_USER, PF_FETCH = 1, 2, 4, 16


class MemoryFault(Exception):
    """A guest access that the memory map refuses. ``vector``/``error`` describe the guest exception."""

    restart = False

    def __init__(self, address: int, write: bool = False, fetch: bool = False, present: bool = False,
                 vector: int = 14):
        self.address = address
        self.vector = vector
        self.error = (PF_PRESENT if present else 0) | (PF_WRITE if write else 0) | (PF_FETCH if fetch else 0)
        kind = "fetch" if fetch else "write" if write else "read"
        super().__init__(f"guest {kind} at {address:#x}: {'protection' if present else 'unmapped'}")

    def with_error(self, error: int) -> MemoryFault:
        """Sets the #PF error code (the system MMU computes it from the page walk)."""
        self.error = error
        return self


class CodeWrite(Exception):
    """A store would modify bytes that translated code was made from: the engine must invalidate and re-run."""

    restart = True

    def __init__(self, page: int):
        self.page = page


class CpuException(Exception):
    """A guest exception raised by a helper (a descriptor check, a privileged operation): the instruction that
    called the helper faults with ``vector`` and ``error`` and leaves the state as it was before it."""

    restart = False

    def __init__(self, vector: int, error: int = 0, message: str = ""):
        self.vector = vector
        self.error = error
        self.address = 0
        super().__init__(message or f"guest exception {vector} (error code {error:#x})")


# The exceptions helpers and memory accesses may raise for the guest (backends turn them into TRAP or RESTART exits).
GUEST_FAULTS = (MemoryFault, CodeWrite, CpuException)


@dataclass
class Region:
    start: int
    size: int
    perms: int
    buf: mmap.mmap
    host: int           # host address of buf


def parse_perms(perms) -> int:
    if isinstance(perms, int):
        return perms & 7
    bits = {"r": PERM_R, "w": PERM_W, "x": PERM_X}
    try:
        return sum(bits[c] for c in set(perms))
    except KeyError:
        raise ValueError(f"bad permissions {perms!r}: use a combination of 'r', 'w', 'x'") from None


class Memory:
    def __init__(self, addr_mask: int = (1 << 64) - 1, tlb_size: int = TLB_SIZE):
        if tlb_size <= 0 or tlb_size & (tlb_size - 1):
            raise ValueError(f"TLB size {tlb_size} must be a power of two")
        self.addr_mask = addr_mask
        self.tlb_size = tlb_size
        self.regions: list[Region] = []
        self.pages: dict[int, tuple[Region, int, int]] = {}   # page number -> (region, offset, perms)
        self.tlb = (ctypes.c_uint64 * (tlb_size * 4))()
        self.tlb_address = ctypes.addressof(self.tlb)
        self.code_pages: dict[int, bytearray] = {}            # page number -> per-byte "is code" map
        self.on_code_write = None                              # engine callback(page) -> None
        self.on_tlb_switch = None                              # backend callback(tlb address): see SystemMemory
        self.flush_tlb()

    # Mapping ------------------------------------------------------------------------------------------------------
    def map(self, addr: int, size: int, perms="rwx") -> None:
        if addr % PAGE or size % PAGE or size <= 0:
            raise ValueError(f"mem_map({addr:#x}, {size:#x}): address and size must be page-aligned and size > 0")
        if addr < 0 or addr + size - 1 > self.addr_mask:
            raise ValueError(f"mem_map({addr:#x}, {size:#x}): outside the guest address space")
        p = parse_perms(perms)
        first, n = addr // PAGE, size // PAGE
        if any((first + i) in self.pages for i in range(n)):
            raise ValueError(f"mem_map({addr:#x}, {size:#x}): overlaps an existing mapping")
        buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        host = ctypes.addressof(ctypes.c_char.from_buffer(buf))
        r = Region(addr, size, p, buf, host)
        self.regions.append(r)
        for i in range(n):
            self.pages[first + i] = (r, i * PAGE, p)

    def protect(self, addr: int, size: int, perms) -> None:
        if addr % PAGE or size % PAGE:
            raise ValueError("mem_protect: address and size must be page-aligned")
        p = parse_perms(perms)
        for page in range(addr // PAGE, (addr + size) // PAGE):
            if page not in self.pages:
                raise ValueError(f"mem_protect: page {page * PAGE:#x} is not mapped")
            r, off, _ = self.pages[page]
            self.pages[page] = (r, off, p)
        self.flush_tlb()

    def flush_tlb(self) -> None:
        ctypes.memset(self.tlb, 0xFF, ctypes.sizeof(self.tlb))

    # Software TLB fill (called by the JIT's slow path and by ``translate``) ----------------------------------------
    def fill_tlb(self, page: int) -> None:
        ent = self.pages.get(page)
        if ent is None:
            return
        r, off, perms = ent
        i = (page & (self.tlb_size - 1)) * 4
        tag = page * PAGE
        t = self.tlb
        t[i + TLB_READ] = tag if perms & PERM_R else INVALID_TAG
        t[i + TLB_WRITE] = tag if perms & PERM_W and page not in self.code_pages else INVALID_TAG
        t[i + TLB_EXEC] = tag if perms & PERM_X else INVALID_TAG
        t[i + TLB_ADDEND] = (r.host + off - tag) & ((1 << 64) - 1)

    def _drop_tlb(self, page: int) -> None:
        i = (page & (self.tlb_size - 1)) * 4
        if self.tlb[i + TLB_READ] == page * PAGE or self.tlb[i + TLB_EXEC] == page * PAGE:
            for k in range(3):
                self.tlb[i + k] = INVALID_TAG

    # Code tracking ------------------------------------------------------------------------------------------------
    def mark_code(self, linear: int, length: int) -> None:
        """Records that bytes [linear, linear+length) were translated, so writes to them are caught."""
        a = linear
        end = linear + length
        while a < end:
            page = a // PAGE
            m = self.code_pages.get(page)
            if m is None:
                m = self.code_pages[page] = bytearray(PAGE)
                self._drop_tlb(page)
            stop = min(end, (page + 1) * PAGE)
            m[a - page * PAGE:stop - page * PAGE] = b"\1" * (stop - a)
            a = stop

    def fetch_error(self, fault: MemoryFault) -> int:
        """The #PF error code of a refused instruction fetch (flat user modes: I/D set, as with NX)."""
        return PF_FETCH

    def code_page(self, page: int) -> int:
        """The page number under which code tracking records linear ``page`` (the system MMU: its frame)."""
        return page

    def clear_code(self, page: int) -> None:
        self.code_pages.pop(page, None)
        self._drop_tlb(page)

    # Access -------------------------------------------------------------------------------------------------------
    def _page(self, addr: int, need: int, write=False, fetch=False):
        ent = self.pages.get(addr // PAGE)
        if ent is None:
            raise MemoryFault(addr, write=write, fetch=fetch)
        if need and not ent[2] & need:
            raise MemoryFault(addr, write=write, fetch=fetch, present=True)
        return ent

    def load(self, addr: int, size: int) -> int:
        return int.from_bytes(self.read(addr, size), "little")

    def read(self, addr: int, size: int, need: int = PERM_R, fetch: bool = False) -> bytes:
        addr &= self.addr_mask
        off = addr % PAGE
        if off + size <= PAGE:
            r, base, _ = self._page(addr, need, fetch=fetch)
            return r.buf[base + off:base + off + size]
        out = bytearray()
        while size:
            n = min(size, PAGE - addr % PAGE)
            out += self.read(addr, n, need, fetch)
            addr = (addr + n) & self.addr_mask
            size -= n
        return bytes(out)

    def fetch(self, addr: int, size: int) -> bytes:
        """Up to ``size`` executable bytes at addr (fewer where executable memory ends); faults on the first."""
        first = PAGE - addr % PAGE
        data = self.read(addr, min(size, first), PERM_X, fetch=True)
        if size > first:
            try:
                data += self.read(addr + first, size - first, PERM_X, fetch=True)
            except MemoryFault:
                pass
        return data

    def store(self, addr: int, size: int, value: int) -> None:
        self.write(addr, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))

    def write(self, addr: int, data: bytes, check_code: bool = True, need: int = PERM_W) -> None:
        addr &= self.addr_mask
        size = len(data)
        off = addr % PAGE
        if off + size > PAGE:
            # Check every page first, so a faulting access writes nothing.
            a = addr
            while a < addr + size:
                self._page(a & self.addr_mask, need, write=True)
                a = (a // PAGE + 1) * PAGE
            pos = 0
            while pos < size:
                n = min(size - pos, PAGE - (addr + pos) % PAGE)
                self.write((addr + pos) & self.addr_mask, data[pos:pos + n], check_code, need)
                pos += n
            return
        r, base, _ = self._page(addr, need, write=True)
        page = addr // PAGE
        if check_code and page in self.code_pages:
            m = self.code_pages[page]
            if any(m[off:off + size]):
                self.on_code_write(page)
        r.buf[base + off:base + off + size] = data

    def host_address(self, addr: int, size: int) -> int | None:
        """Host address of guest [addr, addr+size) if it lies in one mapped page, else None."""
        ent = self.pages.get(addr // PAGE)
        if ent is None or addr % PAGE + size > PAGE:
            return None
        return ent[0].host + ent[1] + addr % PAGE
