"""Signals of the process VM: actions, masks, the alternate stack, delivery with the x86-64 Linux frame, and
the signal system calls (rt_sigaction rt_sigprocmask rt_sigpending rt_sigsuspend pause sigaltstack rt_sigreturn
kill tkill tgkill alarm).

Sources of signals: kill/tgkill to the process itself (queued and delivered when the system call returns);
synchronous CPU exceptions turned into signals by ``fault`` (#PF -> SIGSEGV with si_addr and SEGV_MAPERR/ACCERR,
#GP and INT n -> SIGSEGV, #UD -> SIGILL, #DE -> SIGFPE, #BP/INT3 -> SIGTRAP, #AC -> SIGBUS...); and host signals,
forwarded for the signals the guest handles: a Python handler queues them and asks the engine to stop at the next
unit boundary (``request_exit``), where the process loop delivers them. Python runs its handlers only between
bytecodes, never while chained native code loops, so a ``Kicker`` thread also waits on the signal wakeup fd and
empties the budget of the running native code, which then returns to Python at its next unit entry. A write to a
broken pipe raises SIGPIPE.

The frame (``setup_frame``) is the kernel's rt_sigframe: the restorer address (SA_RESTORER, required on x86-64), the
ucontext (uc_flags, uc_link, uc_stack, uc_mcontext with the general registers at the sigcontext offsets, oldmask,
err, trapno, cr2, uc_sigmask) and the siginfo, placed below the 128-byte red zone (or at the top of the alternate
stack with SA_ONSTACK) so that rsp + 8 is 16-byte aligned at the handler. Departure: ``fpstate`` is NULL and the
FPU/SSE/MXCSR state is not written to the guest stack; instead every state slot that is not a general register,
RIP, a flag, a segment or a run-time field is kept on the host side with the frame and put back by rt_sigreturn,
so a handler cannot clobber the interrupted code's vector registers (whatever fields the CPU state has).

Default actions: terminate or core (the process ends "killed by signal N"), ignore (SIGCHLD, SIGURG, SIGWINCH,
SIGCONT); stop signals are ignored (job control is not modelled). A synchronous fault whose signal is blocked or
ignored kills the process, as the kernel's force_sig does.
"""

from __future__ import annotations

import errno
import os
import signal as _host
import struct
import threading
import time
from dataclasses import dataclass

from dbt.linux.guestmem import Efault
from dbt.linux.sys_fs import sdec
from dbt.linux.syscalls import NORETURN, syscall
from dbt.memory import PF_PRESENT

NSIG = 64
SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGKILL = 1, 2, 3, 4, 5, 6, 7, 8, 9
SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM = 10, 11, 12, 13, 14, 15
SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGWINCH = 17, 18, 19, 20, 21, 22, 23, 28
SIG_DFL, SIG_IGN = 0, 1
SA_NOCLDSTOP, SA_SIGINFO, SA_ONSTACK, SA_RESTART = 1, 4, 0x08000000, 0x10000000
SA_NODEFER, SA_RESETHAND, SA_RESTORER = 0x40000000, 0x80000000, 0x04000000
SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2
SS_ONSTACK, SS_DISABLE = 1, 2
MINSIGSTKSZ = 2048
SI_USER, SI_KERNEL, SI_TKILL = 0, 0x80, -6
SEGV_MAPERR, SEGV_ACCERR, ILL_ILLOPN, FPE_INTDIV, TRAP_BRKPT, BUS_ADRALN = 1, 2, 2, 1, 1, 1

DEFAULT_IGNORE = frozenset({SIGCHLD, SIGURG, SIGWINCH, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU})
UNBLOCKABLE = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1))

# The frame: pretcode, then struct ucontext (uc_flags, uc_link, stack_t, sigcontext (256 bytes), sigset), siginfo.
UC_OFF, MCTX_OFF, SIGMASK_OFF, INFO_OFF, FRAME_SIZE = 8, 8 + 40, 8 + 296, 8 + 304, 8 + 304 + 128
UC_FLAGS = 0x2 | 0x4                 # UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS
# sigcontext / glibc gregs order
GREGS = ("r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rdi", "rsi", "rbp", "rbx", "rdx", "rax", "rcx", "rsp")
USER_CS, USER_DS = 0x33, 0x2B
# RFLAGS bits sigreturn may change (the kernel's FIX_EFLAGS): AC OF DF TF SF ZF AF PF CF RF NT
FIX_EFLAGS = 0x40000 | 0x800 | 0x400 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1 | 0x10000 | 0x4000
DF_TF_RF = 0x400 | 0x100 | 0x10000

# CPU exception vector -> (signal, si_code, whether si_addr is the fault address)
FAULT_SIGNALS = {0: (SIGFPE, FPE_INTDIV), 1: (SIGTRAP, 2), 3: (SIGTRAP, SI_KERNEL), 4: (SIGSEGV, SI_KERNEL),
                 5: (SIGSEGV, SI_KERNEL), 6: (SIGILL, ILL_ILLOPN), 7: (SIGILL, ILL_ILLOPN), 10: (SIGSEGV, SI_KERNEL),
                 11: (SIGBUS, SI_KERNEL), 12: (SIGBUS, SI_KERNEL), 13: (SIGSEGV, SI_KERNEL), 16: (SIGFPE, 0),
                 17: (SIGBUS, BUS_ADRALN), 19: (SIGFPE, 0)}


def _extended_slots(layout) -> list[int]:
    """State slots saved with a signal frame on the host side: everything but the registers the sigcontext holds,
    segments, and the engine's run-time fields."""
    from dbt.state import FLAG_FIELDS, GPR64, SEGMENTS
    skip = set(GPR64) | set(FLAG_FIELDS) | set(SEGMENTS) | {s + "_base" for s in SEGMENTS} | {
        "rip", "eflags", "exit_reason", "exc_vector", "exc_error", "fault_addr", "budget", "tsc", "tbflags"}
    skipped = {layout.slot(n) for n in skip if n in layout.types}
    return [i for i in range(layout.nslots) if i not in skipped]


class Kicker:
    """A thread that makes native code return to Python when a host signal arrives (see the module docstring).
    Racing with native code, it keeps emptying the budget until the engine has stopped (``done``)."""

    def __init__(self, engine):
        self.engine = engine
        self.rfd, self.wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        os.set_blocking(self.rfd, True)
        self.old_wakeup = _host.set_wakeup_fd(self.wfd, warn_on_full_buffer=False)
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, name="dbt-signal-kicker", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        eng = self.engine
        slot = eng.state.layout.slot("budget")
        slots = eng.state.slots
        while True:
            try:
                data = os.read(self.rfd, 64)
            except OSError:
                return
            if not data or self.stopping:
                return
            eng.exit_requested = True
            for _ in range(2000):                  # until the engine has seen it (at most ~2 s)
                slots[slot] = 0
                if not eng.exit_requested or self.stopping:
                    break
                time.sleep(0.001)

    def stop(self) -> None:
        self.stopping = True
        try:
            _host.set_wakeup_fd(self.old_wakeup)
        except (ValueError, OSError):
            pass
        os.write(self.wfd, b"\0")
        self.thread.join(1.0)
        os.close(self.rfd)
        os.close(self.wfd)


@dataclass
class Action:
    handler: int = SIG_DFL
    flags: int = 0
    restorer: int = 0
    mask: int = 0


def siginfo(sig: int, code: int, pid: int = 0, uid: int = 0, addr: int | None = None) -> bytes:
    """A 128-byte siginfo_t: signo, errno, code, then the union (si_pid/si_uid for kill, si_addr for faults)."""
    head = struct.pack("<iii4x", sig, 0, code)
    body = struct.pack("<Q", addr) if addr is not None else struct.pack("<iI", pid, uid)
    return (head + body).ljust(128, b"\0")


class Signals:
    def __init__(self, proc):
        self.proc = proc
        self.actions = [Action() for _ in range(NSIG + 1)]
        self.blocked = 0
        self.pending: dict[int, bytes] = {}          # signal -> siginfo (standard signals do not queue)
        self.ss_sp, self.ss_size, self.ss_flags = 0, 0, SS_DISABLE
        self._host_old: dict[int, object] = {}
        self._kicker: Kicker | None = None
        self.forwarding = False              # some host signal is forwarded: waiting calls watch for it
        self._ext_slots = _extended_slots(proc.state.layout)
        self._ext_saved: dict[int, list[int]] = {}     # frame address -> extended state at delivery

    # Queries ----------------------------------------------------------------------------------------------------------
    def _ignored(self, sig: int) -> bool:
        h = self.actions[sig].handler
        return h == SIG_IGN or (h == SIG_DFL and sig in DEFAULT_IGNORE)

    def deliverable(self) -> int:
        """The lowest pending signal that is not blocked (0 if none)."""
        for sig in sorted(self.pending):
            if not self.blocked >> (sig - 1) & 1:
                return sig
        return 0

    def on_altstack(self, sp: int) -> bool:
        return self.ss_size > 0 and self.ss_sp < sp <= self.ss_sp + self.ss_size

    # Posting and delivering -------------------------------------------------------------------------------------------
    def post(self, sig: int, info: bytes) -> None:
        if self._ignored(sig) and sig != SIGKILL:
            return
        self.pending.setdefault(sig, info)

    def deliver_pending(self) -> None:
        """Delivers every deliverable pending signal (each handler frame stacks on the previous one)."""
        while not self.proc.done:
            sig = self.deliverable()
            if not sig:
                return
            info = self.pending.pop(sig)
            self._deliver(sig, info)

    def _deliver(self, sig: int, info: bytes, fault: tuple = (0, 0, 0)) -> None:
        act = self.actions[sig]
        if act.handler == SIG_IGN or (act.handler == SIG_DFL and sig in DEFAULT_IGNORE):
            return
        if act.handler == SIG_DFL or sig in (SIGKILL, SIGSTOP):
            self.proc.kill(sig)
            return
        if not self.setup_frame(sig, info, act, fault):
            self.proc.kill(SIGSEGV)

    def fault(self, vector: int, error: int, pc: int) -> None:
        """The engine's ``deliver``: a guest exception at ``pc`` becomes its signal, delivered at once."""
        st = self.proc.state
        sig, code = FAULT_SIGNALS.get(vector, (SIGSEGV, SI_KERNEL))
        addr = 0
        if vector == 14:
            addr = st["fault_addr"]
            code = SEGV_ACCERR if error & PF_PRESENT else SEGV_MAPERR
        elif vector in (0, 6, 7, 16, 19, 17):
            addr = pc
        st["rip"] = pc
        if vector == 3:
            st["rip"] = pc + 1             # INT3 is a trap: the handler sees the address after it
        trapno = vector
        self.proc.last_fault = (vector, pc)
        if self.blocked >> (sig - 1) & 1 or self._ignored(sig):
            self.proc.kill(sig)            # force_sig: a blocked or ignored synchronous signal kills
            return
        self._deliver(sig, siginfo(sig, code, addr=addr), (trapno, error, addr if vector == 14 else 0))

    def setup_frame(self, sig: int, info: bytes, act: Action, fault: tuple) -> bool:
        proc, st = self.proc, self.proc.state
        if not act.flags & SA_RESTORER:
            return False
        sp = st["rsp"]
        was_on = self.on_altstack(sp)
        if act.flags & SA_ONSTACK and self.ss_size and not self.ss_flags & SS_DISABLE and not was_on:
            sp = self.ss_sp + self.ss_size
        else:
            sp -= 128                                  # the red zone
        frame = ((sp - FRAME_SIZE) & ~15) - 8
        trapno, err, cr2 = fault
        ss_flags = SS_ONSTACK if was_on else (SS_DISABLE if not self.ss_size else 0)
        gregs = [st[r] for r in GREGS] + [st["rip"], st.pack_flags(), USER_CS | (USER_DS << 48), err, trapno,
                                           self.blocked, cr2]
        uc = struct.pack("<QQQi4xQ", UC_FLAGS, 0, self.ss_sp, ss_flags, self.ss_size)
        uc += struct.pack("<23Q", *[g & ((1 << 64) - 1) for g in gregs]) + struct.pack("<Q", 0) + bytes(64)
        uc += struct.pack("<Q", self.blocked)
        data = struct.pack("<Q", act.restorer) + uc + info
        assert len(data) == FRAME_SIZE
        try:
            proc.io.write(frame, data)
        except Efault:
            return False
        self._ext_saved[frame] = [st.slots[i] for i in self._ext_slots]
        st["rdi"], st["rsi"], st["rdx"], st["rax"] = sig, frame + INFO_OFF, frame + UC_OFF, 0
        st["rsp"], st["rip"] = frame, act.handler
        st.unpack_flags(st.pack_flags() & ~DF_TF_RF)
        self.blocked |= act.mask
        if not act.flags & SA_NODEFER:
            self.blocked |= 1 << (sig - 1)
        self.blocked &= ~UNBLOCKABLE
        if act.flags & SA_RESETHAND:
            self.actions[sig] = Action()
        return True

    def sigreturn(self) -> None:
        proc, st = self.proc, self.proc.state
        frame = st["rsp"] - 8
        data = proc.io.read(frame, FRAME_SIZE)
        g = struct.unpack_from("<23Q", data, MCTX_OFF)
        for name, v in zip(GREGS, g):
            st[name] = v
        st["rip"] = g[16]
        st.unpack_flags((st.pack_flags() & ~FIX_EFLAGS) | (g[17] & FIX_EFLAGS))
        self.blocked = struct.unpack_from("<Q", data, SIGMASK_OFF)[0] & ~UNBLOCKABLE
        saved = self._ext_saved.pop(frame, None)
        if saved is not None:
            for i, v in zip(self._ext_slots, saved):
                st.slots[i] = v
        sp, flags, size = struct.unpack_from("<Qi4xQ", data, UC_OFF + 16)
        if not self.on_altstack(st["rsp"]):
            self._set_altstack(sp, flags & ~SS_ONSTACK, size)

    def _set_altstack(self, sp: int, flags: int, size: int) -> int:
        if flags & ~SS_DISABLE:
            return -errno.EINVAL
        if flags & SS_DISABLE:
            self.ss_sp, self.ss_size, self.ss_flags = 0, 0, SS_DISABLE
            return 0
        if size < MINSIGSTKSZ:
            return -errno.ENOMEM
        self.ss_sp, self.ss_size, self.ss_flags = sp, size, 0
        return 0

    # Host signals -------------------------------------------------------------------------------------------------------
    def _host_handler(self, signum, frame) -> None:
        self.post(signum, siginfo(signum, SI_USER))
        self.proc.engine.request_exit()

    def forward_host(self, sig: int) -> None:
        """Mirrors the guest's disposition of ``sig`` on the host: forwarded when handled, else as the host has it."""
        if sig in (SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP) or sig > 31:
            return
        h = self.actions[sig].handler
        try:
            if sig not in self._host_old:
                self._host_old[sig] = _host.getsignal(sig)
            if h == SIG_DFL:
                _host.signal(sig, self._host_old[sig] if sig != SIGPIPE else _host.SIG_IGN)
            elif h == SIG_IGN:
                _host.signal(sig, _host.SIG_IGN)
            else:
                _host.signal(sig, self._host_handler)
                self.forwarding = True
                if self._kicker is None:
                    self._kicker = Kicker(self.proc.engine)
                    self.proc.reserved_fds.update((self._kicker.rfd, self._kicker.wfd))
        except (ValueError, OSError, TypeError):
            pass                         # not the main thread: host signals are not forwarded

    def after_fork(self) -> None:
        """In the child of a guest fork: the kicker thread did not survive the fork; start another."""
        if self._kicker is not None:
            for fd in (self._kicker.rfd, self._kicker.wfd):
                os.close(fd)
                self.proc.reserved_fds.discard(fd)
            self._kicker = Kicker(self.proc.engine)
            self.proc.reserved_fds.update((self._kicker.rfd, self._kicker.wfd))

    def restore_host(self) -> None:
        if self._kicker is not None:
            self.proc.reserved_fds.difference_update((self._kicker.rfd, self._kicker.wfd))
            self._kicker.stop()
            self._kicker = None
        for sig, old in self._host_old.items():
            try:
                _host.signal(sig, old)
            except (ValueError, OSError, TypeError):
                pass
        self._host_old.clear()

    def reset_for_exec(self) -> None:
        for sig in range(1, NSIG + 1):
            a = self.actions[sig]
            if a.handler not in (SIG_DFL, SIG_IGN):
                self.actions[sig] = Action()
                self.forward_host(sig)
            else:
                a.flags, a.restorer, a.mask = 0, 0, 0
        self.ss_sp, self.ss_size, self.ss_flags = 0, 0, SS_DISABLE


def _sigset(proc, addr: int, size: int) -> int:
    if size != 8:
        raise OSError(errno.EINVAL, "sigsetsize")
    return proc.io.u64(addr)


@syscall("rt_sigaction", "dxxu")
def sys_rt_sigaction(proc, sig, act, oldact, size):
    if size != 8 or not 1 <= sig <= NSIG:
        return -errno.EINVAL
    sigs = proc.signals
    old = sigs.actions[sig]
    new = None
    if act:
        if sig in (SIGKILL, SIGSTOP):
            return -errno.EINVAL
        h, flags, restorer, mask = struct.unpack("<QQQQ", proc.io.read(act, 32))
        new = Action(h, flags, restorer, mask & ~UNBLOCKABLE)
    if oldact:
        proc.io.write(oldact, struct.pack("<QQQQ", old.handler, old.flags, old.restorer, old.mask))
    if new is not None:
        sigs.actions[sig] = new
        if sigs._ignored(sig):
            sigs.pending.pop(sig, None)
        sigs.forward_host(sig)
    return 0


@syscall("rt_sigprocmask", "dxxu")
def sys_rt_sigprocmask(proc, how, set_, oldset, size):
    if size != 8:
        return -errno.EINVAL
    sigs = proc.signals
    old = sigs.blocked
    if set_:
        s = proc.io.u64(set_)
        if how == SIG_BLOCK:
            sigs.blocked |= s
        elif how == SIG_UNBLOCK:
            sigs.blocked &= ~s
        elif how == SIG_SETMASK:
            sigs.blocked = s
        else:
            return -errno.EINVAL
        sigs.blocked &= ~UNBLOCKABLE
    if oldset:
        proc.io.put_u64(oldset, old)
    return 0


@syscall("rt_sigpending", "xu")
def sys_rt_sigpending(proc, set_, size):
    if size > 8:
        return -errno.EINVAL
    bits = sum(1 << (s - 1) for s in proc.signals.pending)
    proc.io.write(set_, bits.to_bytes(8, "little")[:size])
    return 0


def _wait_signal(proc) -> int:
    sigs = proc.signals
    while not sigs.deliverable():
        time.sleep(0.02)
    return -errno.EINTR


@syscall("rt_sigsuspend", "xu")
def sys_rt_sigsuspend(proc, mask, size):
    sigs = proc.signals
    new = _sigset(proc, mask, size)
    old = sigs.blocked
    sigs.blocked = new & ~UNBLOCKABLE
    _wait_signal(proc)
    sig = sigs.deliverable()
    sigs._deliver(sig, sigs.pending.pop(sig))    # the handler's frame saves the suspended mask...
    if not proc.done:
        # ...but the mask to restore on sigreturn is the one from before the call
        st = proc.state
        frame = st["rsp"]
        proc.io.put_u64(frame + SIGMASK_OFF, old)
        proc.io.put_u64(frame + MCTX_OFF + 8 * 21, old)
        st_rax = -errno.EINTR & ((1 << 64) - 1)
        proc.io.put_u64(frame + MCTX_OFF + 8 * 13, st_rax)
    else:
        sigs.blocked = old
    return NORETURN


@syscall("pause")
def sys_pause(proc):
    return _wait_signal(proc)


@syscall("sigaltstack", "xx")
def sys_sigaltstack(proc, ss, old):
    sigs = proc.signals
    on = sigs.on_altstack(proc.state["rsp"])
    if old:
        flags = SS_ONSTACK if on else (SS_DISABLE if sigs.ss_flags & SS_DISABLE else 0)
        proc.io.write(old, struct.pack("<Qi4xQ", sigs.ss_sp, flags, sigs.ss_size))
    if ss:
        sp, flags, size = struct.unpack("<Qi4xQ", proc.io.read(ss, 24))
        if on:
            return -errno.EPERM
        return sigs._set_altstack(sp, flags, size)
    return 0


@syscall("rt_sigreturn")
def sys_rt_sigreturn(proc):
    proc.signals.sigreturn()
    return NORETURN


def _kill_self(proc, sig: int, code: int) -> int:
    if sig == 0:
        return 0
    proc.signals.post(sig, siginfo(sig, code, pid=proc.pid, uid=os.getuid()))
    return 0


def _is_self(proc, pid: int) -> bool:
    return pid == proc.pid


@syscall("kill", "dd")
def sys_kill(proc, pid, sig):
    pid = sdec(pid, 32)
    if not 0 <= sig <= NSIG:
        return -errno.EINVAL
    if _is_self(proc, pid):
        return _kill_self(proc, sig, SI_USER)
    os.kill(pid, sig)
    return 0


@syscall("tgkill", "ddd")
def sys_tgkill(proc, tgid, tid, sig):
    if not 0 <= sig <= NSIG:
        return -errno.EINVAL
    if sdec(tid, 32) == proc.pid and sdec(tgid, 32) in (proc.pid, -1):
        return _kill_self(proc, sig, SI_TKILL)
    if sdec(tid, 32) <= 0:
        return -errno.EINVAL
    os.kill(sdec(tid, 32), sig)
    return 0


@syscall("tkill", "dd")
def sys_tkill(proc, tid, sig):
    return sys_tgkill(proc, proc.pid if sdec(tid, 32) == proc.pid else tid, tid, sig)


@syscall("alarm", "u")
def sys_alarm(proc, seconds):
    return _host.alarm(seconds)
