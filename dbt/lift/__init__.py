"""x86 -> IR lifting: the registry of instruction lifters and the block driver.

Lifters are small functions, one per mnemonic family, registered by Capstone mnemonic id name::

    @lifter("ADD", "SUB", ...)
    def lift_alu(ctx): ...

The driver decodes one instruction at a time, marks its boundary with an ``insn`` op, calls its lifter and flushes the
instruction's state writes. A unit ends at a control transfer, an exception, a page change beyond the second page, a
breakpoint address, ``max_insns``, or after the instruction that follows an STI (whose interrupt shadow lasts one
instruction: an interrupt it held off is taken at that unit boundary). With EFLAGS.TF (``cpu.tf``) a unit holds one
instruction and every exit delivers the single-step #DB first (``InsnCtx.single_step``). An undecodable or unimplemented instruction
becomes a #UD trap at its address, so the guest sees what a CPU would show it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ir import Builder, Ty, Unit

from dbt.cpumode import flat_mode
from dbt.lift.context import PF, UD, InsnCtx, LiftError
from dbt.state import LAYOUT

LIFTERS: dict[str, callable] = {}

# Instructions that accept a LOCK prefix, and then only with a memory destination (SDM Vol. 2, LOCK); any other
# LOCK is #UD on the 386 and later.
LOCKABLE = frozenset(["ADD", "ADC", "AND", "BTC", "BTR", "BTS", "CMPXCHG", "CMPXCHG8B", "CMPXCHG16B", "DEC", "INC",
                      "NEG", "NOT", "OR", "SBB", "SUB", "XOR", "XADD", "XCHG"])


def lifter(*names: str):
    """Registers ``fn`` as the lifter of every Capstone mnemonic id name in ``names``."""
    def deco(fn):
        for n in names:
            if n in LIFTERS:
                raise ValueError(f"two lifters for {n}")
            LIFTERS[n] = fn
        return fn
    return deco


class FetchFault(Exception):
    """Code bytes at this address cannot be fetched (unmapped or not executable); ``error``: the #PF error code."""

    def __init__(self, linear: int, error: int = 0x10):
        super().__init__(f"cannot fetch code at {linear:#x}")
        self.linear, self.error = linear, error


@dataclass
class Translation:
    """What the driver produced: the unit and the facts the translation cache needs."""

    unit: Unit
    ip: int
    linear: int
    ninsns: int
    pages: set = field(default_factory=set)    # guest linear pages the code bytes came from
    insns: list = field(default_factory=list)  # (ip, Insn) per instruction, for logs


def lift_block(decoder, fetch, cpu, ip: int, cs_base: int, max_insns: int = 64,
               stop_at=frozenset()) -> Translation:
    """Lifts the block starting at ``ip`` for ``cpu`` (a CpuMode, or 16/32/64 for the plain engine's modes).
    ``fetch(linear, n)`` returns up to n code bytes (fewer at the end of executable memory) or raises FetchFault;
    ``stop_at`` holds IPs where a unit must end (breakpoints)."""
    from dbt import lifters  # noqa: F401  (registers the instruction families)

    if isinstance(cpu, int):
        cpu = flat_mode(cpu)
    mode = cpu.code
    unit = Unit(fields=LAYOUT.fields)
    b = Builder(unit)
    linear = (cs_base + ip) & 0xFFFFFFFFFFFFFFFF
    unit.attrs.update(pc=linear, mode=mode, tbflags=cpu.flags)
    tr = Translation(unit, ip, linear, 0)
    cur = ip
    first_page = linear >> 12
    ip_mask = (1 << mode) - 1
    if cpu.tf:
        max_insns = 1                            # single-step: one instruction, then #DB
    end_next = False                             # the previous instruction was STI: this one ends the unit
    while True:
        lin_mask = 0xFFFFFFFF if mode != 64 else 0xFFFFFFFFFFFFFFFF
        lin = (cs_base + cur) & lin_mask
        fetch_error = 0x10
        fault_at = lin
        try:
            window = fetch(lin, 15)
        except FetchFault as e:
            window = b""
            fetch_error = e.error
        insn = decoder.decode(window) if window else None
        if window and len(window) < 15 and (not insn.valid or insn.length > len(window)):
            # Cut short where code can no longer be fetched: if the instruction goes on there, fetching its next
            # byte faults, at that byte's address (a #PF with the MMU's error code), not #UD at its start.
            try:
                fetch((lin + len(window)) & lin_mask, 1)
            except FetchFault as e:
                insn, fetch_error, fault_at = None, e.error, (lin + len(window)) & lin_mask
        if insn is not None and insn.valid and insn.length > len(window):
            insn = None                          # the instruction runs into unfetchable memory
        if insn is None:
            if tr.ninsns:
                break                            # end before it: the fault belongs to the next unit
            b.insn(cur, 1)
            ctx = InsnCtx(b, cpu, _FAKE_ONE, cur, cs_base)
            ctx.put("fault_addr", b.const(Ty.i64, fault_at))
            ctx.trap(PF, fetch_error)             # instruction fetch fault
            tr.ninsns = 1
            tr.pages.add(lin >> 12)
            break
        last_page = (lin + insn.length - 1) >> 12
        if tr.ninsns and last_page > first_page + 1:
            break
        tr.pages.add(lin >> 12)
        tr.pages.add(last_page)
        b.insn(cur, insn.length)
        tr.insns.append((cur, insn))
        tr.ninsns += 1
        ctx = InsnCtx(b, cpu, insn, cur, cs_base)
        fn = LIFTERS.get(insn.name) if insn.valid else None
        if insn.lock and (insn.name not in LOCKABLE or not insn.operands or insn.operands[0].kind != "mem"):
            fn = None
        if fn is None:
            ctx.trap(UD)
        else:
            try:
                fn(ctx)
            except LiftError:
                del unit.ops[_last_insn(unit) + 1:]
                ctx.pending.clear()
                ctx.trap(UD)
            ctx.flush()
        if ctx.ended:
            break
        cur = ctx.next_ip
        if ctx.end_after:
            # The instruction may have changed the mode (MOV SS): leave through the dispatcher.
            unit.attrs["nochain"] = 1
            ctx.jump(b.const(Ty.i64, cur & ip_mask))
            break
        if tr.ninsns >= max_insns or cur in stop_at or end_next:
            ctx.jump(b.const(Ty.i64, cur & ip_mask))
            break
        end_next = ctx.end_after_next
    return tr


def _last_insn(unit: Unit) -> int:
    from ir import OP
    for i in range(len(unit.ops) - 1, -1, -1):
        if unit.ops[i].op is OP.insn:
            return i
    return -1


class _FakeInsn:
    length = 1
    operands = ()
    text = "(fetch fault)"


_FAKE_ONE = _FakeInsn()
