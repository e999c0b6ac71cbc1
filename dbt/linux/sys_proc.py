"""Process system calls: identities, arch_prctl, exit, fork/vfork/clone, execve, wait4, process groups.

fork, vfork and a fork-like clone fork the whole host process, VM included (the child continues in the copy, its pid
is the host child's pid); clone for threads (CLONE_VM without CLONE_VFORK) returns -ENOSYS: the process VM runs one
thread. vfork does not suspend the parent (the child has its own copy of memory, so correct vfork users cannot tell).
execve checks the new program (and its interpreter) before committing, then asks the process loop to replace the
image (``proc.pending_exec``); a "#!" script runs its interpreter. exit and exit_group end the process.
"""

from __future__ import annotations

import errno
import os
import struct
import sys

from dbt.linux.abi import pack_rusage
from dbt.linux.sys_fs import sdec
from dbt.linux.syscalls import NORETURN, syscall, wait_until

ARCH_SET_GS, ARCH_SET_FS, ARCH_GET_FS, ARCH_GET_GS = 0x1001, 0x1002, 0x1003, 0x1004
CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND = 0x100, 0x200, 0x400, 0x800
CLONE_VFORK, CLONE_PARENT, CLONE_THREAD, CLONE_SETTLS = 0x4000, 0x8000, 0x10000, 0x80000
CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID = 0x100000, 0x200000, 0x1000000
CSIGNAL = 0xFF


@syscall("getpid")
def sys_getpid(proc):
    return proc.pid


@syscall("gettid")
def sys_gettid(proc):
    return proc.pid


@syscall("getppid")
def sys_getppid(proc):
    return os.getppid()


@syscall("getuid")
def sys_getuid(proc):
    return os.getuid()


@syscall("geteuid")
def sys_geteuid(proc):
    return os.geteuid()


@syscall("getgid")
def sys_getgid(proc):
    return os.getgid()


@syscall("getegid")
def sys_getegid(proc):
    return os.getegid()


@syscall("getresuid", "xxx")
def sys_getresuid(proc, r, e, s):
    for addr, v in zip((r, e, s), os.getresuid()):
        proc.io.put_u32(addr, v)
    return 0


@syscall("getresgid", "xxx")
def sys_getresgid(proc, r, e, s):
    for addr, v in zip((r, e, s), os.getresgid()):
        proc.io.put_u32(addr, v)
    return 0


@syscall("getgroups", "dx")
def sys_getgroups(proc, size, buf):
    groups = os.getgroups()
    size = sdec(size, 32)
    if size == 0:
        return len(groups)
    if size < len(groups):
        return -errno.EINVAL
    proc.io.write(buf, struct.pack(f"<{len(groups)}I", *groups))
    return len(groups)


@syscall("getpgrp")
def sys_getpgrp(proc):
    return os.getpgrp()


@syscall("getpgid", "d")
def sys_getpgid(proc, pid):
    return os.getpgid(sdec(pid, 32))


@syscall("setpgid", "dd")
def sys_setpgid(proc, pid, pgid):
    os.setpgid(sdec(pid, 32), sdec(pgid, 32))
    return 0


@syscall("getsid", "d")
def sys_getsid(proc, pid):
    return os.getsid(sdec(pid, 32))


@syscall("setsid")
def sys_setsid(proc):
    return os.setsid()


@syscall("arch_prctl", "xx")
def sys_arch_prctl(proc, code, addr):
    st = proc.state
    if code in (ARCH_SET_FS, ARCH_SET_GS):
        if addr >= 1 << 47:
            return -errno.EPERM
        st["fs_base" if code == ARCH_SET_FS else "gs_base"] = addr
        return 0
    if code in (ARCH_GET_FS, ARCH_GET_GS):
        proc.io.put_u64(addr, st["fs_base" if code == ARCH_GET_FS else "gs_base"])
        return 0
    return -errno.EINVAL


@syscall("set_tid_address", "x")
def sys_set_tid_address(proc, tidptr):
    proc.clear_child_tid = tidptr
    return proc.pid


# Exit -----------------------------------------------------------------------------------------------------------------
@syscall("exit", "d")
def sys_exit(proc, status):
    proc.finish(status & 0xFF)
    return NORETURN


@syscall("exit_group", "d")
def sys_exit_group(proc, status):
    proc.finish(status & 0xFF)
    return NORETURN


# Fork -----------------------------------------------------------------------------------------------------------------
def _fork(proc) -> int:
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (OSError, ValueError):
            pass
    pid = os.fork()
    if pid == 0:
        proc.became_child()
    return pid


@syscall("fork")
def sys_fork(proc):
    return _fork(proc)


@syscall("vfork")
def sys_vfork(proc):
    return _fork(proc)


@syscall("clone", "xxxxx")
def sys_clone(proc, flags, newsp, parent_tid, child_tid, tls):
    if flags & CLONE_VM and not flags & CLONE_VFORK or flags & CLONE_THREAD:
        if "clone-threads" not in proc.warned:
            proc.warned.add("clone-threads")
            sys.stderr.write("dbt: clone() of a thread is not supported (one guest thread only)\n")
        return -errno.ENOSYS
    pid = _fork(proc)
    if pid:
        if flags & CLONE_PARENT_SETTID:
            proc.io.put_u32(parent_tid, pid)
        return pid
    st = proc.state
    if newsp:
        st["rsp"] = newsp
    if flags & CLONE_SETTLS:
        st["fs_base"] = tls
    if flags & CLONE_CHILD_SETTID:
        proc.io.put_u32(child_tid, proc.pid)
    if flags & CLONE_PARENT_SETTID:
        proc.io.put_u32(parent_tid, proc.pid)
    if flags & CLONE_CHILD_CLEARTID:
        proc.clear_child_tid = child_tid
    return 0


@syscall("wait4", "dxxx")
def sys_wait4(proc, pid, status, options, rusage):
    WNOHANG = 1
    pid, options = sdec(pid, 32), options & 0xFFFFFFFF
    if options & WNOHANG or not proc.signals.forwarding:
        got, st, ru = os.wait4(pid, options)
    else:                                       # watch for guest signals while the child runs
        def reaped():
            r = os.wait4(pid, options | WNOHANG)
            return r if r[0] else None
        got, st, ru = wait_until(proc, reaped)
    if got and status:
        proc.io.put_u32(status, st)
    if got and rusage:
        proc.io.write(rusage, pack_rusage(ru))
    return got


# Exec -----------------------------------------------------------------------------------------------------------------
@syscall("execve", "sxx")
def sys_execve(proc, path, argv, envp):
    return _execve(proc, proc.io.cstr(path, 4096), argv, envp)


@syscall("execveat", "dsxxx")
def sys_execveat(proc, dirfd, path, argv, envp, flags):
    p = proc.io.cstr(path, 4096)
    if not p.startswith(b"/") and sdec(dirfd, 32) != -100:
        return -errno.ENOSYS
    return _execve(proc, p, argv, envp)


def _execve(proc, path: bytes, argv_addr: int, envp_addr: int):
    io = proc.io
    argv = [io.cstr(a) for a in io.ptr_array(argv_addr)] if argv_addr else []
    envp = [io.cstr(a) for a in io.ptr_array(envp_addr)] if envp_addr else []
    if path in (b"/proc/self/exe", f"/proc/{proc.pid}/exe".encode()):
        path = os.fsencode(proc.exe)         # the guest program (busybox re-runs itself so), not the host's python
    r = proc.prepare_exec(os.fsdecode(path), argv, envp)
    if r < 0:
        return r
    return NORETURN


@syscall("waitid", "ddxxx")
def sys_waitid(proc, idtype, id_, infop, options, rusage):
    """siginfo for a child: signo SIGCHLD, code (CLD_*), then pid, uid, status at offsets 16, 20, 24."""
    r = os.waitid(idtype, sdec(id_, 32), options & 0xFFFFFFFF)
    if infop:
        info = bytes(128) if r is None else \
            struct.pack("<iii4xiIi", r.si_signo, 0, r.si_code, r.si_pid, r.si_uid, r.si_status).ljust(128, b"\0")
        proc.io.write(infop, info)
    if rusage:
        import resource
        proc.io.write(rusage, pack_rusage(resource.getrusage(resource.RUSAGE_CHILDREN)))
    return 0


@syscall("prctl", "dxxxx")
def sys_prctl(proc, option, a2, a3, a4, a5):
    PR_SET_PDEATHSIG, PR_GET_PDEATHSIG, PR_GET_DUMPABLE, PR_SET_NAME, PR_GET_NAME = 1, 2, 3, 15, 16
    if option == PR_SET_NAME:
        proc.comm = proc.io.cstr(a2, 16)[:15]
        return 0
    if option == PR_GET_NAME:
        name = getattr(proc, "comm", None) or os.path.basename(os.fsencode(proc.exe))[:15]
        proc.io.write(a2, name.ljust(16, b"\0"))
        return 0
    if option == PR_SET_PDEATHSIG:
        return 0
    if option == PR_GET_PDEATHSIG:
        proc.io.put_u32(a2, 0)
        return 0
    if option == PR_GET_DUMPABLE:
        return 1
    return -errno.EINVAL
