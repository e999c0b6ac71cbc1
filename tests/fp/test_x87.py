"""x87 instructions on both backends against the host CPU's x87 unit (the native oracle runs the same fragment):
every GPR (FNSTSW AX brings the status word: flags, C0-C3, TOP), EFLAGS, and the memory the fragment stores its
results to (FSTP m80 of the registers, FNSTENV with the pointer fields cleared, integer and float stores).

Each fragment starts with FNINIT and FLDCW from memory, loads its operands from memory, runs the instruction under
test and stores what it left. Operands are the special values and random encodings of ``tests.fp.values`` (80-bit,
and 32/64-bit/integer memory operands), under every rounding and precision control.
"""

from __future__ import annotations

from ir import softfloat as sf
from tests.diff.harness import Form, make_tests
from tests.fp.values import pair, random_bits, specials

A, B, M, CW, OUT = 0x00, 0x10, 0x50, 0x40, 0x20      # offsets from the memory base (rbx / ebx)
FCWS = [0x37F | rc << 10 | pc << 8 for rc in range(4) for pc in (0, 2, 3)]


def unsupported(rng) -> list[int]:
    """80-bit encodings the x87 rejects or reads specially: unnormals, pseudo-NaNs, pseudo-infinity (integer bit
    clear with a nonzero exponent) and pseudo-denormals (integer bit set with a zero exponent)."""
    f = sf.F80
    return [(s << 79) | (e << 64) | frac for s in (0, 1) for e, frac in (
        (rng.randrange(1, 0x7FFF), rng.getrandbits(63)), (0x7FFF, 0), (0x7FFF, 1 << 62 | rng.getrandbits(62)),
        (0x7FFF, rng.getrandbits(62) | 1), (0, 1 << 63 | rng.getrandbits(63)), (0, 1 << 63))] + [f.encode(0, 1, 0)]


def _setup(mem_fmt=None, int_bytes=None):
    """Puts two 80-bit operands at A and B, a control word at CW and a memory operand at M."""
    def setup(rng, regs, m):
        base = m.base
        pool = specials(sf.F80, rng) + unsupported(rng)
        a, b = pair(sf.F80, rng, pool)
        if rng.random() < 0.5:
            a, b = rng.choice(pool), rng.choice(pool)
        m.put(base + A, 10, a)
        m.put(base + B, 10, b)
        m.put(base + CW, 2, rng.choice(FCWS))
        if mem_fmt is not None:
            f = {4: sf.F32, 8: sf.F64}[mem_fmt]
            m.put(base + M, mem_fmt, rng.choice(specials(f, rng)) if rng.random() < 0.5 else random_bits(f, rng))
        if int_bytes is not None:
            bits = 8 * int_bytes
            v = rng.choice([0, 1, (1 << bits) - 1, 1 << (bits - 1), rng.getrandbits(bits), rng.getrandbits(8)])
            m.put(base + M, int_bytes, v)
    return setup


def frag(body: str, mode: int = 64, loads: int = 2, stores: int = 2) -> str:
    r = "rbx" if mode == 64 else "ebx"
    head = ["fninit", f"fldcw word ptr [{r}+{CW:#x}]"] + [f"fld tbyte ptr [{r}+{off:#x}]" for off in (A, B)[:loads]]
    tail = [f"fstp tbyte ptr [{r}+{OUT + 10 * k:#x}]" for k in range(stores)] + ["fnstsw ax"]
    return "; ".join(head + [body.replace("[M", f"[{r}+{M:#x}")] + tail)


def form(body, mode=64, loads=2, stores=2, **setup_kw):
    return Form(mode, frag(body, mode, loads, stores), mem_operand=True, oracles=("native",),
                setup=_setup(**setup_kw))


CLEAR_SAVE = "; ".join(["mov qword ptr [M+0xc], 0", "mov qword ptr [M+0x14], 0"]
                       + [f"mov qword ptr [M+{off:#x}], 0" for off in range(0x30, 0x68, 8)] + ["mov dword ptr [M+0x68], 0"])


def _forms():
    out = []
    for op in ("fadd", "fmul", "fsub", "fsubr", "fdiv", "fdivr"):
        out += [form(f"{op} st(0), st(1)"), form(f"{op} st(1), st(0)"), form(f"{op}p st(1), st(0)", stores=1),
                form(f"{op} qword ptr [M]", mem_fmt=8), form(f"{op} dword ptr [M]", mem_fmt=4),
                form(f"fi{op[1:]} dword ptr [M]", int_bytes=4), form(f"fi{op[1:]} word ptr [M]", int_bytes=2)]
    out += [form(f"{op} st(1)") for op in ("fcom", "fucom", "fcomi", "fucomi", "fxch", "fld", "fst", "ffree")]
    out += [form(f"{op} st(1)", stores=1) for op in ("fcomp", "fucomp", "fcomip", "fucomip", "fstp")]
    out += [form(op, stores=0) for op in ("fcompp", "fucompp")]
    out += [form(op) for op in ("fchs", "fabs", "fsqrt", "frndint", "fscale", "fprem", "fprem1", "ftst", "fxam",
                                "fincstp", "fdecstp", "fnop")]
    out += [form("fxtract", stores=3)]
    out += [form(op, loads=0, stores=1) for op in ("fld1", "fldz", "fldpi", "fldl2e", "fldl2t", "fldlg2", "fldln2")]
    out += [form("fcom qword ptr [M]", mem_fmt=8), form("fcomp dword ptr [M]", mem_fmt=4, stores=1),
            form("ficom dword ptr [M]", int_bytes=4), form("ficomp word ptr [M]", int_bytes=2, stores=1)]
    out += [form("fld qword ptr [M]", mem_fmt=8, stores=3), form("fld dword ptr [M]", mem_fmt=4, stores=3),
            form("fild qword ptr [M]", int_bytes=8, stores=3), form("fild dword ptr [M]", int_bytes=4, stores=3),
            form("fild word ptr [M]", int_bytes=2, stores=3)]
    out += [form(f"{op} {w} ptr [M]", stores=s) for op, s in (("fst", 2), ("fstp", 1)) for w in ("qword", "dword")]
    out += [form(f"{op} {w} ptr [M]", stores=s) for op, s in (("fist", 2), ("fistp", 1), ("fisttp", 1))
            for w in ("qword", "dword", "word") if not (op == "fist" and w == "qword")]
    out += [form(f"{op} st(0), st(1)") for op in ("fcmovb", "fcmove", "fcmovbe", "fcmovu", "fcmovnb", "fcmovne",
                                                 "fcmovnbe", "fcmovnu")]
    # stack overflow (a ninth push) and underflow (an op on empty registers), the control/status instructions
    out += [form("; ".join(["fld1"] * 7), stores=0),
            form("fstp st(0); fstp st(0); fadd st(0), st(1)", stores=0),
            form("fstp st(0); fstp st(0); fst qword ptr [M]; fistp dword ptr [M]", stores=0),
            form("fnstenv [M]; mov qword ptr [M+0xc], 0; mov qword ptr [M+0x14], 0; fldenv [M]", mem_fmt=8),
            form("fnstcw word ptr [M]; fnclex; fnstsw word ptr [M+2]", mem_fmt=8),
            # FNSAVE: the pointers and the empty registers ST2-ST7 (stale, implementation-specific bits) cleared
            form(f"fnsave [M]; {CLEAR_SAVE}; frstor [M]", mem_fmt=8),
            form(f"fxch st(1); fnsave [M]; fld1; fmul st(0), st(0); fldpi; {CLEAR_SAVE}; frstor [M]", mem_fmt=8)]
    out += [form("fadd st(0), st(1)", mode=32), form("fistp dword ptr [M]", mode=32, stores=1),
            form("fnstenv [M]; mov dword ptr [M+0xc], 0; mov dword ptr [M+0x10], 0; mov dword ptr [M+0x14], 0;"
                 " mov dword ptr [M+0x18], 0", mode=32, mem_fmt=8)]
    return out


FORMS = _forms()
test_quick, test_sweep = make_tests(FORMS)


def test_transcendentals_raise_not_implemented():
    import pytest
    from dbt import Emulator
    emu = Emulator(64, "interp")
    emu.mem_map(0x1000, 0x1000)
    emu.mem_write(0x1000, bytes.fromhex("d9e8d9fef4"))                  # fld1; fsin; hlt
    with pytest.raises(NotImplementedError, match="not implemented: x87 FSIN"):
        emu.emu_start(0x1000, count=10)


# --- LDMXCSR / STMXCSR (dbt.lifters.mxcsr) ------------------------------------------------------------------------

def _mxcsr_setup(rng, regs, m):
    k = rng.random()
    v = 0x1F80 | rng.getrandbits(16) & ~0x1F80                       # any RC, DAZ, FTZ, sticky flags
    if k < 0.15:
        v |= 1 << rng.randrange(16, 32)                             # reserved bit: #GP(0)
    m.put(m.base + M, 4, v)
    m.put(m.base + M + 4, 4, 0x1F80)


MXCSR_FORMS = [Form(mode, f"ldmxcsr dword ptr [{r}+{M:#x}]; stmxcsr dword ptr [{r}+{M + 8:#x}]; "
                          f"ldmxcsr dword ptr [{r}+{M + 4:#x}]", mem_operand=True, oracles=("native",),
                    setup=_mxcsr_setup) for mode, r in ((64, "rbx"), (32, "ebx"))]
test_mxcsr_quick, test_mxcsr_sweep = make_tests(MXCSR_FORMS)


def test_ldmxcsr_unmasking_raises_not_implemented():
    import pytest
    from dbt import Emulator
    emu = Emulator(64, "interp")
    emu.mem_map(0x1000, 0x1000)
    emu.mem_write(0x1000, bytes.fromhex("0fae1425001800" "00f4"))     # ldmxcsr [0x1800]; hlt
    emu.mem_write(0x1800, (0x1F00).to_bytes(4, "little"))            # IM cleared
    with pytest.raises(NotImplementedError, match="unmasked SIMD floating-point exceptions"):
        emu.emu_start(0x1000, count=10)


def test_fxsave_x87_region_matches_the_host():
    """dbt.x87.fxsave_x87 (for the FXSAVE lifter, with the XMM registers added by it) against the host's FXSAVE of
    the same x87 state (loaded on both sides from one FNSAVE image), and fxrstor_x87 back."""
    import random

    from dbt import x87
    from dbt.state import CpuState
    from tests.fp import host

    class Mem:
        def __init__(self, data):
            self.data = data

        def read(self, addr, n):
            return self.data[addr:addr + n]

    rng = random.Random(160)
    pool = specials(sf.F80, rng) + unsupported(rng)
    for _ in range(200):
        tags = rng.getrandbits(16)
        fsw = rng.getrandbits(16) & 0x3F7F
        env = [0x37F | rng.getrandbits(2) << 10, fsw, tags, 0, 0, 0, 0]
        regs = [rng.choice(pool) for _ in range(8)]
        image = b"".join((w | 0xFFFF0000).to_bytes(4, "little") if k < 3 else w.to_bytes(4, "little")
                         for k, w in enumerate(env)) + b"".join(r.to_bytes(10, "little") for r in regs)
        mxcsr = 0x1F80 | rng.getrandbits(16) & ~0x1F80
        want = host.fxsave_from(image, mxcsr)
        st = CpuState()
        x87.op_frstor(x87.FPU(st), Mem(image), 0, 1)
        st["mxcsr"] = mxcsr
        got = x87.fxsave_x87(st)
        assert got == want, f"fsw={fsw:#x} tags={tags:#x}"
        back = CpuState()
        x87.fxrstor_x87(back, got)
        assert x87.fxsave_x87(back) == want
        assert all(back[f] == st[f] for f in ("fcw", "fsw", "mxcsr"))
