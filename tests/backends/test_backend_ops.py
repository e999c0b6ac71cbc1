"""The shared backend suite: every IR op run by both backends on edge and random values, compared with a reference
written here in plain Python (independent of backends.interp.eval), plus memory access, faults and every exit kind.
"""

import random

import pytest

from backends.interp import InterpBackend
from dbt import state as S
from dbt.engine import runtime_info
from dbt.memory import Memory
from dbt.state import LAYOUT, CpuState
from ir import OP, Builder, Shape, Ty, Unit, verify

TYPES = [Ty.i1, Ty.i8, Ty.i16, Ty.i32, Ty.i64, Ty.i128]
# Scratch fields to carry operands in and results out (all i64 slots; i128 values are split over two).
IN = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi"]
OUT = ["r8", "r9"]


def s(x, bits):
    return x - (1 << bits) if x >> (bits - 1) & 1 else x


def trunc_div(a, b):
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


REF = {
    "add": lambda a, b, n: a + b, "sub": lambda a, b, n: a - b, "mul": lambda a, b, n: a * b,
    "udiv": lambda a, b, n: a // b, "urem": lambda a, b, n: a % b,
    "sdiv": lambda a, b, n: trunc_div(s(a, n), s(b, n)),
    "srem": lambda a, b, n: s(a, n) - s(b, n) * trunc_div(s(a, n), s(b, n)),
    "and": lambda a, b, n: a & b, "or": lambda a, b, n: a | b, "xor": lambda a, b, n: a ^ b,
    "shl": lambda a, b, n: (a << b) if b < n else 0,
    "lshr": lambda a, b, n: (a >> b) if b < n else 0,
    "ashr": lambda a, b, n: s(a, n) >> min(b, n),
    "rotl": lambda a, b, n: int(format(a, f"0{n}b")[b % n:] + format(a, f"0{n}b")[:b % n], 2),
    "rotr": lambda a, b, n: int(format(a, f"0{n}b")[n - b % n:] + format(a, f"0{n}b")[:n - b % n], 2),
    "neg": lambda a, n: -a, "not": lambda a, n: ~a,
    "ctpop": lambda a, n: bin(a).count("1"),
    "ctlz": lambda a, n: len(format(a, f"0{n}b")) - len(format(a, f"0{n}b").lstrip("0")),
    "cttz": lambda a, n: n if a == 0 else len(format(a, f"0{n}b")) - len(format(a, f"0{n}b").rstrip("0")),
    "bswap": lambda a, n: int.from_bytes(a.to_bytes(n // 8, "big"), "little"),
    "eq": lambda a, b, n: a == b, "ne": lambda a, b, n: a != b, "ult": lambda a, b, n: a < b,
    "ule": lambda a, b, n: a <= b, "slt": lambda a, b, n: s(a, n) < s(b, n),
    "sle": lambda a, b, n: s(a, n) <= s(b, n),
}


def values(ty, rng, k=6):
    n = ty.bits
    edge = {0, 1, ty.mask, 1 << (n - 1), (1 << (n - 1)) - 1, 2 % (1 << n)}
    return sorted(edge) + [rng.getrandbits(n) for _ in range(k)]


def rt():
    return runtime_info({"twice_plus": lambda state, memory, a, b: 2 * a + b})


@pytest.fixture(scope="module", params=["interp", "pygen", "llvm"])
def backend(request):
    mem = Memory()
    mem.map(0x1000, 0x2000, "rw")
    info = rt()
    if request.param == "interp":
        return InterpBackend(info), mem
    if request.param == "pygen":        # the interpreter's generated Python code, from the first run
        return InterpBackend(info, codegen=True, codegen_after=0), mem
    from backends.llvm import LLVMBackend
    return LLVMBackend(info, mem, CpuState(), opt_level=0), mem


def read_in(b, ty, field_pair):
    """A value of type ty read from one i64 field (or two for i128)."""
    lo = b.get(Ty.i64, LAYOUT.offset(field_pair[0]))
    if ty is Ty.i128:
        hi = b.get(Ty.i64, LAYOUT.offset(field_pair[1]))
        return b.or_(b.zext(Ty.i128, lo), b.shl(b.zext(Ty.i128, hi), b.const(Ty.i128, 64)))
    return lo if ty is Ty.i64 else b.trunc(ty, lo)


def write_out(b, v):
    ty = b.type_of(v)
    if ty is Ty.i128:
        b.put(LAYOUT.offset("r8"), b.trunc(Ty.i64, v))
        b.put(LAYOUT.offset("r9"), b.trunc(Ty.i64, b.lshr(v, b.const(Ty.i128, 64))))
    else:
        b.put(LAYOUT.offset("r8"), v if ty is Ty.i64 else b.zext(Ty.i64, v))


def run(backend, unit, inputs, ty):
    be, mem = backend
    st = CpuState()
    for pair, v in zip([IN[0:2], IN[2:4], IN[4:6]], inputs):
        st[pair[0]] = v & 0xFFFFFFFFFFFFFFFF
        st[pair[1]] = v >> 64
    st["budget"] = 1 << 40
    be.run_unit(unit, st, mem)
    return st["r8"] | (st["r9"] << 64), st


def unit_for(opname, ty, arity, to=None):
    u = Unit(fields=LAYOUT.fields)
    b = Builder(u)
    b.insn(0x100, 1)
    args = [read_in(b, ty, IN[2 * i:2 * i + 2]) for i in range(arity)]
    op = OP[opname]
    if op.shape is Shape.CAST:
        r = getattr(b, opname)(to, args[0])
    else:
        r = getattr(b, opname + "_" if opname in ("and", "or", "not") else opname)(*args)
    write_out(b, r)
    b.exit(b.const(Ty.i64, 0x101))
    verify(u)
    return u


BINARY = [o.name for o in OP if o.shape is Shape.BINARY]
UNARY = [o.name for o in OP if o.shape is Shape.UNARY]
CMPS = [o.name for o in OP if o.shape is Shape.CMP]


@pytest.mark.parametrize("ty", TYPES, ids=str)
@pytest.mark.parametrize("opname", BINARY + CMPS)
def test_binary_and_compare_ops(backend, opname, ty):
    rng = random.Random(hash((opname, ty.bits)))
    u = unit_for(opname, ty, 2)
    n = ty.bits
    vals = values(ty, rng)
    for a in vals:
        for c in vals:
            if opname in ("udiv", "urem", "sdiv", "srem") and (c == 0 or (opname[0] == "s" and s(a, n) == -(1 << (n - 1))
                                                                          and s(c, n) == -1)):
                continue   # undefined in the IR: the lifter guards these
            if opname in ("shl", "lshr", "ashr", "rotl", "rotr") and rng.random() < 0.5:
                c %= 2 * n + 3       # mostly amounts around the width
            got, _ = run(backend, u, [a, c], ty)
            want = int(REF[opname](a, c, n)) & (Ty.i1.mask if opname in CMPS else ty.mask)
            assert got == want, f"{opname}.{ty} {a:#x}, {c:#x}: got {got:#x}, want {want:#x}"


@pytest.mark.parametrize("opname,ty", [(o, t) for o in UNARY for t in TYPES if o != "bswap" or t.bits >= 16],
                         ids=lambda v: str(v))
def test_unary_ops(backend, opname, ty):
    rng = random.Random(hash((opname, ty.bits, 1)))
    u = unit_for(opname, ty, 1)
    for a in values(ty, rng, 20):
        got, _ = run(backend, u, [a], ty)
        assert got == REF[opname](a, ty.bits) & ty.mask, f"{opname}.{ty} {a:#x}"


@pytest.mark.parametrize("src", TYPES, ids=str)
@pytest.mark.parametrize("dst", TYPES, ids=str)
def test_casts(backend, src, dst):
    if src is dst:
        return
    name = "trunc" if dst.bits < src.bits else None
    for opname in ([name] if name else ["zext", "sext"]):
        u = unit_for(opname, src, 1, to=dst)
        for a in values(src, random.Random(src.bits * dst.bits)):
            got, _ = run(backend, u, [a], src)
            want = {"trunc": a, "zext": a, "sext": s(a, src.bits)}[opname] & dst.mask
            assert got == want, f"{opname} {src}->{dst} {a:#x}"


def test_select_and_helper_call(backend):
    u = Unit(fields=LAYOUT.fields)
    b = Builder(u)
    b.insn(0x100, 1)
    a = b.get(Ty.i64, LAYOUT.offset("rax"))
    c = b.get(Ty.i64, LAYOUT.offset("rcx"))
    k = b.call("twice_plus", (a, c), Ty.i64)
    r = b.select(b.ult(a, c), k, b.const(Ty.i64, 7))
    write_out(b, r)
    b.exit(b.const(Ty.i64, 0x101))
    assert run(backend, u, [3, 10], Ty.i64)[0] == 16
    assert run(backend, u, [10, 3], Ty.i64)[0] == 7


@pytest.mark.parametrize("ty", [Ty.i8, Ty.i16, Ty.i32, Ty.i64, Ty.i128], ids=str)
def test_store_then_load_across_a_page(backend, ty):
    be, mem = backend
    size = ty.bits // 8
    for addr in (0x1000, 0x1FFF - size // 2, 0x2000 - size, 0x2FF0 - size):
        u = Unit(fields=LAYOUT.fields)
        b = Builder(u)
        b.insn(0x100, 1)
        v = read_in(b, ty, IN[0:2])
        a = b.const(Ty.i64, addr)
        b.store(a, v)
        write_out(b, b.load(ty, a))
        b.exit(b.const(Ty.i64, 0x101))
        val = random.Random(addr).getrandbits(ty.bits)
        got, _ = run(backend, u, [val], ty)
        assert got == val
        assert mem.read(addr, size) == val.to_bytes(size, "little")


def test_fault_exit_is_precise(backend):
    u = Unit(fields=LAYOUT.fields)
    b = Builder(u)
    b.insn(0x100, 2)
    b.put(LAYOUT.offset("r10"), b.const(Ty.i64, 5))
    b.insn(0x102, 3)
    v = b.load(Ty.i32, b.const(Ty.i64, 0x9000))       # unmapped
    b.put(LAYOUT.offset("r10"), b.zext(Ty.i64, v))
    b.exit(b.const(Ty.i64, 0x105))
    _, st = run(backend, u, [], Ty.i64)
    assert st["exit_reason"] == S.EXIT_TRAP and st["exc_vector"] == 14 and st["fault_addr"] == 0x9000
    assert st["rip"] == 0x102 and st["r10"] == 5


def test_exits(backend):
    for kind in ("exitif_taken", "exitif_not", "halt", "trap", "trapif"):
        u = Unit(fields=LAYOUT.fields)
        b = Builder(u)
        b.insn(0x200, 4)
        one, zero = b.const(Ty.i1, 1), b.const(Ty.i1, 0)
        if kind == "exitif_taken":
            b.exitif(one, b.const(Ty.i64, 0x300))
        elif kind == "exitif_not":
            b.exitif(zero, b.const(Ty.i64, 0x300))
        elif kind == "halt":
            b.halt(b.const(Ty.i64, 0x204))
        elif kind == "trap":
            b.trap(6, b.const(Ty.i32, 0))
        else:
            b.trapif(13, one, b.const(Ty.i32, 0x18))
        b.exit(b.const(Ty.i64, 0x204))
        _, st = run(backend, u, [], Ty.i64)
        expect = {"exitif_taken": (0x300, S.EXIT_NONE), "exitif_not": (0x204, S.EXIT_NONE),
                  "halt": (0x204, S.EXIT_HLT), "trap": (0x200, S.EXIT_TRAP), "trapif": (0x200, S.EXIT_TRAP)}[kind]
        assert (st["rip"], st["exit_reason"]) == expect, kind
        if kind == "trapif":
            assert st["exc_vector"] == 13 and st["exc_error"] == 0x18
