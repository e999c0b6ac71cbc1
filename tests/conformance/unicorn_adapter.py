"""Emulator-shaped adapter over Unicorn (QEMU, a 386+ model) in UC_MODE_16, to validate the conformance harness
before/independently of dbt. Same API as ``dbt.Emulator`` in mode 16:

    emu = Emulator(mode=16); emu.mem_map(0, size); emu.mem_write(a, b); emu.mem_read(a, n)
    emu.reg_write("ax", v); emu.reg_read("flags"); emu.emu_start(ip, until=None, count=None) -> "hlt"|"count"|"until"

What Unicorn lacks is emulated here:
- HLT stop: Unicorn stops at a HLT with IP past it; a code hook tells that stop apart from count/until stops.
- IVT delivery: Unicorn reports exceptions/INT n to UC_HOOK_INTR (and #UD as UC_ERR_INSN_INVALID) instead of
  delivering them. The adapter stops there and delivers like a real-mode CPU: push FLAGS, CS, IP (IP of the faulting
  instruction for faults, of the next one for INT n/INT3/INTO), clear IF/TF, load CS:IP from the IVT, continue.
- I/O: IN/INS read 0xFF.. (open bus, as recorded on the 286 board); OUT is ignored.
- Translation cache: memory written through mem_write (new test code) flushes Unicorn's TB cache before the next run.
Known Unicorn/QEMU limits that remain (they show up as failures): no real-mode segment-limit checks (no #GP/#SS on
offset wrap), and its own undefined-flag choices (masked by the harness).
"""
from __future__ import annotations

from unicorn import (UC_ARCH_X86, UC_ERR_INSN_INVALID, UC_HOOK_CODE, UC_HOOK_INSN, UC_HOOK_INTR, UC_MODE_16,
                     UC_PROT_EXEC, UC_PROT_READ, UC_PROT_WRITE, Uc, UcError)
from unicorn import x86_const as X
import ctypes

try:        # fast path around unicorn's per-call register-class lookup (~3x faster register access)
    from unicorn.unicorn_py3.unicorn import uclib as _uclib
except Exception:  # noqa: BLE001 - other binding layouts: use the public API
    _uclib = None

_REG = {"ax": X.UC_X86_REG_AX, "bx": X.UC_X86_REG_BX, "cx": X.UC_X86_REG_CX, "dx": X.UC_X86_REG_DX,
        "si": X.UC_X86_REG_SI, "di": X.UC_X86_REG_DI, "bp": X.UC_X86_REG_BP, "sp": X.UC_X86_REG_SP,
        "ip": X.UC_X86_REG_IP, "cs": X.UC_X86_REG_CS, "ds": X.UC_X86_REG_DS, "es": X.UC_X86_REG_ES,
        "ss": X.UC_X86_REG_SS, "fs": X.UC_X86_REG_FS, "gs": X.UC_X86_REG_GS, "flags": X.UC_X86_REG_FLAGS,
        "eflags": X.UC_X86_REG_EFLAGS,
        "al": X.UC_X86_REG_AL, "ah": X.UC_X86_REG_AH, "bl": X.UC_X86_REG_BL, "bh": X.UC_X86_REG_BH,
        "cl": X.UC_X86_REG_CL, "ch": X.UC_X86_REG_CH, "dl": X.UC_X86_REG_DL, "dh": X.UC_X86_REG_DH}
_REG16 = frozenset(_REG[n] for n in ("ax", "bx", "cx", "dx", "si", "di", "bp", "sp", "ip", "cs", "ds", "es", "ss",
                                       "fs", "gs", "flags"))
_PREFIXES = frozenset((0x26, 0x2E, 0x36, 0x3E, 0xF0, 0xF2, 0xF3))
_NO_UNTIL = 0xFFFF_FFFF_FFFF      # a linear address that is never reached
IF, TF = 0x200, 0x100


class GuestFault(Exception):
    """Unicorn stopped for a reason the adapter cannot turn into guest behaviour (e.g. unmapped memory)."""


class Emulator:
    def __init__(self, mode: int = 16, backend: str = "unicorn"):
        if mode != 16:
            raise ValueError("the Unicorn adapter only models mode 16 (real mode)")
        self.mode = mode
        self.uc = uc = Uc(UC_ARCH_X86, UC_MODE_16)
        self._uch = getattr(uc, "_uch", None)
        self._fast = _uclib is not None and self._uch is not None
        self._buf = ctypes.c_uint64(0)
        self._bufref = ctypes.byref(self._buf)
        self._dirty = True
        self._pending = None          # (vector, return IP) from the interrupt hook
        self._last = None             # linear address of the last instruction started
        self._executed = 0
        uc.hook_add(UC_HOOK_INTR, self._on_intr)
        uc.hook_add(UC_HOOK_CODE, self._on_code)
        uc.hook_add(UC_HOOK_INSN, self._on_in, None, 1, 0, X.UC_X86_INS_IN)
        uc.hook_add(UC_HOOK_INSN, self._on_out, None, 1, 0, X.UC_X86_INS_OUT)
        # QEMU remembers the exception "in flight" (for #DF detection) until it delivers it itself, which never
        # happens under Unicorn's interrupt hook: a second #DE would become #DF, a third a triple fault.
        # A context saved now (nothing in flight) is restored after each delivered exception to forget it.
        self._clean = uc.context_save()

    # ---- memory / registers
    def mem_map(self, addr: int, size: int, perms="rwx") -> None:
        p = 0
        if isinstance(perms, int):
            p = perms
        else:
            p |= UC_PROT_READ if "r" in perms else 0
            p |= UC_PROT_WRITE if "w" in perms else 0
            p |= UC_PROT_EXEC if "x" in perms else 0
        self.uc.mem_map(addr, size, p)

    def mem_write(self, addr: int, data) -> None:
        self.uc.mem_write(addr, bytes(data))
        self._dirty = True

    def mem_read(self, addr: int, size: int) -> bytes:
        return bytes(self.uc.mem_read(addr, size))

    def reg_write(self, name: str, value: int) -> None:
        rid = _REG[name.lower()]
        if self._fast:
            self._buf.value = value & 0xFFFF_FFFF
            st = _uclib.uc_reg_write(self._uch, rid, self._bufref)
            if st:
                raise UcError(st)
        else:
            self.uc.reg_write(rid, value)

    def reg_read(self, name: str) -> int:
        rid = _REG[name.lower()]
        if self._fast:
            self._buf.value = 0
            st = _uclib.uc_reg_read(self._uch, rid, self._bufref)
            if st:
                raise UcError(st)
            v = self._buf.value
        else:
            v = self.uc.reg_read(rid)
        return v & 0xFFFF if rid in _REG16 else v

    # ---- hooks
    def _on_code(self, uc, address, size, _):
        self._last = address
        self._executed += 1

    def _on_intr(self, uc, intno, _):
        self._pending = (intno, self._return_ip(uc.reg_read(X.UC_X86_REG_IP)))
        uc.emu_stop()

    def _return_ip(self, ip_now: int) -> int:
        """IP to push: the next instruction for INT n/INT3/INTO (traps), the faulting instruction otherwise.
        Decoded from the last instruction started (Unicorn's own IP here differs between vectors)."""
        if self._last is None:
            return ip_now
        start = (self._last - (self.uc.reg_read(X.UC_X86_REG_CS) << 4)) & 0xFFFF
        code = self.mem_read(self._last, 16)
        i = 0
        while i < 15 and code[i] in _PREFIXES:
            i += 1
        op = code[i]
        if op == 0xCD:
            return (start + i + 2) & 0xFFFF
        if op in (0xCC, 0xCE):
            return (start + i + 1) & 0xFFFF
        return start

    _CTX_REGS = (X.UC_X86_REG_EAX, X.UC_X86_REG_EBX, X.UC_X86_REG_ECX, X.UC_X86_REG_EDX, X.UC_X86_REG_ESI,
                 X.UC_X86_REG_EDI, X.UC_X86_REG_EBP, X.UC_X86_REG_ESP, X.UC_X86_REG_EIP, X.UC_X86_REG_EFLAGS,
                 X.UC_X86_REG_CS, X.UC_X86_REG_DS, X.UC_X86_REG_ES, X.UC_X86_REG_SS, X.UC_X86_REG_FS,
                 X.UC_X86_REG_GS)

    def _forget_exception(self) -> None:
        uc = self.uc
        vals = [uc.reg_read(r) for r in self._CTX_REGS]
        uc.context_restore(self._clean)
        for r, v in zip(self._CTX_REGS, vals):
            uc.reg_write(r, v)

    @staticmethod
    def _on_in(uc, port, size, _):
        return (1 << (8 * size)) - 1

    @staticmethod
    def _on_out(uc, port, size, value, _):
        return None

    # ---- run
    def _linear(self, ip: int) -> int:
        return (self.uc.reg_read(X.UC_X86_REG_CS) << 4) + ip

    def _is_hlt(self, addr: int) -> bool:
        code = self.mem_read(addr, 16)
        i = 0
        while i < 15 and code[i] in _PREFIXES:
            i += 1
        return code[i] == 0xF4

    def _deliver(self, vector: int, ret_ip: int) -> int:
        """Real-mode exception/interrupt delivery through the IVT; returns the handler's IP."""
        uc = self.uc
        flags = uc.reg_read(X.UC_X86_REG_FLAGS) & 0xFFFF
        cs = uc.reg_read(X.UC_X86_REG_CS)
        ss = uc.reg_read(X.UC_X86_REG_SS)
        sp = uc.reg_read(X.UC_X86_REG_SP)
        for v in (flags, cs, ret_ip):
            sp = (sp - 2) & 0xFFFF
            uc.mem_write((ss << 4) + sp, (v & 0xFFFF).to_bytes(2, "little"))
        uc.reg_write(X.UC_X86_REG_SP, sp)
        uc.reg_write(X.UC_X86_REG_FLAGS, flags & ~(IF | TF))
        vec = bytes(uc.mem_read(vector * 4, 4))
        uc.reg_write(X.UC_X86_REG_CS, vec[2] | vec[3] << 8)
        self._dirty = True
        return vec[0] | vec[1] << 8

    def emu_start(self, begin: int, until: int | None = None, count: int | None = None) -> str:
        uc = self.uc
        ip = begin & 0xFFFF
        budget = count
        while True:
            if self._dirty:
                uc.ctl_flush_tb()
                self._dirty = False
            self._pending = None
            self._last = None
            self._executed = 0
            start = self._linear(ip)
            end = self._linear(until) if until is not None else _NO_UNTIL
            try:
                uc.emu_start(start, end, 0, budget or 0)
            except UcError as e:
                if e.errno == UC_ERR_INSN_INVALID:
                    self._pending = (6, self._return_ip(uc.reg_read(X.UC_X86_REG_IP)))   # #UD (a fault)
                else:
                    at = uc.reg_read(X.UC_X86_REG_CS), uc.reg_read(X.UC_X86_REG_IP)
                    raise GuestFault(f"unicorn: {e} at {at[0]:04x}:{at[1]:04x}") from e
            if budget is not None:
                budget -= self._executed
            if self._pending is not None:
                self._forget_exception()
                ip = self._deliver(*self._pending)
                uc.reg_write(X.UC_X86_REG_IP, ip)
                if budget is not None and budget <= 0:
                    return "count"
                continue
            cur_ip = uc.reg_read(X.UC_X86_REG_IP)
            if self._last is not None and self._is_hlt(self._last) and self._linear(cur_ip) != self._last:
                return "hlt"
            if until is not None and cur_ip == until:
                return "until"
            if budget is not None and budget <= 0:
                return "count"
            return "stopped"
