"""File-system and file-descriptor system calls, done with the host's own calls (``os``, ``fcntl``).

Guest file descriptors are host file descriptors (0, 1, 2 are the host's), and paths are resolved against the host's
current directory, as qemu-user does. FD_CLOEXEC is kept on the host descriptor and mirrored in ``proc.cloexec``
(the guest's execve closes those; Python's own descriptors are never touched). Terminal ioctls copy the exact
kernel structure sizes (termios 36 bytes, winsize 8, int 4); other ioctl requests return -ENOTTY.
getdents64 asks the host kernel directly (the same x86-64 linux_dirent64 layout, so d_off stays valid for lseek).
/proc/self/maps (also /proc/PID/maps of the guest's own pid) is the guest's memory map, written into a memfd;
/proc/self/exe opens the guest program; descriptors the VM itself needs (``proc.reserved_fds``) cannot be closed.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import select
import struct

from dbt.linux.abi import pack_stat, pack_statx
from dbt.linux.syscalls import syscall, wait_fd

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_EMPTY_PATH = 0x100, 0x200, 0x400, 0x1000
AT_EACCESS = 0x200
O_CLOEXEC = 0o2000000
F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_GETLK, F_SETLK, F_SETLKW = range(8)
F_DUPFD_CLOEXEC = 1030
FLOCK_SIZE = 32
MAX_IO = 1 << 24            # bytes moved by one read/write call at most (the kernel also returns short counts)


def sdec(v: int, bits: int = 64) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _dirfd(fd: int) -> int | None:
    fd = sdec(fd, 32)
    return None if fd == AT_FDCWD else fd


def _path(proc, addr: int) -> bytes:
    p = proc.io.cstr(addr, 4096)
    if not p:
        raise OSError(errno.ENOENT, "empty path")
    return p


def newfd(proc, fd: int, cloexec: bool) -> int:
    os.set_inheritable(fd, not cloexec)
    if cloexec:
        proc.cloexec.add(fd)
    else:
        proc.cloexec.discard(fd)
    return fd


# Reading and writing ------------------------------------------------------------------------------------------------
@syscall("read", "dxu")
def sys_read(proc, fd, buf, count):
    n = min(count, MAX_IO)
    proc.io.check_write(buf, n)                 # fault before consuming input
    wait_fd(proc, sdec(fd, 32), select.POLLIN)
    data = os.read(sdec(fd, 32), n)
    proc.io.write(buf, data)
    return len(data)


@syscall("write", "dxu")
def sys_write(proc, fd, buf, count):
    data = proc.io.read(buf, min(count, MAX_IO))
    wait_fd(proc, sdec(fd, 32), select.POLLOUT)
    return os.write(sdec(fd, 32), data)


@syscall("pread64", "dxud")
def sys_pread64(proc, fd, buf, count, off):
    n = min(count, MAX_IO)
    proc.io.check_write(buf, n)
    data = os.pread(sdec(fd, 32), n, sdec(off))
    proc.io.write(buf, data)
    return len(data)


@syscall("pwrite64", "dxud")
def sys_pwrite64(proc, fd, buf, count, off):
    return os.pwrite(sdec(fd, 32), proc.io.read(buf, min(count, MAX_IO)), sdec(off))


@syscall("readv", "dxd")
def sys_readv(proc, fd, iov, cnt):
    total = 0
    for base, n in proc.io.iovec(iov, cnt):
        if not n:
            continue
        proc.io.check_write(base, min(n, MAX_IO))
        if not total:
            wait_fd(proc, sdec(fd, 32), select.POLLIN)
        data = os.read(sdec(fd, 32), min(n, MAX_IO))
        proc.io.write(base, data)
        total += len(data)
        if len(data) < n:
            break
    return total


@syscall("writev", "dxd")
def sys_writev(proc, fd, iov, cnt):
    if cnt > 1024:
        return -errno.EINVAL
    data = b"".join(proc.io.read(base, n) for base, n in proc.io.iovec(iov, cnt))
    wait_fd(proc, sdec(fd, 32), select.POLLOUT)
    return os.write(sdec(fd, 32), data)


@syscall("lseek", "ddd")
def sys_lseek(proc, fd, off, whence):
    return os.lseek(sdec(fd, 32), sdec(off), whence)


@syscall("sendfile", "ddxu")
def sys_sendfile(proc, out_fd, in_fd, offp, count):
    if offp:
        off = proc.io.u64(offp)
        n = os.sendfile(sdec(out_fd, 32), sdec(in_fd, 32), off, count)
        proc.io.put_u64(offp, off + n)
        return n
    return os.sendfile(sdec(out_fd, 32), sdec(in_fd, 32), None, count)


# Opening and closing ------------------------------------------------------------------------------------------------
def _maps(proc) -> bytes:
    """The guest's /proc/self/maps: runs of pages with the same permissions and backing buffer."""
    from dbt.linux.mm import STACK_SIZE, STACK_TOP
    from dbt.memory import PAGE, PERM_R, PERM_W, PERM_X
    lines, run = [], None
    aspace = proc.aspace

    def name(start):
        if STACK_TOP - STACK_SIZE <= start < STACK_TOP:
            return "[stack]"
        if aspace.brk_start <= start < max(aspace.brk_cur, aspace.brk_start + 1):
            return "[heap]"
        return ""
    for page in sorted(proc.mem.pages):
        region, _, perms = proc.mem.pages[page]
        key = (id(region), perms, name(page * PAGE))
        if run and run[1] == page and run[2] == key:
            run[1] = page + 1
            continue
        if run:
            lines.append(run)
        run = [page, page + 1, key]
    if run:
        lines.append(run)
    out = []
    for lo, hi, (_, perms, nm) in lines:
        p = ("r" if perms & PERM_R else "-") + ("w" if perms & PERM_W else "-") + ("x" if perms & PERM_X else "-")
        out.append(f"{lo * PAGE:08x}-{hi * PAGE:08x} {p}p 00000000 00:00 0" + (f"{' ' * 19}{nm}" if nm else ""))
    return ("\n".join(out) + "\n").encode()


def _open(proc, dirfd, path, flags, mode):
    p = _path(proc, path)
    if p in (b"/proc/self/maps", f"/proc/{proc.pid}/maps".encode()):
        fd = os.memfd_create("maps", os.MFD_CLOEXEC)
        os.write(fd, _maps(proc))
        os.lseek(fd, 0, os.SEEK_SET)
    else:
        if p == b"/proc/self/exe":
            p = os.fsencode(proc.exe)
        fd = os.open(p, flags & 0xFFFFFFFF, mode & 0o7777, dir_fd=_dirfd(dirfd))
    return newfd(proc, fd, bool(flags & O_CLOEXEC))


@syscall("open", "sxo")
def sys_open(proc, path, flags, mode):
    return _open(proc, AT_FDCWD, path, flags, mode)


@syscall("openat", "dsxo")
def sys_openat(proc, dirfd, path, flags, mode):
    return _open(proc, dirfd, path, flags, mode)


@syscall("creat", "so")
def sys_creat(proc, path, mode):
    return _open(proc, AT_FDCWD, path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, mode)


@syscall("close", "d")
def sys_close(proc, fd):
    fd = sdec(fd, 32)
    if fd in proc.reserved_fds:
        return -errno.EBADF
    os.close(fd)
    proc.cloexec.discard(fd)
    return 0


@syscall("dup", "d")
def sys_dup(proc, fd):
    return newfd(proc, os.dup(sdec(fd, 32)), False)


@syscall("dup2", "dd")
def sys_dup2(proc, fd, fd2):
    fd, fd2 = sdec(fd, 32), sdec(fd2, 32)
    if fd2 in proc.reserved_fds:
        return -errno.EBADF
    if fd == fd2:
        os.fstat(fd)
        return fd
    return newfd(proc, os.dup2(fd, fd2, inheritable=True), False)


@syscall("dup3", "ddx")
def sys_dup3(proc, fd, fd2, flags):
    fd, fd2 = sdec(fd, 32), sdec(fd2, 32)
    if fd == fd2 or flags & ~O_CLOEXEC:
        return -errno.EINVAL
    if fd2 in proc.reserved_fds:
        return -errno.EBADF
    return newfd(proc, os.dup2(fd, fd2, inheritable=not flags & O_CLOEXEC), bool(flags & O_CLOEXEC))


@syscall("pipe", "x")
def sys_pipe(proc, fds):
    return sys_pipe2(proc, fds, 0)


@syscall("pipe2", "xx")
def sys_pipe2(proc, fds, flags):
    proc.io.read(fds, 8)
    r, w = os.pipe2(flags)
    cloexec = bool(flags & O_CLOEXEC)
    newfd(proc, r, cloexec)
    newfd(proc, w, cloexec)
    try:
        proc.io.write(fds, struct.pack("<ii", r, w))
    except Exception:
        os.close(r)
        os.close(w)
        raise
    return 0


@syscall("fcntl", "ddx")
def sys_fcntl(proc, fd, cmd, arg):
    fd = sdec(fd, 32)
    if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
        new = fcntl.fcntl(fd, F_DUPFD_CLOEXEC, arg)
        return newfd(proc, new, cmd == F_DUPFD_CLOEXEC)
    if cmd == F_SETFD:
        return newfd(proc, fd, bool(arg & fcntl.FD_CLOEXEC)) and 0
    if cmd in (F_GETLK, F_SETLK, F_SETLKW):
        out = fcntl.fcntl(fd, cmd, proc.io.read(arg, FLOCK_SIZE))
        if cmd == F_GETLK:
            proc.io.write(arg, out)
        return 0
    return fcntl.fcntl(fd, cmd, arg & 0xFFFFFFFF)


_IOCTL_OUT = {0x5401: 36, 0x5413: 8, 0x541B: 4, 0x540F: 4, 0x5429: 4}    # TCGETS TIOCGWINSZ FIONREAD TIOCGPGRP TIOCGSID
_IOCTL_IN = {0x5402: 36, 0x5403: 36, 0x5404: 36, 0x5414: 8, 0x5410: 4, 0x5421: 4, 0x5452: 4}
_IOCTL_NOARG = {0x5450, 0x5451, 0x540B}       # FIONCLEX FIOCLEX TCFLSH(arg by value)


@syscall("ioctl", "dxx")
def sys_ioctl(proc, fd, req, arg):
    fd, req = sdec(fd, 32), req & 0xFFFFFFFF
    if req in _IOCTL_OUT:
        size = _IOCTL_OUT[req]
        proc.io.read(arg, size)
        out = fcntl.ioctl(fd, req, bytes(size))
        proc.io.write(arg, out)
        return 0
    if req in _IOCTL_IN:
        fcntl.ioctl(fd, req, proc.io.read(arg, _IOCTL_IN[req]))
        return 0
    if req == 0x5451 or req == 0x5450:
        newfd(proc, fd, req == 0x5451)
        return 0
    if req in _IOCTL_NOARG:
        return fcntl.ioctl(fd, req, arg & 0xFFFFFFFF)
    os.fstat(fd)
    return -errno.ENOTTY


# Metadata -----------------------------------------------------------------------------------------------------------
def _stat(proc, dirfd, path, flags) -> os.stat_result:
    follow = not flags & AT_SYMLINK_NOFOLLOW
    p = proc.io.cstr(path, 4096)
    if not p:
        if flags & AT_EMPTY_PATH:
            return os.stat(sdec(dirfd, 32))
        raise OSError(errno.ENOENT, "empty path")
    return os.stat(p, dir_fd=_dirfd(dirfd), follow_symlinks=follow)


@syscall("stat", "sx")
def sys_stat(proc, path, buf):
    proc.io.write(buf, pack_stat(os.stat(_path(proc, path))))
    return 0


@syscall("lstat", "sx")
def sys_lstat(proc, path, buf):
    proc.io.write(buf, pack_stat(os.lstat(_path(proc, path))))
    return 0


@syscall("fstat", "dx")
def sys_fstat(proc, fd, buf):
    proc.io.write(buf, pack_stat(os.fstat(sdec(fd, 32))))
    return 0


@syscall("newfstatat", "dsxx")
def sys_newfstatat(proc, dirfd, path, buf, flags):
    proc.io.write(buf, pack_stat(_stat(proc, dirfd, path, flags)))
    return 0


@syscall("statx", "dsxxx")
def sys_statx(proc, dirfd, path, flags, mask, buf):
    proc.io.write(buf, pack_statx(_stat(proc, dirfd, path, flags), mask))
    return 0


def _statfs(st) -> bytes:
    """struct statfs: type bsize blocks bfree bavail files ffree fsid(2 ints) namelen frsize flags spare[4]."""
    return struct.pack("<qqQQQQQiiqqq4q", 0xEF53, st.f_bsize, st.f_blocks, st.f_bfree, st.f_bavail, st.f_files,
                       st.f_ffree, 0, 0, st.f_namemax, st.f_frsize, st.f_flag, 0, 0, 0, 0)


@syscall("statfs", "sx")
def sys_statfs(proc, path, buf):
    proc.io.write(buf, _statfs(os.statvfs(_path(proc, path))))
    return 0


@syscall("fstatfs", "dx")
def sys_fstatfs(proc, fd, buf):
    proc.io.write(buf, _statfs(os.fstatvfs(sdec(fd, 32))))
    return 0


def _access(proc, dirfd, path, mode, flags):
    ok = os.access(_path(proc, path), mode, dir_fd=_dirfd(dirfd), effective_ids=bool(flags & AT_EACCESS),
                   follow_symlinks=not flags & AT_SYMLINK_NOFOLLOW)
    if ok:
        return 0
    os.stat(_path(proc, path), dir_fd=_dirfd(dirfd))       # ENOENT and the like
    return -errno.EACCES


@syscall("access", "so")
def sys_access(proc, path, mode):
    return _access(proc, AT_FDCWD, path, mode, 0)


@syscall("faccessat", "dso")
def sys_faccessat(proc, dirfd, path, mode):
    return _access(proc, dirfd, path, mode, 0)


@syscall("faccessat2", "dsox")
def sys_faccessat2(proc, dirfd, path, mode, flags):
    return _access(proc, dirfd, path, mode, flags)


def _readlink(proc, dirfd, path, buf, size):
    p = _path(proc, path)
    if p == b"/proc/self/exe":
        target = os.fsencode(os.path.abspath(proc.exe))
    else:
        target = os.readlink(p, dir_fd=_dirfd(dirfd))
    if sdec(size, 32) <= 0:
        return -errno.EINVAL
    data = target[:size]
    proc.io.write(buf, data)
    return len(data)


@syscall("readlink", "sxu")
def sys_readlink(proc, path, buf, size):
    return _readlink(proc, AT_FDCWD, path, buf, size)


@syscall("readlinkat", "dsxu")
def sys_readlinkat(proc, dirfd, path, buf, size):
    return _readlink(proc, dirfd, path, buf, size)


_libc = None


def _host_syscall():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    return _libc


@syscall("getdents64", "dxu")
def sys_getdents64(proc, fd, dirp, count):
    n = min(count, 1 << 20)
    proc.io.check_write(dirp, n)
    host = ctypes.create_string_buffer(n)
    libc = _host_syscall()
    r = libc.syscall(ctypes.c_long(217), ctypes.c_long(sdec(fd, 32)), host, ctypes.c_long(n))
    if r < 0:
        return -ctypes.get_errno()
    proc.io.write(dirp, host.raw[:r])
    return r


# Directory tree -----------------------------------------------------------------------------------------------------
@syscall("unlink", "s")
def sys_unlink(proc, path):
    os.unlink(_path(proc, path))
    return 0


@syscall("unlinkat", "dsx")
def sys_unlinkat(proc, dirfd, path, flags):
    if flags & AT_REMOVEDIR:
        os.rmdir(_path(proc, path), dir_fd=_dirfd(dirfd))
    else:
        os.unlink(_path(proc, path), dir_fd=_dirfd(dirfd))
    return 0


@syscall("rename", "ss")
def sys_rename(proc, old, new):
    os.rename(_path(proc, old), _path(proc, new))
    return 0


@syscall("renameat", "dsds")
def sys_renameat(proc, olddir, old, newdir, new):
    os.rename(_path(proc, old), _path(proc, new), src_dir_fd=_dirfd(olddir), dst_dir_fd=_dirfd(newdir))
    return 0


@syscall("renameat2", "dsdsx")
def sys_renameat2(proc, olddir, old, newdir, new, flags):
    if flags:
        return -errno.EINVAL
    return sys_renameat(proc, olddir, old, newdir, new)


@syscall("mkdir", "so")
def sys_mkdir(proc, path, mode):
    os.mkdir(_path(proc, path), mode & 0o7777)
    return 0


@syscall("mkdirat", "dso")
def sys_mkdirat(proc, dirfd, path, mode):
    os.mkdir(_path(proc, path), mode & 0o7777, dir_fd=_dirfd(dirfd))
    return 0


@syscall("rmdir", "s")
def sys_rmdir(proc, path):
    os.rmdir(_path(proc, path))
    return 0


@syscall("link", "ss")
def sys_link(proc, old, new):
    os.link(_path(proc, old), _path(proc, new))
    return 0


@syscall("linkat", "dsdsx")
def sys_linkat(proc, olddir, old, newdir, new, flags):
    os.link(_path(proc, old), _path(proc, new), src_dir_fd=_dirfd(olddir), dst_dir_fd=_dirfd(newdir),
            follow_symlinks=bool(flags & AT_SYMLINK_FOLLOW))
    return 0


@syscall("symlink", "ss")
def sys_symlink(proc, target, path):
    os.symlink(proc.io.cstr(target, 4096), _path(proc, path))
    return 0


@syscall("symlinkat", "sds")
def sys_symlinkat(proc, target, dirfd, path):
    os.symlink(proc.io.cstr(target, 4096), _path(proc, path), dir_fd=_dirfd(dirfd))
    return 0


@syscall("chdir", "s")
def sys_chdir(proc, path):
    os.chdir(_path(proc, path))
    return 0


@syscall("fchdir", "d")
def sys_fchdir(proc, fd):
    os.fchdir(sdec(fd, 32))
    return 0


@syscall("getcwd", "xu")
def sys_getcwd(proc, buf, size):
    cwd = os.getcwdb() + b"\0"
    if len(cwd) > size:
        return -errno.ERANGE
    proc.io.write(buf, cwd)
    return len(cwd)


@syscall("umask", "o")
def sys_umask(proc, mask):
    return os.umask(mask & 0o777)


@syscall("chmod", "so")
def sys_chmod(proc, path, mode):
    os.chmod(_path(proc, path), mode & 0o7777)
    return 0


@syscall("fchmod", "do")
def sys_fchmod(proc, fd, mode):
    os.fchmod(sdec(fd, 32), mode & 0o7777)
    return 0


@syscall("fchmodat", "dso")
def sys_fchmodat(proc, dirfd, path, mode):
    os.chmod(_path(proc, path), mode & 0o7777, dir_fd=_dirfd(dirfd))
    return 0


def _id(v: int) -> int:
    return sdec(v, 32)


@syscall("chown", "sdd")
def sys_chown(proc, path, uid, gid):
    os.chown(_path(proc, path), _id(uid), _id(gid))
    return 0


@syscall("lchown", "sdd")
def sys_lchown(proc, path, uid, gid):
    os.lchown(_path(proc, path), _id(uid), _id(gid))
    return 0


@syscall("fchown", "ddd")
def sys_fchown(proc, fd, uid, gid):
    os.fchown(sdec(fd, 32), _id(uid), _id(gid))
    return 0


@syscall("fchownat", "dsddx")
def sys_fchownat(proc, dirfd, path, uid, gid, flags):
    os.chown(_path(proc, path), _id(uid), _id(gid), dir_fd=_dirfd(dirfd),
             follow_symlinks=not flags & AT_SYMLINK_NOFOLLOW)
    return 0


@syscall("utimensat", "dsxx")
def sys_utimensat(proc, dirfd, path, times, flags):
    UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2
    target = proc.io.cstr(path, 4096) if path else None
    st = None
    ns = None
    if times:
        (a_s, a_n), (m_s, m_n) = struct.unpack("<qq", proc.io.read(times, 16)), \
            struct.unpack("<qq", proc.io.read(times + 16, 16))
        import time
        now = time.time_ns()
        if UTIME_OMIT in (a_n, m_n):
            st = os.stat(target, dir_fd=_dirfd(dirfd)) if target else os.fstat(sdec(dirfd, 32))
        def pick(s, n, old):
            return now if n == UTIME_NOW else old if n == UTIME_OMIT else s * 10**9 + n
        ns = (pick(a_s, a_n, st.st_atime_ns if st else 0), pick(m_s, m_n, st.st_mtime_ns if st else 0))
    times_kw = {} if ns is None else {"ns": ns}            # no times: now (os.utime refuses ns=None)
    if target:
        os.utime(target, dir_fd=_dirfd(dirfd), follow_symlinks=not flags & AT_SYMLINK_NOFOLLOW, **times_kw)
    else:
        os.utime(sdec(dirfd, 32), **times_kw)
    return 0


@syscall("truncate", "sd")
def sys_truncate(proc, path, length):
    os.truncate(_path(proc, path), sdec(length))
    return 0


@syscall("ftruncate", "dd")
def sys_ftruncate(proc, fd, length):
    os.ftruncate(sdec(fd, 32), sdec(length))
    return 0


@syscall("fsync", "d")
def sys_fsync(proc, fd):
    os.fsync(sdec(fd, 32))
    return 0


@syscall("fdatasync", "d")
def sys_fdatasync(proc, fd):
    os.fdatasync(sdec(fd, 32))
    return 0


@syscall("fadvise64", "dddd")
def sys_fadvise64(proc, fd, off, length, advice):
    os.fstat(sdec(fd, 32))
    return 0


@syscall("close_range", "uux")
def sys_close_range(proc, first, last, flags):
    CLOSE_RANGE_UNSHARE, CLOSE_RANGE_CLOEXEC = 2, 4
    if first > last or flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC):
        return -errno.EINVAL
    top = min(last, os.sysconf("SC_OPEN_MAX") - 1)
    for fd in range(first, top + 1):
        if fd in proc.reserved_fds:
            continue
        try:
            if flags & CLOSE_RANGE_CLOEXEC:
                newfd(proc, fd, True)
            else:
                os.close(fd)
                proc.cloexec.discard(fd)
        except OSError:
            pass
    return 0


@syscall("flock", "dd")
def sys_flock(proc, fd, op):
    fcntl.flock(sdec(fd, 32), op)
    return 0


def _xattr_get(proc, target, name, value, size, follow=True):
    data = os.getxattr(target, proc.io.cstr(name, 256), follow_symlinks=follow)
    if size == 0:
        return len(data)
    if len(data) > size:
        return -errno.ERANGE
    proc.io.write(value, data)
    return len(data)


@syscall("getxattr", "ssxu")
def sys_getxattr(proc, path, name, value, size):
    return _xattr_get(proc, _path(proc, path), name, value, size)


@syscall("lgetxattr", "ssxu")
def sys_lgetxattr(proc, path, name, value, size):
    return _xattr_get(proc, _path(proc, path), name, value, size, follow=False)


@syscall("fgetxattr", "dsxu")
def sys_fgetxattr(proc, fd, name, value, size):
    return _xattr_get(proc, sdec(fd, 32), name, value, size)


def _xattr_list(proc, target, buf, size, follow=True):
    data = b"".join(os.fsencode(n) + b"\0" for n in os.listxattr(target, follow_symlinks=follow))
    if size == 0:
        return len(data)
    if len(data) > size:
        return -errno.ERANGE
    proc.io.write(buf, data)
    return len(data)


@syscall("listxattr", "sxu")
def sys_listxattr(proc, path, buf, size):
    return _xattr_list(proc, _path(proc, path), buf, size)


@syscall("llistxattr", "sxu")
def sys_llistxattr(proc, path, buf, size):
    return _xattr_list(proc, _path(proc, path), buf, size, follow=False)


@syscall("flistxattr", "dxu")
def sys_flistxattr(proc, fd, buf, size):
    return _xattr_list(proc, sdec(fd, 32), buf, size)
