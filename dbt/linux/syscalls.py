"""The system-call dispatcher: x86-64 numbers to handlers, errors as -errno, the --strace log.

Handlers are registered by name with ``@syscall(name, fmt)`` in the per-area modules (``sys_fs``, ``sys_mem``,
``sys_proc``, ``sys_time``, ``sys_misc``, ``signals``) and take ``(proc, a0, ..., a5)`` (as many arguments as they
use). They return the result, or raise: ``OSError`` becomes -errno, ``Efault`` (a bad guest pointer) -EFAULT. A call that
fails with EPIPE also raises SIGPIPE, as the kernel does for writes to a broken pipe (the VM itself ignores SIGPIPE). A number
with no handler returns -ENOSYS and prints ``dbt: unsupported syscall N (name)`` once on stderr.

``fmt`` gives the strace rendering of each argument, one letter each: ``d`` signed decimal, ``u`` unsigned, ``x``
hex (pointers, flags), ``o`` octal (modes), ``s`` a guest C string (paths). The log lines follow qemu-user's -strace
shape: ``PID name(args) = result`` or ``= -1 errno=N (message)``.
"""

from __future__ import annotations

import errno
import os
import sys

from dbt.linux.guestmem import Efault
from dbt.linux.nr import NAMES, NUMBERS

HANDLERS: dict[int, tuple] = {}         # nr -> (fn, fmt, nargs)
# Calls that wait in ``wait_fd``/``wait_until`` end with -EINTR when a signal for the guest arrives meanwhile; those
# in RESTARTABLE run again instead when the handler has SA_RESTART (the kernel's -ERESTARTSYS).
RESTARTABLE = frozenset(["read", "readv", "write", "writev", "wait4", "sendfile"])
WAIT_SLICE = 0.02           # seconds between checks for a guest signal while a call waits


class Interrupted(Exception):
    """A waiting system call saw a signal for the guest (see ``wait_fd``)."""


def _signal_pending(proc) -> bool:
    return bool(proc.signals.deliverable())


def wait_fd(proc, fd: int, events: int) -> None:
    """Waits until a blocking ``fd`` is ready for ``events`` (select.POLLIN/POLLOUT) before the host call that would
    block on it, watching for guest signals (Interrupted). Only while host signals are forwarded to the guest: a
    plain blocking call is as good otherwise. Non-blocking descriptors return at once (the call gives EAGAIN)."""
    import select
    if not proc.signals.forwarding or fd < 0:
        return
    try:
        if not os.get_blocking(fd):
            return
    except OSError:
        return                                      # EBADF and the like: the call itself reports it
    p = select.poll()
    p.register(fd, events)
    while not p.poll(int(WAIT_SLICE * 1000)):
        if _signal_pending(proc):
            raise Interrupted()


def wait_until(proc, attempt, timeout: float | None = None):
    """Calls ``attempt()`` (non-blocking: None when it would block) until it gives a result, ``timeout`` seconds pass
    (returns None) or a guest signal arrives (Interrupted)."""
    import time
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        r = attempt()
        if r is not None:
            return r
        if _signal_pending(proc):
            raise Interrupted()
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(WAIT_SLICE if deadline is None else max(0.0, min(WAIT_SLICE, deadline - time.monotonic())))
MODULES = ("sys_fs", "sys_mem", "sys_proc", "sys_time", "sys_misc", "signals")
NORETURN = object()                     # a handler's result when the registers are already final (rt_sigreturn)
RESTART = object()                      # interrupted by a signal whose handler has SA_RESTART: run the call again


def syscall(name: str, fmt: str = ""):
    def deco(fn):
        import inspect
        nargs = len(inspect.signature(fn).parameters) - 1
        HANDLERS[NUMBERS[name]] = (fn, fmt.ljust(nargs, "x"), nargs)
        return fn
    return deco


def _load() -> None:
    from importlib import import_module
    for m in MODULES:
        import_module(f"dbt.linux.{m}")


def _arg(proc, kind: str, v: int) -> str:
    if kind == "d":
        return str(v - (1 << 64) if v >> 63 else v)
    if kind == "u":
        return str(v)
    if kind == "o":
        return f"0{v:o}"
    if kind == "s":
        try:
            return '"' + proc.io.cstr(v, 256).decode("utf-8", "backslashreplace") + '"'
        except Efault:
            return f"{v:#x}"
    return f"{v:#x}"


def _result(r: int) -> str:
    if -4096 < r < 0:
        return f"-1 errno={-r} ({os.strerror(-r)})"
    return f"{r:#x}" if r > 0xFFFF else str(r)


class Dispatcher:
    def __init__(self, proc, strace: bool = False, log=None):
        _load()
        self.proc = proc
        self.strace = strace
        self.log = log or (lambda s: sys.stderr.write(s))
        self.unsupported_seen: set[int] = set()

    def __call__(self, nr: int, args: tuple) -> object:
        ent = HANDLERS.get(nr)
        proc = self.proc
        name = NAMES.get(nr, "?")
        if ent is None:
            if nr not in self.unsupported_seen:
                self.unsupported_seen.add(nr)
                sys.stderr.write(f"dbt: unsupported syscall {nr} ({name})\n")
                sys.stderr.flush()
            r = -errno.ENOSYS
            if self.strace:
                self.log(f"{proc.pid} {name}({','.join(hex(a) for a in args)}) = {_result(r)}\n")
            return r
        fn, fmt, nargs = ent
        if self.strace:
            text = ",".join(_arg(proc, k, a) for k, a in zip(fmt, args[:nargs]))
            self.log(f"{proc.pid} {name}({text})")
        try:
            r = fn(proc, *args[:nargs])
        except Interrupted:
            r = -errno.EINTR
            sig = proc.signals.deliverable()
            if sig and name in RESTARTABLE and proc.signals.actions[sig].flags & 0x10000000:   # SA_RESTART
                r = RESTART
        except OSError as e:
            r = -(e.errno or errno.EIO)
        except Efault:
            r = -errno.EFAULT
        if r is not NORETURN and r is not RESTART and r == -errno.EPIPE:
            from dbt.linux.signals import SI_USER, SIGPIPE, siginfo
            proc.signals.post(SIGPIPE, siginfo(SIGPIPE, SI_USER, pid=proc.pid, uid=os.getuid()))
        if self.strace:
            self.log(" = " + (_result(r) if r is not NORETURN and r is not RESTART else
                              "?" if r is NORETURN else "? (restarted)") + "\n")
        return r
