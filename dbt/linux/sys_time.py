"""Time system calls: clock_gettime clock_getres gettimeofday time nanosleep clock_nanosleep times.

Clocks are the host's (``time.clock_gettime`` with the guest's clock id). A sleep interrupted by a signal for the
guest returns -EINTR with the remaining time, as the kernel does.
"""

from __future__ import annotations

import errno
import os
import struct
import time

from dbt.linux.abi import pack_timespec, unpack_timespec
from dbt.linux.sys_fs import sdec
from dbt.linux.syscalls import syscall

TIMER_ABSTIME = 1


@syscall("clock_gettime", "dx")
def sys_clock_gettime(proc, clk, tp):
    ns = time.clock_gettime_ns(sdec(clk, 32))
    proc.io.write(tp, pack_timespec(ns // 10**9, ns % 10**9))
    return 0


@syscall("clock_getres", "dx")
def sys_clock_getres(proc, clk, tp):
    r = time.clock_getres(sdec(clk, 32))
    if tp:
        proc.io.write(tp, pack_timespec(int(r), round((r - int(r)) * 1e9)))
    return 0


@syscall("gettimeofday", "xx")
def sys_gettimeofday(proc, tv, tz):
    ns = time.time_ns()
    if tv:
        proc.io.write(tv, struct.pack("<qq", ns // 10**9, ns % 10**9 // 1000))
    if tz:
        proc.io.write(tz, bytes(8))
    return 0


@syscall("time", "x")
def sys_time(proc, tloc):
    t = int(time.time())
    if tloc:
        proc.io.put_u64(tloc, t)
    return t


def _sleep(proc, clk: int, deadline_ns: int, rem: int) -> int:
    while True:
        left = deadline_ns - time.clock_gettime_ns(clk)
        if left <= 0:
            return 0
        if proc.signals.deliverable():
            if rem:
                proc.io.write(rem, pack_timespec(left // 10**9, left % 10**9))
            return -errno.EINTR
        time.sleep(min(left / 1e9, 0.05))


def _req(proc, req) -> int:
    s, n = unpack_timespec(proc.io.read(req, 16))
    if s < 0 or not 0 <= n < 10**9:
        raise OSError(errno.EINVAL, "bad timespec")
    return s * 10**9 + n


@syscall("nanosleep", "xx")
def sys_nanosleep(proc, req, rem):
    ns = _req(proc, req)
    return _sleep(proc, time.CLOCK_MONOTONIC, time.clock_gettime_ns(time.CLOCK_MONOTONIC) + ns, rem)


@syscall("clock_nanosleep", "dxxx")
def sys_clock_nanosleep(proc, clk, flags, req, rem):
    clk = sdec(clk, 32)
    ns = _req(proc, req)
    deadline = ns if flags & TIMER_ABSTIME else time.clock_gettime_ns(clk) + ns
    r = _sleep(proc, clk, deadline, 0 if flags & TIMER_ABSTIME else rem)
    return r


@syscall("times", "x")
def sys_times(proc, buf):
    t = os.times()
    hz = 100
    if buf:
        proc.io.write(buf, struct.pack("<4q", int(t.user * hz), int(t.system * hz), int(t.children_user * hz),
                                       int(t.children_system * hz)))
    return int(t.elapsed * hz) & ((1 << 63) - 1)


@syscall("setitimer", "dxx")
def sys_setitimer(proc, which, new, old):
    """Timers are the host's: ITIMER_REAL raises SIGALRM in the VM process (forwarded when the guest handles it)."""
    import signal
    if which not in (0, 1, 2):
        return -errno.EINVAL
    kinds = (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF)
    iv = struct.unpack("<qqqq", proc.io.read(new, 32)) if new else (0, 0, 0, 0)
    prev = signal.setitimer(kinds[which], iv[2] + iv[3] / 1e6, iv[0] + iv[1] / 1e6) if new else \
        signal.getitimer(kinds[which])
    if old:
        value, interval = prev
        proc.io.write(old, struct.pack("<qqqq", int(interval), int(interval % 1 * 1e6), int(value),
                                       int(value % 1 * 1e6)))
    return 0


@syscall("getitimer", "dx")
def sys_getitimer(proc, which, cur):
    return sys_setitimer(proc, which, 0, cur)
