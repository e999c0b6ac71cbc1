"""String instructions (MOVS CMPS SCAS LODS STOS, INS/OUTS privilege): modes 32 and 64 against the host CPU and
Unicorn, real mode (66h/67h forms the 80286 vectors cannot have) against Unicorn, through the differential harness
(tests/diff/harness.py); plus hand-checked REP restarts after a page fault.

Cases: DF = 0 and 1 (random flags), REP counts 0, 1, 2, 3, 7 and 15, REPE/REPNE ending early (the memory is set up so
the comparison succeeds or fails at a random element) or running out of count, 32-bit address size in 64-bit mode
(67h: ESI/EDI/ECX, with garbage in the upper halves of RSI/RDI/RCX), 16-bit addressing in real mode with garbage in
the upper halves of ESI/EDI/ECX, a segment override in mode 32. The source pointer sits below the harness's memory
base, the destination above it, both inside the compared memory window in either direction.
"""

from __future__ import annotations

import pytest

from tests.diff.harness import Form as _Form
from tests.diff.harness import make_tests, mem_base

DF_BIT = 0x400
WINDOW = (-0x180, 0x300)                   # around the memory base: source pointer below, destination above
COUNTS = (0, 1, 2, 3, 7, 15)


def Form(mode, asm, **kw):
    """A harness form whose memory window (around the memory base) is random and compared: it holds both
    pointers."""
    return _Form(mode, asm, mem_window=WINDOW, **kw)


def _names(mode):
    return ("rsi", "rdi", "rcx") if mode == 64 else ("esi", "edi", "ecx")


def _addr_mask(mode: int, addr32: bool) -> int:
    return 0xFFFF if mode == 16 and not addr32 else 0xFFFFFFFF


def _ptr_regs(mode: int, rep: bool, addr32: bool = False):
    """SI below the memory base, DI above it, a small count for REP forms. Garbage goes into the register bits the
    address size does not use (upper halves of RSI/RDI/RCX with 67h in mode 64, of ESI/EDI/ECX in real mode)."""
    base = mem_base(mode)
    si, di, cx = _names(mode)
    garbage = 32 if mode == 64 and addr32 else 16 if mode == 16 and not addr32 else 0

    def gen(rng):
        r = {si: base - 0xC0 + rng.randrange(-8, 8), di: base + 0xC0 + rng.randrange(-8, 8)}
        r[cx] = rng.choice(COUNTS) if rep else rng.getrandbits(mode if mode != 16 else 32)
        if garbage:
            for k in (si, di, cx):
                r[k] |= rng.getrandbits(32) << garbage
        return r
    return gen


def _compare_setup(mode: int, kind: str, size: int, repne: bool, addr32: bool = False):
    """Memory for CMPS/SCAS: the comparison changes outcome at a random element k, so REPE/REPNE stop there (or run
    out of count first)."""
    amask = _addr_mask(mode, addr32)
    si_name, di_name, _ = _names(mode)
    acc_name = "rax" if mode == 64 else "eax"

    def setup(rng, regs, m):
        step = -size if regs["flags"] & DF_BIT else size
        si, di = regs[si_name] & amask, regs[di_name] & amask
        acc = regs[acc_name] & ((1 << (8 * size)) - 1)
        k = rng.randrange(0, 17)
        for i in range(16):
            d = di + i * step
            want = m.get(si + i * step, size) if kind == "cmps" else acc
            cur = m.get(d, size)
            differ = cur if cur != want else want ^ 1
            equal_here = (i != k) if not repne else (i == k)
            m.put(d, size, want if equal_here else differ)
    return setup


def _count_not_zero(inp, mem) -> bool:
    """Unicorn (QEMU) leaves the upper halves alone for a 32-bit count of 0; the Intel host clears them."""
    return inp["rcx"] & 0xFFFFFFFF != 0


def _forms():
    out = []
    rep, repne = b"\xf3", b"\xf2"
    for mode in (16, 32, 64):
        sizes = {16: (1, 2, 4), 32: (1, 2, 4), 64: (1, 2, 4, 8)}[mode]
        for size in sizes:
            for kind in ("movs", "lods", "stos"):
                op = _opcode(mode, kind, size)
                out.append(Form(mode, op, regs=_ptr_regs(mode, False)))
                out.append(Form(mode, rep + op, regs=_ptr_regs(mode, True)))
            out.append(Form(mode, repne + _opcode(mode, "movs", size), regs=_ptr_regs(mode, True)))   # = REP
            for kind in ("cmps", "scas"):
                op = _opcode(mode, kind, size)
                out.append(Form(mode, op, regs=_ptr_regs(mode, False), setup=_compare_setup(mode, kind, size, False)))
                out.append(Form(mode, rep + op, regs=_ptr_regs(mode, True),
                                setup=_compare_setup(mode, kind, size, False)))
                out.append(Form(mode, repne + op, regs=_ptr_regs(mode, True),
                                setup=_compare_setup(mode, kind, size, True)))
        if mode != 16:
            for op in (b"\x6c", b"\xf3\x6f"):   # INSB, REP OUTSD: privileged at CPL 3, IOPL 0: #GP (SIGSEGV)
                out.append(Form(mode, op, regs=_ptr_regs(mode, True), oracles=("native",)))   # Unicorn does the I/O
    # 32-bit address size in 64-bit mode: ESI/EDI/ECX.
    out.append(Form(64, bytes.fromhex("67ad"), regs=_ptr_regs(64, False, addr32=True)))
    for op, setup in (("67f3a4", None), ("67f348a5", None), ("67f3a6", _compare_setup(64, "cmps", 1, False, True)),
                      ("67f3aa", None), ("67f3ad", None), ("67f2af", _compare_setup(64, "scas", 4, True, True))):
        out.append(Form(64, bytes.fromhex(op), regs=_ptr_regs(64, True, addr32=True), setup=setup,
                        unicorn_ok=_count_not_zero))
    # 32-bit address size in real mode (ESI/EDI/ECX within the 64 KiB limit).
    for op, setup in (("67f3a4", None), ("6667f3a5", None), ("67f2a6", _compare_setup(16, "cmps", 1, True, True)),
                      ("67ac", None), ("67f3ab", None)):
        out.append(Form(16, bytes.fromhex(op), regs=_ptr_regs(16, op[-2:] != "ac", addr32=True), setup=setup))
    # A segment override on the source (flat: base 0) in mode 32; a segment override (base 0) in real mode.
    out.append(Form(32, bytes.fromhex("36f3a5"), regs=_ptr_regs(32, True)))
    out.append(Form(32, bytes.fromhex("2ef3a6"), regs=_ptr_regs(32, True),
                    setup=_compare_setup(32, "cmps", 1, False)))
    out.append(Form(16, bytes.fromhex("26f3a5"), regs=_ptr_regs(16, True)))
    return out


def _opcode(mode: int, kind: str, size: int) -> bytes:
    base = {"movs": 0xA4, "cmps": 0xA6, "stos": 0xAA, "lods": 0xAC, "scas": 0xAE}[kind] + (size > 1)
    wide = 2 if mode == 16 else 4                  # the operand size without a prefix
    pre = b"\x48" if size == 8 else b"\x66" if size in (2, 4) and size != wide else b""
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
