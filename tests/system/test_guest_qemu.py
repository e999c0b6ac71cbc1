"""The bundled guest OS (dbt/guests/os) booted under QEMU: the reference transcript our own system VM is compared
with later. Checks the exit status, the page-fault and task lines, the workload checksum against values computed
here, that preemption happened, and that two boots print the same non-``time:`` lines.

The build and model tests run everywhere; the boots need ``qemu-system-i386`` (apt-get install qemu-system-x86).
"""

import shutil
import struct
import subprocess
import time
import zlib

import pytest

from dbt.guests import os as guest_os
from dbt.guests.os import layout, model

QEMU = shutil.which("qemu-system-i386")
needs_qemu = pytest.mark.skipif(QEMU is None, reason="qemu-system-i386 is not installed "
                                                     "(apt-get install qemu-system-x86)")
WORK_N = 20_000                  # small workload: the boot takes ~0.1 s on QEMU
SPIN = layout.SPIN_DEFAULT       # the compute tasks must run for several timer ticks, so keep the default
APPEND = f"work={WORK_N} spin={SPIN}"


def qemu_command(image_path, append: str) -> list[str]:
    return [QEMU, "-accel", "tcg", "-kernel", str(image_path), "-append", append, "-m", "32",
            "-display", "none", "-no-reboot", "-serial", "stdio", "-monitor", "none",
            "-device", f"isa-debug-exit,iobase={layout.DEBUG_EXIT_PORT:#x},iosize=2"]


def boot(image_path, append: str):
    """(exit status, serial lines, seconds)."""
    start = time.perf_counter()
    done = subprocess.run(qemu_command(image_path, append), stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=60, check=False)
    return done.returncode, done.stdout.decode("ascii").splitlines(), time.perf_counter() - start


def stable(lines):
    return [line for line in lines if not line.startswith("time:")]


def primes_below(n):
    return [p for p in range(2, n) if all(p % d for d in range(2, int(p ** 0.5) + 1))]


@pytest.fixture(scope="module")
def image_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("guest_os") / "kernel.elf"
    path.write_bytes(guest_os.build_kernel())
    return path


@pytest.fixture(scope="module")
def boots(image_path):
    return [boot(image_path, APPEND) for _ in range(2)]


@pytest.fixture(scope="module")
def lines(boots):
    return boots[0][1]


# ---- build and model (no QEMU) ----

def test_build_is_fast_and_deterministic():
    start = time.perf_counter()
    image = guest_os.build.build_kernel.__wrapped__(None)
    assert time.perf_counter() - start < 1.0
    assert image == guest_os.build_kernel()


def test_elf_and_multiboot_headers():
    image = guest_os.build_kernel()
    assert image[:7] == b"\x7fELF\x01\x01\x01"
    e_type, e_machine, _, e_entry, e_phoff = struct.unpack_from("<HHIII", image, 16)
    assert (e_type, e_machine) == (2, 3)
    phnum = struct.unpack_from("<H", image, 44)[0]
    segments = [struct.unpack_from("<IIIIIIII", image, e_phoff + 32 * i) for i in range(phnum)]
    assert all(s[0] == 1 for s in segments)
    assert segments[0][2] == layout.KERNEL_BASE == 0x100000
    assert max(s[2] + s[5] for s in segments) == layout.BSS_END
    assert any(s[2] <= e_entry < s[2] + s[4] for s in segments)
    where = image.find(struct.pack("<I", 0x1BADB002))
    assert 0 <= where < 8192 - 12 and where % 4 == 0
    magic, flags, checksum = struct.unpack_from("<III", image, where)
    assert flags & 2 and (magic + flags + checksum) & 0xFFFFFFFF == 0


def test_models_match_plain_loops():
    for n in (0, 1, 2, 5, 1000, 12_345):
        assert model.lcg(n) == model.lcg_steps(n)
        assert model.xorshift32(n) == model.xorshift32_steps(n)
    assert model.xorshift32_steps(1) == 723471715                 # Marsaglia's xorshift32 from 2463534242
    for n in (0, 1, 2, 3, 10, 1000):
        primes = set(primes_below(n))
        assert model.sieve_flags(n) == bytes(int(i in primes) for i in range(n))
    assert model.work(100)[0] == 25 and model.work(1_000_000)[0] == 78498


def test_cmdline_default_must_be_plain():
    with pytest.raises(ValueError):
        guest_os.build_kernel('work=1"')


# ---- QEMU boots ----

@needs_qemu
def test_exit_status(boots):
    for status, lines, _ in boots:
        assert status == guest_os.EXIT_STATUS == 33, "\n".join(lines)
        assert lines[-1] == "done: exiting with code 0x10"


@needs_qemu
def test_boot_steps_in_order(lines):
    prefixes = [
        "mini-os:", "serial:", "multiboot: magic 2BADB002", "multiboot: mem_lower=",
        f'multiboot: cmdline args "{APPEND}"', "gdt: loaded, cs=0008 ds=0010 ss=0010 tr=0028", "idt:",
        "trap: #BP eip=", "trap: #DE eip=", "trap: returned", "pic: remapped to 0x20/0x28, masks master=FE slave=FF",
        "pit: channel 0", "pit: irq0 ticking", "paging: on", "pf:", "time: rtc 20", "tasks:", "task 1:", "task 2:",
        "task 3:", "task 4:", "tasks: all ended", "preempted:", "work: starting", "work: n=", "work: ended",
        "time: ticks=", "done:",
    ]
    at = 0
    for prefix in prefixes:
        found = next((i for i in range(at, len(lines)) if lines[i].startswith(prefix)), None)
        assert found is not None, f"no line starting with {prefix!r} after line {at}:\n" + "\n".join(lines)
        at = found + 1


@needs_qemu
def test_multiboot_memory(lines):
    line = next(line for line in lines if line.startswith("multiboot: mem_lower="))
    lower, upper = (int(part.split("=")[1].rstrip("K")) for part in line.split()[1:])
    assert lower == 639 and 30 * 1024 < upper < 32 * 1024          # -m 32


@needs_qemu
def test_page_faults(lines):
    assert lines[lines.index("paging: on") + 1:][:7] == [
        "pf: cr2=00C00010 err=00000000 -> mapped a kernel page",
        "pf: kernel read of a demand page gave 00000000",
        "pf: cr2=00C01ABC err=00000002 -> mapped a kernel page",
        "pf: kernel write to a demand page read back CAFEBABE",
        "pf: cr2=00138040 err=00000003 -> write-protected page made writable",
        "wp: write to the read-only page retried, read back 600DF00D",
        "invlpg: remapped page reads CAFEBABE, restored page reads 00000000",
    ]
    assert "pf: cr2=01000020 err=00000006 -> mapped a user page" in lines
    assert "task 3: user demand page read back 00005EED" in lines
    assert "pf: cr2=00100000 err=00000005 -> not handled" in lines


@needs_qemu
def test_tasks(lines):
    lcg = 1
    for _ in range(1000):
        lcg = (lcg * 1664525 + 1013904223) & 0xFFFFFFFF
    assert model.lcg(1000) == lcg
    start = lines.index(f"tasks: starting 4 ring-3 tasks, spin={SPIN}")
    task_lines = [line for line in lines[start + 1:] if not line.startswith("time:")][:9]
    assert task_lines[:2] == model.task_lines(SPIN)
    assert task_lines[2:5] == ["pf: cr2=01000020 err=00000006 -> mapped a user page",
                               "task 3: user demand page read back 00005EED",
                               "pf: cr2=00100000 err=00000005 -> not handled"]
    assert task_lines[5].startswith("kill: task 3 #PF err=00000005 eip=0011") and task_lines[5].endswith(
        " cr2=00100000")
    assert task_lines[6:8] == ["task 4: write() of a kernel buffer returned FFFFFFFF", "task 4: cli in ring 3"]
    assert task_lines[8].startswith("kill: task 4 #GP err=00000000 eip=0011")
    assert "tasks: all ended, exit codes 00000000 00000000 FFFFFFFF FFFFFFFF" in lines


@needs_qemu
def test_preempted(lines):
    assert "preempted: yes" in lines
    counts = [int(line.split("=")[1]) for line in lines if line.startswith("time: task ") and "preemptions=" in line]
    assert len(counts) == 4 and counts[0] > 0 and counts[1] > 0


@needs_qemu
def test_workload_checksum(lines):
    primes = primes_below(WORK_N)
    flags = bytearray(WORK_N)
    for p in primes:
        flags[p] = 1
    mix = 0
    for p in primes:
        mix = (mix * 31 + p * p % 65521) & 0xFFFFFFFF
    crc = zlib.crc32(bytes(flags))
    assert crc == guest_os.expected_checksum(WORK_N)
    assert f"work: n={WORK_N} primes={len(primes)} mix={mix:08X} crc32={crc:08X}" in lines
    assert "work: ended, exit code 00000000" in lines


@needs_qemu
def test_two_boots_print_the_same_stable_lines(boots):
    (_, first, _), (_, second, _) = boots
    assert stable(first) == stable(second)
    assert any(line.startswith("time: rtc ") for line in first)


@needs_qemu
def test_boot_is_fast(boots):
    assert all(seconds < 5 for _, _, seconds in boots)


@needs_qemu
def test_default_cmdline_is_built_in(tmp_path):
    path = tmp_path / "kernel.elf"
    path.write_bytes(guest_os.build_kernel("work=3000 spin=2000000"))
    status, lines, _ = boot(path, "")
    assert status == guest_os.EXIT_STATUS, "\n".join(lines)
    assert 'multiboot: cmdline args ""' in lines                  # QEMU passes only the image path
    assert model.work_line(3000) in lines
    assert model.task_lines(2_000_000)[0] in lines
