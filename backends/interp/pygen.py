"""Per-unit Python code generation: a unit becomes the source text of one Python function, compiled once.

The closure interpreter (``InterpUnit``) pays a Python call and a tuple unpack per IR op; the generated function
``run(state, memory)`` does only local-variable work: a unit's data (constants, pcs, state slot indices, helpers) are
default arguments, masks and shift amounts literals. Semantics are those of ``backends.interp`` op for op (the
reference); what differs is invisible:

- pure ops whose result is never used are not computed (as an optimizer's DCE would; the IR leaves a zero divisor
  undefined, so a dead division that would raise in the interpreter simply does not run);
- a pure op or a ``get`` used once is inlined into its user as a Python expression; a ``get`` is given a variable
  before any op that may write the slot it reads (a put of that slot, a load, a store, a helper call);
- masks that cannot change the value are left out, from a known bound on each value's width (every value is already
  reduced to its type: consts by the verifier, gets, loads and helper results by the masks here and in the
  interpreter). The one way around it, a local read with a narrower type than it was written with, makes the
  generator refuse the unit (``Unsupported``): the caller keeps the interpreter for it;
- comparison results are Python bools (``True == 1``, and they mix with ints exactly); a value that may be a bool is
  turned into an int where it leaves the unit's code for a helper or a memory access. State slots store bools as 1/0.

Compilation cost decides the design. Measured on the bundled guest's boot: a generated unit runs in ~2.4 µs of its
own time against ~10 µs in the closure interpreter (both plus ~9 µs of memory accesses and helpers), but generating
its text costs ~90 µs and ``compile()`` ~120-220 µs (CPython's compiler costs ~1 µs per syntax node, and more per
parenthesis: the PEG parser backtracks). So expressions are printed with the fewest parentheses precedence allows,
an ``exitif`` followed by the unit's ``exit`` becomes one conditional store, and a unit's text names its data by
parameter (``_k0``...) rather than by value: units of the same shape (the same instructions on other registers, at
other addresses) print the same text, which is compiled once and shared (``Codegen.cache``; each unit gets its own
function object and defaults; ~35% of the boot's units reuse a text). Callers generate code only for units that run
again (see ``InterpBackend(codegen_after=...)``). Even so, in the boot a unit must run ~30 more times after its code
is made to pay for it (~270 µs against ~8.5 µs saved per run), and the units that run that often become hot and go to
LLVM at 50 runs: the engine's cold tier keeps the closure interpreter.

Control flow: a unit without labels is straight-line code. With labels, each label segment becomes an ``if lbl ==
n:`` arm of a ``while True`` loop; ``br`` sets ``lbl`` and continues, falling into a label sets ``lbl`` and runs on.
Exits write rip (and exit_reason) and return. Faults of loads, stores and helpers are caught by one ``try`` around the
body (zero-cost in CPython 3.11+) and recorded as the interpreter's ``_fault`` does, with the pc of the current
``insn``: the local ``pc`` is assigned before the first op of each instruction that may fault (at every insn in units
with labels).
"""

from __future__ import annotations

import builtins
import types

from backends.interp.eval import VECTOR, _ashr, _bswap, _cttz, _rotl, _rotr, _sdiv, _srem
from ir import OP, Shape, Unit, fpops
from ir.ops import VECTOR_SHAPES

_MAX_INLINE = 200     # characters of an inlined expression before it is given its own variable

# Python operator precedence, low to high (an operand binding looser than its context gets parentheses).
P_COND, P_CMP, P_OR, P_XOR, P_AND, P_SHIFT, P_ADD, P_MUL, P_UNARY, P_ATOM = 1, 4, 5, 6, 7, 8, 9, 10, 11, 13
_ASSOC = frozenset("+*&|^")     # x op (y op z) == (x op y) op z on Python ints
_NOREADS = frozenset()
_CACHE_MAX = 8192     # compiled texts kept per Codegen (then the cache starts over)


class Unsupported(Exception):
    """The unit has a construct whose exact interpreter semantics the generated code does not reproduce."""


def fault_recorder(rt):
    """``fault(slots, pc, e)``: records a memory or helper fault exactly as the interpreter's ``_fault`` does."""
    rip, er = rt.off["rip"] >> 3, rt.off["exit_reason"] >> 3
    vec, err, fa = rt.off["exc_vector"] >> 3, rt.off["exc_error"] >> 3, rt.off["fault_addr"] >> 3
    restart, trap = rt.reasons["RESTART"], rt.reasons["TRAP"]

    def fault(slots, pc, e):
        slots[rip] = pc
        if getattr(e, "restart", False):
            slots[er] = restart
        else:
            slots[er] = trap
            slots[vec] = e.vector
            slots[err] = e.error
            slots[fa] = e.address

    return fault


class E:
    """An expression for a value: its text, precedence, top operator, a bound on its width in bits, the state
    slots it reads, whether it may be a Python bool, and (``base``, ``mval``) when it is ``base & mval``."""

    __slots__ = ("base", "isbool", "mval", "prec", "reads", "text", "top", "width")

    def __init__(self, text, prec, width, top=None, reads=_NOREADS, isbool=False, base=None, mval=0):
        self.text = text
        self.prec = prec
        self.width = width
        self.top = top
        self.reads = reads
        self.isbool = isbool
        self.base = base
        self.mval = mval


def _is_name(e: E) -> bool:
    """A variable, parameter or literal: as cheap to repeat as to copy."""
    return e.prec == P_ATOM and (e.text.isidentifier() or e.text.isalnum())


def _at(e: E, prec: int) -> str:
    """e's text as a left operand at ``prec``."""
    return e.text if e.prec >= prec else f"({e.text})"


def _rat(e: E, prec: int, op: str) -> str:
    """e's text as a right operand of ``op`` at ``prec``."""
    if e.prec > prec or (e.prec == prec and e.top == op and op in _ASSOC):
        return e.text
    return f"({e.text})"


def _bin(a: E, op: str, b: E, prec: int, width: int, isbool=False) -> E:
    return E(f"{_at(a, prec)} {op} {_rat(b, prec, op)}", prec, width, op, a.reads | b.reads, isbool)


def _mask(e: E, bits: int) -> E:
    """e reduced to ``bits`` bits: nothing if its width fits, else ``e & mask`` (merged with a mask it has)."""
    if e.width <= bits:
        return e
    m = (1 << bits) - 1
    if e.base is not None:              # (x & m1) & m2 == x & (m1 & m2)
        m &= e.mval
        e = e.base
        if e.width <= m.bit_length():
            return e
    return E(f"{_at(e, P_AND)} & {m:#x}", P_AND, min(m.bit_length(), e.width), "&", e.reads, False, e, m)


class _Gen:
    def __init__(self, unit: Unit, rt):
        self.u = unit
        self.rt = rt
        self.T = unit.types
        self.rip = rt.off["rip"] >> 3
        self.er = rt.off["exit_reason"] >> 3
        self.lines: list[str] = []
        self.ind = ""
        self.expr: dict[int, E] = {}       # value -> its expression (consts, deferred single uses, variables)
        self.pending: dict[int, E] = {}    # deferred expressions that read state
        self.params: list[str] = []        # default-argument names, in order
        self.values: list = []             # their values
        self.named: dict = {}              # (kind, value) -> parameter name
        self.nvars = 0
        self.has_labels = False
        self.pc = 0                 # the current insn's pc, known statically (None: only the local knows it)
        self.pc_set = None          # the value the local ``pc`` holds at this point of the code (None: unknown)
        self.side_exit = None       # (condition, target) of an exitif merged into the exit that follows it
        self.i = 0                  # index of the op being generated in ``live``

    # values ----------------------------------------------------------------------------------------------------
    def param(self, kind, value) -> str:
        key = (kind, value)
        name = self.named.get(key)
        if name is None:
            name = self.named[key] = f"_k{len(self.params)}"
            self.params.append(name)
            self.values.append(value)
        return name

    def get(self, v: int) -> E:
        """The expression of value v, consumed if it was deferred for its single use."""
        e = self.expr.get(v)
        if e is None:                   # a constant: a parameter, named at its first use as a value
            c = self.consts[v]
            e = self.expr[v] = E(self.param(("c", v), c), P_ATOM, c.bit_length())
            return e
        if self.uses[v] == 1:
            del self.expr[v]
            self.pending.pop(v, None)
        return e

    def peek(self, v: int) -> E:
        """The expression of value v, not consumed (for its width)."""
        e = self.expr.get(v)
        return e if e is not None else _literal(self.consts[v])

    def var(self, v: int) -> E:
        """v as a variable or constant (for a value used twice in one expression)."""
        e = self.expr.get(v)
        if e is None or _is_name(e):
            return self.get(v)
        self.pending.pop(v, None)
        return self.define(v, e)

    def define(self, v: int, e: E) -> E:
        name = f"v{self.nvars}"
        self.nvars += 1
        self.emit(f"{name} = {e.text}")
        r = self.expr[v] = E(name, P_ATOM, e.width, isbool=e.isbool)
        return r

    def result(self, v: int, e: E) -> None:
        """The value of a pure op or get: inlined into its single user, else assigned to a variable."""
        if (self.uses.get(v, 0) == 1 and len(e.text) < _MAX_INLINE) or _is_name(e):
            self.expr[v] = e
            if e.reads:
                self.pending[v] = e
        else:
            self.define(v, e)

    def flush(self, slot=None) -> None:
        """Before an op that may write state: deferred reads of ``slot`` (None: of any slot) get variables."""
        for v, e in list(self.pending.items()):
            if slot is None or slot in e.reads:
                del self.pending[v]
                self.define(v, e)

    def intval(self, e: E) -> str:
        """e's text where it leaves the unit's code (helper argument, memory access): an int, never a bool."""
        return f"+{_at(e, P_UNARY)}" if e.isbool else e.text

    def emit(self, line: str) -> None:
        self.lines.append(self.ind + line)

    def faulting(self) -> None:
        """Before an op that may fault: the local ``pc`` must hold the current instruction's pc."""
        if self.pc is not None and self.pc_set != self.pc:
            self.emit(f"pc = {self.param('pc', self.pc)}")
            self.pc_set = self.pc

    def pc_text(self) -> str:
        return self.param("pc", self.pc) if self.pc is not None else "pc"

    # the function ----------------------------------------------------------------------------------------------
    def _scan(self):
        """One backward pass: which ops run (dead pure ops and gets are dropped, transitively, and so is a put that
        a later put of the same slot overwrites with nothing in between that could observe the state: no get of
        it, no exit, fault or helper), use counts from those ops, the widest write of each local, and whether the
        unit has labels, loads, stores, ops that may fault."""
        T = self.T
        uses: dict[int, int] = {}
        live: list = []
        overwritten: set = set()
        widest: dict[int, int] = {}
        getl = []
        kinds = set()
        consts = self.consts = {}
        for o in reversed(self.u.ops):
            op = o.op
            k = _KIND[op]
            if k == _K_VALUE:
                if o.dst not in uses:
                    continue
                if op is _CONST:
                    consts[o.dst] = o.imm
                elif op is _GET:
                    overwritten.discard(o.imm)
                elif op is _GETL:
                    getl.append(o)
            elif k == _K_PUT:
                if o.imm in overwritten:
                    continue
                overwritten.add(o.imm)
            elif k != _K_PLAIN:
                overwritten.clear()             # an exit, fault or helper observes the state
                kinds.add(k)
            elif op is _PUTL:
                widest[o.imm] = max(widest.get(o.imm, 0), T[o.args[0]].bits)
            live.append(o)
            for a in o.args:
                uses[a] = uses.get(a, 0) + 1
        for o in getl:
            if widest.get(o.imm, 0) > o.ty.bits:
                raise Unsupported(f"local ${o.imm} read as {o.ty} after a wider write")
        live.reverse()
        self.uses = uses
        self.live = live
        self.local_names = sorted({o.imm for o in getl})
        self.has_labels = _K_LABEL in kinds
        return kinds

    def source(self) -> tuple[str, list[str], list]:
        """(text of ``def run(state, memory, <params>)``, parameter names, their values)."""
        kinds = self._scan()
        may_fault = bool(kinds & _K_FAULTING)
        self.param("faults", self.rt.faults)
        self.param("fault", None)            # bound by Codegen (one per backend)
        body_ind = "    " + ("    " if may_fault else "") + ("        " if self.has_labels else "")
        self.ind = body_ind
        terminated = False
        if self.has_labels:
            self.pc_set = self.pc = 0
            self.emit("if lbl == -1:")
            self.ind = body_ind + "    "
        for i, o in enumerate(self.live):
            self.i = i
            op = o.op
            if op is _LABEL:
                if not terminated:
                    self.emit(f"lbl = {o.imm}")
                self.ind = body_ind
                self.emit(f"if lbl == {o.imm}:")
                self.ind = body_ind + "    "
                self.pc = None
                self.pending.clear()
                terminated = False
                continue
            if terminated:
                continue                        # unreachable until the next label
            _GEN_OP[op](self, o)
            terminated = op.terminator
        if not terminated:
            self.emit("return")
        head = ["slots = state.slots"]
        if _K_LOAD in kinds:
            head.append("load = memory.load")
        if _K_STORE in kinds:
            head.append("store = memory.store")
        if self.local_names:
            head.append(" = ".join(f"l{n}" for n in self.local_names) + " = 0")
        if self.has_labels:
            head.append("pc = 0")
            head.append("lbl = -1")
        out = [f"def run(state, memory, {', '.join(self.params)}):"] + ["    " + h for h in head]
        if may_fault:
            if self.has_labels:
                out += ["    try:", "        while True:"]
            else:
                out.append("    try:")
            out += self.lines
            out += [f"    except {self.params[0]} as e:", f"        {self.params[1]}(slots, pc, e)"]
        else:
            if self.has_labels:
                out.append("    while True:")
            out += self.lines
        return "\n".join(out) + "\n", self.params, self.values


# Pure ops ----------------------------------------------------------------------------------------------------------

def _literal(value: int) -> E:
    return E(f"{value:#x}" if value > 9 else str(value), P_ATOM, value.bit_length())


def _g_binary(g: _Gen, o):
    _BINARY[o.op.name](g, o, o.ty.bits)


def _b_add(g, o, bits):
    a, b = g.get(o.args[0]), g.get(o.args[1])
    g.result(o.dst, _mask(_bin(a, "+", b, P_ADD, max(a.width, b.width) + 1), bits))


def _b_sub(g, o, bits):
    a, b = g.get(o.args[0]), g.get(o.args[1])
    g.result(o.dst, _mask(_bin(a, "-", b, P_ADD, bits + 1), bits))


def _b_mul(g, o, bits):
    a, b = g.get(o.args[0]), g.get(o.args[1])
    g.result(o.dst, _mask(_bin(a, "*", b, P_MUL, a.width + b.width), bits))


def _b_udiv(g, o, bits):
    a, b = g.get(o.args[0]), g.get(o.args[1])
    g.result(o.dst, _bin(a, "//", b, P_MUL, a.width))


def _b_urem(g, o, bits):
    a, b = g.get(o.args[0]), g.get(o.args[1])
    g.result(o.dst, _bin(a, "%", b, P_MUL, min(a.width, b.width)))


def _b_and(g, o, bits):
    x, y = o.args
    c = g.consts.get(y)
    if c is None:
        x, y = y, x
        c = g.consts.get(y)
    if c is not None and c & (c + 1) == 0:           # a mask of the low bits: a literal, merged with others
        g.result(o.dst, _mask(g.get(x), c.bit_length()))
        return
    a, b = g.get(o.args[0]), g.get(o.args[1])
    g.result(o.dst, _bin(a, "&", b, P_AND, min(a.width, b.width), a.isbool and b.isbool))


def _b_or(g, o, bits):
    a, b = g.get(o.args[0]), g.get(o.args[1])
    g.result(o.dst, _bin(a, "|", b, P_OR, max(a.width, b.width), a.isbool and b.isbool))


def _b_xor(g, o, bits):
    a, b = g.get(o.args[0]), g.get(o.args[1])
    g.result(o.dst, _bin(a, "^", b, P_XOR, max(a.width, b.width), a.isbool and b.isbool))


def _b_shl(g, o, bits):
    c = g.consts.get(o.args[1])
    if c is not None:
        a = g.get(o.args[0])
        if c >= bits:
            g.result(o.dst, _literal(0))
        else:
            g.result(o.dst, _mask(_bin(a, "<<", _literal(c), P_SHIFT, a.width + c), bits))
        return
    b = g.var(o.args[1])
    a = g.get(o.args[0])
    e = _mask(_bin(a, "<<", b, P_SHIFT, bits + 1), bits)
    g.result(o.dst, E(f"{_at(e, P_COND + 1)} if {b.text} < {bits} else 0", P_COND, bits, None, e.reads))


def _b_lshr(g, o, bits):
    c = g.consts.get(o.args[1])
    if c is not None:
        a = g.get(o.args[0])
        if c >= bits or c >= a.width:
            g.result(o.dst, _literal(0))
        else:
            g.result(o.dst, _bin(a, ">>", _literal(c), P_SHIFT, a.width - c))
        return
    b = g.var(o.args[1])
    a = g.get(o.args[0])
    e = _bin(a, ">>", b, P_SHIFT, a.width)
    g.result(o.dst, E(f"{_at(e, P_COND + 1)} if {b.text} < {bits} else 0", P_COND, a.width, None, e.reads))


def _b_ashr(g, o, bits):
    c = g.consts.get(o.args[1])
    if g.peek(o.args[0]).width < bits:              # sign bit clear: a logical shift
        return _b_lshr(g, o, bits)
    if c is not None:
        a = g.get(o.args[0])
        s = f"{1 << (bits - 1):#x}"
        signed = E(f"({_at(a, P_XOR)} ^ {s}) - {s}", P_ADD, bits + 1, "-", a.reads)
        g.result(o.dst, _mask(_bin(signed, ">>", _literal(min(c, bits)), P_SHIFT, bits + 1), bits))
        return
    _call_fn(g, o, bits, "ashr", _ashr)


def _call_fn(g, o, bits, name, fn, mask=True):
    f = g.param(name, fn)
    args = [g.get(a) for a in o.args]
    e = E(f"{f}({', '.join(a.text for a in args)}, {bits})", P_ATOM, bits + 1 if mask else bits, None,
          _NOREADS.union(*(a.reads for a in args)))
    g.result(o.dst, _mask(e, bits) if mask else e)


def _b_rot(g, o, bits):
    c = g.consts.get(o.args[1])
    left = o.op.name == "rotl"
    if c is None:
        return _call_fn(g, o, bits, o.op.name, _rotl if left else _rotr)
    r = c % bits if left else (bits - c % bits) % bits      # as a left rotation
    if not r:
        g.result(o.dst, g.get(o.args[0]))
        return
    a = g.var(o.args[0])
    hi = _mask(E(f"{a.text} << {r}", P_SHIFT, a.width + r), bits)
    lo = E(f"{a.text} >> {bits - r}", P_SHIFT, max(a.width - (bits - r), 0))
    g.result(o.dst, _bin(hi, "|", lo, P_OR, bits))


def _b_sdiv(g, o, bits):
    _call_fn(g, o, bits, "sdiv", _sdiv)


def _b_srem(g, o, bits):
    _call_fn(g, o, bits, "srem", _srem)


_BINARY = {"add": _b_add, "sub": _b_sub, "mul": _b_mul, "udiv": _b_udiv, "urem": _b_urem, "sdiv": _b_sdiv,
           "srem": _b_srem, "and": _b_and, "or": _b_or, "xor": _b_xor, "shl": _b_shl, "lshr": _b_lshr,
           "ashr": _b_ashr, "rotl": _b_rot, "rotr": _b_rot}


def _method(a: E, call: str, width: int) -> E:
    t = a.text if a.prec >= P_ATOM and not a.text[0].isdigit() else f"({a.text})"
    return E(f"{t}.{call}()", P_ATOM, width, None, a.reads)


def _g_unary(g, o):
    bits = o.ty.bits
    name = o.op.name
    if name in ("cttz", "bswap"):
        return _call_fn(g, o, bits, name, _cttz if name == "cttz" else _bswap, mask=False)
    a = g.get(o.args[0])
    if name == "neg":
        e = _mask(E(f"-{_at(a, P_UNARY)}", P_UNARY, bits + 1, None, a.reads), bits)
    elif name == "not":
        e = E(f"{_at(a, P_XOR)} ^ {(1 << bits) - 1:#x}", P_XOR, bits, "^", a.reads)
    elif name == "ctpop":
        e = _method(a, "bit_count", bits.bit_length())
    else:  # ctlz
        e = E(f"{bits} - {_method(a, 'bit_length', 0).text}", P_ADD, bits.bit_length(), "-", a.reads)
    g.result(o.dst, e)


_CMPOPS = {"eq": "==", "ne": "!=", "ult": "<", "ule": "<=", "slt": "<", "sle": "<="}


def _g_cmp(g, o):
    a, b = g.get(o.args[0]), g.get(o.args[1])
    bits = g.T[o.args[0]].bits
    op = _CMPOPS[o.op.name]
    if o.op.name[0] == "s" and (a.width >= bits or b.width >= bits):
        # Signed order of two's complement values is the unsigned order with the sign bit flipped.
        s = _literal(1 << (bits - 1))
        a, b = _bin(a, "^", s, P_XOR, bits), _bin(b, "^", s, P_XOR, bits)
    g.result(o.dst, E(f"{_at(a, P_CMP + 1)} {op} {_at(b, P_CMP + 1)}", P_CMP, 1, None, a.reads | b.reads, True))


def _g_cast(g, o):
    name = o.op.name
    a = g.get(o.args[0])
    if name == "trunc":
        g.result(o.dst, _mask(a, o.ty.bits))
    elif name == "zext" or a.width < g.T[o.args[0]].bits:     # sext of a value whose sign bit is clear
        g.result(o.dst, a)
    else:
        s = f"{1 << (g.T[o.args[0]].bits - 1):#x}"
        signed = E(f"({_at(a, P_XOR)} ^ {s}) - {s}", P_ADD, o.ty.bits + 1, "-", a.reads)
        g.result(o.dst, _mask(signed, o.ty.bits))


def _g_select(g, o):
    c, a, b = (g.get(x) for x in o.args)
    g.result(o.dst, E(f"{_at(a, P_COND + 1)} if {_at(c, P_COND + 1)} else {b.text}", P_COND,
                      max(a.width, b.width), None, a.reads | b.reads | c.reads, a.isbool or b.isbool))


def _g_const(g, o):
    pass                                 # a parameter, named at its first use (see _Gen.get)


# State, locals, memory, helpers -------------------------------------------------------------------------------

def _g_get(g, o):
    slot = o.imm >> 3
    if o.ty.bits > 64:                  # an i128 field: two slots, low half first
        lo, hi = g.param("slot", slot), g.param("slot", slot + 1)
        g.result(o.dst, E(f"slots[{lo}] | slots[{hi}] << 64", P_OR, 128, "|", frozenset((slot, slot + 1))))
        return
    e = E(f"slots[{g.param('slot', slot)}]", P_ATOM, 64, None, frozenset((slot,)))
    g.result(o.dst, _mask(e, o.ty.bits))


def _g_put(g, o):
    slot = o.imm >> 3
    if g.T[o.args[0]].bits > 64:
        v = g.var(o.args[0])
        g.flush(slot)
        g.flush(slot + 1)
        g.emit(f"slots[{g.param('slot', slot)}] = {_at(v, P_AND)} & 0xffffffffffffffff")
        g.emit(f"slots[{g.param('slot', slot + 1)}] = {_at(v, P_SHIFT)} >> 64")
        return
    v = g.get(o.args[0])
    g.flush(slot)
    g.emit(f"slots[{g.param('slot', slot)}] = {v.text}")


def _g_getl(g, o):
    g.define(o.dst, E(f"l{o.imm}", P_ATOM, o.ty.bits, isbool=True))


def _g_putl(g, o):
    g.emit(f"l{o.imm} = {g.get(o.args[0]).text}")


def _bind(g, o, call: str) -> None:
    """Emits ``call`` (an expression with effects) now: into a new variable that stands for o's result when the
    result is used, else as a statement."""
    if o.dst in g.uses:
        name = f"v{g.nvars}"
        g.nvars += 1
        g.emit(f"{name} = {call}")
        g.expr[o.dst] = E(name, P_ATOM, o.ty.bits)
    else:
        g.emit(call)


def _g_load(g, o):
    addr = g.get(o.args[0])
    g.flush()
    g.faulting()
    _bind(g, o, f"load({g.intval(addr)}, {o.ty.bits // 8})")


def _g_store(g, o):
    addr, val = g.get(o.args[0]), g.get(o.args[1])
    g.flush()
    g.faulting()
    g.emit(f"store({g.intval(addr)}, {g.T[o.args[1]].bits // 8}, {g.intval(val)})")


def _g_call(g, o):
    fn = g.rt.helpers.get(o.imm)
    if fn is None:
        raise KeyError(f"unit calls unknown helper {o.imm!r}")
    args = "".join(", " + g.intval(g.get(a)) for a in o.args)
    g.flush()
    g.faulting()
    call = f"{g.param(('h', o.imm), fn)}(state, memory{args})"
    if o.dst is not None:
        name = f"v{g.nvars}"
        g.nvars += 1
        g.emit(f"{name} = ({call} or 0) & {o.ty.mask:#x}")
        g.expr[o.dst] = E(name, P_ATOM, o.ty.bits)
    else:
        g.emit(call)
    g.emit(f"if slots[{g.er}]:")
    g.emit("    return")


def _g_fp(g, o):
    """A floating-point op: a call of its reference function, which reads and updates the MXCSR slot; deferred
    reads of that slot are given variables first."""
    slot = g.rt.off["mxcsr"] >> 3
    ab = g.T[o.args[0]].bits
    fn = g.param(("fp", o.op.name, o.ty.bits, ab), fpops.function(o.op.name, o.ty.bits, ab))
    args = "".join(", " + g.intval(g.get(a)) for a in o.args)
    g.flush(slot)
    _bind(g, o, f"{fn}(slots, {g.param('slot', slot)}{args})")


# Control flow and exits -------------------------------------------------------------------------------------------

def _g_br(g, o):
    g.emit(f"lbl = {o.imm}")
    g.emit("continue")


def _g_brif(g, o):
    g.emit(f"if {g.get(o.args[0]).text}:")
    g.emit(f"    lbl = {o.imm}")
    g.emit("    continue")


def _g_exit(g, o):
    t = g.get(o.args[0])
    if g.side_exit is not None:             # exitif c, t1 just before: rip = t1 if c else t
        c, t1 = g.side_exit
        g.side_exit = None
        g.emit(f"slots[{g.rip}] = {_at(t1, P_COND + 1)} if {_at(c, P_COND + 1)} else {t.text}")
        g.emit("return")
        return
    g.emit(f"slots[{g.rip}] = {t.text}")
    if o.op.name == "halt":
        g.emit(f"slots[{g.er}] = {g.rt.reasons['HLT']}")
    g.emit("return")


def _g_exitif(g, o):
    c, t = g.get(o.args[0]), g.get(o.args[1])
    live, j = g.live, g.i + 1
    while j < len(live) and (_KIND[live[j].op] == _K_VALUE or live[j].op is _INSN):
        j += 1
    if j < len(live) and live[j].op is _EXIT:
        g.side_exit = (c, t)                # nothing but values up to the exit: one conditional store
        return
    g.emit(f"if {c.text}:")
    g.emit(f"    slots[{g.rip}] = {t.text}")
    g.emit("    return")


def _trap_lines(g, vector: int, err: E) -> list[str]:
    off, r = g.rt.off, g.rt.reasons
    # The error code first: its expression may read the fields written after it.
    return [f"slots[{off['exc_error'] >> 3}] = {err.text}", f"slots[{g.rip}] = {g.pc_text()}",
            f"slots[{g.er}] = {r['TRAP']}", f"slots[{off['exc_vector'] >> 3}] = {vector}", "return"]


def _g_trap(g, o):
    for line in _trap_lines(g, o.imm, g.get(o.args[0])):
        g.emit(line)


def _g_trapif(g, o):
    c, err = g.get(o.args[0]), g.get(o.args[1])
    g.emit(f"if {c.text}:")
    for line in _trap_lines(g, o.imm, err):
        g.emit("    " + line)


def _g_insn(g, o):
    g.pc = o.imm[0]
    if g.has_labels:
        g.emit(f"pc = {g.param('pc', g.pc)}")
        g.pc_set = g.pc


_GEN = {
    Shape.CONST: _g_const, Shape.BINARY: _g_binary, Shape.UNARY: _g_unary, Shape.CMP: _g_cmp, Shape.CAST: _g_cast,
    Shape.SELECT: _g_select, Shape.GET: _g_get, Shape.PUT: _g_put, Shape.GETL: _g_getl, Shape.PUTL: _g_putl,
    Shape.LOAD: _g_load, Shape.STORE: _g_store, Shape.CALL: _g_call, Shape.BR: _g_br, Shape.BRIF: _g_brif,
    Shape.EXIT: _g_exit, Shape.EXITIF: _g_exitif, Shape.TRAP: _g_trap, Shape.TRAPIF: _g_trapif, Shape.INSN: _g_insn,
    Shape.FBINARY: _g_fp, Shape.FUNARY: _g_fp, Shape.FCAST: _g_fp,
}


def _g_vector(g, o):
    """Vector ops call their exact Python semantics (backends.interp.eval.VECTOR), a parameter of the function."""
    f = g.param(("v", o.op.name), VECTOR[o.op.name])
    args = [g.get(a) for a in o.args]
    g.result(o.dst, E(f"{f}({', '.join(g.intval(a) for a in args)}, {o.imm})", P_ATOM, o.ty.bits, None,
                      _NOREADS.union(*(a.reads for a in args))))


for _s in VECTOR_SHAPES:
    _GEN[_s] = _g_vector

_GEN_OP = {op: _GEN.get(op.shape) for op in OP}     # keyed by the op objects: identity hashing, no Enum hash
_CONST, _GET, _GETL, _PUTL, _LABEL, _INSN, _EXIT = OP.const, OP.get, OP.getl, OP.putl, OP.label, OP.insn, OP.exit
# Op kinds for the scan: values (dropped when unused), puts, other ops that neither exit nor fault, and the rest.
# Floating-point ops read and write the MXCSR slot: for the scan they observe state (no put before them is dead).
_K_VALUE, _K_PUT, _K_PLAIN, _K_LOAD, _K_STORE, _K_CALL, _K_EXIT, _K_LABEL, _K_FP = range(9)
_K_FAULTING = frozenset((_K_LOAD, _K_STORE, _K_CALL))
_KIND = {}
for _op in OP:
    _s = _op.shape
    _KIND[_op] = (_K_VALUE if _op.pure or _s in (Shape.GET, Shape.GETL) else _K_PUT if _s is Shape.PUT
                  else _K_LOAD if _s is Shape.LOAD else _K_STORE if _s is Shape.STORE else _K_CALL if _s is Shape.CALL
                  else _K_LABEL if _s in (Shape.LABEL, Shape.BR, Shape.BRIF) else _K_FP if _op.fpenv
                  else _K_EXIT if _op.exits or _op.terminator else _K_PLAIN)


def generate(unit: Unit, rt) -> tuple[str, list[str], list]:
    """The source of ``def run(state, memory, <params>)`` for ``unit``, the parameter names and their values (the
    second is the fault recorder's place, None here)."""
    return _Gen(unit, rt).source()


class Codegen:
    """Turns units into functions ``run(state, memory)``, sharing compiled code between units of the same text."""

    Unsupported = Unsupported

    def __init__(self, rt):
        self.rt = rt
        self.fault = fault_recorder(rt)
        self.cache: dict[str, types.CodeType] = {}
        self.globals = {"__builtins__": builtins}
        self.compiled = 0           # texts compiled (the rest of the units reused one)

    def function(self, unit: Unit):
        """The unit as a function; raises Unsupported (or KeyError for an unknown helper)."""
        src, _, values = generate(unit, self.rt)
        code = self.cache.get(src)
        if code is None:
            mod = compile(src, f"<pygen {unit.attrs.get('pc', 0):#x}>", "exec")
            code = next(c for c in mod.co_consts if isinstance(c, types.CodeType))
            if len(self.cache) >= _CACHE_MAX:
                self.cache.clear()
            self.cache[src] = code
            self.compiled += 1
        values[1] = self.fault
        return types.FunctionType(code, self.globals, "run", tuple(values))


def compile_unit(unit: Unit, rt):
    """A one-off ``Codegen(rt).function(unit)`` (tests, tools)."""
    return Codegen(rt).function(unit)
