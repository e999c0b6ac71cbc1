"""The interpreter's Python code generator (backends.interp.pygen) against the closure interpreter, the reference.

Random well-formed units (every pure op on every type, constants of every kind, chains of casts that exercise the
generator's width bounds and mask merging, gets and puts of fields of every width, loads and stores, side exits,
traps, helper calls that return, stop or fault, labels with loops through unit-local variables) run on both from the
same random states; the whole state, guest memory and the exit must agree. Then the tiering wrapper, code sharing
between units of the same shape, and the refusal of a unit the generator does not reproduce exactly.
"""

import random

import pytest

from backends.interp import InterpBackend, InterpUnit, PyUnit, TieredUnit, pygen
from dbt.engine import runtime_info
from dbt.memory import CodeWrite, CpuException, Memory
from dbt.state import LAYOUT, CpuState
from ir import OP, Builder, Shape, Ty, Unit, verify

TYPES = [Ty.i1, Ty.i8, Ty.i16, Ty.i32, Ty.i64, Ty.i128]
FIELDS = {Ty.i64: ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10"], Ty.i8: ["cf", "zf", "sf", "of"],
          Ty.i32: ["eflags", "cr2", "gdt_base"], Ty.i16: ["cs", "ds", "fs"]}
BINARY = [o.name for o in OP if o.shape is Shape.BINARY]
UNARY = [o.name for o in OP if o.shape is Shape.UNARY]
CMPS = [o.name for o in OP if o.shape is Shape.CMP]
RAM = 0x1000


def helpers():
    def mix(state, memory, a, b):
        return (a * 3 + b) ^ 0x5A5A             # unmasked: the call masks it

    def negative(state, memory, a):
        return -a - 1 if a & 1 else None        # negative results and None

    def stop(state, memory, a):
        if a & 3 == 0:
            state["exit_reason"] = 5            # STOP: the unit must end after the call
        state["r11"] = a & 0xFFFF

    def gp(state, memory, a):
        if a & 7 == 1:
            raise CpuException(13, a & 0xFFF8)
        if a & 7 == 2:
            raise CodeWrite(0)                  # a restart
        return a & 0xFF

    def seen(state, memory, *args):
        state["r12"] = sum(args) & 0xFFFFFFFFFFFFFFFF   # what the helper received (ints, never bools)
        state["r13"] = sum(1 for a in args if type(a) is not int)
        return len(args)

    return {"mix": mix, "negative": negative, "stop": stop, "gp": gp, "seen": seen}


class RandomUnit:
    """Builds a random verified unit; values live in per-type pools, segments are separated by labels."""

    def __init__(self, rng: random.Random, labels: bool):
        self.rng = rng
        self.u = Unit(fields=LAYOUT.fields)
        self.b = Builder(self.u)
        self.labels = labels
        self.pc = 0x1000

    def const(self, ty):
        r = self.rng
        n = ty.bits
        pick = r.random()
        if pick < 0.3:
            v = r.choice([0, 1, 2, n - 1, n, n + 1, 2 * n, 31, 63, 64, 127, 128])
        elif pick < 0.5:
            v = (1 << r.randrange(0, n + 1)) - 1                # low-bit masks (merged by the generator)
        elif pick < 0.6:
            v = 1 << (n - 1)
        else:
            v = r.getrandbits(n)
        return self.b.const(ty, v & ty.mask)

    def value(self, ty):
        pool = self.pool.get(ty)
        if pool and self.rng.random() < 0.8:
            return self.rng.choice(pool)
        if self.rng.random() < 0.5:
            v = self.const(ty)
        else:
            v = self.fresh(ty)
        self.pool.setdefault(ty, []).append(v)
        return v

    def fresh(self, ty):
        """A value from state, or a cast of one (narrow values in wide types exercise the width bounds)."""
        b, r = self.b, self.rng
        if ty in FIELDS and r.random() < 0.6:
            return b.get(ty, LAYOUT.offset(r.choice(FIELDS[ty])))
        if ty is Ty.i1:
            return b.get(Ty.i1, LAYOUT.offset(r.choice(FIELDS[Ty.i8])))
        src = b.get(Ty.i64, LAYOUT.offset(r.choice(FIELDS[Ty.i64])))
        if ty is Ty.i64:
            return src
        if ty is Ty.i128:
            hi = b.get(Ty.i64, LAYOUT.offset(r.choice(FIELDS[Ty.i64])))
            return b.or_(b.zext(Ty.i128, src), b.shl(b.zext(Ty.i128, hi), b.const(Ty.i128, 64)))
        return b.trunc(ty, src)

    def pure(self):
        b, r = self.b, self.rng
        ty = r.choice(TYPES)
        kind = r.random()
        if kind < 0.45:
            name = r.choice(BINARY)
            a = self.value(ty)
            c = self.const(ty) if r.random() < 0.5 else self.value(ty)
            if name in ("udiv", "urem", "sdiv", "srem"):
                # Guarded as the lifter does: no zero divisor, no signed overflow (divisor -1 avoided too).
                bad = b.or_(b.eq(c, b.const(ty, 0)), b.eq(c, b.const(ty, ty.mask)))
                c = b.select(bad, b.const(ty, 1), c)
                if ty is Ty.i1 and name in ("sdiv", "srem"):
                    return                      # i1: the only divisor, 1, is -1 when signed
            r_ = getattr(b, name + "_" if name in ("and", "or") else name)(a, c)
        elif kind < 0.55:
            name = r.choice(UNARY)
            if name == "bswap" and ty.bits < 16:
                return
            r_ = getattr(b, name + "_" if name == "not" else name)(self.value(ty))
        elif kind < 0.7:
            r_ = getattr(b, r.choice(CMPS))(self.value(ty), self.value(ty))
            ty = Ty.i1
        elif kind < 0.9:
            to = r.choice([t for t in TYPES if t is not ty])
            name = "trunc" if to.bits < ty.bits else r.choice(["zext", "sext"])
            r_ = getattr(b, name)(to, self.value(ty))
            ty = to
        else:
            r_ = b.select(self.value(Ty.i1), self.value(ty), self.value(ty))
        self.pool.setdefault(ty, []).append(r_)

    def effect(self):
        b, r = self.b, self.rng
        k = r.random()
        if k < 0.3:
            ty = r.choice(list(FIELDS))
            if ty is Ty.i8 and r.random() < 0.5:
                ty_v = Ty.i1
            else:
                ty_v = ty
            b.put(LAYOUT.offset(r.choice(FIELDS[ty])), self.value(ty_v))
        elif k < 0.4:
            b.insn(self.pc, 2)
            self.pc += 2
        elif k < 0.5:
            ty = r.choice([Ty.i8, Ty.i16, Ty.i32, Ty.i64, Ty.i128])
            addr = self.address()
            v = b.load(ty, addr)
            self.pool.setdefault(ty, []).append(v)
        elif k < 0.6:
            ty = r.choice([Ty.i8, Ty.i16, Ty.i32, Ty.i64, Ty.i128])
            b.store(self.address(), self.value(ty))
        elif k < 0.68:
            b.exitif(self.value(Ty.i1), self.value(Ty.i64))
        elif k < 0.72:
            b.trapif(r.choice([0, 6, 13]), self.value(Ty.i1), self.value(Ty.i32))
        else:
            name = r.choice(["mix", "negative", "stop", "gp", "seen"])
            if name == "mix":
                ty = r.choice(TYPES[1:])
                v = b.call("mix", (self.value(ty), self.value(ty)), ty)
                self.pool.setdefault(ty, []).append(v)
            elif name == "negative":
                v = b.call("negative", (self.value(Ty.i32),), Ty.i32)
                self.pool.setdefault(Ty.i32, []).append(v)
            elif name == "seen":
                # Helper arguments that the generator may hold as bools (comparisons, zext of them).
                c = self.value(Ty.i1)
                b.call("seen", (c, b.zext(Ty.i8, c), self.value(Ty.i64)), Ty.i64)
            else:
                b.call(name, (self.value(Ty.i64),), Ty.i64 if name == "gp" and r.random() < 0.5 else None)

    def address(self):
        """Mostly inside the mapped page, sometimes across its end (a fault after the first byte) or far off."""
        b, r = self.b, self.rng
        if r.random() < 0.05:
            return b.const(Ty.i64, 0x9000)
        off = b.and_(self.value(Ty.i64), b.const(Ty.i64, 0xFFF))
        return b.add(off, b.const(Ty.i64, RAM))

    def segment(self, n, pool=None):
        self.pool = pool or {}
        for _ in range(n):
            if self.rng.random() < 0.6:
                self.pure()
            else:
                self.effect()

    def build(self) -> Unit:
        b, r = self.b, self.rng
        b.insn(self.pc, 2)
        self.pc += 2
        if not self.labels:
            self.segment(r.randrange(5, 60))
            b.exit(self.value(Ty.i64))
        else:
            # A counted loop through a local, values carried over labels in locals, a forward branch.
            b.putl(0, b.const(Ty.i32, r.randrange(1, 4)))
            self.segment(r.randrange(3, 15))
            b.putl(1, self.value(Ty.i64))
            b.label(0)
            self.segment(r.randrange(3, 20), {Ty.i64: [b.getl(Ty.i64, 1)]})
            b.putl(1, self.value(Ty.i64))
            n = b.sub(b.getl(Ty.i32, 0), b.const(Ty.i32, 1))
            b.putl(0, n)
            b.brif(b.ne(n, b.const(Ty.i32, 0)), 0)
            b.brif(self.value(Ty.i1), 1)
            self.segment(r.randrange(1, 10), self.pool)
            b.label(1)
            self.segment(r.randrange(1, 10), {Ty.i64: [b.getl(Ty.i64, 1)], Ty.i32: [b.getl(Ty.i32, 2)]})
            b.exit(self.value(Ty.i64))
        verify(self.u)
        return self.u


def random_state(rng):
    st = CpuState()
    for ty, names in FIELDS.items():
        for n in names:
            st[n] = rng.getrandbits(ty.bits) if ty is not Ty.i8 else rng.getrandbits(1)
    return st


def run_both(unit, rng):
    rt = runtime_info(helpers())
    results = []
    seed = rng.getrandbits(32)
    gen = InterpBackend(rt, codegen=True, codegen_after=0)
    for be in (InterpBackend(rt), gen):
        r = random.Random(seed)
        st = random_state(r)
        mem = Memory()
        mem.map(RAM, 0x1000, "rw")
        mem.write(RAM, bytes(r.getrandbits(8) for _ in range(0x1000)))
        try:
            be.run_unit(unit, st, mem)
            err = None
        except ZeroDivisionError as e:        # never expected: the divisions are guarded
            err = repr(e)
        results.append((st.snapshot(), mem.read(RAM, 0x1000), err))
    assert gen.generated == 1
    return results


@pytest.mark.parametrize("labels", [False, True], ids=["straight", "labels"])
@pytest.mark.parametrize("seed", range(40))
def test_random_units_match_the_interpreter(seed, labels):
    rng = random.Random(seed * 2 + labels)
    for _ in range(10):
        unit = RandomUnit(rng, labels).build()
        for _ in range(3):
            (s1, m1, e1), (s2, m2, e2) = run_both(unit, rng)
            if (s1, m1, e1) != (s2, m2, e2):
                diff = [LAYOUT.fields.by_offset[i * 8].name for i in range(len(s1) // 8)
                        if s1[i * 8:i * 8 + 8] != s2[i * 8:i * 8 + 8]]
                src = pygen.generate(unit, runtime_info(helpers()))[0]
                pytest.fail(f"state differs in {diff}, memory {'differs' if m1 != m2 else 'same'}\n{unit}\n{src}")


def unit_with_const_shift(name, ty, amount):
    u = Unit(fields=LAYOUT.fields)
    b = Builder(u)
    b.insn(0x100, 1)
    a = b.get(Ty.i64, LAYOUT.offset("rax"))
    if ty is not Ty.i64:
        a = b.trunc(ty, a) if ty.bits < 64 else b.zext(ty, a)
    r = getattr(b, name + "_" if name == "and" else name)(a, b.const(ty, amount & ty.mask))
    b.put(LAYOUT.offset("r8"), r if ty is Ty.i64 else (b.zext(Ty.i64, r) if ty.bits < 64 else b.trunc(Ty.i64, r)))
    b.exit(b.const(Ty.i64, 0x101))
    verify(u)
    return u


@pytest.mark.parametrize("name", ["shl", "lshr", "ashr", "rotl", "rotr", "and"])
def test_constant_operands(name):
    """Shifts and rotates by every constant amount, and masks, which the generator specializes."""
    rt = runtime_info({})
    ref, gen = InterpBackend(rt), InterpBackend(rt, codegen=True, codegen_after=0)
    for ty in TYPES:
        amounts = range(2 * ty.bits + 2) if name != "and" else [(1 << k) - 1 for k in range(ty.bits + 1)] + [5]
        for amount in amounts:
            u = unit_with_const_shift(name, ty, amount)
            for x in (0, 1, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF, 0x0123456789ABCDEF, 0x80, 0x8000, 0x80000000):
                outs = []
                for be in (ref, gen):
                    st = CpuState()
                    st["rax"] = x
                    be.run_unit(u, st, Memory())
                    outs.append(st["r8"])
                assert outs[0] == outs[1], f"{name}.{ty} {x:#x} by {amount}"


def straight_unit(pc, reg):
    u = Unit(fields=LAYOUT.fields)
    b = Builder(u)
    b.insn(pc, 3)
    v = b.get(Ty.i64, LAYOUT.offset(reg))
    b.put(LAYOUT.offset(reg), b.add(v, b.const(Ty.i64, pc)))
    b.exit(b.const(Ty.i64, pc + 3))
    return u


def test_units_of_one_shape_share_code():
    be = InterpBackend(runtime_info({}), codegen=True, codegen_after=0)
    st = CpuState()
    f1 = be.prepare(straight_unit(0x100, "rax"))
    f2 = be.prepare(straight_unit(0x200, "rbx"))
    assert isinstance(f1, PyUnit) and f1.run.__code__ is f2.run.__code__
    assert be._codegen.compiled == 1 and be.generated == 2
    f1.run(st, Memory())
    f2.run(st, Memory())
    assert (st["rax"], st["rbx"], st["rip"]) == (0x100, 0x200, 0x203)


def test_tiered_unit_interprets_then_generates():
    be = InterpBackend(runtime_info({}), codegen=True, codegen_after=2)
    t = be.prepare(straight_unit(0x100, "rax"))
    assert isinstance(t, TieredUnit)
    st = CpuState()
    for i in range(5):
        t.run(st, Memory())
        assert st["rax"] == 0x100 * (i + 1)
        assert be.generated == (1 if i >= 2 else 0)
    assert t.run.__code__.co_name == "run" and not hasattr(t.run, "__self__")


def test_refused_unit_stays_interpreted():
    """A local read narrower than its write: the interpreter does not mask it, so the generator refuses."""
    u = Unit(fields=LAYOUT.fields)
    b = Builder(u)
    b.insn(0x100, 1)
    b.putl(0, b.get(Ty.i64, LAYOUT.offset("rax")))
    b.put(LAYOUT.offset("rbx"), b.zext(Ty.i64, b.getl(Ty.i32, 0)))
    b.exit(b.const(Ty.i64, 0x101))
    be = InterpBackend(runtime_info({}), codegen=True, codegen_after=0)
    with pytest.raises(pygen.Unsupported):
        pygen.generate(u, be.rt)
    assert isinstance(be.prepare(u), InterpUnit) and be.unsupported == 1
