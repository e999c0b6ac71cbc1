"""SSE and MMX lifting outside the differential tables: forms we do not implement raise #UD exactly as an unknown
instruction does (LDDQU), on both backends with the state left as it was; an MMX load that faults leaves the x87
state (TOP, tags, registers) as it was; the
Unicorn-shaped API reads and writes xmm registers; the two MOVSD instructions each reach their own lifter; a
misaligned MOVDQA reports #GP(0) at the faulting instruction with every register (xmm included) unchanged.
"""

from __future__ import annotations

import pytest

from dbt import Emulator, GuestFault
from tests.diff.harness import BACKENDS, assemble, require_backend

CODE = 0x10000
DATA = 0x20000

UNIMPLEMENTED = [
    "lddqu xmm0, xmmword ptr [rbx]",     # SSE3
]


def emu(backend, code: bytes, mode=64):
    e = Emulator(mode, backend)
    e.mem_map(CODE, 0x1000, "rwx")
    e.mem_map(DATA, 0x1000, "rw")
    e.mem_write(CODE, code)
    return e


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("text", UNIMPLEMENTED)
def test_unimplemented_forms_raise_ud(backend, text):
    require_backend(backend)
    code = assemble(text, 64, CODE)
    e = emu(backend, code)
    e.reg_write("rbx", DATA)
    e.reg_write("xmm0", 0x1234)
    e.reg_write("rax", 77)
    with pytest.raises(GuestFault) as info:
        e.emu_start(CODE, until=CODE + len(code), count=5)
    assert info.value.vector == 6 and info.value.pc == CODE
    assert e.reg_read("xmm0") == 0x1234 and e.reg_read("rax") == 77 and e.reg_read("rbx") == DATA


@pytest.mark.parametrize("backend", BACKENDS)
def test_faulting_mmx_load_leaves_x87_state(backend):
    """FLD1 (TOP = 7, R7 valid), then MOVQ mm2 from an unmapped page: #PF at the MOVQ, with FSW.TOP, the tag word and
    R2 as FLD1 left them (the x87 -> MMX transition belongs to the faulting instruction)."""
    require_backend(backend)
    code = assemble("fninit; fld1; movq mm2, qword ptr [rbx]; inc rax", 64, CODE)
    e = emu(backend, code)
    e.reg_write("rbx", 0x900000)
    with pytest.raises(GuestFault) as info:
        e.emu_start(CODE, until=CODE + len(code), count=10)
    st = e.engine.state
    assert info.value.vector == 14 and info.value.pc == CODE + len(assemble("fninit; fld1", 64, CODE))
    assert (st["fsw"] >> 11) & 7 == 7 and st["ftw"] == 0x3FFF
    assert st["fpr2_se"] != 0xFFFF and st["fpr7_se"] == 0x3FFF and e.reg_read("rax") == 0


def test_api_xmm_registers():
    e = Emulator(64, "interp")
    v = 0x0123456789ABCDEF_FEDCBA9876543210
    e.reg_write("xmm15", v)
    e.reg_write("XMM0", (1 << 130) | 5)             # masked to 128 bits, as Unicorn does
    assert e.reg_read("xmm15") == v and e.reg_read("xmm0") == 5
    assert e.reg_read("xmm14") == 0 and e.reg_read("r15") == 0
    assert e.engine.state["mxcsr"] == 0x1F80


@pytest.mark.parametrize("backend", BACKENDS)
def test_movsd_string_and_sse(backend):
    """MOVSD is both the string move (A5) and the SSE2 scalar move (F2 0F 10): each does its own thing."""
    require_backend(backend)
    code = b"\xa5" + assemble("movsd xmm1, qword ptr [rbx]; movsd xmm2, xmm1", 64, CODE + 1)   # A5: movsd (string)
    e = emu(backend, code)
    e.mem_write(DATA, bytes(range(1, 17)))
    e.reg_write("rsi", DATA)
    e.reg_write("rdi", DATA + 0x100)
    e.reg_write("rbx", DATA + 8)
    e.reg_write("xmm1", (1 << 128) - 1)
    e.reg_write("xmm2", (1 << 128) - 1)
    e.emu_start(CODE, until=CODE + len(code), count=10)
    assert e.mem_read(DATA + 0x100, 4) == bytes([1, 2, 3, 4]) and e.reg_read("rsi") == DATA + 4
    low = int.from_bytes(bytes(range(9, 17)), "little")
    assert e.reg_read("xmm1") == low                               # a load zero-extends
    assert e.reg_read("xmm2") == ((1 << 128) - 1) & ~((1 << 64) - 1) | low     # reg-reg merges the low lane


@pytest.mark.parametrize("backend", BACKENDS)
def test_misaligned_movdqa_is_precise_gp(backend):
    require_backend(backend)
    code = assemble("paddb xmm3, xmm3; movdqa xmm1, xmmword ptr [rbx]; inc rax", 64, CODE)
    e = emu(backend, code)
    e.reg_write("rbx", DATA + 4)
    e.reg_write("xmm1", 0xAA)
    e.reg_write("xmm3", 0x01)
    with pytest.raises(GuestFault) as info:
        e.emu_start(CODE, until=CODE + len(code), count=10)
    assert info.value.vector == 13 and info.value.pc == CODE + 4
    assert e.reg_read("xmm1") == 0xAA and e.reg_read("xmm3") == 0x02 and e.reg_read("rax") == 0


@pytest.mark.parametrize("text", ["paddb xmm0, xmm1", "movdqa xmm0, xmm1", "movd xmm0, eax", "pshufd xmm0, xmm1, 1",
                                  "psllw xmm1, 3", "pmovmskb eax, xmm1", "movsd xmm0, xmm1", "addss xmm0, xmm1",
                                  "cmpltps xmm0, xmm1", "ucomisd xmm0, xmm1", "cvtsi2sd xmm0, eax",
                                  "cvttsd2si eax, xmm1", "fxsave [eax]", "fxrstor [eax]",
                                  "paddb mm0, mm1", "movd mm0, eax", "movq mm1, qword ptr [eax]", "emms",
                                  "pshufw mm0, mm1, 3", "movq2dq xmm0, mm1", "cvtpi2ps xmm0, mm1"])
def test_system_cpu_has_no_sse(text):
    """The system CPU model cannot set CR4.OSFXSR and has no FPU or MMX: every XMM and MMX instruction lifts to #UD
    there, while the fences and hints (which do not depend on OSFXSR) still lift."""
    from dbt.cpumode import CpuMode
    from dbt.decode import Decoder
    from dbt.lift import lift_block
    from ir import OP

    def lifted(asm):
        code = assemble(asm + "; hlt", 32, 0x1000)
        tr = lift_block(Decoder(32), lambda lin, n: code[lin - 0x1000:][:n], CpuMode(32, 32, system=True), 0x1000, 0)
        return [(o.op, o.imm) for o in tr.unit.ops if o.op in (OP.trap, OP.halt)]

    assert lifted(text)[0] == (OP.trap, 6)
    assert lifted("lfence; pause")[0][0] is OP.halt


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mapped", ["first", "second", "both"])
def test_page_crossing_16_byte_store(backend, mapped):
    """MOVDQU to 8 bytes before a page end: with one of the two pages unmapped it faults (#PF) and writes nothing
    (no half store); with both mapped all 16 bytes land."""
    require_backend(backend)
    code = assemble("movdqu xmmword ptr [rbx], xmm1", 64, CODE)
    e = Emulator(64, backend)
    e.mem_map(CODE, 0x1000, "rwx")
    if mapped in ("first", "both"):
        e.mem_map(0x20000, 0x1000, "rw")
    if mapped in ("second", "both"):
        e.mem_map(0x21000, 0x1000, "rw")
    e.mem_write(CODE, code)
    v = 0x0F0E0D0C0B0A09080706050403020100
    e.reg_write("rbx", 0x20FF8)
    e.reg_write("xmm1", v)
    if mapped == "both":
        e.emu_start(CODE, until=CODE + len(code), count=5)
        assert e.mem_read(0x20FF8, 16) == v.to_bytes(16, "little")
        return
    with pytest.raises(GuestFault) as info:
        e.emu_start(CODE, until=CODE + len(code), count=5)
    assert info.value.vector == 14 and info.value.pc == CODE
    assert info.value.address == (0x21000 if mapped == "first" else 0x20FF8)
    page = 0x20FF8 if mapped == "first" else 0x21000
    assert e.mem_read(page, 8) == bytes(8)


def test_api_mxcsr():
    e = Emulator(64, "interp")
    assert e.reg_read("mxcsr") == 0x1F80
    e.reg_write("mxcsr", 0x9FC0)
    assert e.reg_read("mxcsr") == 0x9FC0 and e.engine.state["mxcsr"] == 0x9FC0


def test_strlen_loop_in_the_optimizing_tier():
    """The PCMPEQB/PMOVMSKB/BSF loop of an SSE2 strlen, hot enough for the tiered engine ("auto") to compile it with
    LLVM's optimizer, gives every string's length (checked against Python's own count)."""
    from tests.diff.test_sse_blocks import STRLEN
    code = assemble(STRLEN, 64, CODE)
    e = Emulator(64, "auto", hot_threshold=2)
    e.mem_map(CODE, 0x1000, "rwx")
    e.mem_map(DATA, 0x4000, "rw")
    e.mem_write(CODE, code)
    import random
    rng = random.Random(3)
    for k in range(40):
        n = rng.choice((0, 1, 15, 16, 17, 63, 64, rng.randrange(0x3000)))
        start = DATA + rng.randrange(32)
        s = bytes(rng.randrange(1, 256) for _ in range(n)) + b"\0"
        e.mem_write(DATA, bytes(0x4000))
        e.mem_write(DATA, bytes(rng.randrange(256) for _ in range(start - DATA)))
        e.mem_write(start, s)
        e.reg_write("rdi", start)
        e.emu_start(CODE, until=CODE + len(code), count=100000)
        assert e.reg_read("rax") == n, (k, n)
    assert e.stats["blocks_compiled"] > 0


@pytest.mark.parametrize("mode", [64, 32])
def test_sse_compare_opcode_is_named_by_its_prefix(mode):
    """0F C2 /r ib is CMPPS, 66: CMPPD, F3: CMPSS, F2: CMPSD, whatever the predicate (Capstone 5 names it after the
    immediate: CMPSB, CMPXCHG16B...), with the immediate as operand 2; the string CMPSD/CMPSQ keep their names."""
    from dbt.decode import Decoder
    d = Decoder(mode)
    for prefix, name in ((b"", "CMPPS"), (b"\x66", "CMPPD"), (b"\xf3", "CMPSS"), (b"\xf2", "CMPSD")):
        for modrm in (0xCA, 0x0B):                      # xmm1, xmm2 / xmm1, [rbx]
            for imm in (0, 1, 2, 3, 4, 5, 6, 7, 8, 0x1F, 0xFF):
                raw = prefix + bytes([0x0F, 0xC2, modrm, imm])
                insn = d.decode(raw + b"\x90" * 8)
                assert (insn.name, insn.length) == (name, len(raw)), (raw.hex(), insn.name)
                assert [o.kind for o in insn.operands] == ["reg", "mem" if modrm == 0x0B else "reg", "imm"]
                assert insn.operands[2].imm == imm
    assert d.decode(b"\xa7" + b"\x90" * 8).name == "CMPSD"
    assert d.decode(b"\xf2\xa7" + b"\x90" * 8).name == "CMPSD"
