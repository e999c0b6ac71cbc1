"""The IR interpreter: the reference backend, and the cold tier of the execution engine.

A unit is prepared once into a flat list of (handler, dst, args, imm, mask) tuples; running it walks that list with
a dict-free loop, each handler computing one op on a Python list of values. Guest state is the shared slot array
(``state.slots``), guest memory the ``Memory`` object, so both backends see and leave the very same state.

Exit protocol (shared with backends.llvm): ``exit``/``exitif`` store the next pc in rip; ``halt`` also sets
exit_reason HLT; ``trap``/``trapif`` and memory faults store the current instruction's pc in rip and set exit_reason
TRAP with exc_vector/exc_error (and fault_addr for memory faults); a store into translated code sets EXIT_RESTART.

``InterpBackend(rt, codegen=True)`` interprets a unit for its first ``codegen_after`` runs, then turns it into one
Python function (``backends.interp.pygen``) with the same semantics: ~4x less time of its own per run, but ~270 µs to
generate and compile, which the bundled guest's boot does not earn back before its hot units go to LLVM, so the
engine's cold tier does not use it. Without ``codegen`` the backend is the reference, the closure interpreter below.
"""

from __future__ import annotations

import time

from backends.interp.eval import BINARY, CAST, CMP, UNARY, VECTOR
from ir import OP, Shape, Unit, fpops
from ir.ops import VECTOR_SHAPES

# Exit reasons and state slots come from the engine's layout through ``RuntimeInfo``: backends know offsets, not x86.


class RuntimeInfo:
    """What a backend must know of the state layout: slot offsets of the run-time fields and exit-reason codes."""

    def __init__(self, offsets: dict, reasons: dict, helpers: dict | None = None, faults: tuple = (),
                 state_size: int = 0, mem_blind=frozenset()):
        self.off = offsets          # rip, exit_reason, exc_vector, exc_error, fault_addr, budget -> byte offset
        self.reasons = reasons      # NONE HLT TRAP BUDGET RESTART STOP -> int
        self.helpers = helpers or {}  # name -> fn(state, memory, *args) -> int | None
        # Exceptions the memory object raises: those with a true ``restart`` attribute re-run the instruction,
        # the others carry ``vector``, ``error`` and ``address`` of a guest exception.
        self.faults = faults
        self.state_size = state_size  # bytes of the state array (0: unknown)
        # Offsets of the fields that the memory slow paths neither read nor write (general registers, arithmetic
        # flags, vector registers): native code need not store them to the state before such a call.
        self.mem_blind = frozenset(mem_blind)


class _Exit(Exception):
    pass


class InterpUnit:
    """A prepared unit. ``run(state, memory)`` executes it once."""

    __slots__ = ("code", "nvalues", "rt", "unit", "values")

    def __init__(self, unit: Unit, rt: RuntimeInfo):
        self.unit = unit
        self.rt = rt
        self.nvalues = unit.next_value
        # Constants are SSA values defined once: they start out in the value list instead of running as ops.
        self.values = [0] * self.nvalues
        for o in unit.ops:
            if o.op is OP.const:
                self.values[o.dst] = o.imm
        self.code = [self._prepare(o) for o in unit.ops if o.op is not OP.const]

    def _prepare(self, o):
        s = o.op.shape
        mask = o.ty.mask if o.ty is not None else 0
        fast = _FAST.get(o.op.name)
        if fast is not None:                 # the commonest ops: one handler each, no evaluation-table call
            return (fast, o.dst, o.args, None, mask)
        if s is Shape.BINARY:
            fn = BINARY[o.op.name]
            bits = o.ty.bits
            return (_binary, o.dst, o.args, (fn, bits), mask)
        if s is Shape.UNARY:
            return (_unary, o.dst, o.args, (UNARY[o.op.name], o.ty.bits), mask)
        if s is Shape.CMP:
            return (_cmp, o.dst, o.args, (CMP[o.op.name], self.unit.types[o.args[0]].bits), mask)
        if s is Shape.CAST:
            return (_cast, o.dst, o.args, (CAST[o.op.name], self.unit.types[o.args[0]].bits), mask)
        if o.op.fpenv:
            fn = fpops.function(o.op.name, o.ty.bits, self.unit.types[o.args[0]].bits)
            return (_fp, o.dst, o.args, (fn, self.rt.off["mxcsr"] >> 3), mask)
        if s is Shape.GET:
            return (_get128 if o.ty.bits > 64 else _get, o.dst, o.args, o.imm >> 3, mask)
        if s is Shape.PUT:
            vt = self.unit.types[o.args[0]]
            return (_put128 if vt.bits > 64 else _put, o.dst, o.args, o.imm >> 3, vt.mask)
        if s is Shape.LOAD:
            return (_load, o.dst, o.args, o.ty.bits // 8, mask)
        if s is Shape.STORE:
            return (_store, o.dst, o.args, self.unit.types[o.args[1]].bits // 8, 0)
        if s is Shape.CALL:
            fn = self.rt.helpers.get(o.imm)
            if fn is None:
                raise KeyError(f"unit calls unknown helper {o.imm!r}")
            return (_call, o.dst, o.args, fn, mask)
        if s is Shape.EXIT:
            return (_halt if o.op is OP.halt else _exit, o.dst, o.args, o.imm, 0)
        if s in VECTOR_SHAPES:
            return (_vector, o.dst, o.args, (VECTOR[o.op.name], o.imm), mask)
        handler = _SIMPLE.get(s)
        if handler is None:
            raise NotImplementedError(f"interp: no handler for {o.op.name}")
        return (handler, o.dst, o.args, o.imm, mask)

    def run(self, state, memory) -> None:
        """Executes the unit against ``state`` (CpuState) and ``memory``; the exit is recorded in the state."""
        v = self.values[:]
        ctx = _Ctx(state, memory, self.rt)
        code = self.code
        labels = None
        i = 0
        n = len(code)
        try:
            while i < n:
                h, dst, args, imm, mask = code[i]
                r = h(ctx, v, dst, args, imm, mask)
                if r is not None:          # a branch: r is a label number
                    if labels is None:
                        labels = {c[3]: k for k, c in enumerate(code) if c[0] is _label}
                    i = labels[r]
                i += 1
        except _Exit:
            pass


class _Ctx:
    __slots__ = ("slots", "mem", "rt", "pc", "state", "locals")

    def __init__(self, state, memory, rt):
        self.state = state
        self.slots = state.slots
        self.mem = memory
        self.rt = rt
        self.pc = 0
        self.locals = {}


def _binary(c, v, dst, args, imm, mask):
    v[dst] = imm[0](v[args[0]], v[args[1]], imm[1]) & mask


def _unary(c, v, dst, args, imm, mask):
    v[dst] = imm[0](v[args[0]], imm[1]) & mask


def _cmp(c, v, dst, args, imm, mask):
    v[dst] = imm[0](v[args[0]], v[args[1]], imm[1])


def _cast(c, v, dst, args, imm, mask):
    v[dst] = imm[0](v[args[0]], imm[1]) & mask


def _add(c, v, dst, args, imm, mask):
    v[dst] = (v[args[0]] + v[args[1]]) & mask


def _sub(c, v, dst, args, imm, mask):
    v[dst] = (v[args[0]] - v[args[1]]) & mask


def _and(c, v, dst, args, imm, mask):
    v[dst] = v[args[0]] & v[args[1]]


def _or(c, v, dst, args, imm, mask):
    v[dst] = v[args[0]] | v[args[1]]


def _xor(c, v, dst, args, imm, mask):
    v[dst] = v[args[0]] ^ v[args[1]]


def _eq(c, v, dst, args, imm, mask):
    v[dst] = int(v[args[0]] == v[args[1]])


def _ne(c, v, dst, args, imm, mask):
    v[dst] = int(v[args[0]] != v[args[1]])


def _ult(c, v, dst, args, imm, mask):
    v[dst] = int(v[args[0]] < v[args[1]])


def _zext(c, v, dst, args, imm, mask):
    v[dst] = v[args[0]]                   # values are kept masked to their type: widening changes nothing


def _trunc(c, v, dst, args, imm, mask):
    v[dst] = v[args[0]] & mask


_FAST = {"add": _add, "sub": _sub, "and": _and, "or": _or, "xor": _xor, "eq": _eq, "ne": _ne, "ult": _ult,
         "zext": _zext, "trunc": _trunc}


def _vector(c, v, dst, args, imm, mask):
    v[dst] = imm[0](*[v[a] for a in args], imm[1])
def _fp(c, v, dst, args, imm, mask):
    v[dst] = imm[0](c.slots, imm[1], *[v[a] for a in args])


def _const(c, v, dst, args, imm, mask):
    v[dst] = imm


def _select(c, v, dst, args, imm, mask):
    v[dst] = v[args[1]] if v[args[0]] else v[args[2]]


def _get(c, v, dst, args, imm, mask):
    v[dst] = c.slots[imm] & mask


def _put(c, v, dst, args, imm, mask):
    c.slots[imm] = v[args[0]] & mask


def _get128(c, v, dst, args, imm, mask):      # an i128 field: two slots, low half first
    v[dst] = c.slots[imm] | c.slots[imm + 1] << 64


def _put128(c, v, dst, args, imm, mask):
    x = v[args[0]]
    c.slots[imm] = x & 0xFFFFFFFFFFFFFFFF
    c.slots[imm + 1] = x >> 64 & 0xFFFFFFFFFFFFFFFF


def _getl(c, v, dst, args, imm, mask):
    v[dst] = c.locals.get(imm, 0)


def _putl(c, v, dst, args, imm, mask):
    c.locals[imm] = v[args[0]]


def _fault(c, e):
    rt, slots = c.rt, c.slots
    slots[rt.off["rip"] >> 3] = c.pc
    if getattr(e, "restart", False):
        slots[rt.off["exit_reason"] >> 3] = rt.reasons["RESTART"]
    else:
        slots[rt.off["exit_reason"] >> 3] = rt.reasons["TRAP"]
        slots[rt.off["exc_vector"] >> 3] = e.vector
        slots[rt.off["exc_error"] >> 3] = e.error
        slots[rt.off["fault_addr"] >> 3] = e.address
    raise _Exit


def _load(c, v, dst, args, imm, mask):
    try:
        v[dst] = c.mem.load(v[args[0]], imm)
    except c.rt.faults as e:
        _fault(c, e)


def _store(c, v, dst, args, imm, mask):
    try:
        c.mem.store(v[args[0]], imm, v[args[1]])
    except c.rt.faults as e:
        _fault(c, e)


def _call(c, v, dst, args, imm, mask):
    try:
        r = imm(c.state, c.mem, *[v[a] for a in args])
    except c.rt.faults as e:
        _fault(c, e)
    if dst is not None:
        v[dst] = (r or 0) & mask
    if c.slots[c.rt.off["exit_reason"] >> 3]:
        raise _Exit


def _label(c, v, dst, args, imm, mask):
    return None


def _br(c, v, dst, args, imm, mask):
    return imm


def _brif(c, v, dst, args, imm, mask):
    return imm if v[args[0]] else None


def _exit(c, v, dst, args, imm, mask):
    c.slots[c.rt.off["rip"] >> 3] = v[args[0]]
    raise _Exit


def _exitif(c, v, dst, args, imm, mask):
    if v[args[0]]:
        c.slots[c.rt.off["rip"] >> 3] = v[args[1]]
        raise _Exit


def _halt(c, v, dst, args, imm, mask):
    c.slots[c.rt.off["rip"] >> 3] = v[args[0]]
    c.slots[c.rt.off["exit_reason"] >> 3] = c.rt.reasons["HLT"]
    raise _Exit


def _raise(c, vector, err):
    rt, slots = c.rt, c.slots
    slots[rt.off["rip"] >> 3] = c.pc
    slots[rt.off["exit_reason"] >> 3] = rt.reasons["TRAP"]
    slots[rt.off["exc_vector"] >> 3] = vector
    slots[rt.off["exc_error"] >> 3] = err
    raise _Exit


def _trap(c, v, dst, args, imm, mask):
    _raise(c, imm, v[args[0]])


def _trapif(c, v, dst, args, imm, mask):
    if v[args[0]]:
        _raise(c, imm, v[args[1]])


def _insn(c, v, dst, args, imm, mask):
    c.pc = imm[0]


_SIMPLE = {
    Shape.CONST: _const, Shape.SELECT: _select, Shape.GETL: _getl, Shape.PUTL: _putl, Shape.LABEL: _label,
    Shape.BR: _br, Shape.BRIF: _brif, Shape.EXITIF: _exitif, Shape.TRAP: _trap, Shape.TRAPIF: _trapif,
    Shape.INSN: _insn,
}


class TieredUnit:
    """A unit interpreted for its first ``after`` runs, then run as generated Python code (``backends.interp.pygen``).

    ``run`` is an attribute: once the code exists it is the generated function itself, so a caller's
    ``unit.run(state, memory)`` goes straight into it."""

    __slots__ = ("backend", "interp", "left", "run")

    def __init__(self, interp: InterpUnit, backend: InterpBackend, after: int):
        self.interp = interp
        self.backend = backend
        self.left = after
        self.run = self._counted

    @property
    def unit(self) -> Unit:
        return self.interp.unit

    def _counted(self, state, memory) -> None:
        self.left -= 1
        if self.left < 0:
            self.run = self.backend.generate(self.interp.unit) or self.interp.run
            self.backend = None
            self.run(state, memory)
        else:
            self.interp.run(state, memory)


class PyUnit:
    """A unit prepared straight into generated Python code."""

    __slots__ = ("run", "unit")

    def __init__(self, fn, unit: Unit):
        self.run = fn
        self.unit = unit


class InterpBackend:
    """Backend protocol: ``prepare(unit) -> runnable`` whose ``run(state, memory)`` executes the unit once.

    ``codegen``: units are turned into Python functions (``backends.interp.pygen``) after ``codegen_after``
    interpreted runs (0: at once). Without it the backend is the reference closure interpreter."""

    name = "interp"

    def __init__(self, rt: RuntimeInfo, codegen: bool = False, codegen_after: int = 4):
        self.rt = rt
        self.codegen = codegen
        self.codegen_after = codegen_after
        self.generated = 0          # units turned into Python code
        self.unsupported = 0        # units the generator refused (they stay interpreted)
        self.gen_seconds = 0.0      # time spent generating and compiling them
        self._codegen = None

    def prepare(self, unit: Unit):
        if not self.codegen:
            return InterpUnit(unit, self.rt)
        if self.codegen_after <= 0:
            fn = self.generate(unit)
            return PyUnit(fn, unit) if fn is not None else InterpUnit(unit, self.rt)
        return TieredUnit(InterpUnit(unit, self.rt), self, self.codegen_after)

    def generate(self, unit: Unit):
        """The unit as a Python function ``run(state, memory)``, or None if the generator refuses it."""
        t0 = time.perf_counter()
        if self._codegen is None:
            from backends.interp.pygen import Codegen
            self._codegen = Codegen(self.rt)
        try:
            fn = self._codegen.function(unit)
        except self._codegen.Unsupported:
            self.unsupported += 1
            fn = None
        else:
            self.generated += 1
        self.gen_seconds += time.perf_counter() - t0
        return fn

    def run_unit(self, unit: Unit, state, memory) -> None:
        self.prepare(unit).run(state, memory)
