"""The bundled guest OS booted on our own PC system VM: to its checksum and exit status on every backend, with the
same serial transcript as QEMU (lines starting with ``time:`` aside), and through the ``python -m dbt boot`` CLI.

Oracles: QEMU's transcript of the same image and command line (qemu-system-i386, installed by .ci/run), and the
guest's Python models (dbt/guests/os/model.py: workload checksum, task results computed independently).
"""

import subprocess
import sys

import pytest

from dbt.guests import os as guest_os
from dbt.guests.os import layout, model
from dbt.machine import PcMachine
from tests.system.test_guest_qemu import QEMU, boot, needs_qemu, stable

QEMU_APPEND = f"work=20000 spin={layout.SPIN_DEFAULT}"


def dbt_boot(backend: str, append: str, **options):
    out = bytearray()
    vm = PcMachine(32, backend=backend, serial=out.extend, **options)
    vm.load_multiboot(guest_os.build_kernel(), append, name="kernel.elf")
    status = vm.run(max_insns=400_000_000)
    return status, out.decode("ascii").splitlines(), vm


@pytest.mark.parametrize("backend", ["interp", "llvm", "auto"])
def test_guest_boots_to_its_checksum(backend):
    # Small tasks and workload so the interpreter finishes quickly; 16 ns per instruction (icount shift 4) makes the
    # 1 kHz timer tick every 62,500 instructions, so the tasks are still preempted.
    work, spin = 3000, 60_000
    status, lines, vm = dbt_boot(backend, f"work={work} spin={spin}", icount_shift=4)
    assert status == layout.EXIT_STATUS, (vm.stop_reason, lines[-5:])
    assert model.work_line(work) in lines
    p, m, crc = model.work(work)
    assert f"crc32={crc:08X}" in lines[lines.index(model.work_line(work))]
    assert crc == guest_os.expected_checksum(work)
    for line in model.task_lines(spin):
        assert line in lines
    assert "preempted: yes" in lines
    assert lines[-1].startswith("done:")


@needs_qemu
@pytest.mark.parametrize("backend", ["llvm", "auto"])
def test_transcript_equals_qemu(backend, tmp_path):
    image = tmp_path / "kernel.elf"
    image.write_bytes(guest_os.build_kernel())
    q_status, q_lines, _ = boot(image, QEMU_APPEND)
    status, lines, vm = dbt_boot(backend, QEMU_APPEND)
    assert q_status == status == layout.EXIT_STATUS, vm.stop_reason
    assert stable(lines) == stable(q_lines)
    assert any(line.startswith("time: rtc ") for line in lines)


def test_virtual_time_is_deterministic():
    a = dbt_boot("auto", "work=2000 spin=200000", icount_shift=3)
    b = dbt_boot("auto", "work=2000 spin=200000", icount_shift=3)
    assert a[1] == b[1]                       # time: lines included: virtual time is a function of instructions
    assert a[2].engine.icount() == b[2].engine.icount()


def test_cli_boot_exit_status_and_stats():
    done = subprocess.run([sys.executable, "-m", "dbt", "boot", "-append", "work=500 spin=1000", "-nographic",
                           "--stats"], capture_output=True, timeout=300, check=False)
    assert done.returncode == layout.EXIT_STATUS, done.stderr.decode()[-2000:]
    assert model.work_line(500).encode() in done.stdout
    assert b"guest instructions" in done.stderr and b"blocks translated" in done.stderr


@pytest.mark.parametrize("args, message", [
    (["-d", "nonsense"], b"unknown -d item"),
    (["-m", "lots"], b"expected a size in MiB"),
    (["-kernel", "/nonexistent/k.elf"], b"cannot read kernel"),
    (["-serial", "tcp:1234"], b"use stdio, file:PATH or none"),
])
def test_cli_bad_input_is_a_clear_error(args, message):
    done = subprocess.run([sys.executable, "-m", "dbt", "boot", *args], capture_output=True, timeout=120,
                          check=False)
    assert done.returncode not in (0, layout.EXIT_STATUS)
    assert message in done.stderr
    assert b"Traceback" not in done.stderr


def test_cli_rejects_a_file_that_is_not_multiboot(tmp_path):
    bad = tmp_path / "bad.elf"
    bad.write_bytes(b"\x7fELF" + bytes(4096))
    done = subprocess.run([sys.executable, "-m", "dbt", "boot", "-kernel", str(bad)], capture_output=True,
                          timeout=120, check=False)
    assert done.returncode == 1
    assert b"no multiboot header" in done.stderr and b"Traceback" not in done.stderr


def test_qemu_is_available_in_ci():
    """CI installs qemu-system-x86 (.ci/run): the comparison above must not be skipped there."""
    import os
    if os.environ.get("CI") or os.environ.get("DBT_REQUIRE_QEMU"):
        assert QEMU is not None


def test_cli_log_items_go_to_the_log_file(tmp_path):
    log = tmp_path / "log.txt"
    done = subprocess.run([sys.executable, "-m", "dbt", "boot", "-append", "work=10 spin=10", "-serial", "none",
                           "--backend", "llvm", "-d", "in_asm,op,out_asm,int", "-D", str(log)], capture_output=True,
                          timeout=300, check=False)
    assert done.returncode == layout.EXIT_STATUS, done.stderr.decode()[-2000:]
    text = log.read_text()
    assert "IN: linear 0x10000c" in text                  # the multiboot entry point's block
    assert "OP:\nunit pc=" in text and "OUT: LLVM module" in text
    # -d int: the guest's deliberate #DE and page faults (vector 14 with CR2) and the timer interrupts
    assert "exception vector 0 " in text and "exception vector 14 error 0x2 " in text
    assert "interrupt vector 0x20" in text


def test_hottest_units_are_recompiled_optimized_and_stay_correct():
    """Slice ends sample where native code runs; units sampled twice are recompiled at LLVM opt 2 (the boot compiles
    at opt 0) and replace the old code in the dispatch table and chains. The result must not change."""
    work = 300_000
    status, lines, vm = dbt_boot("auto", f"work={work} spin=400000")
    assert status == layout.EXIT_STATUS, vm.stop_reason
    assert vm.engine.stats.blocks_reoptimized >= 1
    assert model.work_line(work) in lines
    for line in model.task_lines(400_000):
        assert line in lines
