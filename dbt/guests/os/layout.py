"""The guest OS's memory map and constants: the single source for the kernel (as ``.equ`` lines) and for Python.

Physical addresses are identity-mapped by the kernel's page tables, so virtual == physical for everything below
8 MiB. The image is loaded at 1 MiB by a multiboot loader; the bootloader puts its multiboot info structures right
after the image's highest address (QEMU does), so ``BSS_END`` is the end of the last PT_LOAD segment.

    0x000000          page 0: not present (null-pointer guard)
    0x100000          kernel: multiboot header, code, data          supervisor, read/write
    0x110000          user code blob (task entry table first)        user, read-only
    0x120000          kernel bss: page directory, page table 0, boot stack, per-task kernel stacks, IDT, tasks
    0x130000          user stacks, one page per task slot            user, read/write
    0x138000          the write-protect test page                    supervisor, read-only
    0x140000          end of image (BSS_END)
    0x200000-0x3FFFFF frame pool for demand paging (bump allocator)
    0x400000-0x7FFFFF user big region (one 4 MiB PSE page when CPUID says PSE, else a page table of 4 KiB pages)
    0xC00000          kernel demand-paging window (page directory entry 3 starts not present)
    0x1000000         user demand-paging window (page directory entry 4 starts not present)
"""

from __future__ import annotations

KERNEL_BASE = 0x100000
USER_BASE = 0x110000
USER_CODE_END = 0x120000
BSS_BASE = 0x120000
PAGE_DIR = 0x120000
PT0 = 0x121000
BOOT_STACK = 0x122000
BOOT_STACK_TOP = 0x126000
KSTACKS = 0x126000          # task slot i: kernel stack [KSTACKS + i*4K, KSTACKS + (i+1)*4K)
IDT = 0x12E000              # 256 gates, 2 KiB
TASKS = 0x12F000            # MAX_TASKS entries of TASK_SIZE bytes
USER_DATA = 0x130000        # task slot i: user stack [USER_DATA + i*4K, USER_DATA + (i+1)*4K)
USER_DATA_END = 0x138000
WP_PAGE = 0x138000
BSS_END = 0x140000
FRAME_POOL = 0x200000
FRAME_POOL_END = 0x400000
BIG_USER = 0x400000
BIG_USER_END = 0x800000
DEMAND_K = 0xC00000
DEMAND_K_END = 0x1000000
DEMAND_U = 0x1000000
DEMAND_U_END = 0x1400000

MAX_TASKS = 8
TASK_SIZE = 32

MB_MAGIC = 0x1BADB002
MB_FLAGS = 0x00000003       # bit 0: page-align modules, bit 1: memory info
MB_BOOT_MAGIC = 0x2BADB002

KERNEL_CS = 0x08
KERNEL_DS = 0x10
USER_CS = 0x1B
USER_DS = 0x23
TSS_SEL = 0x28

COM1 = 0x3F8
DEBUG_EXIT_PORT = 0x501
EXIT_OK = 0x10              # isa-debug-exit value on success; QEMU exits with (v << 1) | 1
EXIT_FAIL = 0x11            # unexpected exception, failed self-check, bad multiboot magic
EXIT_STATUS = (EXIT_OK << 1) | 1
EXIT_STATUS_FAIL = (EXIT_FAIL << 1) | 1

PIT_HZ = 1000
PIT_DIVISOR = 1193          # 1193182 Hz / 1193 = 1000.15 Hz

WORK_DEFAULT = 1_000_000    # sieve size of the ring-3 workload (``work=N`` on the command line)
WORK_MAX = BIG_USER_END - BIG_USER
SPIN_DEFAULT = 4_000_000    # iterations of tasks 1 and 2 (``spin=N`` on the command line)

N_TASKS = 4                 # phase 1 ring-3 tasks (slots 1..4); the workload runs afterwards in slot 1

SYS_WRITE, SYS_YIELD, SYS_EXIT, SYS_TICKS, SYS_TURN = 1, 2, 3, 4, 5

EXCEPTIONS_WITH_ERROR_CODE = frozenset({8, 10, 11, 12, 13, 14, 17, 21, 29, 30})


def constants() -> dict[str, int]:
    """Every upper-case integer above, plus derived values the assembly needs."""
    out = {k: v for k, v in globals().items() if k.isupper() and isinstance(v, int)}
    out["MB_CHECKSUM"] = (-(MB_MAGIC + MB_FLAGS)) & 0xFFFFFFFF
    out["BSS_DWORDS"] = (BSS_END - BSS_BASE) // 4
    return out
