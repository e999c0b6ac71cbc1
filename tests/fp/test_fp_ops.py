"""The IR's floating-point ops on every backend (interpreter, its generated Python code, LLVM native code), checked
against ir.softfloat (ir.fpops) AND the host CPU's SSE instruction: result bits and the MXCSR they leave (sticky
flags ORed in), under every rounding mode with and without DAZ/FTZ. Also the MXCSR plumbing of the LLVM backend:
helpers run under the host default, get/put of the field go through the host register, entry/exit restore it."""

from __future__ import annotations

import random

import pytest

from backends.interp import InterpBackend
from dbt.engine import runtime_info
from dbt.memory import Memory
from dbt.state import LAYOUT, CpuState
from ir import OP, Builder, Ty, Unit, fpops, verify
from ir import softfloat as sf
from tests.fp import host
from tests.fp.values import pair, random_bits, specials

MXCSRS = [rc << 13 | extra for rc in range(4) for extra in (0, 0x40, 0x8000, 0x8040)]
FMT = {32: sf.F32, 64: sf.F64}
HOST_BINARY = {"fadd": "add", "fsub": "sub", "fmul": "mul", "fdiv": "div", "fmin": "min", "fmax": "max"}
REL = {0x45: 3, 0: 2, 1: 0, 0x40: 1}          # ZF PF CF of (U)COMIS -> fcmp result
OFF = LAYOUT.offset
SEEN = {}


def helpers():
    def probe(state, memory, a):
        SEEN["host"] = host.host_mxcsr() & ~0x3F    # control bits (Python's own float work sets host flags)
        SEEN["state"] = state["mxcsr"]
        state["mxcsr"] = a                       # a helper may change MXCSR: native code must pick it up
        return 0
    return {"probe": probe}


@pytest.fixture(scope="module", params=["interp", "pygen", "llvm", "llvm-opt"])
def backend(request):
    mem = Memory()
    mem.map(0x1000, 0x2000, "rw")
    info = runtime_info(helpers())
    if request.param == "interp":
        return InterpBackend(info), mem
    if request.param == "pygen":
        return InterpBackend(info, codegen=True, codegen_after=0), mem
    from backends.llvm import LLVMBackend
    return LLVMBackend(info, mem, CpuState(), opt_level=0 if request.param == "llvm" else 2), mem


def unit_for(opname, ty, arg_ty, arity):
    u = Unit(fields=LAYOUT.fields)
    b = Builder(u)
    b.insn(0x100, 4)
    args = []
    for reg in ("rax", "rbx")[:arity]:
        v = b.get(Ty.i64, OFF(reg))
        args.append(v if arg_ty is Ty.i64 else b.trunc(arg_ty, v))
    op = OP[opname]
    r = b.emit(op, ty, tuple(args))
    b.put(OFF("r8"), r if ty is Ty.i64 else b.zext(Ty.i64, r))
    b.exit(b.const(Ty.i64, 0x104))
    verify(u)
    return u


def run(backend, prepared, mxcsr, a, b=0):
    _, mem = backend
    st = CpuState()
    st["rax"], st["rbx"], st["mxcsr"], st["budget"] = a, b, mxcsr, 1 << 40
    prepared.run(st, mem)
    return st["r8"], st["mxcsr"]


def check(backend, opname, ty, arg_ty, cases, host_fn):
    be, _ = backend
    prepared = be.prepare(unit_for(opname, ty, arg_ty, len(cases[0][1])))
    for csr, args in cases:
        got = run(backend, prepared, csr, *args)
        ref, flags = fpops.evaluate(opname, csr, args, ty.bits, arg_ty.bits)
        hv, hcsr = host_fn(csr, *args)
        where = f"{opname}.{ty} {' '.join(hex(a) for a in args)} mxcsr={csr:#x}"
        assert got == (ref, csr | flags), f"{where}: backend vs softfloat"
        assert got == (hv, hcsr), f"{where}: backend vs host"


def sticky(rng, csr):
    return csr | (rng.getrandbits(6) if rng.random() < 0.3 else 0)


def cases_for(f, rng, arity, n=60):
    pool = specials(f, rng)
    out = []
    for csr in MXCSRS:
        if arity == 2:
            ab = [pair(f, rng, pool) for _ in range(n)]
            if csr == 0x1F80 or csr == 0:
                ab += [(a, b) for a in pool for b in pool]
        else:
            ab = [(a,) for a in pool] + [(random_bits(f, rng),) for _ in range(n)]
        out += [(sticky(rng, csr) | 0x1F80, x) for x in ab]
    return out


@pytest.mark.parametrize("width", [32, 64])
@pytest.mark.parametrize("opname", ["fadd", "fsub", "fmul", "fdiv", "fmin", "fmax", "fcmpq", "fcmps"])
def test_binary(backend, opname, width):
    rng = random.Random(hash((opname, width)))
    ty = Ty.i32 if width == 32 else Ty.i64
    if opname in HOST_BINARY:
        def host_fn(csr, a, b):
            return host.sse(HOST_BINARY[opname], width, a, b, csr)
    else:
        def host_fn(csr, a, b):
            rfl, c = host.sse("ucomi" if opname == "fcmpq" else "comi", width, a, b, csr)
            return REL[rfl & 0x45], c
    check(backend, opname, ty, ty, cases_for(FMT[width], rng, 2), host_fn)


@pytest.mark.parametrize("width", [32, 64])
@pytest.mark.parametrize("opname", ["fsqrt", "fround", "fcvt"])
def test_unary(backend, opname, width):
    rng = random.Random(hash((opname, width)))
    ty = Ty.i32 if width == 32 else Ty.i64
    rty = (Ty.i64 if width == 32 else Ty.i32) if opname == "fcvt" else ty
    hop = {"fsqrt": "sqrt", "fround": "round", "fcvt": "cvtf"}[opname]

    def host_fn(csr, a):
        v, c = host.sse(hop, width, 0 if hop == "sqrt" else a, a, csr)
        return v & rty.mask, c
    check(backend, opname, rty, ty, cases_for(FMT[width], rng, 1), host_fn)


@pytest.mark.parametrize("width", [32, 64])
@pytest.mark.parametrize("iw", [32, 64])
@pytest.mark.parametrize("opname", ["ftosi", "ftosit"])
def test_to_int(backend, opname, width, iw):
    rng = random.Random(hash((opname, width, iw)))
    f = FMT[width]
    ty, ity = (Ty.i32 if width == 32 else Ty.i64), (Ty.i32 if iw == 32 else Ty.i64)
    near = [(f.encode(s, f.bias + k, rng.getrandbits(f.p - 1)),) for s in (0, 1) for k in range(-2, iw + 2, 3)]
    cases = [(c, x) for c, x in cases_for(f, rng, 1, n=20)] + [(csr | 0x1F80, x) for csr in MXCSRS for x in near]
    hop = ("cvtt2si" if opname == "ftosit" else "cvt2si") + str(iw)

    def host_fn(csr, a):
        v, c = host.sse(hop, width, a, 0, csr)
        return v & ity.mask, c
    check(backend, opname, ity, ty, cases, host_fn)


@pytest.mark.parametrize("width", [32, 64])
@pytest.mark.parametrize("iw", [32, 64])
def test_sitof(backend, width, iw):
    rng = random.Random(hash(("sitof", width, iw)))
    ty, ity = (Ty.i32 if width == 32 else Ty.i64), (Ty.i32 if iw == 32 else Ty.i64)
    vals = [0, 1, ity.mask, 1 << (iw - 1), (1 << (iw - 1)) - 1] + [rng.getrandbits(iw) for _ in range(30)]
    vals += [((1 << rng.randrange(iw - 1)) + rng.choice([-1, 1, 3])) & ity.mask for _ in range(30)]
    cases = [(csr | 0x1F80, (v,)) for csr in MXCSRS[::4] + [0x40, 0x8000] for v in vals]

    def host_fn(csr, a):
        v, c = host.sse(f"si{iw}", width, a, 0, csr)
        return v & ty.mask, c
    check(backend, "sitof", ty, ity, cases, host_fn)


# --- the fp environment across helpers, get/put, entry and exit -------------------------------------------------

def test_mxcsr_around_helpers(backend):
    """put @mxcsr (RC=up) -> fadd -> helper (must see the guest MXCSR in the state with the fadd's PE, and run under
    the host default) sets RC=down -> fadd (rounds down) -> get @mxcsr into r9."""
    be, mem = backend
    f = sf.F64
    one, three = sf.from_int(f, 1, sf.Env()), sf.from_int(f, 3, sf.Env())
    u = Unit(fields=LAYOUT.fields)
    b = Builder(u)
    b.insn(0x100, 1)
    x, y = b.get(Ty.i64, OFF("rax")), b.get(Ty.i64, OFF("rbx"))
    b.put(OFF("mxcsr"), b.const(Ty.i32, 0x1F80 | 2 << 13))
    b.put(OFF("r8"), b.fdiv(x, y))
    b.call("probe", (b.const(Ty.i64, 0x1F80 | 1 << 13),))
    b.put(OFF("r10"), b.fdiv(x, y))
    b.put(OFF("r9"), b.zext(Ty.i64, b.get(Ty.i32, OFF("mxcsr"))))
    b.exit(b.const(Ty.i64, 0x101))
    verify(u)
    p = be.prepare(u)
    before = host.host_mxcsr()
    assert before & ~0x3F == 0x1F80
    st = CpuState()
    st["rax"], st["rbx"], st["budget"] = one, three, 1 << 40
    SEEN.clear()
    p.run(st, mem)
    up = sf.div(f, one, three, sf.Env(rc=sf.UP))
    down = sf.div(f, one, three, sf.Env(rc=sf.DOWN))
    assert up != down
    assert (st["r8"], st["r10"]) == (up, down)
    assert SEEN == {"state": 0x1F80 | 2 << 13 | sf.PE, "host": 0x1F80}
    assert st["r9"] == 0x1F80 | 1 << 13 | sf.PE
    assert st["mxcsr"] == 0x1F80 | 1 << 13 | sf.PE
    assert host.host_mxcsr() & ~0x3F == before & ~0x3F    # the host's own control bits are back


def test_mxcsr_state_round_trip(backend):
    """A unit without fp ops leaves the state's MXCSR as it found it (flags, RC, DAZ/FTZ), and get/put move it."""
    be, mem = backend
    u = Unit(fields=LAYOUT.fields)
    b = Builder(u)
    b.insn(0x100, 1)
    m = b.get(Ty.i32, OFF("mxcsr"))
    b.put(OFF("r8"), b.zext(Ty.i64, m))
    b.put(OFF("mxcsr"), b.trunc(Ty.i32, b.get(Ty.i64, OFF("rax"))))
    b.exit(b.const(Ty.i64, 0x101))
    p = be.prepare(u)
    for initial, new in [(0x1F80, 0x9FFF), (0xFFBF, 0x1F80), (0x5FA5, 0x3FC0)]:
        st = CpuState()
        st["mxcsr"], st["rax"], st["budget"] = initial, new, 1 << 40
        p.run(st, mem)
        assert (st["r8"], st["mxcsr"]) == (initial, new)


def test_unmasked_exceptions_are_refused():
    """The reference refuses an MXCSR with an exception unmasked (#XM is not modelled) with a clear error."""
    with pytest.raises(NotImplementedError, match="unmasked SIMD floating-point exceptions"):
        fpops.evaluate("fadd", 0x1F00, (0, 0), 64, 64)


def test_fp_op_order_against_mxcsr_access(backend):
    """A get of @mxcsr before an fp op reads the old value, and a put after it does not affect it (the generated
    Python code defers gets and drops overwritten puts: not across fp ops)."""
    be, mem = backend
    f = sf.F64
    one, three = sf.from_int(f, 1, sf.Env()), sf.from_int(f, 3, sf.Env())
    u = Unit(fields=LAYOUT.fields)
    b = Builder(u)
    b.insn(0x100, 1)
    old = b.get(Ty.i32, OFF("mxcsr"))
    b.put(OFF("mxcsr"), b.const(Ty.i32, 0x1F80 | 2 << 13))
    q = b.fdiv(b.get(Ty.i64, OFF("rax")), b.get(Ty.i64, OFF("rbx")))
    b.put(OFF("mxcsr"), b.const(Ty.i32, 0x1F80 | 1 << 13))
    b.put(OFF("r8"), q)
    b.put(OFF("r9"), b.zext(Ty.i64, old))
    b.exit(b.const(Ty.i64, 0x101))
    p = be.prepare(u)
    st = CpuState()
    st["rax"], st["rbx"], st["budget"] = one, three, 1 << 40
    p.run(st, mem)
    assert st["r8"] == sf.div(f, one, three, sf.Env(rc=sf.UP))
    assert (st["r9"], st["mxcsr"]) == (0x1F80, 0x1F80 | 1 << 13)
