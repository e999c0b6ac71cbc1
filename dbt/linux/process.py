"""``Process``: a Linux x86-64 program run in a process VM, the way qemu-user runs it.

    status = Process(["./prog", "arg"], env={"HOME": "/root"}, sysroot="/").run()

The process owns one engine (flat 64-bit user mode) over a ``ProcessMemory``, an address-space manager, the signal
state and the system-call dispatcher, which the engine reaches through its ``syscall`` helper (SYSCALL). Guest
exceptions become signals (the engine's ``deliver``). ``run`` returns the exit status, or 128 + N when signal N
killed the process. In a child made by the guest's fork the VM ends the host process itself (``os._exit`` with the
status, or the same signal), so the guest's parent sees what wait4 should show.

Departures: one guest thread; no vDSO; the FPU/SSE state is not part of signal frames.
"""

from __future__ import annotations

import os
import resource
import signal as _host
import sys

from dbt.engine import STOP_HLT, Engine
from dbt.linux import loader
from dbt.linux.guestmem import GuestIO
from dbt.linux.memory import ProcessMemory
from dbt.linux.mm import AddressSpace
from dbt.linux.signals import Signals
from dbt.linux.syscalls import NORETURN, RESTART, Dispatcher
from dbt.state import GPR64

MASK64 = (1 << 64) - 1
INITIAL_RFLAGS = 0x202                 # IF set, as user mode always runs


# Runs of a block in the interpreter before it is compiled. A compile costs ~5 ms (LLVM opt 1, codegen opt 2) and
# interpreting ~0.5 us per guest instruction, so a block pays back its compile after ~10,000 instructions. On the
# process benchmarks (bench/bench_process.py) 150 beat 50 (sha256 2.15 -> 1.64 s: most of glibc's set-up code is no
# longer compiled) and 500 (hot loops start compiled too late).
HOT_THRESHOLD = 150


class Process:
    def __init__(self, argv, env=None, sysroot: str = "/", backend: str = "auto", strace: bool = False,
                 log=None, trace=(), path: str | None = None, hot_threshold: int = HOT_THRESHOLD, **engine_options):
        if not argv:
            raise ValueError("Process needs argv[0]")
        self.argv = [os.fsencode(a) for a in argv]
        env = dict(os.environ) if env is None else env
        self.envp = [os.fsencode(f"{k}={v}") for k, v in env.items()]
        self.path = path or os.fsdecode(self.argv[0])
        self.exe = self.path
        self.sysroot = sysroot or "/"
        self.mem = ProcessMemory()
        self.engine = Engine(64, backend, hot_threshold=hot_threshold, memory=self.mem,
                             helpers={"syscall": self._syscall}, **engine_options)
        self.mem.on_code_gone = self.engine.invalidate_page
        self.engine.trace = frozenset(trace)
        self.engine.log = log
        self.state = self.engine.state
        self.aspace = AddressSpace(self.mem)
        self.io = GuestIO(self.mem)
        self.signals = Signals(self)
        self.engine.deliver = self.signals.fault
        self.sys = Dispatcher(self, strace, log)
        self.pid = os.getpid()
        self.cloexec: set[int] = set()
        self.reserved_fds: set[int] = set()
        self.warned: set[str] = set()
        self.clear_child_tid = 0
        self.exit_status: int | None = None
        self.term_signal: int | None = None
        self.pending_exec = None
        self.last_fault = None
        self.is_child = False

    @property
    def done(self) -> bool:
        return self.exit_status is not None or self.term_signal is not None

    # Image --------------------------------------------------------------------------------------------------------
    def _load(self, img, argv: list[bytes], envp: list[bytes], path: str, execfn: str | None = None) -> None:
        ld = loader.load_program(img, self.aspace, self.sysroot)
        from dbt.helpers import cpuid
        hwcap = cpuid(1, 0)[3]
        ids = (os.getuid(), os.geteuid(), os.getgid(), os.getegid())
        sp = loader.build_stack(self.mem, ld, argv, envp, os.fsencode(execfn or path), hwcap, os.urandom(16), ids)
        st = self.state
        for r in GPR64:
            st[r] = 0
        for seg in ("fs", "gs"):
            st[seg + "_base"] = 0
        st.unpack_flags(INITIAL_RFLAGS)
        st["rsp"] = sp
        st["rip"] = ld.entry
        self.exe = path

    def prepare_exec(self, path: str, argv: list[bytes], envp: list[bytes]) -> int:
        """execve's checks: the program (a "#!" script's interpreter) must load. Returns -errno or 0 (committed:
        the process loop replaces the image at the end of the current unit)."""
        import errno
        execfn = path
        for _ in range(4):                      # nested "#!" interpreters, as the kernel allows a few
            try:
                with open(path, "rb") as f:
                    head = f.read(256)
                if not os.access(path, os.X_OK) or os.path.isdir(path):
                    return -errno.EACCES
            except OSError as e:
                return -e.errno
            if not head.startswith(b"#!"):
                break
            line = head[2:].split(b"\n")[0].strip()
            if not line:
                return -errno.ENOEXEC
            interp, _, arg = line.partition(b" ")
            arg = arg.strip()
            argv = [interp] + ([arg] if arg else []) + [os.fsencode(path)] + argv[1:]
            path = os.fsdecode(interp)
        else:
            return -errno.ELOOP
        try:
            img = loader.read_elf(path)
            if img.interp:
                ip = img.interp if self.sysroot == "/" else os.path.join(self.sysroot, img.interp.lstrip("/"))
                loader.read_elf(ip)
        except loader.ElfError:
            return -errno.ENOEXEC
        self.pending_exec = (img, argv, envp, path, execfn)
        self.engine.request_exit()
        return 0

    def _do_exec(self) -> None:
        img, argv, envp, path, execfn = self.pending_exec
        self.pending_exec = None
        self.mem.unmap(0, 1 << 47)
        self.aspace = AddressSpace(self.mem)
        for fd in sorted(self.cloexec):
            try:
                os.close(fd)
            except OSError:
                pass
        self.cloexec.clear()
        self.signals.reset_for_exec()                    # handlers reset; the mask and pending signals survive
        self._load(img, argv, envp, path, execfn)

    # Ending -------------------------------------------------------------------------------------------------------
    def finish(self, status: int) -> None:
        self.exit_status = status
        self.engine.request_exit()

    def kill(self, sig: int) -> None:
        self.term_signal = sig
        self.engine.request_exit()

    def became_child(self) -> None:
        self.is_child = True
        self.pid = os.getpid()
        self.signals.pending.clear()
        self.signals.after_fork()

    # The SYSCALL helper -------------------------------------------------------------------------------------------
    def _syscall(self, state, memory, next_ip):
        st = self.state
        st["rcx"] = next_ip
        st["r11"] = st.pack_flags()
        st["rip"] = next_ip
        args = (st["rdi"], st["rsi"], st["rdx"], st["r10"], st["r8"], st["r9"])
        eng = self.engine
        eng.smc_passthrough = True          # guest memory written by the kernel side drops stale translations
        nr = st["rax"]
        try:
            r = self.sys(nr, args)
        finally:
            eng.smc_passthrough = False
        if r is RESTART:
            st["rip"] = (next_ip - 2) & MASK64     # back to the SYSCALL instruction, rax = the number again
        elif r is not NORETURN:
            st["rax"] = r & MASK64
        if not self.done and self.pending_exec is None:
            self.signals.deliver_pending()
        return 0

    # Running ------------------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Loads the program (raises ``loader.ElfError`` for a file that cannot run)."""
        img = loader.read_elf(self.path)
        self._load(img, self.argv, self.envp, self.path)

    def run(self) -> int:
        """Runs the program to its end: its exit status, or 128 + N if signal N killed it."""
        if self.state["rsp"] == 0:
            self.start()
        eng = self.engine
        try:
            while not self.done:
                stop = eng.run(self.state["rip"])
                if stop == STOP_HLT:                  # HLT at CPL 3 is #GP
                    self.signals.fault(13, 0, (self.state["rip"] - 1) & MASK64)
                if self.pending_exec is not None and not self.done:
                    self._do_exec()
                if not self.done:
                    self.signals.deliver_pending()
        except KeyboardInterrupt:
            if self.is_child:                         # Ctrl-C reached the whole process group: die as by SIGINT
                self._die_by(_host.SIGINT)
            raise
        except BaseException:
            if self.is_child:
                import traceback
                traceback.print_exc()
                os._exit(127)
            raise
        finally:
            if not self.is_child:
                self.signals.restore_host()
        return self._end()

    def _end(self) -> int:
        if self.term_signal is not None:
            sig = self.term_signal
            if sig == 4 and self.last_fault is not None and self.last_fault[0] in (6, 7):
                self._report_ud(*self.last_fault)
            if self.is_child:
                self._die_by(sig)
            return 128 + sig
        if self.is_child:
            for f in (sys.stdout, sys.stderr):
                try:
                    f.flush()
                except (OSError, ValueError):
                    pass
            os._exit(self.exit_status)
        return self.exit_status

    def _report_ud(self, vector: int, pc: int) -> None:
        """A guest killed by SIGILL (#UD, or #NM: an x87 instruction on the FPU-less CPU model): name the
        instruction, since it is often one the lifter does not implement."""
        from dbt.lift import LIFTERS
        try:
            insn = self.engine.decoder.decode(self.mem.fetch(pc, 15))
            what = insn.text if insn.valid else "an undecodable instruction"
            why = " (not implemented by dbt)" if insn.valid and insn.name not in LIFTERS and \
                not insn.name.startswith("UD") else ""
            if vector == 7:
                why = " (#NM: no x87 FPU in this CPU model)"
        except Exception:  # noqa: BLE001  (only a message)
            what, why = "an unreadable instruction", ""
        sys.stderr.write(f"dbt: SIGILL at {pc:#x}: {what}{why}\n")

    def _die_by(self, sig: int) -> None:
        for f in (sys.stdout, sys.stderr):
            try:
                f.flush()
            except (OSError, ValueError):
                pass
        try:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if sig not in (_host.SIGKILL, _host.SIGSTOP):       # neither can be caught, blocked or given a handler
                _host.signal(sig, _host.SIG_DFL)
                _host.pthread_sigmask(_host.SIG_UNBLOCK, {sig})
            os.kill(os.getpid(), sig)
        finally:
            os._exit(128 + sig)

