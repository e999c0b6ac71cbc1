"""The Linux user-mode personality (process VM): run x86-64 Linux programs like qemu-user.

Modules: ``memory`` (unmappable guest memory), ``mm`` (brk/mmap placement), ``loader`` (ELF and the initial stack),
``guestmem`` (system-call argument copying), ``abi`` (kernel structures), ``nr`` (system-call numbers),
``syscalls`` (dispatcher, strace) and ``sys_*`` (handlers by area), ``signals``, ``process`` (``Process``), ``cli``
(``python -m dbt run``).
"""

from dbt.linux.loader import ElfError
from dbt.linux.process import Process

__all__ = ["ElfError", "Process"]
