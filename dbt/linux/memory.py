"""A Linux process's guest memory: the flat 64-bit ``Memory`` with unmapping, remapping and protection changes.

``ProcessMemory`` keeps the software-TLB contract of ``dbt.memory`` unchanged (the JIT's inline path and the slow
path see the same ``pages`` table) and adds what mmap/munmap/mprotect/mremap/brk need:

- ``unmap`` removes any set of pages, including part of an earlier mapping; a host buffer is released when none of
  its pages is mapped any more. The whole TLB is flushed, so no stale tag survives.
- Pages that held translated code call ``on_code_gone(page)`` (the engine's ``invalidate_page``) when they are
  unmapped or lose execute permission, so a later mapping at the same address is translated afresh.
- ``is_mapped`` / ``perms_of`` answer the address-space manager's questions (``dbt.linux.mm``).

Host buffers are anonymous private mappings; only the pages the guest touches take host memory.
"""

from __future__ import annotations

import ctypes
import mmap

from dbt.memory import PAGE, PERM_X, Memory, Region, parse_perms

# A process's data is often tens of MB (a sieve's 20 MB array is 5,000 pages) and every TLB miss is a call into
# Python: 65,536 entries (2 MB of table) keep a 256 MB working set free of conflict misses.
PROCESS_TLB_SIZE = 1 << 16


class ProcessMemory(Memory):
    def __init__(self):
        super().__init__((1 << 64) - 1, tlb_size=PROCESS_TLB_SIZE)
        self.on_code_gone = None               # callback(page): translations made from page must be dropped
        self._live: dict[int, int] = {}        # id(region) -> pages of it still mapped

    def map(self, addr: int, size: int, perms="rwx") -> None:
        if addr % PAGE or size % PAGE or size <= 0:
            raise ValueError(f"map({addr:#x}, {size:#x}): address and size must be page-aligned and size > 0")
        if addr < 0 or addr + size > 1 << 64:
            raise ValueError(f"map({addr:#x}, {size:#x}): outside the guest address space")
        p = parse_perms(perms)
        first, n = addr // PAGE, size // PAGE
        if self.any_mapped(addr, size):
            raise ValueError(f"map({addr:#x}, {size:#x}): overlaps an existing mapping")
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_NORESERVE", 0)
        buf = mmap.mmap(-1, size, flags=flags)
        ref = ctypes.c_char.from_buffer(buf)
        host = ctypes.addressof(ref)
        del ref                                # no exported pointer left: the buffer can be closed on unmap
        r = Region(addr, size, p, buf, host)
        self.regions.append(r)
        self._live[id(r)] = n
        for i in range(n):
            self.pages[first + i] = (r, i * PAGE, p)

    def _mapped_in(self, addr: int, size: int):
        """The mapped page numbers of [addr, addr+size), walking whichever is smaller: the range or the map."""
        lo, hi = addr // PAGE, (addr + size + PAGE - 1) // PAGE
        if hi - lo > len(self.pages):
            return sorted(p for p in self.pages if lo <= p < hi)
        return [p for p in range(lo, hi) if p in self.pages]

    def is_mapped(self, addr: int, size: int) -> bool:
        """True when every page of [addr, addr+size) is mapped."""
        return len(self._mapped_in(addr, size)) == (addr + size + PAGE - 1) // PAGE - addr // PAGE

    def any_mapped(self, addr: int, size: int) -> bool:
        return bool(self._mapped_in(addr, size))

    def perms_of(self, addr: int) -> int | None:
        ent = self.pages.get(addr // PAGE)
        return None if ent is None else ent[2]

    def unmap(self, addr: int, size: int) -> None:
        """Unmaps the mapped pages of [addr, addr+size) (unmapped ones are skipped, as munmap does)."""
        for page in self._mapped_in(addr, size):
            ent = self.pages.pop(page)
            self._code_gone(page)
            r = ent[0]
            self._live[id(r)] -= 1
            if not self._live[id(r)]:
                del self._live[id(r)]
                self.regions.remove(r)
                r.buf.close()
        self.flush_tlb()

    def protect(self, addr: int, size: int, perms) -> None:
        p = parse_perms(perms)
        for page in range(addr // PAGE, (addr + size) // PAGE):
            if not p & PERM_X:
                self._code_gone(page)
        super().protect(addr, size, p)

    def _code_gone(self, page: int) -> None:
        if page in self.code_pages:
            if self.on_code_gone is not None:
                self.on_code_gone(page)
            else:
                self.clear_code(page)
