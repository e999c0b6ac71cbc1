"""Shared fixtures of the process-VM tests: the test guests are compiled once per session from tests/linux/guest
(freestanding C, no SSE) and run both natively, which is the oracle, and in the process VM."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

GUEST = Path(__file__).parent / "guest"
CFLAGS = ["-O2", "-nostdlib", "-fno-builtin", "-mgeneral-regs-only", "-fno-stack-protector", f"-I{GUEST}"]
BACKENDS = ["interp", "llvm"]
ENV = {"DBT_TEST": "1", "EMPTY": "", "PATH": "/usr/bin:/bin"}


def _build(out: Path, *flags: str, src: str = "prog.c") -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed: the process-VM guests are compiled at test time")
    subprocess.run(["gcc", *CFLAGS, *flags, "-o", str(out), str(GUEST / src)], check=True, capture_output=True)
    return out


@pytest.fixture(scope="session")
def prog(tmp_path_factory) -> Path:
    """The test guest, a static non-PIE executable (ET_EXEC)."""
    return _build(tmp_path_factory.mktemp("guest") / "prog", "-static")


@pytest.fixture(scope="session")
def prog_pie(tmp_path_factory) -> Path:
    """The same guest as a static PIE (ET_DYN, no dynamic loader)."""
    return _build(tmp_path_factory.mktemp("guest_pie") / "prog", "-static-pie", "-fPIE")


@pytest.fixture(scope="session")
def dynamic(tmp_path_factory):
    """A dynamic PIE whose PT_INTERP names a stand-in loader (guest/interp.c) by absolute path, and a twin whose
    PT_INTERP is "/lib/dbt-test-ld.so", found only under the returned sysroot: (prog, twin, sysroot)."""
    d = tmp_path_factory.mktemp("dyn")
    interp = _build(d / "interp", "-static-pie", "-fPIE", src="interp.c")
    prog = _build(d / "dynprog", "-pie", "-fPIE", f"-Wl,--dynamic-linker={interp}")
    twin = _build(d / "dynprog2", "-pie", "-fPIE", "-Wl,--dynamic-linker=/lib/dbt-test-ld.so")
    root = d / "sysroot"
    (root / "lib").mkdir(parents=True)
    shutil.copy(interp, root / "lib" / "dbt-test-ld.so")
    return prog, twin, root


@pytest.fixture(scope="session")
def glibc_prog(tmp_path_factory) -> Path:
    """guest/libc.c linked with the static glibc (a normal C program: it needs the SSE2 integer instructions)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed: the process-VM guests are compiled at test time")
    out = tmp_path_factory.mktemp("glibc") / "libc"
    r = subprocess.run(["gcc", "-O2", "-static", "-fno-stack-protector", "-o", str(out), str(GUEST / "libc.c")],
                       capture_output=True, check=False)
    if r.returncode:
        pytest.skip(f"no static glibc to link against (libc.a): {r.stderr.decode()[-200:]}")
    return out


def status_of(returncode: int) -> int:
    """A native returncode as the process VM reports it: killed by signal N -> 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def run_native(argv, cwd=None, env=ENV) -> tuple[str, int]:
    r = subprocess.run([str(a) for a in argv], env=env, cwd=cwd, capture_output=True, timeout=60, check=False)
    return r.stdout.decode(), status_of(r.returncode)


def run_vm(argv, backend, capfd, cwd=None, env=ENV, **options) -> tuple[str, str, int]:
    """Runs the guest in this process (its fds 1 and 2 are captured by capfd); restores cwd and umask."""
    from dbt import Process
    old_cwd, old_umask = os.getcwd(), os.umask(0o022)
    os.umask(old_umask)
    capfd.readouterr()
    try:
        if cwd is not None:
            os.chdir(cwd)
        status = Process([str(a) for a in argv], env=env, backend=backend, **options).run()
    finally:
        os.chdir(old_cwd)
        os.umask(old_umask)
    out, err = capfd.readouterr()
    return out, err, status
