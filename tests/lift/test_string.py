"""String instructions (MOVS CMPS SCAS LODS STOS, INS/OUTS privilege) in modes 32 and 64, against the host CPU and
Unicorn through the differential harness (tests/diff/harness.py), plus hand-checked REP restarts after a page fault.

Cases: DF = 0 and 1 (random flags), REP counts 0, 1, 2, 3, 7 and 15, REPE/REPNE ending early (the memory is set up so
the comparison succeeds or fails at a random element) or running out of count, 32-bit address size in 64-bit mode
(67h: ESI/EDI/ECX, with garbage in the upper halves of RSI/RDI/RCX), a segment override in mode 32. The source pointer
sits below ``MEM_BASE``, the destination above it, both inside the compared memory window in either direction.
"""

from __future__ import annotations

import pytest

from tests.diff.harness import MEM_BASE, MEM_WINDOW, Form as _Form, make_tests

DF_BIT = 0x400
COUNTS = (0, 1, 2, 3, 7, 15)


def Form(mode, asm, **kw):
    """A harness form whose memory window (around MEM_BASE) is random and compared: it holds both pointers."""
    return _Form(mode, asm, mem_window=MEM_WINDOW, **kw)


def _ptr_regs(rep: bool, addr32: bool = False):
    def gen(rng):
        r = {"rsi": MEM_BASE - 0x80 + rng.randrange(-8, 8), "rdi": MEM_BASE + 0x80 + rng.randrange(-8, 8)}
        r["rcx"] = rng.choice(COUNTS) if rep else rng.getrandbits(64)
        if addr32:                         # only the low halves count; the upper halves must not matter
            for k in ("rsi", "rdi", "rcx"):
                r[k] |= rng.getrandbits(32) << 32
        return r
    return gen


def _compare_setup(kind: str, size: int, repne: bool):
    """Memory for CMPS/SCAS: the comparison changes outcome at a random element k, so REPE/REPNE stop there (or run
    out of count first)."""
    def setup(rng, regs, m):
        step = -size if regs["flags"] & DF_BIT else size
        si = regs.get("rsi", regs.get("esi")) & 0xFFFFFFFFFFFFFFFF
        di = regs.get("rdi", regs.get("edi")) & 0xFFFFFFFFFFFFFFFF
        acc = regs.get("rax", regs.get("eax")) & ((1 << (8 * size)) - 1)
        k = rng.randrange(0, 17)
        for i in range(16):
            d = di + i * step
            want = m.get(si + i * step, size) if kind == "cmps" else acc
            cur = m.get(d, size)
            differ = cur if cur != want else want ^ 1
            equal_here = (i != k) if not repne else (i == k)
            m.put(d, size, want if equal_here else differ)
    return setup


def _forms():
    out = []
    rep, repne = b"\xf3", b"\xf2"
    for mode in (32, 64):
        sizes = (1, 2, 4, 8) if mode == 64 else (1, 2, 4)
        for size in sizes:
            for kind in ("movs", "lods", "stos"):
                op = _opcode(mode, kind, size)
                out.append(Form(mode, op, regs=_ptr_regs(False)))
                out.append(Form(mode, rep + op, regs=_ptr_regs(True)))
            out.append(Form(mode, repne + _opcode(mode, "movs", size), regs=_ptr_regs(True)))   # = REP
            for kind in ("cmps", "scas"):
                op = _opcode(mode, kind, size)
                out.append(Form(mode, op, regs=_ptr_regs(False), setup=_compare_setup(kind, size, False)))
                out.append(Form(mode, rep + op, regs=_ptr_regs(True), setup=_compare_setup(kind, size, False)))
                out.append(Form(mode, repne + op, regs=_ptr_regs(True), setup=_compare_setup(kind, size, True)))
        for op in (b"\x6c", b"\x6f"):           # INSB, OUTSD: privileged at CPL 3, IOPL 0: #GP (SIGSEGV)
            out.append(Form(mode, op, regs=_ptr_regs(False)))
    # 32-bit address size in 64-bit mode: ESI/EDI/ECX.
    out.append(Form(64, bytes.fromhex("67f3a4"), regs=_ptr_regs(True, addr32=True)))
    out.append(Form(64, bytes.fromhex("67f348a5"), regs=_ptr_regs(True, addr32=True)))
    out.append(Form(64, bytes.fromhex("67f3a6"), regs=_ptr_regs(True, addr32=True),
                    setup=_compare_setup("cmps", 1, False)))
    out.append(Form(64, bytes.fromhex("67ad"), regs=_ptr_regs(False, addr32=True)))
    # A segment override on the source (flat: base 0) in mode 32.
    out.append(Form(32, bytes.fromhex("36f3a5"), regs=_ptr_regs(True)))
    out.append(Form(32, bytes.fromhex("2ef3a6"), regs=_ptr_regs(True), setup=_compare_setup("cmps", 1, False)))
    return out


def _opcode(mode: int, kind: str, size: int) -> bytes:
    base = {"movs": 0xA4, "cmps": 0xA6, "stos": 0xAA, "lods": 0xAC, "scas": 0xAE}[kind] + (size > 1)
    pre = b"\x66" if size == 2 else b"\x48" if size == 8 else b""
    return pre + bytes([base])


FORMS = _forms()
test_quick, test_sweep = make_tests(FORMS)


# Faults in the middle of a REP: the state is precise at the faulting iteration ------------------------------------------

@pytest.mark.parametrize("backend", ["interp", "llvm"])
@pytest.mark.parametrize("mode", [32, 64])
def test_rep_movs_page_fault_mid_way(mode, backend):
    from dbt import Emulator, GuestFault
    from tests.diff.harness import require_backend
    require_backend(backend)
    emu = Emulator(mode, backend)
    code, src, dst = 0x1000, 0x10000, 0x20FF8       # dst: 8 bytes before the end of the mapped page at 0x20000
    emu.mem_map(code, 0x1000, "rx")
    emu.mem_map(src, 0x1000, "rw")
    emu.mem_map(0x20000, 0x1000, "rw")              # 0x21000 is not mapped
    emu.mem_write(src, bytes(range(0x40)))
    emu.mem_write(code, bytes.fromhex("f3a4f4"))    # rep movsb; hlt
    r = "r" if mode == 64 else "e"
    emu.reg_write(r + "si", src)
    emu.reg_write(r + "di", dst)
    emu.reg_write(r + "cx", 0x20)
    with pytest.raises(GuestFault) as e:
        emu.emu_start(code, count=1000)
    assert e.value.vector == 14 and e.value.pc == code and e.value.address == 0x21000
    assert e.value.error & 2                        # a write fault
    # Eight iterations completed: the ninth faulted before changing anything.
    assert emu.reg_read(r + "si") == src + 8
    assert emu.reg_read(r + "di") == dst + 8
    assert emu.reg_read(r + "cx") == 0x18
    assert emu.reg_read(r + "ip") == code
    assert emu.mem_read(dst, 8) == bytes(range(8))
    # The guest maps the page and restarts the instruction: it completes where it stopped.
    emu.mem_map(0x21000, 0x1000, "rw")
    assert emu.emu_start(code, count=1000) == "hlt"
    assert emu.reg_read(r + "cx") == 0
    assert emu.reg_read(r + "si") == src + 0x20 and emu.reg_read(r + "di") == dst + 0x20
    assert emu.mem_read(dst, 0x20) == bytes(range(0x20))


@pytest.mark.parametrize("backend", ["interp", "llvm"])
def test_repe_cmps_read_fault_then_early_stop(backend):
    """REPE CMPSD whose source runs into an unmapped page: faults on the element that crosses, precise; once
    mapped, the restart stops at the first difference."""
    from dbt import Emulator, GuestFault
    from tests.diff.harness import require_backend
    require_backend(backend)
    emu = Emulator(64, backend)
    emu.mem_map(0x1000, 0x1000, "rx")
    emu.mem_map(0x10000, 0x1000, "rw")
    emu.mem_map(0x30000, 0x1000, "rw")
    emu.mem_write(0x1000, bytes.fromhex("f3a7f4"))  # repe cmpsd; hlt
    data = bytes(range(0x40))
    emu.mem_write(0x10FF0, data[:0x10])
    emu.mem_write(0x30000, data[:0x18] + b"\xff" + data[0x19:0x40])
    emu.reg_write("rsi", 0x10FF0)
    emu.reg_write("rdi", 0x30000)
    emu.reg_write("rcx", 100)
    with pytest.raises(GuestFault) as e:
        emu.emu_start(0x1000, count=1000)
    assert e.value.vector == 14 and e.value.address == 0x11000 and not e.value.error & 2
    assert (emu.reg_read("rsi"), emu.reg_read("rdi"), emu.reg_read("rcx")) == (0x11000, 0x30010, 96)
    emu.mem_map(0x11000, 0x1000, "rw")
    emu.mem_write(0x11000, data[0x10:0x40])
    assert emu.emu_start(0x1000, count=1000) == "hlt"
    # Elements 0..5 equal, element 6 (bytes 0x18..0x1B) differs: stops after comparing it.
    assert (emu.reg_read("rsi"), emu.reg_read("rdi"), emu.reg_read("rcx")) == (0x1100C, 0x3001C, 93)
    assert emu.reg_read("rflags") & 0x40 == 0       # ZF = 0: the last comparison differed
