"""Memory-management system calls: mmap munmap mprotect mremap brk madvise (the work is in ``dbt.linux.mm``)."""

from __future__ import annotations

import errno

from dbt.linux.sys_fs import sdec
from dbt.linux.syscalls import syscall


@syscall("mmap", "xuxxdx")
def sys_mmap(proc, addr, length, prot, flags, fd, off):
    return proc.aspace.mmap(addr, length, prot, flags, sdec(fd, 32), off)


@syscall("munmap", "xu")
def sys_munmap(proc, addr, length):
    return proc.aspace.munmap(addr, length)


@syscall("mprotect", "xux")
def sys_mprotect(proc, addr, length, prot):
    return proc.aspace.mprotect(addr, length, prot)


@syscall("mremap", "xuuxx")
def sys_mremap(proc, old, old_size, new_size, flags, new_addr):
    return proc.aspace.mremap(old, old_size, new_size, flags, new_addr)


@syscall("brk", "x")
def sys_brk(proc, addr):
    return proc.aspace.brk(addr)


@syscall("madvise", "xud")
def sys_madvise(proc, addr, length, advice):
    MADV_DONTNEED = 4
    if addr % 4096:
        return -errno.EINVAL
    if advice == MADV_DONTNEED and length:
        # Private anonymous memory reads as zero again afterwards.
        from dbt.linux.mm import page_up
        size = page_up(length)
        if not proc.mem.is_mapped(addr, size):
            return -errno.ENOMEM
        proc.mem.write(addr, bytes(size), need=0)
    return 0


@syscall("msync", "xux")
def sys_msync(proc, addr, length, flags):
    return 0


@syscall("mlock", "xu")
def sys_mlock(proc, addr, length):
    return 0


@syscall("munlock", "xu")
def sys_munlock(proc, addr, length):
    return 0
