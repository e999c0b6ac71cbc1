"""Real mode (mode 16) against Unicorn: the 386+ families the 80286 hardware vectors cannot cover (SETcc, CMOVcc,
BT*, BSF/BSR, TZCNT/LZCNT/POPCNT, SHLD/SHRD, MOVZX/MOVSX, IMUL r, r/m, XADD, CMPXCHG*, 32-bit operands through 66h
and 32-bit addressing through 67h), plus MUL/DIV/shifts at every operand size. There is no native real mode, so
Unicorn is the only oracle: registers, defined flags and exceptions (delivered through the IVT here, stopped on by
Unicorn); memory is checked by our own no-stray-write rule.

Known Unicorn (QEMU) departures: it swaps the operand size of POPCNT in 16-bit code (``popcnt ax, cx`` counts ECX,
``popcnt eax, ecx`` counts CX), so POPCNT is checked here against known values instead."""

from __future__ import annotations

import pytest

from tests.diff.harness import (
    AF,
    ALL_FLAGS,
    BACKENDS,
    CF,
    OF,
    ZF,
    Form,
    assemble,
    make_tests,
    mem,
    reg,
    require_backend,
)
from tests.diff.test_atomic import equal_mem, equal_reg
from tests.diff.test_bitops import BIT_WINDOW, offset_regs, zero_mem, zero_src
from tests.diff.test_muldiv import div_setup
from tests.diff.test_shift import _form as shift_form

M = 16


def mem32(width: int, disp: int) -> str:
    """A 32-bit-addressed operand (67h): [ebx + disp]."""
    ptr = {8: "byte", 16: "word", 32: "dword", 64: "qword"}[width]
    return f"{ptr} ptr [ebx {'+' if disp >= 0 else '-'} {abs(disp):#x}]"


def _forms():
    out = []
    for w in (8, 16, 32):
        r0, r1, r2, r6 = (reg(M, w, i) for i in (0, 1, 2, 6 if w > 8 else 5))
        out += [
            Form(M, f"add {r0}, {r1}"), Form(M, f"sbb {r6}, {mem(M, w, 0x10)}", mem_operand=True),
            Form(M, f"xor {mem32(w, -0x10)}, {r2}", mem_operand=True, flags_defined_mask=ALL_FLAGS & ~AF),
            Form(M, f"neg {r1}"),
            Form(M, f"mul {r1}", flags_defined_mask=CF | OF), Form(M, f"imul {r6}", flags_defined_mask=CF | OF),
            Form(M, f"imul {mem(M, w, 0x20)}", mem_operand=True, flags_defined_mask=CF | OF),
            Form(M, f"div {r6}", flags_defined_mask=0, setup=div_setup(M, w, False, 6 if w > 8 else 5)),
            Form(M, f"idiv {r1}", flags_defined_mask=0, setup=div_setup(M, w, True, 1)),
            Form(M, f"div {mem(M, w, 0x30)}", mem_operand=True, flags_defined_mask=0,
                 setup=div_setup(M, w, False, None, 0x30)),
            Form(M, f"xadd {r1}, {r2}"),
            Form(M, f"cmpxchg {r1}, {r2}", setup=equal_reg(M, 1, w)),
            Form(M, f"lock cmpxchg {mem(M, w, 0x28)}, {r6}", mem_operand=True, setup=equal_mem(M, 0x28, w)),
        ]
        for op in ("shl", "sar", "rol", "rcr"):
            out += [shift_form(M, op, w, r0, "cl"), shift_form(M, op, w, mem(M, w, 0x8), 3, mem_operand=True)]
        if w > 8:
            out += [
                Form(M, f"imul {r0}, {r1}", flags_defined_mask=CF | OF),
                Form(M, f"imul {r2}, {mem(M, w, 4)}, -9", mem_operand=True, flags_defined_mask=CF | OF),
                Form(M, f"movzx {r1}, {reg(M, 8, 4)}"), Form(M, f"movsx {r2}, {mem(M, 8, 3)}", mem_operand=True),
                Form(M, f"bt {r0}, {r1}", flags_defined_mask=CF),
                Form(M, f"bts {mem(M, w, 0x10)}, 5", mem_operand=True, flags_defined_mask=CF),
                Form(M, f"btr {mem(M, w, 0x10)}, {r1}", mem_operand=True, flags_defined_mask=CF,
                     mem_window=BIT_WINDOW, regs=offset_regs(M, 1, w)),
                Form(M, f"btc {r2}, {w + 1}", flags_defined_mask=CF),
                Form(M, f"bsf {r0}, {r1}", flags_defined_mask=ZF, regs=zero_src(M, 1)),
                Form(M, f"bsr {r2}, {mem(M, w, 6)}", mem_operand=True, flags_defined_mask=ZF, setup=zero_mem(6, w)),
                Form(M, f"tzcnt {r0}, {r1}", flags_defined_mask=CF | ZF, regs=zero_src(M, 1)),
                Form(M, f"lzcnt {r2}, {r1}", flags_defined_mask=CF | ZF, regs=zero_src(M, 1)),
                Form(M, f"cmovl {r0}, {r1}"), Form(M, f"cmovbe {r2}, {mem32(w, 8)}", mem_operand=True),
                shift_form(M, "shld", w, f"{r0}, {r2}", "cl"), shift_form(M, "shrd", w, f"{r1}, {r2}", 5),
            ]
        out += [Form(M, f"setg {reg(M, 8, 1)}"), Form(M, f"setnp {mem(M, 8, w)}", mem_operand=True)] if w == 8 else []
    out += [
        Form(M, f"cmpxchg8b {mem(M, 64, 0x30)}", mem_operand=True, setup=equal_mem(M, 0x30, 64, True)),
        Form(M, "cwde"), Form(M, "cdq"), Form(M, "cbw"), Form(M, "cwd"),
        Form(M, "push eax\npop cx"), Form(M, "push word ptr [bx + 4]", mem_operand=True),
        Form(M, "bswap ecx"), Form(M, "lea eax, [ebx + ecx*4 + 0x10]"), Form(M, "lea si, [bp + di - 3]"),
    ]
    return out


FORMS = _forms()
test_quick, test_sweep = make_tests(FORMS)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("asm, ecx, mem, eax, zf", [
    ("popcnt ax, cx", 0xFFFF0001, 0, 0x12340001, 0),
    ("popcnt eax, ecx", 0xFFFF0001, 0, 17, 0),
    ("popcnt ax, cx", 0xFFFF0000, 0, 0x12340000, 1),
    ("popcnt ax, word ptr [bx + 2]", 0, 0xFFFF01FF, 0x12340009, 0),
    ("popcnt eax, dword ptr [bx + 2]", 0, 0xFFFF01FF, 25, 0),
])
def test_popcnt16(asm, ecx, mem, eax, zf, backend):
    """POPCNT in real mode (Unicorn gets the operand size backwards there): exact values, every flag."""
    require_backend(backend)
    from dbt import Emulator
    emu = Emulator(16, backend)
    emu.mem_map(0, 0x10000, "rwx")
    code = assemble(asm, 16)
    emu.mem_write(0x1000, code)
    emu.mem_write(0x8002, mem.to_bytes(4, "little"))
    for r, v in (("eax", 0x12345678), ("ecx", ecx), ("ebx", 0x8000)):
        emu.reg_write(r, v)
    emu.reg_write("eflags", 0xCD5 & ~0x400 | 2)
    assert emu.emu_start(0x1000, until=0x1000 + len(code)) == "until"
    assert emu.reg_read("eax") == eax
    assert emu.reg_read("eflags") & 0x8D5 == (0x40 if zf else 0)
