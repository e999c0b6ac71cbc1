"""The SYSCALL instruction without and with an OS: the plain Emulator (no personality) raises #UD before touching
any register, as a CPU with IA32_EFER.SCE = 0; 32-bit mode is #UD; SYSRET at CPL 3 is #GP. With a helper installed,
the unit ends, the helper sees the next RIP, and execution resumes at the RIP it leaves (both backends)."""

import keystone
import pytest

from dbt import Emulator, GuestFault
from dbt.engine import Engine
from tests.linux.conftest import BACKENDS

CODE = 0x10000


def _asm(src, mode=64):
    if isinstance(src, bytes):
        return src
    ks = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_64 if mode == 64 else keystone.KS_MODE_32)
    return bytes(ks.asm(src, CODE)[0])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode,src,vector", [
    (64, "mov ecx, 7; syscall", 6),
    (32, "mov ecx, 7; syscall", 6),
    (64, bytes.fromhex("b907000000" "480f07"), 13),      # mov ecx, 7; sysretq (keystone cannot assemble SYSRETQ)
])
def test_without_os(backend, mode, src, vector):
    emu = Emulator(mode, backend=backend)
    emu.mem_map(CODE, 0x1000, "rwx")
    emu.mem_write(CODE, _asm(src, mode))
    with pytest.raises(GuestFault) as e:
        emu.emu_start(CODE)
    assert e.value.vector == vector and e.value.pc == CODE + 5
    assert emu.reg_read("rcx") == 7 and emu.reg_read("r11") == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_helper_gets_next_rip_and_resumes_where_it_says(backend):
    seen = []

    def syscall(state, memory, next_ip):
        seen.append((next_ip, state["rax"], state["rdi"]))
        state["rcx"] = next_ip
        state["rax"] = state["rdi"] * 2
        state["rip"] = next_ip + 2 if state["rdi"] == 5 else next_ip   # skip the "inc eax" after the 2nd call
        return 0

    code = _asm("mov edi, 4; mov eax, 60; syscall; mov ebx, eax; mov edi, 5; syscall; inc eax; hlt")
    eng = Engine(64, backend, helpers={"syscall": syscall})
    eng.mem.map(CODE, 0x1000, "rwx")
    eng.mem.write(CODE, code, need=0)
    assert eng.run(CODE) == "hlt"
    first = CODE + len(_asm("mov edi, 4; mov eax, 60; syscall"))
    second = CODE + len(_asm("mov edi, 4; mov eax, 60; syscall; mov ebx, eax; mov edi, 5; syscall"))
    assert seen == [(first, 60, 4), (second, 8, 5)]
    assert eng.state["rbx"] == 8 and eng.state["rax"] == 10       # "inc eax" was skipped
    assert eng.state["rcx"] == second


@pytest.mark.parametrize("backend", BACKENDS)
def test_cet_instructions_are_nops(backend):
    """ENDBR64/ENDBR32/RDSSPQ without CET: nothing changes (the host agrees: see the sysregs case); INCSSPQ is #UD
    (outside the hint-NOP space)."""
    code = bytes.fromhex("f30f1efa" "b8ffffffff" "f3480f1ec8" "f30f1efb" "f4")
    emu = Emulator(64, backend=backend)
    emu.mem_map(CODE, 0x1000, "rwx")
    emu.mem_write(CODE, code)
    emu.reg_write("rflags", 0x2 | 0x1 | 0x40)
    assert emu.emu_start(CODE) == "hlt"
    assert emu.reg_read("rax") == 0xFFFFFFFF and emu.reg_read("rflags") & 0xFFF == 0x43
    assert emu.reg_read("rip") == CODE + len(code)
    emu.mem_write(CODE, bytes.fromhex("f3480faee8"))                 # incsspq rax
    with pytest.raises(GuestFault) as e:
        emu.emu_start(CODE)
    assert e.value.vector == 6 and e.value.pc == CODE
