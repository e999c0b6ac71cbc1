"""Engine behaviour through the public API, on every backend: stops (HLT, until, count), self-modifying code,
blocks across a page boundary, faults in the middle of a block with precise state, wild jumps and bad arguments.
Expected values are worked out by hand in each test."""

import keystone
import pytest

from dbt import Emulator, GuestFault

BACKENDS = ["interp", "llvm", "auto"]
CODE = 0x10000
DATA = 0x40000


def asm(src: str, base: int = CODE, mode: int = 64) -> bytes:
    ks = keystone.Ks(keystone.KS_ARCH_X86, {32: keystone.KS_MODE_32, 64: keystone.KS_MODE_64}[mode])
    return bytes(ks.asm(src, base)[0])


def make(backend, code: bytes, mode: int = 64, hot: int = 2):
    emu = Emulator(mode, backend=backend, hot_threshold=hot)
    emu.mem_map(CODE, 0x4000, "rwx")
    emu.mem_map(DATA, 0x2000, "rw")
    emu.mem_write(CODE, code)
    emu.reg_write("rsp" if mode == 64 else "esp", DATA + 0x1000)
    return emu


@pytest.mark.parametrize("backend", BACKENDS)
def test_loop_hlt_and_ip_past_hlt(backend):
    code = asm("mov ecx, 100; xor eax, eax; l: add eax, ecx; dec ecx; jnz l; hlt")
    emu = make(backend, code)
    assert emu.emu_start(CODE) == "hlt"
    assert emu.reg_read("rax") == 5050
    assert emu.reg_read("rip") == CODE + len(code)
    assert emu.stats["insns_executed"] == 2 + 3 * 100 + 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_count_is_exact_inside_a_loop(backend):
    code = asm("xor eax, eax; l: inc eax; jmp l")
    emu = make(backend, code)
    for total in (1, 2, 7, 200):   # 1 xor, then (inc, jmp) pairs
        emu.reg_write("rax", 99)
        assert emu.emu_start(CODE, count=total) == "count"
        executed = total - 1
        assert emu.reg_read("rax") == (executed + 1) // 2
        expect_ip = CODE + 2 + (2 if executed % 2 else 0)
        assert emu.reg_read("rip") == expect_ip


@pytest.mark.parametrize("backend", BACKENDS)
def test_until_stops_inside_a_cached_block(backend):
    code = asm("mov eax, 1; mov ebx, 2; mov ecx, 3; hlt")
    emu = make(backend, code)
    assert emu.emu_start(CODE) == "hlt"           # the whole block is now translated
    emu.reg_write("rcx", 0)
    assert emu.emu_start(CODE, until=CODE + 10) == "until"   # stop before "mov ecx, 3"
    assert emu.reg_read("rip") == CODE + 10
    assert emu.reg_read("rcx") == 0 and emu.reg_read("rbx") == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_self_modifying_code_next_instruction(backend):
    # The store rewrites the immediate of the very next instruction (in the same block): mov eax, 1 -> mov eax, 7.
    code = asm(f"mov byte ptr [{CODE + 0x11:#x}], 7").ljust(0x10, b"\x90")   # 0x11: the immediate's low byte
    target = asm("mov eax, 1; hlt", CODE + 0x10)
    emu = make(backend, code + target)
    assert emu.emu_start(CODE) == "hlt"
    assert emu.reg_read("rax") == 7


@pytest.mark.parametrize("backend", BACKENDS)
def test_self_modifying_code_in_a_hot_loop(backend):
    # A hot loop calls a routine, then patches the routine's immediate; the new value must be seen every time.
    src = f"""
        xor ebx, ebx
        mov ecx, 10
    again:
        call {CODE + 0x100:#x}
        add ebx, eax
        inc byte ptr [{CODE + 0x101:#x}]
        dec ecx
        jnz again
        hlt
    """
    code = asm(src)
    routine = asm("mov eax, 1; ret", CODE + 0x100)
    emu = make(backend, code.ljust(0x100, b"\x90") + routine)
    assert emu.emu_start(CODE) == "hlt"
    assert emu.reg_read("rbx") == sum(range(1, 11))


@pytest.mark.parametrize("backend", BACKENDS)
def test_block_across_a_page_boundary(backend):
    start = CODE + 0x1000 - 5
    code = asm("mov eax, 0x11223344; mov ebx, 0x55667788; add eax, ebx; hlt", start)
    emu = make(backend, b"")
    emu.mem_write(start, code)
    assert emu.emu_start(start) == "hlt"
    assert emu.reg_read("rax") == (0x11223344 + 0x55667788) & 0xFFFFFFFF
    # Rewriting the bytes on the second page drops the translation.
    emu.mem_write(start + 5, asm("mov ebx, 1", start + 5))
    assert emu.emu_start(start) == "hlt"
    assert emu.reg_read("rax") == 0x11223345


@pytest.mark.parametrize("backend", BACKENDS)
def test_fault_in_the_middle_of_a_block_is_precise(backend):
    code = asm("mov eax, 5; add eax, eax; mov ebx, dword ptr [0x900000]; mov ecx, 9; hlt")
    emu = make(backend, code)
    emu.reg_write("rbx", 0x1234)
    with pytest.raises(GuestFault) as ei:
        emu.emu_start(CODE)
    f = ei.value
    assert f.vector == 14 and f.address == 0x900000
    assert f.pc == CODE + 7                      # the faulting mov
    assert emu.reg_read("rip") == CODE + 7
    assert emu.reg_read("rax") == 10 and emu.reg_read("rbx") == 0x1234 and emu.reg_read("rcx") == 0
    assert emu.reg_read("eflags") & 0x8D5 == 0x04   # flags of add 5+5: PF only
    assert emu.stats["insns_executed"] == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_write_to_read_only_page_faults_without_writing(backend):
    emu = make(backend, asm(f"mov dword ptr [{CODE + 0x3000:#x}], 1; hlt"))
    emu.mem_protect(CODE + 0x3000, 0x1000, "r")
    with pytest.raises(GuestFault) as ei:
        emu.emu_start(CODE)
    assert ei.value.vector == 14 and ei.value.error & 2   # write access
    assert emu.mem_read(CODE + 0x3000, 4) == b"\0\0\0\0"


@pytest.mark.parametrize("backend", BACKENDS)
def test_wild_jump_faults_on_fetch(backend):
    emu = make(backend, asm("mov rax, 0x123456789000; jmp rax"))
    with pytest.raises(GuestFault) as ei:
        emu.emu_start(CODE)
    assert ei.value.vector == 14 and ei.value.address == 0x123456789000
    assert ei.value.error & 0x10                   # instruction fetch
    assert emu.reg_read("rip") == 0x123456789000


@pytest.mark.parametrize("backend", BACKENDS)
def test_rep_movs_interrupted_by_a_fault_is_precise(backend):
    # Copy 0x30 bytes from DATA+0x1FF0 upwards: the source runs off the end of the mapping after 0x10 bytes.
    code = asm(f"mov rsi, {DATA + 0x1FF0:#x}; mov rdi, {DATA:#x}; mov ecx, 0x30; cld; rep movsb; hlt")
    emu = make(backend, code)
    emu.mem_write(DATA + 0x1FF0, bytes(range(1, 17)))
    with pytest.raises(GuestFault) as ei:
        emu.emu_start(CODE)
    assert ei.value.address == DATA + 0x2000
    assert emu.reg_read("rcx") == 0x20
    assert emu.reg_read("rsi") == DATA + 0x2000 and emu.reg_read("rdi") == DATA + 0x10
    assert emu.mem_read(DATA, 16) == bytes(range(1, 17))


@pytest.mark.parametrize("backend", BACKENDS)
def test_invalid_opcode_raises_ud(backend):
    emu = make(backend, asm("mov eax, 1") + b"\x0f\x0b")   # UD2
    with pytest.raises(GuestFault) as ei:
        emu.emu_start(CODE)
    assert ei.value.vector == 6 and ei.value.pc == CODE + 5
    assert emu.reg_read("rax") == 1


def test_mem_map_rejects_unaligned_and_overlapping():
    emu = Emulator(64, backend="interp")
    with pytest.raises(ValueError):
        emu.mem_map(0x1001, 0x1000)
    with pytest.raises(ValueError):
        emu.mem_map(0x1000, 0x800)
    emu.mem_map(0x1000, 0x1000)
    with pytest.raises(ValueError):
        emu.mem_map(0x1000, 0x1000)
    with pytest.raises(ValueError):
        emu.mem_map(0x2000, 0x1000, perms="rwz")


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError):
        Emulator(mode=8)
    with pytest.raises(ValueError):
        Emulator(64, backend="jit")
    emu = Emulator(64, backend="interp")
    with pytest.raises(ValueError):
        emu.reg_write("xmm99", 1)


def test_sub_registers_merge_and_zero_extend():
    emu = Emulator(64, backend="interp")
    emu.reg_write("rax", 0x1122334455667788)
    emu.reg_write("ah", 0xAB)
    assert emu.reg_read("rax") == 0x112233445566AB88
    emu.reg_write("eax", 0x1)
    assert emu.reg_read("rax") == 0x1
    emu.reg_write("eflags", 0x8D5 | 0x400)
    assert emu.reg_read("eflags") == 0x8D5 | 0x400 | 0x2


@pytest.mark.parametrize("backend", BACKENDS)
def test_count_limited_runs_keep_the_full_unit_native(backend):
    # Many runs that each end inside the loop body use one-instruction tails; afterwards a free run must still be
    # exact and fast-path units must not have been replaced by one-instruction ones.
    code = asm("l: inc eax; inc ebx; inc ecx; dec edx; jnz l; hlt")
    emu = make(backend, code, hot=3)
    emu.reg_write("rdx", 1000)
    for _ in range(20):
        emu.emu_start(emu.reg_read("rip") if emu.reg_read("rip") else CODE, count=3)
    assert [emu.reg_read(r) for r in ("rax", "rbx", "rcx", "rdx")] == [12, 12, 12, 1000 - 12]   # 60 insns = 12 loops
    assert emu.emu_start(emu.reg_read("rip")) == "hlt"
    assert emu.reg_read("rax") == 1000 and emu.reg_read("rdx") == 0
    if backend != "interp":
        key = emu.engine._key(CODE)
        assert emu.engine.native.units[key].addr == emu.engine.cache[key].native.addr
        assert emu.engine.cache[key].ninsns == 5


@pytest.mark.parametrize("backend", BACKENDS)
def test_fs_gs_segment_bases_in_64_bit_mode(backend):
    # fs:[rbx+8] and gs:[0x10] add the segment base; ds: and plain accesses do not (64-bit flat segments).
    code = asm("mov rax, qword ptr fs:[rbx + 8]; mov qword ptr gs:[0x10], rax; mov rcx, qword ptr ds:[rbx + 8]; hlt")
    emu = make(backend, code)
    emu.reg_write("fs_base", DATA + 0x100)
    emu.reg_write("gs_base", DATA + 0x800)
    emu.reg_write("rbx", 0x20)
    emu.mem_write(DATA + 0x128, (0x1122334455667788).to_bytes(8, "little"))
    emu.mem_map(0, 0x1000, "rw")
    emu.mem_write(0x28, (0xABCD).to_bytes(8, "little"))
    assert emu.emu_start(CODE) == "hlt"
    assert emu.reg_read("rax") == 0x1122334455667788
    assert emu.mem_read(DATA + 0x810, 8) == (0x1122334455667788).to_bytes(8, "little")
    assert emu.reg_read("rcx") == 0xABCD
    assert emu.reg_read("fs_base") == DATA + 0x100


@pytest.mark.parametrize("backend", BACKENDS)
def test_cpuid_advertises_only_the_documented_model(backend):
    code = asm("mov eax, 1; xor ecx, ecx; cpuid; hlt")
    emu = make(backend, code)
    assert emu.emu_start(CODE) == "hlt"
    edx, ecx = emu.reg_read("edx"), emu.reg_read("ecx")
    assert edx & 1                            # FPU: the flat modes' x87 (dbt.x87)
    for bit in (19, 24, 25, 26):              # CLFSH, FXSR, SSE, SSE2
        assert edx & (1 << bit), bit
    assert edx & (1 << 23)                    # MMX (dbt.lift.mmx)
    assert edx & (1 << 28) == 0               # no HTT: one logical processor
    for bit in (0, 9, 19, 20, 26, 27, 28):    # no SSE3, SSSE3, SSE4.1, SSE4.2, XSAVE, OSXSAVE, AVX
        assert ecx & (1 << bit) == 0, bit
    assert emu.reg_read("ebx") >> 8 & 0xFF == 8     # CLFLUSH line size: 8 x 8 bytes
    assert edx & (1 << 8) and edx & (1 << 15)           # CX8, CMOV
    assert ecx & (1 << 23) and ecx & (1 << 13)          # POPCNT, CMPXCHG16B


def _cpuid(backend, leaf, subleaf=0):
    emu = make(backend, asm("cpuid; hlt"))
    emu.reg_write("rax", leaf)
    emu.reg_write("rcx", subleaf)
    assert emu.emu_start(CODE) == "hlt"
    return tuple(emu.reg_read(r) for r in ("eax", "ebx", "ecx", "edx"))


def _glibc_leaf4_size(eax, ebx, ecx, edx):
    """The cache size as glibc's handle_intel computes it from a leaf-4 subleaf: ways x partitions x line x sets."""
    return ((ebx >> 22) + 1) * (((ebx >> 12) & 0x3FF) + 1) * ((ebx & 0xFFF) + 1) * (ecx + 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cpuid_intel_leaves_glibc_reads(backend):
    """The vendor is GenuineIntel (glibc's feature detection keys on it); leaf 2 says "see leaf 4" (descriptor 0xFF in
    a one-round EAX), and leaf 4 enumerates L1d, L1i, L2, L3 (hand-checked sizes) and ends with a null subleaf (glibc
    loops until one); SYSCALL is advertised for long mode; leaves 0xB and 0x1F are above the maximum (zeros)."""
    eax, ebx, ecx, edx = _cpuid(backend, 0)
    assert b"".join(v.to_bytes(4, "little") for v in (ebx, edx, ecx)) == b"GenuineIntel"
    assert 4 <= eax < 0xB
    leaf2 = _cpuid(backend, 2)
    assert leaf2[0] & 0xFF == 1 and 0xFF in leaf2[0].to_bytes(4, "little")[1:]
    want = [(1, 1, 32 << 10), (2, 1, 32 << 10), (3, 2, 1 << 20), (3, 3, 8 << 20)]     # (type, level, bytes)
    for sub, (kind, level, size) in enumerate(want):
        regs = _cpuid(backend, 4, sub)
        assert (regs[0] & 0x1F, regs[0] >> 5 & 7) == (kind, level)
        assert _glibc_leaf4_size(*regs) == size and (regs[1] & 0xFFF) + 1 == 64
    assert _cpuid(backend, 4, len(want))[0] & 0x1F == 0
    assert _cpuid(backend, 0x80000001)[3] & (1 << 11)
    assert _cpuid(backend, 0xB) == (0, 0, 0, 0) and _cpuid(backend, 0x1F, 1) == (0, 0, 0, 0)
