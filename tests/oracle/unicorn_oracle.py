"""Second oracle: the same case / result format as ``tests.oracle.native``,
emulated with Unicorn (QEMU TCG) instead of executed natively.

Public API::

    run_batch(cases, timeout=None, max_insns=1_000_000) -> [result, ...]
    run_unicorn(code, mode, regs=None, mem=None, ...) -> result
    data_area(mode) -> (address, size)
    code_address(mode) -> address
    expected_signal(result) -> 'SIGFPE' | 'SIGSEGV' | ... | None

Modes 32 and 64 use the *same* code address and data area as the native
oracle (so RIP-relative operands and stack addresses agree).  Mode 16 is real
mode with all segment registers 0: code at 0x1000, data area 0x2000..0xFFFF.

Result::

    {'regs': {...} | None, 'mem': {addr: bytes} | None,
     'exception': None | 'UC_ERR_...' | 'TIMEOUT',
     'vector': None | int}        # CPU exception vector, when Unicorn reports one

Mode 16 reports the full 32-bit registers eax..edi (inputs may use ax..di or
eax..edi) and 'eflags'.  Flags in/out are masked to CF PF AF ZF SF OF DF.
Note: Unicorn leaves architecturally *undefined* flags (e.g. after MUL, BSF,
shifts by >1) with QEMU's choices, which may differ from real hardware; use
it for registers and defined flags only.
"""

from __future__ import annotations

import unicorn
from unicorn import x86_const as X
from unicorn import unicorn_const as UC

from . import native

__all__ = ["run_batch", "run_unicorn", "data_area", "code_address",
           "expected_signal", "REGS16"]

FLAGS_MASK = native.FLAGS_MASK
REGS64, REGS32 = native.REGS64, native.REGS32
REGS16 = ("ax", "cx", "dx", "bx", "sp", "bp", "si", "di")

_UC_REGS64 = [getattr(X, "UC_X86_REG_" + r.upper()) for r in REGS64]
_UC_REGS32 = [getattr(X, "UC_X86_REG_" + r.upper()) for r in REGS32]

_ERRNAMES = {getattr(UC, n): n for n in dir(UC) if n.startswith("UC_ERR_")}

_CODE16, _DATA16, _DATA16_SIZE = 0x1000, 0x2000, 0xE000
_PAGE = 0x1000


def data_area(mode=64):
    if mode == 16:
        return _DATA16, _DATA16_SIZE
    return native.data_area(mode)


def code_address(mode=64):
    if mode == 16:
        return _CODE16
    return native.code_address(mode)


def _initial(mode, regs):
    data, size = data_area(mode)
    sp = data + size - 0x100
    if mode == 16:
        regs = {(("e" + k) if k.lower() in REGS16 else k): v for k, v in regs.items()}
        return native.initial_regs(32, regs, sp)
    return native.initial_regs(mode, regs, sp)


class _Machine:
    def __init__(self, mode):
        self.mode = mode
        ucmode = {16: UC.UC_MODE_16, 32: UC.UC_MODE_32, 64: UC.UC_MODE_64}[mode]
        self.uc = uc = unicorn.Uc(UC.UC_ARCH_X86, ucmode)
        self.code = code_address(mode)
        self.code_page = self.code & ~(_PAGE - 1)
        self.data, self.size = data_area(mode)
        uc.mem_map(self.code_page, _PAGE, UC.UC_PROT_ALL)
        uc.mem_map(self.data, self.size, UC.UC_PROT_READ | UC.UC_PROT_WRITE)
        self.zero = bytes(self.size)
        self.ucregs = _UC_REGS64 if mode == 64 else _UC_REGS32
        self.names = REGS64 if mode == 64 else REGS32
        self.flagreg = X.UC_X86_REG_RFLAGS if mode == 64 else X.UC_X86_REG_EFLAGS
        self.flagname = "rflags" if mode == 64 else "eflags"
        self.intno = None
        self.last_code = None
        uc.hook_add(UC.UC_HOOK_INTR, self._on_intr)
        # A clean CPU context: restoring it before every case also clears the
        # pending-exception state that a stopped fault leaves behind (which
        # otherwise turns the next fault into a double fault).
        self.ctx = uc.context_save()

    def _on_intr(self, uc, intno, user_data):
        self.intno = intno
        uc.emu_stop()

    def run(self, code, regs, mem, timeout_us, max_insns):
        uc = self.uc
        code_end = self.code + len(code)
        if code_end > self.code_page + _PAGE:
            raise ValueError("code fragment too long")
        vals, flags = _initial(self.mode, regs)
        for addr, b in mem.items():
            if not (self.data <= addr and addr + len(b) <= self.data + self.size):
                raise ValueError(f"mem region {addr:#x}+{len(b)} outside data_area")
        uc.mem_write(self.data, self.zero)
        for addr, b in mem.items():
            uc.mem_write(addr, bytes(b))
        if code != self.last_code:          # keep translated blocks if unchanged
            uc.mem_write(self.code_page, bytes(_PAGE))
            uc.mem_write(self.code, code)
            uc.ctl_remove_cache(self.code_page, self.code_page + _PAGE)
            self.last_code = code
        uc.context_restore(self.ctx)
        uc.reg_write_batch(list(zip(self.ucregs, vals)))
        uc.reg_write(self.flagreg, flags | 0x2)
        if self.mode == 16:
            for seg in (X.UC_X86_REG_CS, X.UC_X86_REG_DS, X.UC_X86_REG_ES,
                        X.UC_X86_REG_SS, X.UC_X86_REG_FS, X.UC_X86_REG_GS):
                uc.reg_write(seg, 0)
        self.intno = None
        try:
            uc.emu_start(self.code, code_end, timeout=timeout_us, count=max_insns)
        except unicorn.UcError as e:
            return {"regs": None, "mem": None,
                    "exception": _ERRNAMES.get(e.errno, f"UC_ERR_{e.errno}"),
                    "vector": self.intno}
        if self.intno is not None:
            return {"regs": None, "mem": None, "exception": "UC_ERR_EXCEPTION",
                    "vector": self.intno}
        pc = uc.reg_read(X.UC_X86_REG_RIP if self.mode == 64 else X.UC_X86_REG_EIP)
        if self.mode == 16:
            pc &= 0xFFFF
        if pc != code_end:
            return {"regs": None, "mem": None, "exception": "TIMEOUT", "vector": None}
        out = uc.reg_read_batch(self.ucregs)
        width = (1 << self.mode) - 1 if self.mode != 16 else 0xFFFFFFFF
        res = {n: v & width for n, v in zip(self.names, out)}
        res[self.flagname] = uc.reg_read(self.flagreg) & FLAGS_MASK
        memout = {addr: bytes(uc.mem_read(addr, len(b))) for addr, b in mem.items()}
        return {"regs": res, "mem": memout, "exception": None, "vector": None}


def run_batch(cases, timeout=None, max_insns=1_000_000):
    """Emulate each case (same case format as native.run_native_batch).

    A case that has not reached the end of its code after ``max_insns``
    instructions (or ``timeout`` seconds, if given: Unicorn's timeout costs
    ~150 us per case because it starts a watchdog thread) is 'TIMEOUT'."""
    timeout_us = int(timeout * 1e6) if timeout else 0
    machines = {}
    out = []
    for case in cases:
        code, mode, regs, mem = native.normalize_case(case)
        if mode not in (16, 32, 64):
            raise ValueError("mode must be 16, 32 or 64")
        m = machines.get(mode)
        if m is None:
            m = machines[mode] = _Machine(mode)
        out.append(m.run(code, regs, mem, timeout_us, max_insns))
    return out


def run_unicorn(code, mode, regs=None, mem=None, timeout=None, max_insns=1_000_000):
    return run_batch([(code, mode, regs or {}, mem)], timeout=timeout,
                     max_insns=max_insns)[0]


# Linux signal a native run would die with for a given Unicorn outcome.
_VECTOR_SIGNAL = {0: "SIGFPE", 1: "SIGTRAP", 3: "SIGTRAP", 4: "SIGSEGV",
                  5: "SIGSEGV", 6: "SIGILL", 10: "SIGSEGV", 11: "SIGBUS",
                  12: "SIGBUS", 13: "SIGSEGV", 14: "SIGSEGV", 16: "SIGFPE",
                  17: "SIGBUS", 19: "SIGFPE"}
_ERR_SIGNAL = {"UC_ERR_INSN_INVALID": "SIGILL",
               "UC_ERR_READ_UNMAPPED": "SIGSEGV", "UC_ERR_WRITE_UNMAPPED": "SIGSEGV",
               "UC_ERR_FETCH_UNMAPPED": "SIGSEGV", "UC_ERR_READ_PROT": "SIGSEGV",
               "UC_ERR_WRITE_PROT": "SIGSEGV", "UC_ERR_FETCH_PROT": "SIGSEGV",
               "UC_ERR_READ_UNALIGNED": "SIGBUS", "UC_ERR_WRITE_UNALIGNED": "SIGBUS",
               "UC_ERR_FETCH_UNALIGNED": "SIGBUS"}


def expected_signal(result):
    """Map a Unicorn result's exception to the signal name the native oracle
    reports for the same fault (None if no exception; 'TIMEOUT' passes)."""
    exc = result.get("exception")
    if exc is None or exc == "TIMEOUT":
        return exc
    if result.get("vector") is not None:
        return _VECTOR_SIGNAL.get(result["vector"], f"VECTOR_{result['vector']}")
    return _ERR_SIGNAL.get(exc, exc)
