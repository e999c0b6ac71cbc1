"""The bundled guest OS: a small i386 multiboot v1 kernel, assembled with Keystone at run time.

It boots on QEMU (``qemu-system-i386 -kernel``) and on our own system VM, prints one line per step on COM1 and exits
through QEMU's isa-debug-exit device (port 0x501) with EXIT_OK, i.e. process status EXIT_STATUS. Lines whose content
depends on time start with ``time:``; every other line, and their order, is the same on any correct x86 machine.

Steps: multiboot info -> GDT/TSS/IDT -> #BP and #DE taken and returned from -> PIC/PIT -> paging (PSE when CPUID
has it, CR0.WP) -> page faults on purpose (demand paging, WP, INVLPG) -> RTC -> four ring-3 tasks preempted by the
timer (system calls through INT 0x80; two take fatal faults in ring 3) -> a ring-3 workload (sieve, MUL/DIV mix,
bitwise CRC-32) sized by ``work=N`` -> exit. ``spin=N`` sets the compute tasks' iterations.

    build_kernel(cmdline_default=None) -> bytes   the ELF32 image (cached)
    expected_checksum(n)                          the workload's crc32 for work=n
    python -m dbt.guests.os out.elf               write the image
"""

from .build import build_kernel, kernel_source, user_source, write_kernel
from .layout import EXIT_FAIL, EXIT_OK, EXIT_STATUS, EXIT_STATUS_FAIL, SPIN_DEFAULT, WORK_DEFAULT
from .model import expected_checksum, lcg, task_lines, work, work_line, xorshift32

__all__ = [
           "EXIT_FAIL",
           "EXIT_OK",
           "EXIT_STATUS",
           "EXIT_STATUS_FAIL",
           "SPIN_DEFAULT",
           "WORK_DEFAULT",
           "build_kernel",
           "expected_checksum",
           "kernel_source",
           "lcg",
           "task_lines",
           "user_source",
           "work",
           "work_line",
           "write_kernel",
           "xorshift32",
]
