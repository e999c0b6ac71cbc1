"""The process VM against the host kernel: each case of the test guest (tests/linux/guest/prog.c) runs natively and
in the VM on both backends; stdout and the exit status must be identical (the guest prints only facts that do not
depend on addresses, pids, timing or the CPU model: comparisons, sizes, errno values, signal codes)."""

import pytest

from tests.linux.conftest import BACKENDS, run_native, run_vm

CASES = [
    ["args", "two words", "", "x"],          # argc/argv/envp/auxv, initial stack alignment, AT_PHDR/AT_ENTRY
    ["mem"],                                 # mmap munmap mprotect mremap brk, MAP_FIXED into a hole
    ["signals"],                             # SIGSEGV/SIGFPE/SIGILL/SIGTRAP handlers, kill/tgkill, masks, altstack
    ["tls"],                                 # arch_prctl(ARCH_SET_FS/GS), fs:/gs: reads and RMW
    ["misc"],                                # uname getrandom rlimits sysinfo clocks nanosleep futex poll select
    ["sysregs"],                             # SYSCALL: RCX = next RIP, R11 = RFLAGS, flags kept
    ["maps"],                                # /proc/self/maps: stack, code and mappings with their permissions
    ["fork"],                                # fork + pipe + wait4 (exit status, death by signal), vfork
    ["sigchld"],                             # a SIGCHLD handler while wait4 waits: the status is not lost
    ["exec"],                                # execve errors, then execve of itself with new argv/envp
    ["die", "term"],                         # kill(self, SIGTERM) with the default action: 128 + 15
    ["die", "segv"],                         # unhandled SIGSEGV: 139
    ["die", "abort"],                        # a blocked synchronous SIGILL still kills: 132
    ["die", "fpe"],                          # divide by zero: 136
    ["die", "pipe"],                         # write to a pipe without readers: SIGPIPE, 141
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(c))
def test_case_matches_native(prog, backend, case, capfd):
    want_out, want_status = run_native([prog, *case])
    out, _, status = run_vm([prog, *case], backend, capfd)
    assert out == want_out
    assert status == want_status


@pytest.mark.parametrize("backend", BACKENDS)
def test_files_match_native(prog, backend, tmp_path, capfd):
    """File I/O, metadata, directories, getdents64, links, pipes, dup/fcntl/ioctl, EFAULT, in a scratch directory
    (the guest removes what it creates, so both runs start from the same empty directory)."""
    work = tmp_path / "w"
    work.mkdir()
    want_out, want_status = run_native([prog, "files", work])
    assert list(work.iterdir()) == []
    out, _, status = run_vm([prog, "files", work], backend, capfd)
    assert out == want_out
    assert status == want_status
    assert "getdents_end -> 0" in out and "type_d=4" in out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", [["args", "pie"], ["tls"], ["signals"]], ids=lambda c: c[0])
def test_static_pie_matches_native(prog_pie, backend, case, capfd):
    """ET_DYN: loaded at a base of the loader's choice; AT_ENTRY/AT_PHDR/handler addresses carry that base."""
    want_out, want_status = run_native([prog_pie, *case])
    out, _, status = run_vm([prog_pie, *case], backend, capfd)
    assert out == want_out
    assert status == want_status


def test_sigill_names_the_instruction(prog, capfd):
    _, err, status = run_vm([prog, "die", "abort"], "interp", capfd)
    assert status == 128 + 4
    assert "dbt: SIGILL at 0x" in err and "ud2" in err and "not implemented" not in err


@pytest.mark.parametrize("backend", BACKENDS)
def test_unsupported_syscall_reported_once(prog, backend, capfd):
    out, err, status = run_vm([prog, "unsupported"], backend, capfd)
    assert out == "io_setup -> -38\nio_setup_again -> -38\n"           # -ENOSYS both times
    assert err.count("dbt: unsupported syscall 206 (io_setup)\n") == 1
    assert status == 0


def _signal_when_ready(argv, sig):
    import os
    import subprocess
    import time
    p = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = p.stdout.readline() + p.stdout.readline()
        assert first.endswith(b"ready\n"), first
        time.sleep(1.5)                   # long enough for the spin loop to be running as native code
        os.kill(p.pid, sig)
        out, _ = p.communicate(timeout=60)
    finally:
        p.kill()
    return (first + out).decode(), p.returncode


@pytest.mark.parametrize("backend", BACKENDS)
def test_host_signal_interrupts_a_native_loop(prog, backend):
    """Another process signals the VM while the guest spins without system calls (chained native code on llvm):
    the handler runs, as natively, with si_code SI_USER."""
    import signal
    import sys
    want = _signal_when_ready([prog, "hostsig"], signal.SIGUSR2)
    got = _signal_when_ready([sys.executable, "-m", "dbt", "run", "--backend", backend, prog, "hostsig"],
                             signal.SIGUSR2)
    assert got == want
    assert "host_hits=1\n" in want[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_pt_interp_loader_runs_first(dynamic, backend, capfd):
    """PT_INTERP: the loader is mapped too and started first, with AT_BASE = its base and AT_ENTRY/AT_PHDR of the
    program; it then jumps to the program (the stand-in loader checks the vector and prints what it saw)."""
    prog, _, _ = dynamic
    want_out, want_status = run_native([prog, "args", "dyn"])
    assert want_out.startswith("interp: argc=3\ninterp: AT_BASE_is_me=1\n") and "AT_BASE_set=1" in want_out
    out, _, status = run_vm([prog, "args", "dyn"], backend, capfd)
    assert out == want_out
    assert status == want_status


def test_sysroot_finds_the_interpreter(dynamic, capfd):
    """-L / sysroot: the interpreter path is looked up under the sysroot (the program's own path is not)."""
    prog, twin, root = dynamic
    want_out, _ = run_native([prog, "args"])
    out, _, status = run_vm([twin, "args"], "interp", capfd, sysroot=str(root))
    assert out == want_out.replace(str(prog), str(twin))
    assert status == 3
    from dbt.__main__ import main
    capfd.readouterr()
    assert main(["run", str(twin)]) == 1                            # not under "/": a one-line error
    assert capfd.readouterr().err == "dbt: /lib/dbt-test-ld.so: No such file or directory\n"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["eintr", "restart"])
def test_host_signal_interrupts_a_blocking_read(prog, backend, mode):
    """A handled host signal during a blocking read: -EINTR without SA_RESTART; with SA_RESTART the read runs again
    and returns what the handler wrote into the pipe."""
    import signal
    import sys
    want = _signal_when_ready([prog, "hostsig_read", mode], signal.SIGUSR2)
    got = _signal_when_ready([sys.executable, "-m", "dbt", "run", "--backend", backend, prog, "hostsig_read", mode],
                             signal.SIGUSR2)
    assert got == want
    assert ("read -> -4\n" if mode == "eintr" else "read -> 1\nbuf=w\n") in want[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_execve_of_a_script(prog, backend, tmp_path, capfd):
    """execve of a "#!" script runs its interpreter (here the test guest itself) with the kernel's argv:
    interpreter, its one argument, the script path, then the caller's argv[1:]; AT_EXECFN stays the script."""
    script = tmp_path / "script.sh"
    script.write_text(f"#!{prog} args\n")
    script.chmod(0o755)
    noexec = tmp_path / "noexec.sh"
    noexec.write_text(f"#!{prog} args\n")
    want_out, want_status = run_native([prog, "execscript", script])
    assert f"argv={script}\nargv=x\nenv=SCRIPTED=1\n" in want_out and f"AT_EXECFN={script}\n" in want_out
    out, _, status = run_vm([prog, "execscript", script], backend, capfd)
    assert (out, status) == (want_out, want_status)
    want_out, want_status = run_native([prog, "execscript", noexec])
    assert want_out == "execve_script -> -13\n"
    out, _, status = run_vm([prog, "execscript", noexec], backend, capfd)
    assert (out, status) == (want_out, want_status)


@pytest.mark.parametrize("backend", BACKENDS)
def test_static_glibc_program(glibc_prog, backend, tmp_path, capfd):
    """A normal static glibc program (stdio, malloc, qsort, atexit, fork/waitpid, pipe, sigaction + siglongjmp)."""
    argv = [glibc_prog, "a", tmp_path / "f.txt"]
    want_out, want_status = run_native(argv)
    assert "recovered from signal 11\natexit ran\n" in want_out and want_status == 3
    out, _, status = run_vm(argv, backend, capfd)
    assert (out, status) == (want_out, want_status)
