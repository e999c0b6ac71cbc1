"""The process's address-space manager: brk, mmap, munmap, mprotect, mremap over ``ProcessMemory``.

Layout (no randomisation, like Linux with ASLR off): a non-PIE program sits at its link address, a PIE at
``PIE_BASE``; the heap (brk) starts at the page after the highest loaded segment; ``mmap`` without a hint places
mappings top-down below ``MMAP_TOP`` (the dynamic loader is loaded there too); the stack ends at ``STACK_TOP``.

Results follow the kernel's: a negative errno for a refused request (EINVAL for a bad alignment or length, ENOMEM
when pages are missing or no room is left), the mapping's address otherwise. File mappings are copies of the file's
bytes (MAP_PRIVATE semantics); MAP_SHARED is treated the same (departure: writes are not seen by the file or by
other processes).
"""

from __future__ import annotations

import errno
import os

from dbt.memory import PAGE, PERM_R, PERM_W, PERM_X

PIE_BASE = 0x555555554000
MMAP_TOP = 0x7FFFF7FFF000
STACK_TOP = 0x7FFFFFFFF000
STACK_SIZE = 8 << 20
USER_TOP = 1 << 47
MAX_MAPPING = 16 << 30          # one mapping at most (each page is an entry of the page table: no huge reservations)

PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x1, 0x2, 0x10, 0x20
MAP_GROWSDOWN, MAP_DENYWRITE, MAP_NORESERVE, MAP_POPULATE, MAP_STACK = 0x100, 0x800, 0x4000, 0x8000, 0x20000
MAP_FIXED_NOREPLACE = 0x100000
MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP = 1, 2, 4


def prot_perms(prot: int) -> int:
    """PROT_* bits -> memory permission bits (x86: PROT_WRITE and PROT_EXEC imply readable)."""
    p = 0
    if prot & (PROT_READ | PROT_WRITE | PROT_EXEC):
        p |= PERM_R
    if prot & PROT_WRITE:
        p |= PERM_W
    if prot & PROT_EXEC:
        p |= PERM_X
    return p


def page_up(n: int) -> int:
    return (n + PAGE - 1) & ~(PAGE - 1)


class AddressSpace:
    def __init__(self, mem):
        self.mem = mem
        self.brk_start = self.brk_cur = 0
        self.mmap_top = MMAP_TOP

    # Placement ------------------------------------------------------------------------------------------------------
    def find_free(self, size: int, top: int | None = None) -> int | None:
        """The highest free page-aligned range of ``size`` bytes below ``top`` (top-down, as Linux places mmaps)."""
        addr = (top or self.mmap_top) - size
        pages = self.mem.pages
        while addr >= 0x10000:
            clash = None
            for p in range(addr // PAGE + size // PAGE - 1, addr // PAGE - 1, -1):
                if p in pages:
                    clash = p
                    break
            if clash is None:
                return addr
            addr = clash * PAGE - size
        return None

    def map_fixed(self, addr: int, size: int, perms: int) -> None:
        """Maps [addr, addr+size) zero-filled, replacing whatever was there (MAP_FIXED)."""
        self.mem.unmap(addr, size)
        self.mem.map(addr, size, perms)

    # System calls ---------------------------------------------------------------------------------------------------
    def mmap(self, addr: int, length: int, prot: int, flags: int, fd: int, offset: int) -> int:
        if length == 0 or offset % PAGE:
            return -errno.EINVAL
        if not flags & (MAP_SHARED | MAP_PRIVATE):
            return -errno.EINVAL
        size = page_up(length)
        if size > MAX_MAPPING:
            return -errno.ENOMEM
        data = b""
        if not flags & MAP_ANONYMOUS:
            try:
                st = os.fstat(fd)
                data = os.pread(fd, length, offset) if st.st_size > offset else b""
            except OSError as e:
                return -e.errno
        if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE):
            if addr % PAGE or addr + size > USER_TOP:
                return -errno.EINVAL
            if flags & MAP_FIXED_NOREPLACE and self.mem.any_mapped(addr, size):
                return -errno.EEXIST
        else:
            hint = addr & ~(PAGE - 1)
            if hint and hint + size <= USER_TOP and not self.mem.any_mapped(hint, size) and hint >= 0x10000:
                addr = hint
            else:
                addr = self.find_free(size)
                if addr is None:
                    return -errno.ENOMEM
        self.map_fixed(addr, size, prot_perms(prot))
        if data:
            self.mem.write(addr, data, check_code=False, need=0)
        return addr

    def munmap(self, addr: int, length: int) -> int:
        if addr % PAGE or length == 0 or addr + length > USER_TOP:
            return -errno.EINVAL
        self.mem.unmap(addr, page_up(length))
        return 0

    def mprotect(self, addr: int, length: int, prot: int) -> int:
        if addr % PAGE:
            return -errno.EINVAL
        size = page_up(length)
        if not size:
            return 0
        if not self.mem.is_mapped(addr, size):
            return -errno.ENOMEM
        self.mem.protect(addr, size, prot_perms(prot))
        return 0

    def mremap(self, old: int, old_size: int, new_size: int, flags: int, new_addr: int) -> int:
        if old % PAGE or not new_size or flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP):
            return -errno.EINVAL
        if flags & MREMAP_FIXED and not flags & MREMAP_MAYMOVE:
            return -errno.EINVAL
        old_size, new_size = page_up(old_size), page_up(new_size)
        if new_size > MAX_MAPPING:
            return -errno.ENOMEM
        mem = self.mem
        if not old_size or not mem.is_mapped(old, old_size):
            return -errno.EFAULT
        perms = mem.perms_of(old)
        if not flags & MREMAP_FIXED:
            if new_size <= old_size:
                mem.unmap(old + new_size, old_size - new_size)
                return old
            if not mem.any_mapped(old + old_size, new_size - old_size):
                mem.map(old + old_size, new_size - old_size, perms)
                return old
            if not flags & MREMAP_MAYMOVE:
                return -errno.ENOMEM
            target = self.find_free(new_size)
            if target is None:
                return -errno.ENOMEM
        else:
            target = new_addr
            if target % PAGE:
                return -errno.EINVAL
        keep = min(old_size, new_size)
        data = mem.read(old, keep, need=0)
        if not flags & MREMAP_DONTUNMAP:
            mem.unmap(old, old_size)
        self.map_fixed(target, new_size, perms)
        mem.write(target, data, check_code=False, need=0)
        return target

    def brk(self, addr: int) -> int:
        """Linux's brk: moves the break when it can and always returns the (possibly unchanged) break."""
        if addr < self.brk_start:
            return self.brk_cur
        old_top, new_top = page_up(self.brk_cur), page_up(addr)
        if new_top - old_top > MAX_MAPPING:
            return self.brk_cur
        if new_top > old_top:
            if self.mem.any_mapped(old_top, new_top - old_top):
                return self.brk_cur
            self.mem.map(old_top, new_top - old_top, PERM_R | PERM_W)
        elif new_top < old_top:
            self.mem.unmap(new_top, old_top - new_top)
        self.brk_cur = addr
        return addr
