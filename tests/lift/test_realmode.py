"""Real mode (mode 16) system behaviour with hand-checked expected states: INT/IRET round trips, exceptions delivered
through the IVT (#DE from DIV and AAM 0, INTO, INT3, BOUND, segment-limit #GP/#SS), IRETD, far-pointer loads,
CLI/STI, port I/O, XLAT/SALC, REP string wrap-around inside a segment and a fault in the middle of a REP.

Layout of every test: code at CS=1000h (linear 10000h), data at DS=ES=2000h, stack SS=3000h with SP=0100h; each
vector's handler (when one is installed) is a HLT at 0500:vector*16 (linear 5000h + vector*16)."""

from __future__ import annotations

import pytest

CS, DS, SS, SP0 = 0x1000, 0x2000, 0x3000, 0x0100
HANDLER_CS = 0x0500
IF, TF, CF, OF, ZF, DF = 1 << 9, 1 << 8, 1 << 0, 1 << 11, 1 << 6, 1 << 10


def asm16(text: str) -> bytes:
    import keystone
    ks = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_16)
    return bytes(ks.asm(text, 0)[0])


@pytest.fixture(params=["interp", "llvm"])
def backend(request):
    from tests.diff.harness import require_backend
    require_backend(request.param)
    return request.param


class Machine:
    def __init__(self, backend: str, code, ip: int = 0x100, flags: int = 0x0002, handlers=range(32)):
        from dbt import Emulator
        self.emu = e = Emulator(16, backend)
        e.mem_map(0, 0x110000)
        for v in handlers:                                  # vector v -> 0500:v*16, a HLT
            e.mem_write(v * 4, (v * 16).to_bytes(2, "little") + HANDLER_CS.to_bytes(2, "little"))
            e.mem_write(HANDLER_CS * 16 + v * 16, b"\xf4")
        self.ip = ip
        e.mem_write(CS * 16 + ip, asm16(code) if isinstance(code, str) else code)
        for seg, v in (("cs", CS), ("ds", DS), ("es", DS), ("ss", SS)):
            e.reg_write(seg, v)
        e.reg_write("sp", SP0)
        e.reg_write("flags", flags)

    def run(self, count: int = 1000) -> str:
        return self.emu.emu_start(self.ip, count=count)

    def reg(self, name: str) -> int:
        return self.emu.reg_read(name)

    def word(self, linear: int) -> int:
        return int.from_bytes(self.emu.mem_read(linear, 2), "little")

    def stack(self, n: int = 3) -> list:
        """The n words at SS:SP (IP, CS, FLAGS after an interrupt)."""
        sp = self.reg("sp")
        return [self.word(SS * 16 + ((sp + 2 * i) & 0xFFFF)) for i in range(n)]

    def assert_delivered(self, vector: int, pushed_ip: int, flags_before: int, sp_before: int = SP0):
        """Stopped on the HLT of vector's handler, with FLAGS, CS, IP pushed and IF/TF cleared."""
        assert self.reg("cs") == HANDLER_CS
        assert self.reg("ip") == vector * 16 + 1                      # past the handler's HLT
        assert self.reg("sp") == (sp_before - 6) & 0xFFFF
        assert self.stack() == [pushed_ip, CS, flags_before]
        assert self.reg("flags") & (IF | TF) == 0


def test_int_iret_round_trip(backend):
    # Handler for INT 21h at 2000:0040 (inside the data segment): records FLAGS, sets AX, returns.
    m = Machine(backend, "int 0x21\nhlt", flags=0x0002 | IF | CF | ZF)
    handler = asm16("pushf\npop bx\nmov ax, 0x1234\niret")
    m.emu.mem_write(DS * 16 + 0x40, handler)
    m.emu.mem_write(0x21 * 4, bytes.fromhex("4000") + DS.to_bytes(2, "little"))
    assert m.run() == "hlt"
    assert m.reg("ax") == 0x1234
    assert m.reg("bx") == 0x0002 | CF | ZF                       # inside the handler: IF (and TF) cleared
    assert m.reg("flags") == 0x0002 | IF | CF | ZF               # IRET restored FLAGS
    assert (m.reg("cs"), m.reg("ip"), m.reg("sp")) == (CS, 0x103, SP0)   # back after INT 21h, past the HLT
    # The frame INT pushed is still below SP: IP of the next instruction, CS, FLAGS.
    assert [m.word(SS * 16 + SP0 - 6 + 2 * i) for i in range(3)] == [0x102, CS, 0x0002 | IF | CF | ZF]


def test_int_n_pushes_next_ip_and_clears_if_tf(backend):
    m = Machine(backend, "int 0x1f", flags=0x0002 | IF | TF | OF)
    m.run()
    m.assert_delivered(0x1F, 0x102, 0x0002 | IF | TF | OF)
    assert m.reg("flags") & OF                                   # other flags unchanged


def test_int3_is_a_trap(backend):
    m = Machine(backend, "int3", flags=0x0002 | IF)
    m.run()
    m.assert_delivered(3, 0x101, 0x0002 | IF)


@pytest.mark.parametrize("of", [0, 1])
def test_into(backend, of):
    m = Machine(backend, "into\nmov ax, 7\nhlt", flags=0x0002 | IF | (OF if of else 0))
    m.emu.reg_write("ax", 0)
    m.run()
    if of:
        m.assert_delivered(4, 0x101, 0x0002 | IF | OF)           # a trap: IP of the next instruction
        assert m.reg("ax") == 0
    else:
        assert (m.reg("cs"), m.reg("ip"), m.reg("ax"), m.reg("sp")) == (CS, 0x105, 7, SP0)


def test_div_by_zero_through_ivt(backend):
    m = Machine(backend, "div bl", flags=0x0002 | IF | CF)
    m.emu.reg_write("ax", 0x1234)
    m.emu.reg_write("bx", 0)
    m.run()
    m.assert_delivered(0, 0x100, 0x0002 | IF | CF)                # a fault: IP of the DIV itself
    assert m.reg("ax") == 0x1234


def test_aam_zero_is_divide_error(backend):
    m = Machine(backend, "aam 0", flags=0x0002 | ZF)
    m.emu.reg_write("ax", 0x0177)
    m.run()
    m.assert_delivered(0, 0x100, 0x0002 | ZF)
    assert m.reg("ax") == 0x0177 and m.reg("flags") & ZF           # flags unchanged (386+; the 286 changes them)


@pytest.mark.parametrize("index,raises", [(-5, False), (-6, True), (100, False), (101, True)])
def test_bound(backend, index, raises):
    m = Machine(backend, "bound ax, [si]\nhlt")
    m.emu.reg_write("si", 0x10)
    m.emu.mem_write(DS * 16 + 0x10, (-5 & 0xFFFF).to_bytes(2, "little") + (100).to_bytes(2, "little"))
    m.emu.reg_write("ax", index & 0xFFFF)
    m.run()
    if raises:
        m.assert_delivered(5, 0x100, 0x0002)                      # #BR is a fault
    else:
        assert (m.reg("cs"), m.reg("ip")) == (CS, 0x103)


def test_segment_limit_gp_and_ss(backend):
    # A word at DS:FFFF crosses the 64 KiB limit: #GP(0), IP of the instruction, registers untouched.
    m = Machine(backend, "mov ax, [bx]")
    m.emu.reg_write("bx", 0xFFFF)
    m.emu.reg_write("ax", 0x5555)
    m.run()
    m.assert_delivered(13, 0x100, 0x0002)
    assert m.reg("ax") == 0x5555
    # Through SS ([bp]): #SS(0) on a 386+ (the 80286 raises interrupt 13 here too).
    m = Machine(backend, "mov ax, [bp]")
    m.emu.reg_write("bp", 0xFFFF)
    m.run()
    m.assert_delivered(12, 0x100, 0x0002)
    # A byte at offset FFFF is fine.
    m = Machine(backend, "mov al, [bx]\nhlt")
    m.emu.reg_write("bx", 0xFFFF)
    m.emu.mem_write(DS * 16 + 0xFFFF, b"\x42")
    m.run()
    assert m.reg("al") == 0x42 and m.reg("ip") == 0x103


def test_iret_and_iretd_pop_widths(backend):
    # IRET pops 16-bit IP, CS, FLAGS; IRETD 32-bit EIP, CS, EFLAGS.
    m = Machine(backend, "iret")
    m.emu.mem_write(SS * 16 + SP0, bytes.fromhex("2001") + CS.to_bytes(2, "little") + (0x0002 | CF | DF).to_bytes(2, "little"))
    m.emu.mem_write(CS * 16 + 0x120, b"\xf4")
    m.run()
    assert (m.reg("cs"), m.reg("ip"), m.reg("sp"), m.reg("flags")) == (CS, 0x121, SP0 + 6, 0x0002 | CF | DF)
    m = Machine(backend, "iretd")
    frame = (0x130).to_bytes(4, "little") + (CS | 0xABCD0000).to_bytes(4, "little") + (0x0002 | IF | OF).to_bytes(4, "little")
    m.emu.mem_write(SS * 16 + SP0, frame)
    m.emu.mem_write(CS * 16 + 0x130, b"\xf4")
    m.run()
    assert (m.reg("cs"), m.reg("ip"), m.reg("sp"), m.reg("flags")) == (CS, 0x131, SP0 + 12, 0x0002 | IF | OF)


def test_far_pointer_loads(backend):
    m = Machine(backend, "les di, [bx+4]\nlss sp, [bx+8]\nlds si, [bx]\nhlt")    # LDS last: it moves DS
    m.emu.reg_write("bx", 0x20)
    m.emu.mem_write(DS * 16 + 0x20, bytes.fromhex("3412 0040 7856 0050 0002 0060".replace(" ", "")))
    m.run()
    assert (m.reg("si"), m.reg("ds")) == (0x1234, 0x4000)
    assert (m.reg("di"), m.reg("es")) == (0x5678, 0x5000)
    assert (m.reg("sp"), m.reg("ss")) == (0x0200, 0x6000)
    # The bases follow the selectors: a load through DS now reads linear 40000h + offset.
    m = Machine(backend, "lds si, [bx]\nmov al, [si]\nhlt")
    m.emu.reg_write("bx", 0x20)
    m.emu.mem_write(DS * 16 + 0x20, bytes.fromhex("34120040"))
    m.emu.mem_write(0x40000 + 0x1234, b"\x99")
    m.run()
    assert m.reg("al") == 0x99


def test_cli_sti_salc_xlat_ports(backend):
    m = Machine(backend, "cli\nmov bx, 0x10\nmov al, 3\nxlatb\nmov cl, al\nsalc\nmov ch, al\nin al, 0x60\n"
                "mov ah, al\nmov dx, 0x3f8\nout dx, al\nhlt", flags=0x0002 | IF | CF)
    m.emu.mem_write(DS * 16 + 0x13, b"\x5a")
    m.run()
    assert m.reg("flags") & IF == 0
    assert m.reg("cl") == 0x5A                                   # XLAT: [DS:BX + AL]
    assert m.reg("ch") == 0xFF                                   # SALC with CF = 1
    assert m.reg("ah") == 0xFF                                   # IN from an unconnected port
    m = Machine(backend, "sti\nhlt", flags=0x0002)
    m.run()
    assert m.reg("flags") & IF


def test_rep_movs_wraps_inside_the_segment(backend):
    # DF = 1, SI starts at 1: the third element comes from DS:FFFF (16-bit offsets wrap, linear bases do not).
    m = Machine(backend, "std\nrep movsb\nhlt")
    m.emu.reg_write("si", 1)
    m.emu.reg_write("di", 0x200)
    m.emu.reg_write("cx", 4)
    m.emu.mem_write(DS * 16, b"\xa0\xa1")
    m.emu.mem_write(DS * 16 + 0xFFFE, b"\xfe\xff")
    m.run()
    assert (m.reg("si"), m.reg("di"), m.reg("cx")) == (0xFFFD, 0x1FC, 0)
    assert m.emu.mem_read(DS * 16 + 0x1FD, 4) == b"\xfe\xff\xa0\xa1"


def test_rep_movsw_limit_fault_mid_way(backend):
    # REP MOVSW with DI reaching FFFF after two elements: #GP at the third, SI/DI/CX precise at that iteration.
    m = Machine(backend, "rep movsw\nhlt")
    m.emu.reg_write("si", 0x10)
    m.emu.reg_write("di", 0xFFFB)
    m.emu.reg_write("cx", 5)
    m.emu.mem_write(DS * 16 + 0x10, bytes(range(1, 11)))
    m.run()
    m.assert_delivered(13, 0x100, 0x0002)
    assert (m.reg("si"), m.reg("di"), m.reg("cx")) == (0x14, 0xFFFF, 3)
    assert m.emu.mem_read(DS * 16 + 0xFFFB, 4) == bytes(range(1, 5))
