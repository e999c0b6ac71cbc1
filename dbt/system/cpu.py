"""The system-mode CPU: an i686-class processor's privileged state and the helpers translated code calls for it.

Translated code does the ordinary work; everything that needs descriptor tables, privilege checks or a mode change is
a helper here (as QEMU's seg_helper/misc_helper): segment loads, far transfers, INT n, IRET, control registers, MSRs,
descriptor-table loads, LAR/LSL/VERR/VERW, INVLPG, SYSENTER/SYSEXIT, port I/O with the IOPL and TSS-bitmap checks,
and the x87 state an OS saves. A helper that refuses raises ``CpuException``; the calling instruction then faults with
the state it had before it (helpers commit their register writes last).

The translation mode (``tbflags``: code and stack size, real/protected, CPL, TF) is recomputed by ``update_mode``
after anything that may change it; the native TLB is flushed when CPL changes, since it caches one privilege's rights.

Exceptions and interrupts go through ``deliver``/``interrupt`` (``dbt.system.interrupts``); a fault during delivery
becomes #DF as the SDM's table 6-5 says, and a fault while delivering #DF is a triple fault: ``TripleFault`` stops the
machine.

Departures from a real i686: no task switches (task gates, TSS descriptors in JMP/CALL, IRET with NT raise
``Unsupported``), no virtual-8086 mode, no debug registers beyond storing DR0-DR7 (single-step with EFLAGS.TF works
and sets DR6.BS), no alignment check (#AC: CR0.AM and EFLAGS.AC are kept but never fault, as in QEMU), segment
limits are not enforced in protected mode, and the I/O bitmap is honoured but the TSS limit check is the only check
of its range.
"""

from __future__ import annotations

from dbt import helpers as base_helpers
from dbt.cpumode import CpuMode
from dbt.memory import CpuException
from dbt.system.mmu import CR0_PE, CR0_PG, CR0_WP
from dbt.system.segments import ATTR_DB, GP, Segments

UD, NM = 6, 7
IF, TF, IOPL, NT, RF, VM, AC, ID = 1 << 9, 1 << 8, 3 << 12, 1 << 14, 1 << 16, 1 << 17, 1 << 18, 1 << 21
CR0_MP, CR0_EM, CR0_TS, CR0_ET, CR0_NE = 2, 4, 8, 0x10, 0x20
CR0_FIXED = CR0_ET                                  # ET is hard-wired to 1 (an FPU is present)
CR0_VALID = CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_ET | CR0_NE | CR0_WP | (1 << 18) | (3 << 29) | CR0_PG
CR4_TSD, CR4_DE, CR4_PSE, CR4_PGE = 4, 8, 0x10, 0x80
CR4_VALID = CR4_TSD | CR4_DE | CR4_PSE

MSR_TSC, MSR_SYSENTER_CS, MSR_SYSENTER_ESP, MSR_SYSENTER_EIP = 0x10, 0x174, 0x175, 0x176

# CPUID leaf 1 EDX of the system CPU: FPU, DE? no; TSC (4), MSR (5), CX8 (8), SEP (11), CMOV (15), PSE (3).
SYS_LEAF1_EDX = (1 << 0) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 8) | (1 << 11) | (1 << 15)


class Unsupported(Exception):
    """The guest asked for a feature this CPU model does not implement (named in the message)."""


class TripleFault(Exception):
    """A fault while delivering a double fault: a real PC shuts down (or resets); the VM stops."""


class SystemCpu:
    def __init__(self, mem, io=None):
        self.mem = mem
        self.io = io                       # object with io_read(port, size) / io_write(port, size, value)
        self.engine = None
        self.state = None
        self.segs = Segments(self)
        # The STI / MOV SS interrupt shadow: interrupts are held off until the instruction at shadow_pc has run. It
        # can only still hold in the slice that set it (``slice`` is the machine's slice counter then).
        self.shadow_pc = None
        self.shadow_slice = -1
        self.slice = 0
        self.intr_pending = lambda: False  # the machine's "INTR asserted" test
        self.drs = [0] * 8
        self.now_ns = None                 # the machine's clock: the TSC counts its nanoseconds (1 GHz)
        self.fpu_env = bytes(0)

    def attach(self, engine) -> None:
        self.engine = engine
        self.state = engine.state
        self.mem.state = engine.state
        engine.deliver = self.deliver

    # Mode -------------------------------------------------------------------------------------------------------
    @property
    def cpl(self) -> int:
        return (self.state["tbflags"] >> 6) & 3

    @property
    def protected(self) -> bool:
        return bool(self.state["cr0"] & CR0_PE)

    def update_mode(self, cpl: int | None = None) -> None:
        st = self.state
        old = st["tbflags"]
        if cpl is None:
            cpl = (old >> 6) & 3
        tf = bool(st["eflags"] & TF)
        if not st["cr0"] & CR0_PE:
            mode = CpuMode(16, 16, real=True, system=True, cpl=0, tf=tf)
        else:
            if st["eflags"] & VM:
                raise Unsupported("virtual-8086 mode")
            mode = CpuMode(32 if st["cs_attr"] & ATTR_DB else 16, 32 if st["ss_attr"] & ATTR_DB else 16,
                           system=True, cpl=cpl, tf=tf)
        st["tbflags"] = mode.flags
        if (old >> 6) & 3 != mode.cpl:
            self.mem.set_privilege(mode.cpl == 3)

    def reset(self) -> None:
        """The state after RESET (SDM Vol. 3 9.1.1): real mode, CS:IP = F000:FFF0 with CS base FFFF0000."""
        st = self.state
        for name in ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp"):
            st[name] = 0
        st["rdx"] = 0x600                   # family 6 processor signature
        st.unpack_flags(0x2)
        st["cr0"], st["cr2"], st["cr3"], st["cr4"] = 0x60000010, 0, 0, 0
        for seg in ("es", "ss", "ds", "fs", "gs"):
            st[seg], st[seg + "_base"], st[seg + "_limit"], st[seg + "_attr"] = 0, 0, 0xFFFF, 0x93
        st["cs"], st["cs_base"], st["cs_limit"], st["cs_attr"] = 0xF000, 0xFFFF0000, 0xFFFF, 0x9B
        st["gdt_base"], st["gdt_limit"], st["idt_base"], st["idt_limit"] = 0, 0xFFFF, 0, 0xFFFF
        st["ldtr"], st["ldt_base"], st["ldt_limit"], st["ldt_attr"] = 0, 0, 0xFFFF, 0x82
        st["tr"], st["tr_base"], st["tr_limit"], st["tr_attr"] = 0, 0, 0xFFFF, 0x8B
        st["fcw"], st["fsw"], st["ftw"] = 0x40, 0, 0x5555
        st["rip"] = 0xFFF0
        self.shadow_pc = None
        self.update_mode(0)
        self.mem.flush_tlb()

    def set_flat_protected(self, eip: int) -> None:
        """The state a multiboot loader leaves (Multiboot 1 spec 3.2): 32-bit protected mode, flat 4 GiB CS (ring 0)
        and data segments, paging off, interrupts disabled; GDTR/IDTR are not valid for the OS."""
        st = self.state
        st["cr0"] = (st["cr0"] | CR0_PE | CR0_ET) & ~CR0_PG
        for seg in ("es", "ss", "ds", "fs", "gs"):
            st[seg], st[seg + "_base"], st[seg + "_limit"], st[seg + "_attr"] = 0x10, 0, 0xFFFFFFFF, 0xC093
        st["cs"], st["cs_base"], st["cs_limit"], st["cs_attr"] = 0x08, 0, 0xFFFFFFFF, 0xC09B
        st.unpack_flags(0x2)
        st["rip"] = eip
        self.update_mode(0)

    # Interrupt gating ----------------------------------------------------------------------------------------------
    def irq_check(self) -> None:
        """After IF may have become 1: if an interrupt is waiting, leave translated code at the next unit boundary."""
        if self.state["eflags"] & IF and self.intr_pending() and self.engine is not None:
            self.engine.request_exit()

    def can_take_interrupt(self) -> bool:
        st = self.state
        if not st["eflags"] & IF:
            return False
        if self.shadow_pc is not None:
            if self.shadow_slice == self.slice and (st["cs_base"] + st["rip"]) & 0xFFFFFFFF == self.shadow_pc:
                return False
            self.shadow_pc = None
        return True

    # Delivery (see interrupts.py) ---------------------------------------------------------------------------------
    def deliver(self, vector: int, error: int, pc: int) -> None:
        from dbt.system.interrupts import deliver_exception
        self._between_instructions(deliver_exception, vector, error, pc)

    def interrupt(self, vector: int) -> None:
        from dbt.system.interrupts import deliver_external
        self._between_instructions(deliver_external, vector)

    def _between_instructions(self, fn, *args) -> None:
        """Runs a delivery from the engine's loop: its stack pushes may hit translated code, which is then simply
        invalidated (there is no instruction to re-run)."""
        eng = self.engine
        old, eng.smc_passthrough = eng.smc_passthrough, True
        try:
            fn(self, *args)
        finally:
            eng.smc_passthrough = old

    # Helpers --------------------------------------------------------------------------------------------------------
    def helpers(self) -> dict:
        """The helpers translated code calls in system mode (replacing the flat engine's port and CPUID ones)."""
        from dbt.system import interrupts, transfers
        h = {
            "port_in": self._port_in, "port_out": self._port_out, "cpuid": self._cpuid,
            "load_seg": self._load_seg, "write_cr": self._write_cr, "lmsw": self._lmsw, "clts": self._clts,
            "lldt": self._lldt, "ltr": self._ltr, "lar": self._lar, "lsl": self._lsl, "verr": self._verr,
            "verw": self._verw, "invlpg": self._invlpg, "rdmsr": self._rdmsr, "wrmsr": self._wrmsr,
            "cli": self._cli, "sti": self._sti, "popf": self._popf, "after_ss": self._after_ss,
            "write_dr": self._write_dr, "read_dr": self._read_dr, "fpu_check": self._fpu_check,
            "fnsave": self._fnsave, "frstor": self._frstor, "priv_check": self._priv_check,
            "rdtsc_check": self._rdtsc_check, "rdtsc": self._rdtsc,
        }
        h.update(interrupts.helpers(self))
        h.update(transfers.helpers(self))
        return {k: _bound(v) for k, v in h.items()}

    def _priv_check(self) -> int:
        if self.cpl != 0:
            raise CpuException(GP, 0)
        return 0

    # I/O: IOPL and the TSS I/O permission bitmap (SDM Vol. 1 19.5)
    def _io_allowed(self, port: int, size: int) -> None:
        st = self.state
        if not self.protected or self.cpl <= (st["eflags"] >> 12) & 3:
            return
        tss_32 = st["tr_attr"] & 0xF in (0x9, 0xB)
        if not tss_32 or st["tr_limit"] < 0x67:
            raise CpuException(GP, 0)
        base = self.mem.load_priv(st["tr_base"] + 0x66, 2)
        byte = base + port // 8
        if byte + 1 > st["tr_limit"]:
            raise CpuException(GP, 0)
        bits = self.mem.load_priv(st["tr_base"] + byte, 2)
        if (bits >> (port % 8)) & ((1 << size) - 1):
            raise CpuException(GP, 0)

    def _port_in(self, port: int, size: int) -> int:
        self._io_allowed(port, size)
        if self.io is None:
            return (1 << (8 * size)) - 1
        return self.io.io_read(port & 0xFFFF, size)

    def _port_out(self, port: int, size: int, value: int) -> int:
        self._io_allowed(port, size)
        if self.io is not None:
            self.io.io_write(port & 0xFFFF, size, value & ((1 << (8 * size)) - 1))
        return 0

    def _cpuid(self, leaf: int, subleaf: int) -> int:
        st = self.state
        eax, ebx, ecx, edx = base_helpers.system_cpuid(leaf & 0xFFFFFFFF, subleaf & 0xFFFFFFFF)
        if leaf == 1:
            # An i686-class CPU: what the system VM implements (no long mode, no CMPXCHG16B/POPCNT claims change).
            edx = SYS_LEAF1_EDX
            ecx = 0
        elif leaf == 0x80000001:
            edx, ecx = 0, 0
        elif leaf == 7:
            ebx = 0
        st["rax"], st["rbx"], st["rcx"], st["rdx"] = eax, ebx, ecx, edx
        return 0

    def _rdtsc(self) -> int:
        """The time-stamp counter: 1 GHz of the machine's clock (virtual time includes the time skipped in HLT),
        plus the offset WRMSR set."""
        now = self.now_ns() if self.now_ns is not None else self.engine.icount() * 4
        return (now + self.state["tsc"]) & ((1 << 64) - 1)

    def _rdtsc_check(self) -> int:
        if self.state["cr4"] & CR4_TSD and self.cpl != 0 and self.protected:
            raise CpuException(GP, 0)
        return 0

    # Segment registers
    def _load_seg(self, index: int, sel: int) -> int:
        seg = ("es", "cs", "ss", "ds", "fs", "gs")[index]
        sel &= 0xFFFF
        if not self.protected:
            st = self.state
            st[seg], st[seg + "_base"] = sel, sel << 4
            return 0
        self.segs.load(seg, sel)
        if seg == "ss":
            self.update_mode()
        return 0

    def _after_ss(self, next_pc: int) -> int:
        """MOV SS / POP SS hold off interrupts until the next instruction has run."""
        self.shadow_pc, self.shadow_slice = next_pc, self.slice
        return 0

    # Control registers
    def _write_cr(self, n: int, value: int) -> int:
        st = self.state
        value &= 0xFFFFFFFF
        if n == 0:
            if value & ~CR0_VALID or (value & CR0_PG and not value & CR0_PE) or (value & (1 << 29) and
                                                                               not value & (1 << 30)):
                raise CpuException(GP, 0)
            old = st["cr0"]
            st["cr0"] = value | CR0_FIXED
            if (old ^ value) & (CR0_PE | CR0_PG | CR0_WP):
                self.mem.flush_tlb()
                if (old ^ value) & CR0_PG:
                    self.engine.remap_code()
            if (old ^ value) & CR0_PE:
                self.update_mode(0 if value & CR0_PE else None)
        elif n == 2:
            st["cr2"] = value
        elif n == 3:
            st["cr3"] = value & 0xFFFFF018
            self.mem.flush_tlb()
            if st["cr0"] & CR0_PG:
                self.engine.remap_code()
        elif n == 4:
            if value & ~CR4_VALID:
                raise CpuException(GP, 0)
            old = st["cr4"]
            st["cr4"] = value
            if (old ^ value) & CR4_PSE:
                self.mem.flush_tlb()
                if st["cr0"] & CR0_PG:
                    self.engine.remap_code()
        else:
            raise CpuException(UD)
        return 0

    def _lmsw(self, value: int) -> int:
        st = self.state
        cr0 = st["cr0"]
        new = (cr0 & ~0xE) | (value & 0xF)          # PE can be set but not cleared by LMSW
        new |= cr0 & CR0_PE
        return self._write_cr(0, new)

    def _clts(self) -> int:
        self.state["cr0"] = self.state["cr0"] & ~CR0_TS
        return 0

    def _write_dr(self, n: int, value: int) -> int:
        self.drs[n & 7] = value & 0xFFFFFFFF
        return 0

    def _read_dr(self, n: int) -> int:
        return self.drs[n & 7]

    # Descriptor tables
    def _lldt(self, sel: int) -> int:
        st = self.state
        sel &= 0xFFFF
        if not sel & 0xFFFC:
            st["ldtr"], st["ldt_base"], st["ldt_limit"], st["ldt_attr"] = sel, 0, 0, 0
            return 0
        if sel & 4:
            raise CpuException(GP, sel & 0xFFFC)
        d, _ = self.segs.table_entry(sel)
        if not d.system or d.type != 2:
            raise CpuException(GP, sel & 0xFFFC)
        if not d.present:
            raise CpuException(11, sel & 0xFFFC)
        st["ldtr"], st["ldt_base"], st["ldt_limit"], st["ldt_attr"] = sel, d.base, d.limit, d.attr
        return 0

    def _ltr(self, sel: int) -> int:
        st = self.state
        sel &= 0xFFFF
        if not sel & 0xFFFC or sel & 4:
            raise CpuException(GP, sel & 0xFFFC)
        d, addr = self.segs.table_entry(sel)
        if not d.system or d.type not in (1, 9):          # an available 16- or 32-bit TSS
            raise CpuException(GP, sel & 0xFFFC)
        if not d.present:
            raise CpuException(11, sel & 0xFFFC)
        self.mem.store_priv(addr + 4, 4, d.hi | 0x200)      # mark busy
        st["tr"], st["tr_base"], st["tr_limit"], st["tr_attr"] = sel, d.base, d.limit, d.attr | 2
        return 0

    def _visible(self, sel: int):
        """The descriptor of ``sel`` if LAR/LSL/VERR/VERW may see it at this CPL, else None."""
        if not sel & 0xFFFC:
            return None
        try:
            d, _ = self.segs.table_entry(sel)
        except CpuException:
            return None
        if not d.conforming and (self.cpl > d.dpl or (sel & 3) > d.dpl):
            return None
        return d

    def _lar(self, sel: int) -> int:
        """Bit 32 set = valid (ZF = 1); low 32 bits: the access rights (descriptor dword 1 AND 00F0FF00H)."""
        d = self._visible(sel & 0xFFFF)
        if d is None or (d.system and d.type not in (1, 2, 3, 4, 5, 9, 0xB, 0xC)):
            return 0
        return (1 << 32) | (d.hi & 0x00F0FF00)

    def _lsl(self, sel: int) -> int:
        d = self._visible(sel & 0xFFFF)
        if d is None or (d.system and d.type not in (1, 2, 3, 9, 0xB)):
            return 0
        return (1 << 32) | d.limit

    def _verr(self, sel: int) -> int:
        d = self._visible(sel & 0xFFFF)
        return int(d is not None and d.readable)

    def _verw(self, sel: int) -> int:
        d = self._visible(sel & 0xFFFF)
        return int(d is not None and d.writable_data)

    def _invlpg(self, linear: int) -> int:
        self.mem.invlpg(linear)
        self.engine.remap_code(linear)
        return 0

    # MSRs
    def _rdmsr(self) -> int:
        st = self.state
        n = st["rcx"] & 0xFFFFFFFF
        if n == MSR_TSC:
            v = self.engine.helpers["rdtsc"](st, self.mem)
        elif n == MSR_SYSENTER_CS:
            v = st["sysenter_cs"]
        elif n == MSR_SYSENTER_ESP:
            v = st["sysenter_esp"]
        elif n == MSR_SYSENTER_EIP:
            v = st["sysenter_eip"]
        else:
            raise CpuException(GP, 0)
        st["rax"], st["rdx"] = v & 0xFFFFFFFF, (v >> 32) & 0xFFFFFFFF
        return 0

    def _wrmsr(self) -> int:
        st = self.state
        n = st["rcx"] & 0xFFFFFFFF
        v = (st["rdx"] & 0xFFFFFFFF) << 32 | (st["rax"] & 0xFFFFFFFF)
        if n == MSR_TSC:
            st["tsc"] = (v - self.engine.helpers["rdtsc"](st, self.mem) + st["tsc"]) & ((1 << 64) - 1)
        elif n == MSR_SYSENTER_CS:
            st["sysenter_cs"] = v & 0xFFFF
        elif n == MSR_SYSENTER_ESP:
            st["sysenter_esp"] = v & 0xFFFFFFFF
        elif n == MSR_SYSENTER_EIP:
            st["sysenter_eip"] = v & 0xFFFFFFFF
        else:
            raise CpuException(GP, 0)
        return 0

    # IF: CLI, STI, POPF (SDM Vol. 2 CLI/STI/POPF: the IOPL rules outside virtual-8086 mode)
    def _iopl_ok(self) -> bool:
        return not self.protected or self.cpl <= (self.state["eflags"] >> 12) & 3

    def _cli(self) -> int:
        if not self._iopl_ok():
            raise CpuException(GP, 0)
        self.state["eflags"] = self.state["eflags"] & ~IF
        return 0

    def _sti(self, next_pc: int) -> int:
        if not self._iopl_ok():
            raise CpuException(GP, 0)
        st = self.state
        if not st["eflags"] & IF:
            self.shadow_pc, self.shadow_slice = next_pc, self.slice
        st["eflags"] = st["eflags"] | IF
        self.irq_check()
        return 0

    def _popf(self, value: int, size: int) -> int:
        """Writes the popped flags: IOPL only at CPL 0, IF only when CPL <= IOPL; VM, RF, VIF, VIP never."""
        st = self.state
        mask = 0x257FD5                                   # CF PF AF ZF SF TF IF DF OF IOPL NT AC ID
        if self.protected and self.cpl > 0:
            mask &= ~IOPL
        if not self._iopl_ok():
            mask &= ~IF
        if size == 2:
            mask &= 0xFFFF
        old = st.pack_flags()
        st.unpack_flags((old & ~mask) | (value & mask))
        if (old ^ value) & mask & TF:
            self.update_mode()                           # single-stepping starts or stops (the unit ends here)
        self.irq_check()
        return 0

    # x87 state an OS touches: CR0.EM/TS checks, FNSAVE/FRSTOR of the control words (no x87 arithmetic)
    def _fpu_check(self, wait: int) -> int:
        cr0 = self.state["cr0"]
        if wait:
            if cr0 & CR0_TS and cr0 & CR0_MP:
                raise CpuException(NM)
        elif cr0 & (CR0_EM | CR0_TS):
            raise CpuException(NM)
        return 0

    def _fnsave(self, addr: int, size32: int) -> int:
        """FNSAVE: the environment (control, status, tag words; pointers 0) and 8 zeroed registers; then FNINIT."""
        st = self.state
        self._fpu_check(0)
        env = [st["fcw"], st["fsw"], st["ftw"], 0, 0, 0, 0]
        unit = 4 if size32 else 2
        data = b"".join(v.to_bytes(unit, "little") for v in env) + self.fpu_env[:80].ljust(80, b"\0")
        self.mem.write(addr, data)
        st["fcw"], st["fsw"], st["ftw"] = 0x37F, 0, 0xFFFF
        return 0

    def _frstor(self, addr: int, size32: int) -> int:
        st = self.state
        self._fpu_check(0)
        unit = 4 if size32 else 2
        data = self.mem.read(addr, 7 * unit + 80)
        word = lambda i: int.from_bytes(data[i * unit:i * unit + 2], "little")  # noqa: E731
        st["fcw"], st["fsw"], st["ftw"] = word(0), word(1), word(2)
        self.fpu_env = data[7 * unit:]
        return 0


def _bound(fn):
    """Helpers are called as fn(state, memory, *args): drop the first two for the CPU's bound methods."""
    def call(state, memory, *args):
        return fn(*args)
    call.__signature__ = _signature(fn)
    return call


def _signature(fn):
    import inspect
    params = [inspect.Parameter("state", inspect.Parameter.POSITIONAL_ONLY),
              inspect.Parameter("memory", inspect.Parameter.POSITIONAL_ONLY)]
    params += list(inspect.signature(fn).parameters.values())
    return inspect.Signature(params)

