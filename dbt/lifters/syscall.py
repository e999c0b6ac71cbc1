"""SYSCALL (64-bit mode): the system-call entry of a process VM (SDM Vol. 2 SYSCALL; the OS returns with SYSRET).

The guest-visible effect of SYSCALL followed by the kernel's SYSRET is: RCX = the address of the next instruction,
R11 = RFLAGS, RAX = the result, RIP = next instruction (or wherever the kernel sent it: a signal handler, a new
program after execve). The lifter ends the unit and hands the whole call to the engine's ``syscall`` helper with the
next RIP; the helper sets RCX, R11, RAX and RIP itself, and the unit leaves through the dispatcher to the RIP it left.

Departures: outside 64-bit mode (SYSCALL from compatibility mode is AMD-only) and in the system VM it is #UD; the
plain Emulator has no OS attached and its default helper raises #UD too (as with IA32_EFER.SCE = 0), before any
register changes. SYSRET is privileged: #GP(0) at CPL 3 and #UD elsewhere (no 64-bit kernel runs here).
"""

from __future__ import annotations

from dbt.lift import lifter
from dbt.lift.context import GP, UD


@lifter("SYSCALL")
def lift_syscall(ctx):
    if ctx.mode != 64 or ctx.cpu.system:
        ctx.trap(UD)
        return
    ctx.flush()
    ctx.b.call("syscall", (ctx.ip_value(ctx.next_ip),))
    ctx.jump_mode_change()


@lifter("SYSRET", "SYSRETQ")
def lift_sysret(ctx):
    ctx.trap(GP if ctx.mode == 64 and not ctx.cpu.system and ctx.cpu.cpl else UD)
