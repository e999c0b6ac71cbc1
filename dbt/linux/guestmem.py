"""Copying system-call arguments in and out of guest memory.

Every pointer a guest passes to a system call is read or written only through ``Memory.read``/``write`` with the
permission the access needs, so a wild pointer ends as ``Efault`` (the call returns -EFAULT), never as a host access
outside the guest's pages. Writes go through the code-tracking path: a read(2) into a page of translated code drops
the stale translations like a guest store would.
"""

from __future__ import annotations

import struct

from dbt.memory import PAGE, PERM_R, PERM_W, MemoryFault


class Efault(Exception):
    """A system-call argument points at guest memory that is not mapped with the needed permission."""


class GuestIO:
    def __init__(self, mem):
        self.mem = mem

    def read(self, addr: int, n: int) -> bytes:
        if n <= 0:
            return b""
        if addr + n > 1 << 64:
            raise Efault(addr)
        try:
            return self.mem.read(addr, n, need=PERM_R)
        except MemoryFault:
            raise Efault(addr) from None

    def write(self, addr: int, data: bytes) -> None:
        if not data:
            return
        if addr + len(data) > 1 << 64:
            raise Efault(addr)
        try:
            self.mem.write(addr, bytes(data), need=PERM_W)
        except MemoryFault:
            raise Efault(addr) from None

    def check_write(self, addr: int, n: int) -> None:
        """Raises Efault unless the first page of [addr, addr+n) is writable: checked before a call consumes its
        input (the rest faults when the data is copied, as the kernel's copy_to_user would)."""
        if n <= 0:
            return
        n = min(n, PAGE - addr % PAGE)
        if addr + n > 1 << 64:
            raise Efault(addr)
        pages = self.mem.pages
        for page in range(addr // PAGE, (addr + n - 1) // PAGE + 1):
            ent = pages.get(page)
            if ent is None or not ent[2] & PERM_W:
                raise Efault(page * PAGE)

    def cstr(self, addr: int, limit: int = 1 << 16) -> bytes:
        """The NUL-terminated string at ``addr`` (read page by page, so it may end just before unmapped memory)."""
        out = bytearray()
        while len(out) < limit:
            chunk = self.read(addr, PAGE - addr % PAGE)
            i = chunk.find(b"\0")
            if i >= 0:
                return bytes(out + chunk[:i])
            out += chunk
            addr += len(chunk)
        raise Efault(addr)

    def u32(self, addr: int) -> int:
        return struct.unpack("<I", self.read(addr, 4))[0]

    def u64(self, addr: int) -> int:
        return struct.unpack("<Q", self.read(addr, 8))[0]

    def put_u32(self, addr: int, v: int) -> None:
        self.write(addr, struct.pack("<I", v & 0xFFFFFFFF))

    def put_u64(self, addr: int, v: int) -> None:
        self.write(addr, struct.pack("<Q", v & (1 << 64) - 1))

    def ptr_array(self, addr: int, limit: int = 1 << 16) -> list[int]:
        """A NULL-terminated array of pointers (argv, envp)."""
        out = []
        while True:
            p = self.u64(addr + 8 * len(out))
            if not p:
                return out
            out.append(p)
            if len(out) > limit:
                raise Efault(addr)

    def iovec(self, addr: int, count: int) -> list[tuple[int, int]]:
        data = self.read(addr, 16 * count)
        return [struct.unpack_from("<QQ", data, 16 * i) for i in range(count)]
