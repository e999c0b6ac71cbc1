"""x86-64 Linux structures as the kernel lays them out, packed with ``struct`` from host values.

Each packer takes the host object Python returns (``os.stat_result``, ``os.uname_result``...) or plain numbers and
returns the exact bytes the guest expects: struct stat (144 bytes), struct statx (256), timespec/timeval (16),
rusage (144), utsname (6 x 65), sysinfo (112), rlimit (16), tms (32), pollfd (8), linux_dirent64 (variable).
"""

from __future__ import annotations

import os
import stat as _stat
import struct

STAT = struct.Struct("<QQQIIIIQqqqqQqQqQ24x")     # dev ino nlink mode uid gid pad rdev size blksize blocks a m c
assert STAT.size == 144
STATX_BASIC_STATS = 0x7FF
STATX_BTIME = 0x800


def _ns(t_ns: int) -> tuple[int, int]:
    return t_ns // 1_000_000_000, t_ns % 1_000_000_000


def pack_stat(st: os.stat_result) -> bytes:
    a, m, c = _ns(st.st_atime_ns), _ns(st.st_mtime_ns), _ns(st.st_ctime_ns)
    return STAT.pack(st.st_dev, st.st_ino, st.st_nlink, st.st_mode, st.st_uid, st.st_gid, 0, st.st_rdev,
                     st.st_size, st.st_blksize, st.st_blocks, a[0], a[1], m[0], m[1], c[0], c[1])


def pack_statx(st: os.stat_result, mask: int) -> bytes:
    """struct statx: mask, blksize, attributes, nlink, uid, gid, mode, ino, size, blocks, attributes_mask,
    atime btime ctime mtime (statx_timestamp: s64 sec, u32 nsec, pad), rdev/dev major and minor."""
    def ts(ns):
        s, n = _ns(ns)
        return struct.pack("<qI4x", s, n)
    birth = getattr(st, "st_birthtime_ns", None)
    got = STATX_BASIC_STATS | (STATX_BTIME if birth is not None else 0)
    head = struct.pack("<IIQIIIH2xQQQQ", got, st.st_blksize, 0, st.st_nlink, st.st_uid, st.st_gid,
                       st.st_mode & 0xFFFF, st.st_ino, st.st_size, st.st_blocks, 0)
    times = ts(st.st_atime_ns) + ts(birth or 0) + ts(st.st_ctime_ns) + ts(st.st_mtime_ns)
    devs = struct.pack("<IIII", os.major(st.st_rdev), os.minor(st.st_rdev), os.major(st.st_dev),
                       os.minor(st.st_dev))
    out = head + times + devs
    return out + bytes(256 - len(out))


def pack_timespec(sec: int, nsec: int) -> bytes:
    return struct.pack("<qq", sec, nsec)


def unpack_timespec(data: bytes) -> tuple[int, int]:
    return struct.unpack("<qq", data)


def pack_utsname(u) -> bytes:
    fields = (u.sysname, u.nodename, u.release, u.version, "x86_64", "(none)")
    return b"".join(f.encode()[:64].ljust(65, b"\0") for f in fields)


def pack_rusage(ru) -> bytes:
    """struct rusage: two timevals then 14 longs (the first is maxrss)."""
    def tv(t):
        return struct.pack("<qq", int(t), round((t - int(t)) * 1e6))
    longs = (ru.ru_maxrss, ru.ru_ixrss, ru.ru_idrss, ru.ru_isrss, ru.ru_minflt, ru.ru_majflt, ru.ru_nswap,
             ru.ru_inblock, ru.ru_oublock, ru.ru_msgsnd, ru.ru_msgrcv, ru.ru_nsignals, ru.ru_nvcsw, ru.ru_nivcsw)
    return tv(ru.ru_utime) + tv(ru.ru_stime) + struct.pack("<14q", *longs)


def pack_dirent64(ino: int, off: int, dtype: int, name: bytes) -> bytes:
    """struct linux_dirent64: ino, off, reclen, type, name NUL-terminated, padded to 8 bytes."""
    reclen = (19 + len(name) + 1 + 7) & ~7
    return struct.pack("<QqHB", ino, off, reclen, dtype) + name + bytes(reclen - 19 - len(name))


def dtype_of(mode: int) -> int:
    """DT_* of a file mode."""
    return {_stat.S_IFIFO: 1, _stat.S_IFCHR: 2, _stat.S_IFDIR: 4, _stat.S_IFBLK: 6, _stat.S_IFREG: 8,
            _stat.S_IFLNK: 10, _stat.S_IFSOCK: 12}.get(_stat.S_IFMT(mode), 0)
