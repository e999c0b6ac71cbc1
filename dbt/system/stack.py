"""A guest stack as helpers use it: pushes and pops at an explicit privilege, committed to ESP only at the end.

Interrupt delivery, far calls and returns push and pop several values and may fault on any of them; they work on a
``GuestStack`` copy of SS:ESP and write ESP back (``commit``) only once everything succeeded, so a fault leaves the
guest's registers as they were. A 16-bit stack (SS.B = 0) wraps SP at 64 KiB and keeps ESP's upper half.
"""

from __future__ import annotations


class GuestStack:
    def __init__(self, mem, ss_base: int, esp: int, big: bool, user: bool):
        self.mem, self.base, self.big, self.user = mem, ss_base, big, user
        self.mask = 0xFFFFFFFF if big else 0xFFFF
        self.esp = esp & 0xFFFFFFFF
        self.sp = esp & self.mask

    def push(self, value: int, size: int) -> None:
        self.sp = (self.sp - size) & self.mask
        self.mem.store_priv((self.base + self.sp) & 0xFFFFFFFF, size, value, self.user)

    def pop(self, size: int) -> int:
        v = self.mem.load_priv((self.base + self.sp) & 0xFFFFFFFF, size, self.user)
        self.sp = (self.sp + size) & self.mask
        return v

    def skip(self, n: int) -> None:
        self.sp = (self.sp + n) & self.mask

    def peek(self, offset: int, size: int) -> int:
        return self.mem.load_priv((self.base + ((self.sp + offset) & self.mask)) & 0xFFFFFFFF, size, self.user)

    @property
    def new_esp(self) -> int:
        """ESP after the pushes and pops: all 32 bits on a 32-bit stack, else only SP changes."""
        return self.sp if self.big else (self.esp & ~0xFFFF) | self.sp


def current_stack(cpu) -> GuestStack:
    st = cpu.state
    from dbt.system.segments import ATTR_DB
    big = bool(st["ss_attr"] & ATTR_DB) and cpu.protected
    return GuestStack(cpu.mem, st["ss_base"], st["rsp"], big, cpu.cpl == 3)
