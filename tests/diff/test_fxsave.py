"""FXSAVE/FXRSTOR (and the REX.W forms) against the host CPU, on both backends.

FXSAVE: after FNINIT, eight loads onto the x87 stack and two pops (``X87_SETUP``), with random xmm registers and MXCSR, the image is stored at
[rbx + rcx] (aligned and misaligned offsets: #GP(0) on a misaligned one) and compared byte for byte with the host's
(MXCSR_MASK included: our value must be the host's), except FOP, FIP/FCS and FDP/FDS, which our x87 model does not
track: the fragment itself clears those 18 bytes after the store, on both sides. The bytes the processor does not
write (past the last saved XMM register) keep their random contents on both sides.

FXRSTOR: a random image (x87 control and status words, abridged tags, 80-bit registers, MXCSR, xmm registers; MXCSR
sometimes with a reserved bit set, which must raise #GP(0)) is loaded from [rbx + rcx], then stored again with
FXSAVE at an aligned address, so the x87 part is compared through the second image and the xmm registers and MXCSR
directly.
"""

from __future__ import annotations

import pytest

from tests.diff import harness
from tests.diff.harness import quick_cases, require_backend, sweep_cases
from tests.diff.test_sse import OFFSETS, SseForm
from tests.diff.test_sse_fp import mxcsr

WINDOW = (-0x100, 0x600)
SECOND = 0x280           # offset of the second (aligned) image in the FXRSTOR test


def _clear_pointers(mode: int, base: str) -> str:
    """Instructions that zero FOP (6..7), FIP/FCS (8..15) and FDP/FDS (16..23) of the image at ``base``."""
    if mode == 64:
        return (f"mov word ptr [{base} + 6], 0; mov qword ptr [{base} + 8], 0; "
                f"mov qword ptr [{base} + 16], 0")
    return "; ".join([f"mov word ptr [{base} + 6], 0"] + [f"mov dword ptr [{base} + {o}], 0" for o in (8, 12, 16, 20)])


# Eight loads give every x87 register a known value (the emulator under test keeps its registers from case to case,
# and FNINIT does not clear them); two pops leave two of them empty: TOP = 2, tags 0x3F.
X87_SETUP = "fninit; fldpi; fld1; fldz; fldl2e; fldln2; fldlg2; fldl2t; fld1; fstp st(0); fstp st(0)"


def _regs(rng):
    return {"rcx": rng.choice(OFFSETS), "mxcsr": mxcsr(rng)}


def fxsave_form(mode: int, insn: str) -> SseForm:
    base = "rbx + rcx" if mode == 64 else "ebx + ecx"
    asm = f"{X87_SETUP}; {insn} [{base}]; " + _clear_pointers(mode, base)
    return SseForm(mode, asm, faults=True, mem_operand=True, mem_window=WINDOW, regs=_regs)


def _image(rng, regs, mem):
    """A random FXRSTOR image at [rbx + rcx]."""
    at = mem.base + regs["rcx" if "rcx" in regs else "ecx"]
    fcw = 0x7F | rng.randrange(4) << 8 | rng.randrange(4) << 10            # every x87 exception masked
    mem.put(at, 2, fcw)
    mem.put(at + 2, 2, rng.getrandbits(16))                                  # ES and B: derived
    mem.put(at + 4, 1, rng.choice((0, 0xFF, 0x80, 0x03, rng.getrandbits(8))))
    m = mxcsr(rng)
    if rng.random() < 0.15:
        m |= 1 << rng.randrange(16, 32)                                      # reserved: #GP(0)
    mem.put(at + 24, 4, m)
    for i in range(8):
        mem.put(at + 32 + 16 * i, 10, harness.xmm_value(rng))
    for i in range(16):
        mem.put(at + 160 + 16 * i, 16, harness.xmm_value(rng))


def fxrstor_form(mode: int, insn: str, save: str) -> SseForm:
    base = "rbx + rcx" if mode == 64 else "ebx + ecx"
    second = f"{'rbx' if mode == 64 else 'ebx'} + {SECOND:#x}"
    asm = f"{insn} [{base}]; {save} [{second}]; " + _clear_pointers(mode, second)
    return SseForm(mode, asm, faults=True, mem_operand=True, mem_window=WINDOW, regs=_regs, setup=_image)


FORMS = [fxsave_form(64, "fxsave"), fxsave_form(64, "fxsave64"), fxsave_form(32, "fxsave"),
         fxrstor_form(64, "fxrstor", "fxsave"), fxrstor_form(64, "fxrstor64", "fxsave64"),
         fxrstor_form(32, "fxrstor", "fxsave")]
IDS = [f.id for f in FORMS]


@pytest.mark.parametrize("backend", harness.BACKENDS)
@pytest.mark.parametrize("form", FORMS, ids=IDS)
def test_fxsave_quick(form, backend):
    require_backend(backend)
    form.run(backend, quick_cases())


@pytest.mark.diff
@pytest.mark.parametrize("backend", harness.BACKENDS)
@pytest.mark.parametrize("form", FORMS, ids=IDS)
def test_fxsave_sweep(form, backend):
    require_backend(backend)
    form.run(backend, sweep_cases())


@pytest.mark.parametrize("backend", harness.BACKENDS)
@pytest.mark.parametrize("insn", ["fxsave", "fxrstor"])
def test_fxsave_page_crossing_faults_precisely(backend, insn):
    """An image that runs into an unmapped page: #PF at the instruction, reported at the unmapped page, with no byte
    stored (FXSAVE) and no register loaded (FXRSTOR)."""
    from dbt import Emulator, GuestFault
    require_backend(backend)
    code = harness.assemble(f"{insn} [rbx]", 64, 0x10000)
    e = Emulator(64, backend)
    e.mem_map(0x10000, 0x1000, "rwx")
    e.mem_map(0x20000, 0x1000, "rw")
    e.mem_write(0x10000, code)
    image = bytearray(range(256))
    image[0:2], image[24:28] = (0x37F).to_bytes(2, "little"), (0x1F80).to_bytes(4, "little")    # valid FCW, MXCSR
    e.mem_write(0x20F00, bytes(image))
    e.reg_write("rbx", 0x20F00)
    e.reg_write("xmm3", 0x1234)
    with pytest.raises(GuestFault) as info:
        e.emu_start(0x10000, until=0x10000 + len(code), count=3)
    assert info.value.vector == 14 and info.value.pc == 0x10000 and info.value.address == 0x21000
    assert e.mem_read(0x20F00, 256) == image
    assert e.reg_read("xmm3") == 0x1234
