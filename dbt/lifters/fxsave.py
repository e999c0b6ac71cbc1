"""FXSAVE and FXRSTOR (and their REX.W forms FXSAVE64/FXRSTOR64): the 512-byte x87/SSE state image (SDM Vol. 1
10.5.1, Vol. 2 FXSAVE), each lifted to one helper call after the checks that must fault before any state changes.

Image: bytes 0..159 from ``dbt.x87.fxsave_x87`` / ``fxrstor_x87`` (FCW, FSW, the abridged tag byte, FOP/FIP/FDP,
MXCSR, MXCSR_MASK = 0xFFFF as LDMXCSR's, ST0..ST7), then XMM0..XMM15 at 160 (XMM0..XMM7 outside 64-bit mode).
Bytes past the last XMM register (the reserved 416..463 and the software-available 464..511, and 288..415 outside
64-bit mode) are neither written nor read, as on the processor.

- The operand must be 16-byte aligned: #GP(0) otherwise (before anything is read or written).
- FXRSTOR takes FSW's ES and B bits from the loaded flags and masks (set when an unmasked exception flag is set),
  not from the image, as the processor does.
- FXRSTOR with a reserved MXCSR bit set (outside MXCSR_MASK) raises #GP(0) and changes nothing; an MXCSR that unmasks
  an exception stops with NotImplementedError (``mxcsr_check``: #XM is not modelled), as LDMXCSR does.
- Departures: FOP, FIP, FCS, FDP, FDS are stored as 0 (the x87 model does not track the last instruction and
  operand pointers), so FXSAVE64 and FXSAVE store the same bytes; FXRSTOR ignores them.
- An image that reaches an unmapped page faults (#PF) with nothing written or loaded: the helper reads or writes
  it in one memory access, which checks every page first.
- The system CPU model (CR4.OSFXSR = 0 there, no FXSR in its CPUID) and the 80286 of mode 16: #UD.
"""

from __future__ import annotations

from ir import Ty

from dbt import x87
from dbt.lift import lifter
from dbt.lift.context import GP, UD
from dbt.lift.xmm import mem_addr
from dbt.lifters.mxcsr import MXCSR_MASK

X87_BYTES = 160          # the legacy x87/MXCSR part; XMM0 starts here
MXCSR_OFFSET = 24
ES, BUSY = 0x80, 0x8000  # FSW bits the processor derives from the exception flags and masks


def image_size(nxmm: int) -> int:
    return X87_BYTES + 16 * nxmm


def fxsave(state, memory, addr, nxmm):
    """Writes the image of the x87, MXCSR and the first ``nxmm`` XMM registers at ``addr``."""
    xmm = b"".join(state[f"xmm{i}"].to_bytes(16, "little") for i in range(nxmm))
    memory.write(addr, x87.fxsave_x87(state, MXCSR_MASK) + xmm)
    return 0


def fxrstor(state, memory, addr, nxmm):
    """Loads the x87, MXCSR and the first ``nxmm`` XMM registers from the image at ``addr`` (already checked)."""
    data = memory.read(addr, image_size(nxmm))
    x87.fxrstor_x87(state, data[:X87_BYTES])
    fsw, fcw = state["fsw"], state["fcw"]
    es = ES | BUSY if fsw & ~fcw & 0x3F else 0
    state["fsw"] = fsw & ~(ES | BUSY) | es
    for i in range(nxmm):
        o = X87_BYTES + 16 * i
        state[f"xmm{i}"] = int.from_bytes(data[o:o + 16], "little")
    return 0


@lifter("FXSAVE", "FXSAVE64", "FXRSTOR", "FXRSTOR64")
def lift_fxsave(ctx):
    if ctx.cpu.system or ctx.cpu.real:
        ctx.trap(UD)
        return
    b = ctx.b
    a = mem_addr(ctx, 0, 16)
    nxmm = b.const(Ty.i64, 16 if ctx.mode == 64 else 8)
    if ctx.insn.name.startswith("FXRSTOR"):
        m = ctx.load(Ty.i32, b.add(a, b.const(Ty.i64, MXCSR_OFFSET)))
        ctx.trap_if(b.ne(b.and_(m, b.const(Ty.i32, ~MXCSR_MASK & 0xFFFFFFFF)), b.const(Ty.i32, 0)), GP)
        b.call("mxcsr_check", (m,))
        ctx.flush()
        b.call("fxrstor", (a, nxmm))
    else:
        ctx.flush()
        b.call("fxsave", (a, nxmm))


HELPERS = {"fxsave": fxsave, "fxrstor": fxrstor}
