"""The per-instruction lifting context: operand access, deferred state writes, stack, exits.

Instruction lifters see only this interface. Its one rule keeps guest state precise at faults: memory accesses are
emitted at once, in program order, while every write to guest state (registers, flags, segment registers) is held
back in ``pending`` and emitted by ``flush`` when the instruction is complete. A fault raised by a load or store of
the instruction therefore leaves every register as it was before the instruction, as on a CPU. Reads of a register
written earlier in the same instruction see the pending value.
"""

from __future__ import annotations

from ir import Builder, Ty

from dbt.cpumode import CpuMode
from dbt.lift.regs import REGS
from dbt.state import LAYOUT, SEGMENTS

TY_BY_SIZE = {1: Ty.i8, 2: Ty.i16, 4: Ty.i32, 8: Ty.i64, 16: Ty.i128}
WIDTH_TY = {16: Ty.i16, 32: Ty.i32, 64: Ty.i64}

# Vectors (Intel SDM Vol. 3 6.3.1)
DE, DB, NMI, BP, OF, BR, UD, NM, DF, TS, NP, SS, GP, PF = 0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14


class LiftError(Exception):
    """The lifter cannot express an instruction (a bug or an unimplemented form: the guest sees #UD)."""


class InsnCtx:
    """What a lifter sees of one instruction. ``b`` is the IR builder of the unit being built."""

    def __init__(self, b: Builder, cpu: CpuMode, insn, ip: int, cs_base: int):
        self.b = b
        self.cpu = cpu
        self.mode = mode = cpu.code         # the decoder mode: default operand/address size
        self.insn = insn
        self.ip = ip
        self.ip_mask = (1 << mode) - 1 if mode != 64 else (1 << 64) - 1
        self.next_ip = (ip + insn.length) & self.ip_mask
        self.cs_base = cs_base
        self.pending: dict[str, int] = {}
        self.ended = False
        self.end_after = False            # the instruction may change the mode: the unit ends after it
        self.end_after_next = False       # STI's interrupt shadow: the unit ends after the next instruction
        self.step = cpu.tf                # EFLAGS.TF: every exit first delivers the single-step #DB (a trap); INT n
        #                                   and the like clear it, since they deliver an interrupt themselves
        self.addseg = cpu.addseg          # real and system modes: segment bases apply to every access
        self.sp_ty = WIDTH_TY[cpu.stack]  # stack-pointer width (SS.B)
        self.ip_ty = WIDTH_TY[mode]

    # Guest state ------------------------------------------------------------------------------------------------
    def get(self, field: str, ty: Ty | None = None) -> int:
        v = self.pending.get(field)
        if v is not None:
            return v
        return self.b.get(ty or LAYOUT.types[field], LAYOUT.offset(field))

    def put(self, field: str, v: int) -> None:
        self.pending[field] = v

    def flag(self, name: str) -> int:
        return self.get(name, Ty.i1)

    def set_flag(self, name: str, v: int) -> None:
        self.put(name, v)

    def flush(self) -> None:
        """Emits the instruction's held-back state writes (called at the end of the instruction and before exits)."""
        b = self.b
        for field, v in self.pending.items():
            b.put(LAYOUT.offset(field), v)
        self.pending.clear()

    # Registers --------------------------------------------------------------------------------------------------
    def reg(self, name: str) -> int:
        field, shift, ty = REGS[name]
        b = self.b
        full = self.get(field)
        fty = LAYOUT.types[field]
        if fty is ty:
            return full
        if shift:
            full = b.lshr(full, b.const(fty, shift))
        return b.trunc(ty, full)

    def set_reg(self, name: str, v: int) -> None:
        field, shift, ty = REGS[name]
        b = self.b
        if b.type_of(v) is not ty:
            raise LiftError(f"{name} is {ty}, written with {b.type_of(v)}")
        fty = LAYOUT.types[field]
        if field in SEGMENTS:
            if self.cpu.system and not self.cpu.real:
                # Protected mode: the descriptor load and its checks are a helper (it may fault; it writes the
                # selector and the hidden part itself). A new SS may change the stack size: the unit ends.
                b.call("load_seg", (b.const(Ty.i32, SEGMENTS.index(field)), b.zext(Ty.i32, v)))
                if field == "ss":
                    b.call("after_ss", (b.const(Ty.i32, (self.cs_base + self.next_ip) & 0xFFFFFFFF),))
                    self.end_after = True
                return
            self.put(field, v)
            if self.cpu.real:
                self.put(field + "_base", b.shl(b.zext(Ty.i64, v), b.const(Ty.i64, 4)))
            return
        if fty is ty:
            self.put(field, v)
        elif ty is Ty.i32 and shift == 0:
            self.put(field, b.zext(fty, v))   # 32-bit writes clear bits 63:32
        else:
            keep = b.const(fty, ~(ty.mask << shift) & fty.mask)
            new = b.zext(fty, v)
            if shift:
                new = b.shl(new, b.const(fty, shift))
            self.put(field, b.or_(b.and_(self.get(field), keep), new))

    def set_reg_if(self, name: str, cond: int, v: int) -> None:
        """Writes register ``name`` only when ``cond`` (i1): otherwise the whole register is left as it was, upper
        bits included (a 32-bit write that does not happen does not zero-extend: CMPXCHG, BSF/BSR of 0)."""
        field = REGS[name][0]
        old = self.get(field)
        self.set_reg(name, v)
        self.put(field, self.b.select(cond, self.pending[field], old))

    def gpr(self, index: int, size: int) -> str:
        """The Capstone name of general register ``index`` (0 = rax) at ``size`` bytes (1 = the low byte)."""
        full = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"][index] if index < 8 else f"r{index}"
        if size == 8:
            return full
        names = {4: ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"],
                 2: ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"],
                 1: ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil"]}
        if index < 8:
            return names[size][index]
        return f"r{index}" + {4: "d", 2: "w", 1: "b"}[size]

    # Constants and types ----------------------------------------------------------------------------------------
    def const(self, ty: Ty, value: int) -> int:
        return self.b.const(ty, value)

    def ty(self, i: int = 0) -> Ty:
        return TY_BY_SIZE[self.insn.operands[i].size]

    @property
    def opty(self) -> Ty:
        """The instruction's operand-size type (16/32/64 bits)."""
        return TY_BY_SIZE[self.insn.opsize]

    def resize(self, v: int, ty: Ty, signed: bool = False) -> int:
        b = self.b
        vt = b.type_of(v)
        if vt is ty:
            return v
        if vt.bits > ty.bits:
            return b.trunc(ty, v)
        return b.sext(ty, v) if signed else b.zext(ty, v)

    # Memory -----------------------------------------------------------------------------------------------------
    def linear(self, seg: str, offset: int, size: int = 0) -> int:
        """Linear i64 address of ``seg:offset`` (offset already wrapped to the address size). With ``size`` (bytes
        accessed) in real mode, an access reaching past the 64 KiB segment limit raises #GP(0), or #SS(0) for SS
        (SDM Vol. 3 20.1.4; the 80286 raises interrupt 13 for both)."""
        b = self.b
        if size and self.cpu.real:
            self.limit_check(seg, offset, size)
        a = self.resize(offset, Ty.i64)
        if self.addseg or seg in ("fs", "gs"):
            a = b.add(a, self.get(seg + "_base"))
            if self.mode != 64:
                a = b.and_(a, b.const(Ty.i64, 0xFFFFFFFF))
        return a

    def limit_check(self, seg: str, offset: int, size: int) -> None:
        """Real mode: trap unless offset .. offset+size-1 lies within the segment limit: 0xFFFF, or in the system VM
        the limit in the segment's descriptor cache, which protected mode may have left larger ("unreal" mode)."""
        b = self.b
        if self.cpu.system:
            last = b.add(self.resize(offset, Ty.i64), b.const(Ty.i64, size - 1))
            limit = self.resize(self.get(seg + "_limit"), Ty.i64)
            self.trap_if(b.ult(limit, last), SS if seg == "ss" else GP)
            return
        ty = b.type_of(offset)
        last = 0x10000 - size
        if ty.bits <= 16 and last >= ty.mask:
            return
        self.trap_if(b.ult(b.const(ty, last), offset), SS if seg == "ss" else GP)

    def ea(self, op) -> int:
        """The effective address (offset within the segment) of a memory operand, wrapped to the address size."""
        b = self.b
        aty = TY_BY_SIZE[self.insn.addrsize]
        if op.base == "rip" or op.base == "eip":
            return b.const(aty, self.next_ip + op.disp)
        a = None
        if op.base:
            a = self.resize(self.reg(op.base), aty)
        if op.index:
            x = self.resize(self.reg(op.index), aty)
            if op.scale != 1:
                x = b.shl(x, b.const(aty, op.scale.bit_length() - 1))
            a = x if a is None else b.add(a, x)
        if a is None:
            return b.const(aty, op.disp)
        if op.disp:
            a = b.add(a, b.const(aty, op.disp))
        return a

    def segment_of(self, op) -> str:
        if op.seg:
            return op.seg
        if self.insn.seg:
            return self.insn.seg
        return "ss" if op.base in ("bp", "ebp", "rbp", "sp", "esp", "rsp") else "ds"

    def addr(self, i: int) -> int:
        op = self.insn.operands[i]
        return self.linear(self.segment_of(op), self.ea(op), op.size)

    def load(self, ty: Ty, addr: int) -> int:
        return self.b.load(ty, addr)

    def store(self, addr: int, v: int) -> None:
        self.b.store(addr, v)

    # Operands ---------------------------------------------------------------------------------------------------
    def read(self, i: int, ty: Ty | None = None) -> int:
        op = self.insn.operands[i]
        ty = ty or TY_BY_SIZE[op.size]
        if op.kind == "reg":
            return self.resize(self.reg(op.reg), ty)
        if op.kind == "imm":
            return self.b.const(ty, op.imm)
        return self.load(ty, self.addr(i))

    def write(self, i: int, v: int, addr: int | None = None) -> None:
        """Writes operand i; ``addr`` reuses an address already computed for a read-modify-write."""
        op = self.insn.operands[i]
        if op.kind == "reg":
            self.set_reg(op.reg, v)
        elif op.kind == "mem":
            self.store(addr if addr is not None else self.addr(i), v)
        else:
            raise LiftError(f"cannot write an immediate operand in {self.insn.text}")

    def read_rmw(self, i: int):
        """(value, address or None) of a read-modify-write operand: the address is computed once."""
        op = self.insn.operands[i]
        if op.kind == "mem":
            a = self.addr(i)
            return self.load(TY_BY_SIZE[op.size], a), a
        return self.read(i), None

    # Stack ------------------------------------------------------------------------------------------------------
    def _sp_name(self) -> str:
        return {Ty.i16: "sp", Ty.i32: "esp", Ty.i64: "rsp"}[self.sp_ty]

    def push(self, v: int) -> None:
        b = self.b
        size = b.type_of(v).bits // 8
        sp = b.sub(self.reg(self._sp_name()), b.const(self.sp_ty, size))
        self.store(self.linear("ss", sp, size), v)
        self.set_reg(self._sp_name(), sp)

    def pop(self, ty: Ty) -> int:
        b = self.b
        sp = self.reg(self._sp_name())
        v = self.load(ty, self.linear("ss", sp, ty.bits // 8))
        self.set_reg(self._sp_name(), b.add(sp, b.const(self.sp_ty, ty.bits // 8)))
        return v

    def stack_addr(self, offset: int, size: int = 0) -> int:
        """Linear address of SS:(SP + offset) without changing SP (``size``: bytes accessed, for the limit check)."""
        b = self.b
        sp = self.reg(self._sp_name())
        if offset:
            sp = b.add(sp, b.const(self.sp_ty, offset))
        return self.linear("ss", sp, size)

    # Control ----------------------------------------------------------------------------------------------------
    def ip_value(self, target: int) -> int:
        """An i64 next-IP constant, wrapped to the mode's IP width."""
        return self.b.const(Ty.i64, target & self.ip_mask)

    def jump(self, target: int) -> None:
        """Ends the unit with a jump to ``target`` (an IR value of any width: zero-extended)."""
        self.flush()
        t = self.resize(target, Ty.i64)
        if self.step:
            t = self.single_step(t)
        self.b.exit(t)
        self.ended = True

    def jump_if(self, cond: int, target: int) -> None:
        """Side exit to ``target`` (an IR value) when cond; pending writes are flushed first."""
        self.flush()
        t = self.resize(target, Ty.i64)
        if self.step:
            t = self.single_step(t, cond)
        self.b.exitif(cond, t)

    def single_step(self, target: int, cond: int | None = None) -> int:
        """EFLAGS.TF was set when the instruction began: a helper delivers the single-step #DB (when ``cond``) with
        ``target`` as the return address; the unit then leaves for the handler (the rip it returns), unchained."""
        b = self.b
        if cond is None:
            b.call("single_step", (target,))
        else:
            b.call("single_step_if", (b.zext(Ty.i32, cond), target))
        b.unit.attrs["nochain"] = 1
        return b.get(Ty.i64, LAYOUT.offset("rip"))

    def trap(self, vector: int, err: int = 0) -> None:
        self.flush()
        self.b.trap(vector, self.b.const(Ty.i32, err))
        self.ended = True

    def trap_if(self, cond: int, vector: int, err: int = 0) -> None:
        """Raises the exception when cond; must come before the instruction writes any state."""
        self.b.trapif(vector, cond, self.b.const(Ty.i32, err))

    def jump_mode_change(self) -> None:
        """Ends the unit after a helper that changed CS:EIP and possibly the mode: continue at the state's rip,
        through the dispatcher (the unit is never chained, so the next unit is looked up in the new mode)."""
        self.flush()
        self.b.unit.attrs["nochain"] = 1
        t = self.b.get(Ty.i64, LAYOUT.offset("rip"))
        if self.step:
            t = self.single_step(t)
        self.b.exit(t)
        self.ended = True

    def halt(self) -> None:
        self.flush()
        self.b.halt(self.ip_value(self.next_ip))
        self.ended = True
