"""System instructions in the flat user modes 32 and 64 against the host CPU: IRET (same privilege, all operand
sizes), CLI/STI (#GP at CPL 3), INT3 and INTO (traps), SALC, ESC (the x87 FPU of the flat modes); CPUID and RDTSC hand-checked
against the documented CPU model."""

from __future__ import annotations

import pytest

from tests.diff.harness import STACK_BASE, Form, make_tests
from tests.oracle import native

OF = 0x800


def _iret_frame(mode: int, width: int):
    """A same-privilege IRET frame at the stack pointer returning to the end of the fragment (which is the IRET)."""
    cs, ss = (0x33, 0x2B) if mode == 64 else (0x23, 0x2B)
    size = width // 8

    def setup(rng, regs, m):
        ret = native.code_address(mode) + (2 if width == 64 else 1)            # 48 CF / CF
        items = [ret, cs, rng.getrandbits(12) & 0xCD5 | 0x202]
        if mode == 64:
            items += [STACK_BASE + 0x40, ss]
        for i, v in enumerate(items):
            m.put(STACK_BASE + i * size, size, v)
    return setup


def _forms():
    out = [
        # IRETD; IRETQ; IRETD in 64-bit mode (pops ESP/SS too). Unicorn does not model a user-mode IRET.
        Form(32, b"\xcf", setup=_iret_frame(32, 32), oracles=("native",)),
        Form(64, b"\x48\xcf", setup=_iret_frame(64, 64), oracles=("native",)),
        Form(64, b"\xcf", setup=_iret_frame(64, 32), oracles=("native",)),
        Form(32, b"\xd6"),                                             # SALC
        Form(32, b"\xce", unicorn_ok=lambda i, m: not i["flags"] & OF),   # INTO: #OF (SIGSEGV) when OF = 1
    ]
    for mode in (32, 64):
        # CLI/STI: #GP (SIGSEGV); INT3: #BP (SIGTRAP). Unicorn runs at CPL 0: the host is the only oracle.
        out += [Form(mode, op, oracles=("native",)) for op in (b"\xfa", b"\xfb", b"\xcc")]
    return out


FORMS = _forms()
test_quick, test_sweep = make_tests(FORMS)


@pytest.mark.parametrize("mode", [32, 64])
def test_esc_runs_on_the_flat_modes_fpu(mode):
    """The flat user modes have an x87 FPU (dbt.x87; tests/fp/test_x87.py checks it against the host): FLD1 pushes
    1.0 (R7 = 3FFF 8000000000000000, TOP = 7) instead of raising #NM."""
    from dbt import Emulator
    emu = Emulator(mode, "interp")
    emu.mem_map(0x1000, 0x1000)
    emu.mem_write(0x1000, bytes.fromhex("d9e8f4"))                  # fld1; hlt
    emu.emu_start(0x1000, count=10)
    st = emu.engine.state
    assert (st["fpr7_se"], st["fpr7"], st["fsw"] >> 11 & 7) == (0x3FFF, 1 << 63, 7)


@pytest.mark.parametrize("backend", ["interp", "llvm"])
@pytest.mark.parametrize("mode", [16, 32, 64])
def test_cpuid_and_rdtsc(mode, backend):
    from dbt import Emulator
    from dbt.helpers import VENDOR, cpuid
    from tests.diff.harness import require_backend
    require_backend(backend)
    emu = Emulator(mode, backend)
    emu.mem_map(0, 0x2000)
    # cpuid (leaf 0); mov esi, ebx; mov edi, edx; mov ebp, ecx; mov eax, 1; cpuid; rdtsc; mov ebx, eax; mov ecx, edx;
    # rdtsc; hlt  (mode 16 needs 66h on the 32-bit moves)
    p = b"\x66" if mode == 16 else b""
    code = (b"\x0f\xa2" + p + b"\x89\xde" + p + b"\x89\xd7" + p + b"\x89\xcd" + p + b"\xb8\x01\x00"
            + (b"\x00\x00" if mode != 16 else b"") + b"\x0f\xa2" + b"\x0f\x31" + p + b"\x89\xc3" + p + b"\x89\xd1"
            + b"\x0f\x31\xf4")
    if mode == 16:
        code = code.replace(b"\x66\xb8\x01\x00", b"\x66\xb8\x01\x00\x00\x00")
    emu.mem_write(0x100, code)
    emu.reg_write("eax", 0)
    emu.reg_write("ecx", 0)
    assert emu.emu_start(0x100, count=100) == "hlt"
    vendor = b"".join(emu.reg_read(r).to_bytes(4, "little") for r in ("esi", "edi", "ebp"))
    assert vendor == VENDOR
    # After leaf 1 and two RDTSCs: EBX:ECX hold the first time stamp, EDX:EAX the second, and time moves forward.
    first = emu.reg_read("ecx") << 32 | emu.reg_read("ebx")
    second = emu.reg_read("edx") << 32 | emu.reg_read("eax")
    assert second >= first
    assert cpuid(1, 0)[0] == 0x000006F1
