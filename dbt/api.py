"""The public, Unicorn-shaped API::

    emu = Emulator(mode=64, backend="auto")
    emu.mem_map(0x1000, 0x1000, "rwx"); emu.mem_write(0x1000, code)
    emu.reg_write("rax", 5); emu.emu_start(0x1000, count=10); emu.reg_read("rflags")

Register names are Capstone's (rax..r15 and their parts, rip/eip/ip, rflags/eflags/flags, the segment selectors)
plus fs_base and gs_base. In mode 16 the machine is real mode with A20 enabled: writing a segment register also sets
its base (selector * 16), and exceptions go through the IVT at address 0. In modes 32 and 64 segments are flat and a
guest exception raises ``GuestFault``.
"""

from __future__ import annotations

from dbt.engine import Engine, GuestFault
from dbt.lift.regs import FLAG_REG_NAMES, REGS
from dbt.state import SEGMENTS

__all__ = ["Emulator", "GuestFault"]


class Emulator:
    def __init__(self, mode: int = 64, backend: str = "auto", hot_threshold: int = 50, **options):
        self._engine = Engine(mode, backend, hot_threshold=hot_threshold, **options)
        self.mode = mode

    # Memory -------------------------------------------------------------------------------------------------------
    def mem_map(self, addr: int, size: int, perms="rwx") -> None:
        self._engine.mem.map(addr, size, perms)

    def mem_protect(self, addr: int, size: int, perms) -> None:
        self._engine.mem.protect(addr, size, perms)

    def mem_write(self, addr: int, data: bytes) -> None:
        """Writes guest memory as the host (ignores write protection); drops translations of overwritten code."""
        eng = self._engine
        eng.smc_passthrough = True
        try:
            eng.mem.write(addr, bytes(data), need=0)
        finally:
            eng.smc_passthrough = False

    def mem_read(self, addr: int, size: int) -> bytes:
        return self._engine.mem.read(addr, size, need=0)

    # Registers ----------------------------------------------------------------------------------------------------
    def _reg(self, name: str):
        key = name.lower()
        if key in REGS:
            return REGS[key]
        raise ValueError(f"unknown register {name!r}")

    def reg_read(self, name: str) -> int:
        st = self._engine.state
        key = name.lower()
        if key in FLAG_REG_NAMES:
            return st.pack_flags() & FLAG_REG_NAMES[key].mask
        if key in ("fs_base", "gs_base"):
            return st[key]
        field, shift, ty = self._reg(key)
        return (st[field] >> shift) & ty.mask

    def reg_write(self, name: str, value: int) -> None:
        st = self._engine.state
        key = name.lower()
        if key in FLAG_REG_NAMES:
            mask = FLAG_REG_NAMES[key].mask
            st.unpack_flags((st.pack_flags() & ~mask) | (value & mask))
            return
        if key in ("fs_base", "gs_base"):
            st[key] = value
            return
        field, shift, ty = self._reg(key)
        v = value & ty.mask
        if key in SEGMENTS:
            st[field] = v
            if self.mode == 16:
                st[field + "_base"] = v << 4
            return
        if ty.bits == 32 and shift == 0 and self.mode == 64:
            st[field] = v
            return
        old = st[field]
        st[field] = (old & ~(ty.mask << shift)) | (v << shift)

    # Running ------------------------------------------------------------------------------------------------------
    def emu_start(self, begin: int, until: int | None = None, count: int | None = None) -> str:
        """Runs from instruction pointer ``begin`` until IP == until, ``count`` instructions, or a HLT.
        Returns "until", "count" or "hlt"; raises GuestFault on an unhandled guest exception (modes 32/64)."""
        return self._engine.run(begin, until, count)

    @property
    def stats(self) -> dict:
        return self._engine.stats.as_dict()

    @property
    def engine(self) -> Engine:
        return self._engine
