"""System information, limits, randomness, futexes and polling: uname sysinfo getrlimit prlimit64 getrusage
getrandom futex poll ppoll select pselect6 sched_getaffinity sched_yield, and the calls a single-threaded
process may make that need no work (set_robust_list, rseq -> ENOSYS as some kernels answer, glibc copes).

futex: the guest is single-threaded, so FUTEX_WAIT on a value that matches could only be woken by a signal handler:
it returns -EAGAIN when the value differs, and otherwise waits only with a timeout (-ETIMEDOUT), else -EDEADLK
rather than hanging forever. FUTEX_WAKE wakes nobody (returns 0).
"""

from __future__ import annotations

import errno
import os
import resource
import select
import struct
import time

from dbt.linux.abi import pack_rusage, pack_utsname
from dbt.linux.sys_fs import sdec
from dbt.linux.syscalls import Interrupted, syscall

RLIM_INFINITY = (1 << 64) - 1
FUTEX_WAIT, FUTEX_WAKE, FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = 0, 1, 9, 10
FUTEX_CMD_MASK = ~(128 | 256)


@syscall("uname", "x")
def sys_uname(proc, buf):
    proc.io.write(buf, pack_utsname(os.uname()))
    return 0


@syscall("sysinfo", "x")
def sys_sysinfo(proc, buf):
    """struct sysinfo: uptime, loads[3], totalram, freeram, sharedram, bufferram, totalswap, freeswap, procs (u16),
    pad, totalhigh, freehigh, mem_unit (u32), padding to 112 bytes."""
    up = time.clock_gettime(time.CLOCK_BOOTTIME)
    loads = [int(x * 65536) for x in os.getloadavg()]
    pages, free = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_AVPHYS_PAGES")
    page = os.sysconf("SC_PAGE_SIZE")
    data = struct.pack("<q3Q6QH6xQQI", int(up), *loads, pages * page, free * page, 0, 0, 0, 0, 1, 0, 0, 1)
    proc.io.write(buf, data.ljust(112, b"\0"))
    return 0


def _rlim(v: int) -> int:
    return RLIM_INFINITY if v == resource.RLIM_INFINITY else v


@syscall("getrlimit", "dx")
def sys_getrlimit(proc, res, buf):
    soft, hard = resource.getrlimit(res)
    proc.io.write(buf, struct.pack("<QQ", _rlim(soft), _rlim(hard)))
    return 0


@syscall("setrlimit", "dx")
def sys_setrlimit(proc, res, buf):
    soft, hard = struct.unpack("<QQ", proc.io.read(buf, 16))
    inf = resource.RLIM_INFINITY
    resource.setrlimit(res, (inf if soft == RLIM_INFINITY else soft, inf if hard == RLIM_INFINITY else hard))
    return 0


@syscall("prlimit64", "ddxx")
def sys_prlimit64(proc, pid, res, new, old):
    if pid and pid != proc.pid:
        return -errno.EPERM
    if old:
        sys_getrlimit(proc, res, old)
    # RLIMIT_STACK / RLIMIT_AS / RLIMIT_DATA changes would only affect the host VM: accepted and ignored.
    if new and res not in (resource.RLIMIT_STACK, resource.RLIMIT_AS, resource.RLIMIT_DATA):
        sys_setrlimit(proc, res, new)
    return 0


@syscall("getrusage", "dx")
def sys_getrusage(proc, who, buf):
    who = sdec(who, 32)
    w = {0: resource.RUSAGE_SELF, -1: resource.RUSAGE_CHILDREN, 1: resource.RUSAGE_SELF}.get(who)
    if w is None:
        return -errno.EINVAL
    proc.io.write(buf, pack_rusage(resource.getrusage(w)))
    return 0


@syscall("getrandom", "xux")
def sys_getrandom(proc, buf, n, flags):
    n = min(n, 1 << 25)
    proc.io.write(buf, os.urandom(n))
    return n


@syscall("sched_getaffinity", "dux")
def sys_sched_getaffinity(proc, pid, size, mask):
    cpus = os.sched_getaffinity(0)
    nbytes = max(8, (max(cpus) // 64 + 1) * 8)
    if size < nbytes or size % 8:
        return -errno.EINVAL
    bits = sum(1 << c for c in cpus)
    proc.io.write(mask, bits.to_bytes(nbytes, "little"))
    return nbytes


@syscall("sched_yield")
def sys_sched_yield(proc):
    return 0


@syscall("set_robust_list", "xu")
def sys_set_robust_list(proc, head, length):
    return 0 if length == 24 else -errno.EINVAL


@syscall("rseq", "xuxx")
def sys_rseq(proc, rseq, length, flags, sig):
    return -errno.ENOSYS


@syscall("futex", "xdxxxx")
def sys_futex(proc, uaddr, op, val, timeout, uaddr2, val3):
    cmd = op & FUTEX_CMD_MASK
    if cmd in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
        proc.io.u32(uaddr)
        return 0
    if cmd in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
        if proc.io.u32(uaddr) != val & 0xFFFFFFFF:
            return -errno.EAGAIN
        if timeout:
            s, ns = struct.unpack("<qq", proc.io.read(timeout, 16))
            if cmd == FUTEX_WAIT:
                time.sleep(min(s + ns / 1e9, 1.0))
            return -errno.ETIMEDOUT
        return -errno.EDEADLK            # nothing else could ever wake a single-threaded waiter
    return -errno.ENOSYS


# Polling --------------------------------------------------------------------------------------------------------------
def _waiting(proc, wait, timeout_s: float | None):
    """``wait(t)`` waits up to t seconds (None: forever) and returns a result or None on timeout. While host signals
    are forwarded to the guest, waits in slices and raises Interrupted when one arrives (the call returns -EINTR)."""
    from dbt.linux.syscalls import WAIT_SLICE
    if not proc.signals.forwarding or timeout_s == 0:
        return wait(timeout_s)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        step = WAIT_SLICE if deadline is None else max(0.0, min(WAIT_SLICE, deadline - time.monotonic()))
        r = wait(step)
        if r is not None:
            return r
        if proc.signals.deliverable():
            raise Interrupted()
        if deadline is not None and time.monotonic() >= deadline:
            return None

def _poll(proc, fds: int, nfds: int, timeout_ms: float | None) -> int:
    if nfds > 4096:
        return -errno.EINVAL
    raw = proc.io.read(fds, 8 * nfds)
    entries = [struct.unpack_from("<ihh", raw, 8 * i) for i in range(nfds)]
    p = select.poll()
    for fd, events, _ in entries:
        if fd >= 0:
            p.register(fd, events & 0xFFFF)
    res = dict(_waiting(proc, lambda t: p.poll(None if t is None else t * 1000) or None,
                        None if timeout_ms is None else timeout_ms / 1000) or ())
    out = bytearray()
    n = 0
    for fd, events, _ in entries:
        rev = res.get(fd, 0) if fd >= 0 else 0
        n += bool(rev)
        out += struct.pack("<ihh", fd, events, rev - (1 << 16) if rev >= 1 << 15 else rev)
    proc.io.write(fds, bytes(out))
    return n


@syscall("poll", "xud")
def sys_poll(proc, fds, nfds, timeout):
    t = sdec(timeout, 32)
    return _poll(proc, fds, nfds, None if t < 0 else t)


@syscall("ppoll", "xuxxu")
def sys_ppoll(proc, fds, nfds, tsp, sigmask, size):
    t = None
    if tsp:
        s, ns = struct.unpack("<qq", proc.io.read(tsp, 16))
        t = s * 1000 + ns / 1e6
    return _poll(proc, fds, nfds, t)


def _fdset(proc, addr: int, n: int) -> list[int]:
    if not addr:
        return []
    bits = int.from_bytes(proc.io.read(addr, (n + 63) // 64 * 8), "little")
    return [i for i in range(n) if bits >> i & 1]


def _put_fdset(proc, addr: int, n: int, fds) -> None:
    if addr:
        proc.io.write(addr, sum(1 << f for f in fds).to_bytes((n + 63) // 64 * 8, "little"))


def _select(proc, n, rd, wr, ex, timeout_s):
    if sdec(n, 32) < 0 or n > 1024:
        return -errno.EINVAL
    r, w, x = _fdset(proc, rd, n), _fdset(proc, wr, n), _fdset(proc, ex, n)
    def ready(t):
        s = select.select(r, w, x, t)
        return s if any(s) else None
    rr, ww, xx = _waiting(proc, ready, timeout_s) or ([], [], [])
    _put_fdset(proc, rd, n, rr)
    _put_fdset(proc, wr, n, ww)
    _put_fdset(proc, ex, n, xx)
    return len(rr) + len(ww) + len(xx)


@syscall("select", "dxxxx")
def sys_select(proc, n, rd, wr, ex, tv):
    t = None
    if tv:
        s, us = struct.unpack("<qq", proc.io.read(tv, 16))
        t = s + us / 1e6
    return _select(proc, n, rd, wr, ex, t)


@syscall("pselect6", "dxxxxx")
def sys_pselect6(proc, n, rd, wr, ex, tsp, sig):
    t = None
    if tsp:
        s, ns = struct.unpack("<qq", proc.io.read(tsp, 16))
        t = s + ns / 1e9
    return _select(proc, n, rd, wr, ex, t)


@syscall("socket", "ddd")
def sys_socket(proc, domain, type_, protocol):
    return -errno.ENOSYS


@syscall("sched_setaffinity", "dux")
def sys_sched_setaffinity(proc, pid, size, mask):
    proc.io.read(mask, size)
    return 0


@syscall("sched_getscheduler", "d")
def sys_sched_getscheduler(proc, pid):
    return 0                                   # SCHED_OTHER


@syscall("sched_getparam", "dx")
def sys_sched_getparam(proc, pid, param):
    proc.io.put_u32(param, 0)
    return 0


@syscall("getpriority", "dd")
def sys_getpriority(proc, which, who):
    return 20 - os.getpriority(which, who)     # the raw system call returns 20 - nice


@syscall("setpriority", "ddd")
def sys_setpriority(proc, which, who, prio):
    os.setpriority(which, who, sdec(prio, 32))
    return 0
