"""Floating point in native code: the IR's fp ops as LLVM constrained intrinsics, and the host MXCSR as the guest's.

While native code runs, the host MXCSR *is* the guest's (state field ``mxcsr``, SSE layout), so the host SSE unit
computes every value and sticky flag exactly as the guest CPU would:
- ``dbt_enter`` (the trampoline Python calls native code through) loads it from the state on entry and stores it back
  on return, and gives the host its own MXCSR back;
- around every call from native code to Python (helpers, memory slow paths) the unit stores it into the state, runs
  the callee under the host default 0x1F80, and reloads it from the state afterwards (the callee may change it);
- ``get``/``put`` of the field read/write the host register (``stmxcsr``/``ldmxcsr``).
The host always runs with every exception masked (the mask bits are forced to 1 in the register); the guest's mask
bits live in the state slot and are merged back on every read. Unmasked guest exceptions are not supported (see
``ir.fpops``): the host never traps.

Ops: fadd fsub fmul fdiv fsqrt fcvt sitof use ``llvm.experimental.constrained.*`` with ``round.dynamic`` and
``fpexcept.strict`` in ``strictfp`` functions, so LLVM neither folds, reorders nor drops them; fcmpq/fcmps use the
constrained quiet/signaling compares. The conversions to integer (rounding by MXCSR.RC, and truncating) and fround
have no constrained intrinsic with x86's defined out-of-range result (the integer indefinite), and fmin/fmax none
with x86's NaN and zero rules, so they are
``sideeffect`` inline asm of the SSE instruction itself (CVTSD2SI, CVTTSD2SI, MINSD, MAXSD, ROUNDSD with imm 4: SSE4.1, needed
on the host only when a unit has fround).
"""

from __future__ import annotations

MASKS = 0x1F80
HOST_DEFAULT = 0x1F80
CONSTRAINED = '@llvm.experimental.constrained'
_FT = {32: "float", 64: "double"}
_SFX = {32: "f32", 64: "f64"}
_STRICT = 'metadata !"fpexcept.strict"'
_DYN = 'metadata !"round.dynamic"'

DECLARATIONS = "\n".join(
    ["declare void @llvm.x86.sse.stmxcsr(ptr)", "declare void @llvm.x86.sse.ldmxcsr(ptr)"]
    + [f"declare {t} {CONSTRAINED}.{op}.{s}({t}, {t}, metadata, metadata)"
       for op in ("fadd", "fsub", "fmul", "fdiv") for t, s in (("float", "f32"), ("double", "f64"))]
    + [f"declare {t} {CONSTRAINED}.sqrt.{s}({t}, metadata, metadata)" for t, s in (("float", "f32"), ("double", "f64"))]
    + [f"declare i1 {CONSTRAINED}.{op}.{s}({t}, {t}, metadata, metadata)"
       for op in ("fcmp", "fcmps") for t, s in (("float", "f32"), ("double", "f64"))]
    + [f"declare double {CONSTRAINED}.fpext.f64.f32(float, metadata)",
       f"declare float {CONSTRAINED}.fptrunc.f32.f64(double, metadata, metadata)"]
    + [f"declare {t} {CONSTRAINED}.sitofp.{s}.i{b}(i{b}, metadata, metadata)"
       for t, s in (("float", "f32"), ("double", "f64")) for b in (32, 64)]
) + "\n"

# Python enters native code through this: fn(st, env) runs with the guest's MXCSR in the host register.
TRAMPOLINE = """
define i64 @dbt_enter(ptr %fn, ptr %st, ptr %env) nounwind {{
entry:
  %save = alloca i32
  %mx = alloca i32
  call void @llvm.x86.sse.stmxcsr(ptr %save)
  %sp = getelementptr i8, ptr %st, i64 {mxcsr}
  %s = load i32, ptr %sp
  %s1 = or i32 %s, {masks}
  %s2 = and i32 %s1, 65535
  store i32 %s2, ptr %mx
  call void @llvm.x86.sse.ldmxcsr(ptr %mx)
  %r = call preserve_nonecc i64 %fn(ptr %st, ptr %env)
  call void @llvm.x86.sse.stmxcsr(ptr %mx)
  %h = load i32, ptr %mx
  %hm = and i32 %h, {notmasks}
  %g = load i32, ptr %sp
  %gm = and i32 %g, {masks}
  %n = or i32 %hm, %gm
  store i32 %n, ptr %sp
  call void @llvm.x86.sse.ldmxcsr(ptr %save)
  ret i64 %r
}}
"""


def slow_path_stubs(mxcsr_offset: int | None) -> str:
    """``dbt_load_stub(st, env, addr, size)`` and ``dbt_store_stub(st, env, addr, size, value)``: the memory slow
    paths as units call them, one shared copy instead of the same code at every access. Each hands the guest MXCSR
    to the state and runs the Python callback (env words 1 and 2) under the host default, then loads the guest's
    back (when the layout has mxcsr). ``preserve_most``: the calling unit keeps its registers across the call
    without saving them itself, which keeps the spills in this cold code and out of the unit."""
    save = restore = ""
    if mxcsr_offset is not None:        # the units' own hand-over code (FPEnvCodegen), emitted as text here
        e = _StubText(mxcsr_offset)
        e.emit("%mxtmp = alloca i32")
        e.host_to_state()
        save = e.take()
        e.state_to_host()
        restore = e.take()
    return f"""
define preserve_mostcc i64 @dbt_load_stub(ptr %st, ptr %env, i64 %addr, i32 %size) nounwind {{
entry:
{save}  %fp = getelementptr i8, ptr %env, i64 8
  %fn = load ptr, ptr %fp
  %r = call i64 %fn(ptr %st, i64 %addr, i32 %size)
{restore}  ret i64 %r
}}

define preserve_mostcc void @dbt_store_stub(ptr %st, ptr %env, i64 %addr, i32 %size, i64 %value) nounwind {{
entry:
{save}  %fp = getelementptr i8, ptr %env, i64 16
  %fn = load ptr, ptr %fp
  call void %fn(ptr %st, i64 %addr, i32 %size, i64 %value)
{restore}  ret void
}}
"""


def trampoline(mxcsr_offset: int) -> str:
    return TRAMPOLINE.format(mxcsr=mxcsr_offset, masks=MASKS, notmasks=~MASKS & 0xFFFFFFFF)


class FPEnvCodegen:
    """The fp parts of one unit's code (mixed into UnitCodegen): needs ``emit``, ``t``, ``v``, ``ty``, ``lay``."""

    def fp_field_ptr(self) -> str:
        return self.field_ptr(self.lay.off["mxcsr"])

    def host_to_state(self) -> None:
        """Before a call into Python: host MXCSR -> state (keeping the state's mask bits); host default loaded."""
        if "mxcsr" not in self.lay.off:
            return
        h, hm, g, gm, n = (self.t() for _ in range(5))
        self.emit("call void @llvm.x86.sse.stmxcsr(ptr %mxtmp)")
        self.emit(f"{h} = load i32, ptr %mxtmp")
        p = self.fp_field_ptr()
        self.emit(f"{hm} = and i32 {h}, {~MASKS & 0xFFFFFFFF}")
        self.emit(f"{g} = load i32, ptr {p}")
        self.emit(f"{gm} = and i32 {g}, {MASKS}")
        self.emit(f"{n} = or i32 {hm}, {gm}")
        self.emit(f"store i32 {n}, ptr {p}")
        self.emit(f"store i32 {HOST_DEFAULT}, ptr %mxtmp")
        self.emit("call void @llvm.x86.sse.ldmxcsr(ptr %mxtmp)")

    def state_to_host(self) -> None:
        """After a call into Python: state -> host MXCSR (masks forced on)."""
        if "mxcsr" not in self.lay.off:
            return
        p = self.fp_field_ptr()
        g, g1 = self.t(), self.t()
        self.emit(f"{g} = load i32, ptr {p}")
        self.emit(f"{g1} = or i32 {g}, {MASKS}")
        self.ldmxcsr(g1)

    def ldmxcsr(self, value: str) -> None:
        m = self.t()
        self.emit(f"{m} = and i32 {value}, 65535")
        self.emit(f"store i32 {m}, ptr %mxtmp")
        self.emit("call void @llvm.x86.sse.ldmxcsr(ptr %mxtmp)")

    def get_mxcsr(self, dst: str) -> None:
        h, hm, g, gm = (self.t() for _ in range(4))
        self.emit("call void @llvm.x86.sse.stmxcsr(ptr %mxtmp)")
        self.emit(f"{h} = load i32, ptr %mxtmp")
        p = self.fp_field_ptr()
        self.emit(f"{hm} = and i32 {h}, {~MASKS & 0xFFFFFFFF}")
        self.emit(f"{g} = load i32, ptr {p}")
        self.emit(f"{gm} = and i32 {g}, {MASKS}")
        self.emit(f"{dst} = or i32 {hm}, {gm}")

    def put_mxcsr(self, value: str) -> None:
        p = self.fp_field_ptr()
        self.emit(f"store i32 {value}, ptr {p}")
        v1 = self.t()
        self.emit(f"{v1} = or i32 {value}, {MASKS}")
        self.ldmxcsr(v1)

    def as_float(self, n: int) -> str:
        bits = self.ty(n).bits
        f = self.t()
        self.emit(f"{f} = bitcast i{bits} {self.v(n)} to {_FT[bits]}")
        return f

    def from_float(self, f: str, bits: int, dst: str) -> None:
        self.emit(f"{dst} = bitcast {_FT[bits]} {f} to i{bits}")


def _arith(g, o):
    bits = o.ty.bits
    t, s = _FT[bits], _SFX[bits]
    a, b = g.as_float(o.args[0]), g.as_float(o.args[1])
    r = g.t()
    g.emit(f"{r} = call {t} {CONSTRAINED}.{o.op.name}.{s}({t} {a}, {t} {b}, {_DYN}, {_STRICT}) strictfp")
    g.from_float(r, bits, g.v(o.dst))


def _fcmp(g, o):
    bits = o.ty.bits
    t, s = _FT[bits], _SFX[bits]
    fn = "fcmps" if o.op.name == "fcmps" else "fcmp"
    a, b = g.as_float(o.args[0]), g.as_float(o.args[1])
    rel = {}
    for pred in ("uno", "olt", "oeq"):
        rel[pred] = g.t()
        g.emit(f'{rel[pred]} = call i1 {CONSTRAINED}.{fn}.{s}({t} {a}, {t} {b}, metadata !"{pred}", {_STRICT}) '
               "strictfp")
    r1, r2 = g.t(), g.t()
    it = f"i{bits}"
    g.emit(f"{r1} = select i1 {rel['oeq']}, {it} 1, {it} 2")
    g.emit(f"{r2} = select i1 {rel['olt']}, {it} 0, {it} {r1}")
    g.emit(f"{g.v(o.dst)} = select i1 {rel['uno']}, {it} 3, {it} {r2}")


def _minmax(g, o):
    """MINSx/MAXSx as inline asm: LLVM's minnum/maximum have other NaN and signed-zero rules than x86 (the second
    operand when either is a NaN or both are zeros), and there is no constrained form of x86's."""
    bits = o.ty.bits
    a, b = g.as_float(o.args[0]), g.as_float(o.args[1])
    r = g.t()
    insn = o.op.name[1:] + ("ss" if bits == 32 else "sd")
    g.emit(f'{r} = call {_FT[bits]} asm sideeffect "{insn} $2, $0", "=x,0,x,~{{dirflag}},~{{fpsr}},~{{flags}}"'
           f"({_FT[bits]} {a}, {_FT[bits]} {b})")
    g.from_float(r, bits, g.v(o.dst))


def _sqrt(g, o):
    bits = o.ty.bits
    t, s = _FT[bits], _SFX[bits]
    a = g.as_float(o.args[0])
    r = g.t()
    g.emit(f"{r} = call {t} {CONSTRAINED}.sqrt.{s}({t} {a}, {_DYN}, {_STRICT}) strictfp")
    g.from_float(r, bits, g.v(o.dst))


def _fround(g, o):
    bits = o.ty.bits
    a = g.as_float(o.args[0])
    r = g.t()
    # ROUNDSS/ROUNDSD xmm0, xmm0, 4 as bytes: the JIT's target machine is baseline x86-64, whose assembler refuses
    # SSE4.1 mnemonics (the host must have SSE4.1, as the guest that issued ROUNDSx expects).
    code = "0x66,0x0f,0x3a," + ("0x0a" if bits == 32 else "0x0b") + ",0xc0,0x04"
    g.emit(f'{r} = call {_FT[bits]} asm sideeffect ".byte {code}", "={{xmm0}},{{xmm0}},~{{dirflag}},~{{fpsr}},'
           f'~{{flags}}"({_FT[bits]} {a})')
    g.from_float(r, bits, g.v(o.dst))


def _fcvt(g, o):
    src = g.ty(o.args[0]).bits
    a = g.as_float(o.args[0])
    r = g.t()
    if src == 32:
        g.emit(f"{r} = call double {CONSTRAINED}.fpext.f64.f32(float {a}, {_STRICT}) strictfp")
    else:
        g.emit(f"{r} = call float {CONSTRAINED}.fptrunc.f32.f64(double {a}, {_DYN}, {_STRICT}) strictfp")
    g.from_float(r, o.ty.bits, g.v(o.dst))


def _sitof(g, o):
    src, bits = g.ty(o.args[0]).bits, o.ty.bits
    r = g.t()
    g.emit(f"{r} = call {_FT[bits]} {CONSTRAINED}.sitofp.{_SFX[bits]}.i{src}(i{src} {g.v(o.args[0])}, {_DYN}, "
           f"{_STRICT}) strictfp")
    g.from_float(r, bits, g.v(o.dst))


def _ftosi(g, o):
    src, bits = g.ty(o.args[0]).bits, o.ty.bits
    a = g.as_float(o.args[0])
    insn = ("cvtt" if o.op.name == "ftosit" else "cvt") + ("ss2si" if src == 32 else "sd2si")
    g.emit(f'{g.v(o.dst)} = call i{bits} asm sideeffect "{insn} $1, $0", "=r,x,~{{dirflag}},~{{fpsr}},~{{flags}}"'
           f"({_FT[src]} {a})")


GEN = {"fadd": _arith, "fsub": _arith, "fmul": _arith, "fdiv": _arith, "fcmpq": _fcmp, "fcmps": _fcmp,
       "fmin": _minmax, "fmax": _minmax, "fsqrt": _sqrt, "fround": _fround, "fcvt": _fcvt, "sitof": _sitof, "ftosi": _ftosi, "ftosit": _ftosi}


def gen_fp(g, o) -> None:
    if "mxcsr" not in g.lay.off:
        raise NotImplementedError(f"{o.op.name}: this LLVM backend was built without the fp environment (fpenv=False)")
    GEN[o.op.name](g, o)



class _StubText(FPEnvCodegen):
    """Just enough of a unit's code generator for FPEnvCodegen's MXCSR hand-over, in a function whose state pointer
    is ``%st`` (the slow-path stubs)."""

    def __init__(self, mxcsr_offset: int):
        self.lay = type("Lay", (), {"off": {"mxcsr": mxcsr_offset}})
        self.lines: list[str] = []
        self.tmp = 0

    def t(self) -> str:
        self.tmp += 1
        return f"%s{self.tmp}"

    def emit(self, line: str) -> None:
        self.lines.append("  " + line)

    def field_ptr(self, off: int) -> str:
        p = self.t()
        self.emit(f"{p} = getelementptr i8, ptr %st, i64 {off}")
        return p

    def take(self) -> str:
        text, self.lines = "".join(line + "\n" for line in self.lines), []
        return text
