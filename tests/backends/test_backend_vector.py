"""Vector ops on i128 values and i128 state fields, on every backend (interpreter, its generated Python, LLVM),
against a reference written here with ``struct`` lane views (independent of ir.vector), plus the passes on them.
"""

import random
import struct

import pytest

from backends.interp import InterpBackend
from dbt.engine import runtime_info
from dbt.memory import Memory
from dbt.state import LAYOUT, CpuState
from ir import OP, Builder, Shape, Ty, Unit, parse_unit, verify
from ir.passes import optimize

FMT = {(8, False): "B", (16, False): "H", (32, False): "I", (64, False): "Q",
       (8, True): "b", (16, True): "h", (32, True): "i", (64, True): "q"}


def view(x, L, signed=False):
    return list(struct.unpack(f"<{128 // L}{FMT[(L, signed)]}", x.to_bytes(16, "little")))


def pack(vals, L):
    """Lanes (any ints, wrapped to L bits) -> the i128 value."""
    m = (1 << L) - 1
    return int.from_bytes(b"".join((v & m).to_bytes(L // 8, "little") for v in vals), "little")


def clamp(v, lo, hi):
    return lo if v < lo else min(v, hi)


def smin(L):
    return -(1 << (L - 1))


def smax(L):
    return (1 << (L - 1)) - 1


def lane_op(f, signed=False):
    return lambda a, b, L: pack([f(x, y, L) for x, y in zip(view(a, L, signed), view(b, L, signed))], L)


def ref_pack(unsigned):
    def f(a, b, L):
        h = L // 2
        lo, hi = (0, (1 << h) - 1) if unsigned else (smin(h), smax(h))
        return pack([clamp(v, lo, hi) for v in view(a, L, True) + view(b, L, True)], h)
    return f


def ref_madd(a, b, L):
    p = [x * y for x, y in zip(view(a, L, True), view(b, L, True))]
    return pack([p[i] + p[i + 1] for i in range(0, len(p), 2)], 2 * L)


def ref_mulevu(a, b, L):
    return pack([x * y for x, y in zip(view(a, L)[0::2], view(b, L)[0::2])], 2 * L)


def ref_sad(a, b, L):
    d = [abs(x - y) for x, y in zip(view(a, 8), view(b, 8))]
    return pack([sum(d[:8]), sum(d[8:])], 64)


REF = {
    "vadd": lane_op(lambda x, y, L: x + y),
    "vsub": lane_op(lambda x, y, L: x - y),
    "vadds": lane_op(lambda x, y, L: clamp(x + y, smin(L), smax(L)), True),
    "vsubs": lane_op(lambda x, y, L: clamp(x - y, smin(L), smax(L)), True),
    "vaddu": lane_op(lambda x, y, L: min(x + y, (1 << L) - 1)),
    "vsubu": lane_op(lambda x, y, L: max(x - y, 0)),
    "vcmpeq": lane_op(lambda x, y, L: -1 if x == y else 0),
    "vcmpgt": lane_op(lambda x, y, L: -1 if x > y else 0, True),
    "vmins": lane_op(lambda x, y, L: min(x, y), True),
    "vmaxs": lane_op(lambda x, y, L: max(x, y), True),
    "vminu": lane_op(lambda x, y, L: min(x, y)),
    "vmaxu": lane_op(lambda x, y, L: max(x, y)),
    "vmul": lane_op(lambda x, y, L: x * y),
    "vmulhs": lane_op(lambda x, y, L: (x * y) >> L, True),
    "vmulhu": lane_op(lambda x, y, L: (x * y) >> L),
    "vavgu": lane_op(lambda x, y, L: (x + y + 1) // 2),
    "vmulevu": ref_mulevu,
    "vmadd": ref_madd,
    "vsad": ref_sad,
    "vpacks": ref_pack(False),
    "vpacku": ref_pack(True),
}

SHIFT_REF = {
    "vshl": lambda a, n, L: pack([x << n if n < L else 0 for x in view(a, L)], L),
    "vlshr": lambda a, n, L: pack([x >> n if n < L else 0 for x in view(a, L)], L),
    "vashr": lambda a, n, L: pack([x >> min(n, L - 1) for x in view(a, L, True)], L),
}

LANES = {"vmulevu": (8, 16, 32), "vmadd": (8, 16, 32), "vsad": (8,), "vpacks": (16, 32, 64), "vpacku": (16, 32, 64)}
VBINARY = [o.name for o in OP if o.shape is Shape.VBINARY]
VSHIFT = [o.name for o in OP if o.shape is Shape.VSHIFT]


def vec_values(L, rng, k=10):
    """Edge lanes (0, 1, all ones, sign boundaries) mixed with random lanes, and a few random whole values."""
    edges = [0, 1, (1 << L) - 1, 1 << (L - 1), (1 << (L - 1)) - 1, (1 << (L - 1)) + 1, 2, (1 << L) - 2]
    out = [pack([rng.choice(edges) for _ in range(128 // L)], L) for _ in range(k)]
    out += [pack([rng.choice(edges) if rng.random() < 0.5 else rng.getrandbits(L) for _ in range(128 // L)], L)
            for _ in range(k)]
    return out + [0, (1 << 128) - 1] + [rng.getrandbits(128) for _ in range(k)]


def rt():
    return runtime_info({})


@pytest.fixture(scope="module", params=["interp", "pygen", "llvm", "llvm-o2"])
def backend(request):
    """(backend, memory, prepared units). "llvm-o2" runs LLVM's optimization pipeline over the vector code."""
    mem = Memory()
    info = rt()
    if request.param == "interp":
        return InterpBackend(info), mem, {}
    if request.param == "pygen":
        return InterpBackend(info, codegen=True, codegen_after=0), mem, {}
    from backends.llvm import LLVMBackend
    return LLVMBackend(info, mem, CpuState(), opt_level=2 if request.param == "llvm-o2" else 0), mem, {}


def run_on(backend, unit, st):
    """Runs ``unit`` on ``st``, preparing (compiling) it once per backend."""
    be, mem, prepared = backend
    key = id(unit)
    if key not in prepared or prepared[key][0] is not unit:
        prepared[key] = (unit, be.prepare(unit))
    prepared[key][1].run(st, mem)


def xmm(n):
    return LAYOUT.offset(f"xmm{n}")


def build(emit):
    """A unit: xmm0 = emit(b, xmm1, xmm2, rax-as-count), rax = ... when the result is i32."""
    u = Unit(fields=LAYOUT.fields)
    b = Builder(u)
    b.insn(0x100, 1)
    a, c = b.get(Ty.i128, xmm(1)), b.get(Ty.i128, xmm(2))
    r = emit(b, a, c, b.get(Ty.i64, LAYOUT.offset("rax")))
    if b.type_of(r) is Ty.i128:
        b.put(xmm(0), r)
    else:
        b.put(LAYOUT.offset("rdx"), b.zext(Ty.i64, r))
    b.exit(b.const(Ty.i64, 0x101))
    verify(u)
    return u


def run(backend, unit, a, c, count=0):
    st = CpuState()
    st["xmm1"], st["xmm2"], st["rax"], st["budget"] = a, c, count, 1 << 40
    st["xmm3"] = 0x1234                       # a neighbour field: must not change
    run_on(backend, unit, st)
    assert st["xmm1"] == a and st["xmm2"] == c and st["xmm3"] == 0x1234
    return st


@pytest.mark.parametrize("opname,L", [(o, L) for o in VBINARY for L in LANES.get(o, (8, 16, 32, 64))],
                         ids=lambda v: str(v))
def test_vector_binary(backend, opname, L):
    rng = random.Random(f"{opname}/{L}")
    u = build(lambda b, a, c, n: getattr(b, opname)(a, c, L))
    vals = vec_values(L, rng)
    for i, a in enumerate(vals):
        for c in (vals[(i * 7 + k) % len(vals)] for k in range(4)):
            got = run(backend, u, a, c)["xmm0"]
            want = REF[opname](a, c, L)
            assert got == want, f"{opname} L={L} {a:#034x}, {c:#034x}: got {got:#034x}, want {want:#034x}"


@pytest.mark.parametrize("opname,L", [(o, L) for o in VSHIFT for L in (16, 32, 64)] + [("vshl", 8)],
                         ids=lambda v: str(v))
def test_vector_shift(backend, opname, L):
    rng = random.Random(f"{opname}/{L}")
    u = build(lambda b, a, c, n: getattr(b, opname)(a, n, L))
    counts = list(range(L + 2)) + [2 * L, 255, 256, 1 << 32, (1 << 63) + 1, (1 << 64) - 1]
    for count in counts:
        for a in rng.sample(vec_values(L, rng, 4), 3):
            got = run(backend, u, a, 0, count)["xmm0"]
            want = SHIFT_REF[opname](a, count, L)
            assert got == want, f"{opname} L={L} {a:#034x} by {count}: got {got:#034x}, want {want:#034x}"


def test_vector_shuffle(backend):
    rng = random.Random(5)
    for _ in range(12):
        idx = [rng.randrange(32) for _ in range(16)]
        u = build(lambda b, a, c, n: b.vshuffle(a, c, idx))
        a, c = rng.getrandbits(128), rng.getrandbits(128)
        src = a.to_bytes(16, "little") + c.to_bytes(16, "little")
        want = int.from_bytes(bytes(src[i] for i in idx), "little")
        assert run(backend, u, a, c)["xmm0"] == want, idx


@pytest.mark.parametrize("L", [8, 16, 32, 64])
def test_vector_movmsk(backend, L):
    rng = random.Random(L)
    u = build(lambda b, a, c, n: b.vmovmsk(a, L))
    for a in vec_values(L, rng):
        want = sum(1 << i for i, x in enumerate(view(a, L, True)) if x < 0)
        assert run(backend, u, a, 0)["rdx"] == want


def test_i128_field_round_trip(backend):
    """get/put of i128 fields move all 128 bits through two slots, and touch nothing else."""
    u = Unit(fields=LAYOUT.fields)
    b = Builder(u)
    b.insn(0x100, 1)
    x = b.get(Ty.i128, xmm(15))
    b.put(xmm(0), b.xor(x, b.get(Ty.i128, xmm(1))))
    b.put(xmm(2), x)
    b.exit(b.const(Ty.i64, 0x101))
    st = CpuState()
    st["budget"] = 1 << 40
    v15, v1 = (1 << 128) - 3, 0xFFEEDDCCBBAA99887766554433221100
    st["xmm15"], st["xmm1"], st["mxcsr"] = v15, v1, 0x1F80
    before = st.snapshot()
    run_on(backend, u, st)
    assert st["xmm0"] == v15 ^ v1 and st["xmm2"] == v15 and st["xmm15"] == v15
    assert st["mxcsr"] == 0x1F80
    # No other slot changed but the two fields written and the budget/rip/exit bookkeeping.
    after = CpuState()
    after.restore(before)
    after["xmm0"], after["xmm2"] = st["xmm0"], st["xmm2"]
    for name in LAYOUT.types:
        if name not in ("budget", "rip", "exit_reason"):
            assert st[name] == after[name], name


def test_fold_vector_ops_matches_backends(backend):
    """Constant folding evaluates vector ops exactly as the backends run them."""
    rng = random.Random(9)
    for opname in VBINARY + VSHIFT:
        L = LANES.get(opname, (8, 16, 32, 64))[-1 if opname == "vsad" else 0]
        a, c = rng.getrandbits(128), rng.getrandbits(128)
        count = rng.randrange(L + 3)

        def emit(b, x, y, n):
            ka, kc = b.const(Ty.i128, a), b.const(Ty.i128, c)
            if OP[opname].shape is Shape.VSHIFT:
                return getattr(b, opname)(ka, b.const(Ty.i64, count), L)
            return getattr(b, opname)(ka, kc, L)
        u = build(emit)
        plain = run(backend, u, 0, 0)["xmm0"]
        optimize(u, verify_each=True)
        folded = [o for o in u.ops if o.op.shape in (Shape.VBINARY, Shape.VSHIFT)]
        assert not folded, f"{opname} was not folded"
        assert run(backend, u, 0, 0)["xmm0"] == plain, opname


def test_vector_text_form_and_cse():
    u = build(lambda b, a, c, n: b.vadd(b.vpacks(a, c, 16), b.vpacks(a, c, 16), 8))
    text = str(u)
    assert "vpacks.i128 %0, %1, 16" in text
    assert str(parse_unit(text, LAYOUT.fields)) == text
    optimize(u, verify_each=True)
    assert str(u).count("vpacks") == 1          # the duplicate is one value now
    ident = build(lambda b, a, c, n: b.vshuffle(a, c, range(16)))
    optimize(ident, verify_each=True)
    assert "vshuffle" not in str(ident)


def test_verifier_rejects_bad_vector_ops():
    from ir import VerifyError
    for bad in ("  %2 = vsad.i128 %0, %1, 16", "  %2 = vadd.i128 %0, %1, 12", "  %2 = vmovmsk.i128 %0, 8",
                "  %2 = vshuffle.i128 %0, %1, 0x20"):
        text = "unit\n  %0 = get.i128 @xmm1\n  %1 = get.i128 @xmm2\n" + bad + "\n  %3 = const.i64 0x0\n  exit %3\n"
        u = parse_unit(text, LAYOUT.fields)
        with pytest.raises(VerifyError):
            verify(u)


@pytest.mark.parametrize("seed", range(40))
def test_random_vector_units_survive_the_pipeline(seed):
    """Random units of vector ops over xmm fields, constants and repeated values: the optimized unit (verified
    after every pass) leaves the same state as the unit as built, on the reference interpreter."""
    rng = random.Random(seed)
    u = Unit(fields=LAYOUT.fields)
    b = Builder(u)
    b.insn(0x100, 1)
    vals = [b.get(Ty.i128, xmm(i)) for i in range(4)]
    counts = [b.get(Ty.i64, LAYOUT.offset("rax"))]
    for _ in range(rng.randrange(5, 25)):
        k = rng.random()
        if k < 0.15:
            vals.append(b.const(Ty.i128, rng.choice((0, (1 << 128) - 1, rng.getrandbits(128)))))
        elif k < 0.2:
            counts.append(b.const(Ty.i64, rng.randrange(70)))
        elif k < 0.6:
            name = rng.choice(VBINARY)
            L = rng.choice(LANES.get(name, (8, 16, 32, 64)))
            vals.append(getattr(b, name)(rng.choice(vals), rng.choice(vals), L))
        elif k < 0.7:
            name = rng.choice(VSHIFT)
            vals.append(getattr(b, name)(rng.choice(vals), rng.choice(counts), rng.choice((16, 32, 64))))
        elif k < 0.8:
            vals.append(b.vshuffle(rng.choice(vals), rng.choice(vals), [rng.randrange(32) for _ in range(16)]))
        elif k < 0.9:
            b.put(xmm(rng.randrange(6)), rng.choice(vals))
            vals.append(b.get(Ty.i128, xmm(rng.randrange(6))))
        else:
            m = b.vmovmsk(rng.choice(vals), rng.choice((8, 16, 32, 64)))
            counts.append(b.zext(Ty.i64, m))
    for i in range(6, 10):
        b.put(xmm(i), rng.choice(vals))
    b.put(LAYOUT.offset("rdx"), rng.choice(counts))
    b.exit(b.const(Ty.i64, 0x101))
    verify(u)
    original = parse_unit(str(u), LAYOUT.fields)
    optimize(u, verify_each=True)
    be = InterpBackend(rt())
    for _ in range(3):
        st = CpuState()
        for i in range(4):
            st[f"xmm{i}"] = rng.getrandbits(128)
        st["rax"], st["budget"] = rng.randrange(80), 1 << 40
        st2 = CpuState()
        st2.restore(st.snapshot())
        be.run_unit(original, st, Memory())
        be.run_unit(u, st2, Memory())
        assert st.snapshot() == st2.snapshot()


def test_i128_local_keeps_all_bits(backend):
    """A unit-local variable holding an i128 keeps all 128 bits across a label (also in LLVM code)."""
    u = Unit(fields=LAYOUT.fields)
    b = Builder(u)
    b.insn(0x100, 1)
    b.putl(0, b.get(Ty.i128, xmm(1)))
    b.putl(1, b.get(Ty.i64, LAYOUT.offset("rax")))
    skip = u.new_label()
    b.br(skip)
    b.label(skip)
    b.put(xmm(0), b.vadd(b.getl(Ty.i128, 0), b.get(Ty.i128, xmm(2)), 64))
    b.put(LAYOUT.offset("rdx"), b.getl(Ty.i64, 1))
    b.exit(b.const(Ty.i64, 0x101))
    verify(u)
    a = 0xFFFFFFFFFFFFFFFF_0000000000000001
    st = run(backend, u, a, 1 << 64 | 5, 9)
    assert st["xmm0"] == 0 | 6 and st["rdx"] == 9
