"""dbt: a dynamic binary translator for x86 (16-bit real, 32-bit and 64-bit modes).

Capstone decodes guest code, ``dbt.lift`` lifts it to the IR in ``ir``, ``ir.passes`` optimize it, and the backends
in ``backends`` run it (an IR interpreter for cold code, LLVM-compiled native code for hot code).
"""

from dbt.api import Emulator, GuestFault


def __getattr__(name):
    # dbt.Process (the Linux process VM) is imported on first use: it pulls in the loader and the syscall tables.
    if name == "Process":
        from dbt.linux import Process
        return Process
    raise AttributeError(f"module 'dbt' has no attribute {name!r}")


__all__ = ["Emulator", "GuestFault", "Process"]
