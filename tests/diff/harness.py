"""Differential testing of instruction lifters: our emulator (each backend) against the host CPU and Unicorn.

``check(asm, mode, cases, ...)`` assembles a fragment with keystone, builds register/flag/memory inputs (random with
edge values, or given), runs every case on

- our ``Emulator`` for each requested backend: ONE emulator per (mode, backend) for the whole process, the fragment
  written once at the oracle's code address, so it is translated once and every case only rewrites registers and the
  data area;
- the native oracle (``tests.oracle.native.run_native_batch``, batched: one fork per batch);
- Unicorn (``tests.oracle.unicorn_oracle``), registers and defined flags only (QEMU's undefined flags are its own),
  on the first ``unicorn_cases()`` cases of a form;

and compares every GPR, the flags under the instruction's defined-flags mask, and the memory windows of the data
area (native only). A guest exception must match: #DE is ``GuestFault(vector=0)`` against native SIGFPE with trap
number 0; after a fault in a one-instruction fragment our state must still be the input (precise exceptions).

The memory windows: ``mem_operand`` pins a base register (rbx/ebx unless named) to ``MEM_BASE`` in the data area and
fills ``MEM_WINDOW`` bytes around it with random bytes; a stack window below the default stack pointer is filled too.
Both are compared after every case, and our whole data area must not change outside them.

Mode 16 (real mode) has no native oracle: Unicorn is the only one, at its addresses (``Geometry``); our emulator gets
an IVT whose handlers are HLTs, so an exception stops on the handler of its vector.

Masks: ``flags_defined_mask`` is an int or ``fn(inputs) -> int`` for flags whose definedness depends on the inputs
(shift counts). With ``DBT_DIFF_STRICT_FLAGS=1`` every flag is compared against the host CPU (our undefined flags are
chosen to match Intel hosts).

SSE state: with ``sse=True`` every case also gets random xmm registers (lanes of edge values; xmm0..xmm15 in mode
64, xmm0..xmm7 in mode 32) and MXCSR 0x1F80; our emulator and the native oracle load them, and every xmm register and
MXCSR are compared afterwards (Unicorn is not asked: its oracle adapter knows GPRs only). ``regs``/``cases`` may set
'xmmN' (128-bit ints) and 'mxcsr' themselves.

Speed: the oracles run once per form and their results are kept for the next backend's run of the same form (the
tests are ordered form-major); our data area is rewritten and read through its host buffer in one copy per case.
Environment: ``DBT_DIFF_CASES`` (sweep cases per form, 1000), ``DBT_DIFF_QUICK`` (quick cases, 50),
``DBT_DIFF_UNICORN_CASES`` (1000), ``DBT_DIFF_STRICT_FLAGS``.
"""

from __future__ import annotations

import os
import random

from tests.oracle import native

CF, PF, AF, ZF, SF, DF, OF = 0x1, 0x4, 0x10, 0x40, 0x80, 0x400, 0x800
ARITH = CF | PF | AF | ZF | SF | OF
ALL_FLAGS = native.FLAGS_MASK
NO_FLAGS = DF                           # DF is never changed by the instructions tested here: always compared

REGS = {64: native.REGS64, 32: native.REGS32, 16: native.REGS32}     # mode 16: the full 32-bit registers
XMM = {64: native.XMM_NAMES, 32: native.XMM_NAMES[:8], 16: native.XMM_NAMES[:8]}
SSE_NAMES = frozenset(native.XMM_NAMES) | {"mxcsr"}
SP = {64: "rsp", 32: "esp", 16: "esp"}
DATA, DATA_SIZE = native.data_area(64)
MEM_BASE = DATA + 0x8000
MEM_WINDOW = (-0x100, 0x200)              # (offset from MEM_BASE, size)
STACK_BASE = DATA + native.DEFAULT_SP_OFFSET


class Geometry:
    """Where a mode's fragment, data area, memory operand base and stack live. Modes 32/64 use the native oracle's
    addresses; mode 16 (real mode, Unicorn only) Unicorn's: code at 0x1000, data 0x2000..0xFFFF, segments 0."""

    def __init__(self, mode: int):
        if mode == 16:
            from tests.oracle import unicorn_oracle
            self.data, self.size = unicorn_oracle.data_area(16)
            self.code = unicorn_oracle.code_address(16)
        else:
            self.data, self.size = native.data_area(mode)
            self.code = native.code_address(mode)
        self.mem_base = (self.data + self.size) // 2 & ~0xFFF if mode == 16 else self.data + 0x8000
        self.stack_base = self.data + self.size - 0x100
        self.zero = bytes(self.size)


_GEOMETRY: dict = {}


def geometry(mode: int) -> Geometry:
    g = _GEOMETRY.get(mode)
    if g is None:
        g = _GEOMETRY[mode] = Geometry(mode)
    return g


def mem_base(mode: int) -> int:
    return geometry(mode).mem_base


REAL_MODE_HANDLERS = 0x0E00       # mode 16: IVT entry n -> 0000:(0x0E00 + n), a HLT
STACK_WINDOW = (-0x200, 0x300)            # around the default stack pointer, to the end of the data area
BATCH = 2000
MAX_REPORTED = 6

_SIGNAL_OF_VECTOR = {0: "SIGFPE", 1: "SIGTRAP", 3: "SIGTRAP", 4: "SIGSEGV", 5: "SIGSEGV", 6: "SIGILL",
                     10: "SIGSEGV", 11: "SIGBUS", 12: "SIGBUS", 13: "SIGSEGV", 14: "SIGSEGV", 16: "SIGFPE",
                     17: "SIGBUS"}


def sweep_cases() -> int:
    """Cases per form in the big sweep (``-m diff``): ``DBT_DIFF_CASES``, default 1000."""
    return int(os.environ.get("DBT_DIFF_CASES", "1000"))


def quick_cases() -> int:
    """Cases per form in the default (unmarked) selection: ``DBT_DIFF_QUICK``, default 50."""
    return int(os.environ.get("DBT_DIFF_QUICK", "50"))


def unicorn_cases() -> int:
    """Unicorn, the second opinion, sees the first ``DBT_DIFF_UNICORN_CASES`` cases of a form (default 1000: all
    of them in the sweep); the host CPU sees every case."""
    return int(os.environ.get("DBT_DIFF_UNICORN_CASES", "1000"))


def strict_flags() -> bool:
    return os.environ.get("DBT_DIFF_STRICT_FLAGS", "") not in ("", "0")


# Assembly ----------------------------------------------------------------------------------------------------------

_ks_cache: dict = {}


def assemble(text: str, mode: int, addr: int | None = None) -> bytes:
    import keystone
    ks = _ks_cache.get(mode)
    if ks is None:
        ks = _ks_cache[mode] = keystone.Ks(keystone.KS_ARCH_X86, {16: keystone.KS_MODE_16, 32: keystone.KS_MODE_32,
                                                                   64: keystone.KS_MODE_64}[mode])
    enc, _ = ks.asm(text, geometry(mode).code if addr is None else addr)
    if not enc:
        raise ValueError(f"keystone produced nothing for {text!r}")
    return bytes(enc)


# Inputs --------------------------------------------------------------------------------------------------------------

def edge_value(rng: random.Random, bits: int) -> int:
    """A register value that is often an edge case of some width: 0, 1, -1, sign bits, small counts, patterns."""
    mask = (1 << bits) - 1
    k = rng.random()
    w = rng.choice((8, 16, 32, 64)) if bits == 64 else rng.choice((8, 16, 32))
    wm = (1 << w) - 1
    if k < 0.30:
        return rng.getrandbits(bits)
    if k < 0.40:
        v = rng.choice((0, 1, 2, wm, wm - 1, 1 << (w - 1), (1 << (w - 1)) - 1, (1 << (w - 1)) + 1))
        return (rng.getrandbits(bits) & ~wm | v) & mask if rng.random() < 0.5 else v
    if k < 0.55:
        return (rng.getrandbits(bits) & ~0xFF | rng.randrange(0, 0x48)) & mask   # small shift/bit counts
    if k < 0.65:
        return rng.randrange(0, 0x48)
    if k < 0.75:
        v = rng.getrandbits(w)
        return (v | ~wm) & mask if v >> (w - 1) else v                         # sign-extended narrow value
    if k < 0.85:
        return rng.choice((0, mask, 1 << (bits - 1), ((1 << (bits - 1)) - 1)))
    if k < 0.92:
        return (rng.getrandbits(bits) & rng.getrandbits(bits) & rng.getrandbits(bits)) & mask   # sparse bits
    return (rng.getrandbits(bits) | rng.getrandbits(bits) | rng.getrandbits(bits)) & mask     # dense bits


def xmm_value(rng: random.Random) -> int:
    """A 128-bit register value whose lanes (of a random width) are often edge cases: 0, 1, all ones, sign bits,
    saturation boundaries, small shift counts."""
    k = rng.random()
    if k < 0.25:
        return rng.getrandbits(128)
    if k < 0.3:
        return rng.choice((0, (1 << 128) - 1))
    L = rng.choice((8, 16, 32, 64))
    edges = (0, 1, 2, (1 << L) - 1, (1 << L) - 2, 1 << (L - 1), (1 << (L - 1)) - 1, (1 << (L - 1)) + 1, 0x7F, 0x80,
             0xFF, 0x100, 0x7FFF, 0x8000)
    m = (1 << L) - 1
    r = 0
    for i in range(128 // L):
        v = rng.choice(edges) if rng.random() < 0.6 else rng.getrandbits(L)
        r |= (v & m) << (L * i)
    return r


def random_inputs(rng: random.Random, mode: int) -> dict:
    """Random GPRs (stack pointer left at the oracle's default) and random arithmetic flags + DF."""
    bits = 32 if mode == 16 else mode
    regs = {r: edge_value(rng, bits) for r in REGS[mode] if r not in ("rsp", "esp")}
    regs[SP[mode]] = geometry(mode).stack_base
    regs["flags"] = rng.getrandbits(12) & ALL_FLAGS
    return regs


def _make_case(rng, mode, regs_gen, pin: str | None, fixed: dict | None, sse: bool = False):
    regs = random_inputs(rng, mode)
    if sse:
        regs.update({x: xmm_value(rng) for x in XMM[mode]})
        regs["mxcsr"] = native.MXCSR_DEFAULT
    if pin:
        regs[pin] = geometry(mode).mem_base
    if regs_gen is not None:
        over = regs_gen(rng) if callable(regs_gen) else regs_gen
        for k, v in over.items():
            regs[_canon(k, mode)] = v
    if fixed:
        for k, v in fixed.items():
            regs[_canon(k, mode)] = v
    for k in regs:
        if k != "flags":
            regs[k] &= _width(k, mode)
    regs["flags"] &= ALL_FLAGS
    return regs


_ALIAS = {r64: r32 for r64, r32 in zip(native.REGS64, native.REGS32)}


def _width(name: str, mode: int) -> int:
    """The mask of register ``name``'s value in ``mode``."""
    if name in SSE_NAMES:
        return 0xFFFFFFFF if name == "mxcsr" else (1 << 128) - 1
    return (1 << max(mode, 32)) - 1


def _canon(name: str, mode: int) -> str:
    name = name.lower()
    if name in ("rflags", "eflags", "flags"):
        return "flags"
    if mode != 64 and name in _ALIAS:
        return _ALIAS[name]
    return name


class Mem:
    """The memory windows of one case, editable by a form's ``setup`` hook before the case runs."""

    def __init__(self, rng, mem_window, stack_window, mode: int = 64):
        self.regions = {}
        g = geometry(mode)
        self.base = g.mem_base                  # what the pinned register holds
        for base, (off, size) in ((g.mem_base, mem_window), (g.stack_base, stack_window)):
            if size:
                self.regions[base + off] = bytearray(rng.randbytes(size))

    def _find(self, addr, size):
        for start, buf in self.regions.items():
            if start <= addr and addr + size <= start + len(buf):
                return buf, addr - start
        raise ValueError(f"{addr:#x}+{size} is outside the memory windows")

    def put(self, addr: int, size: int, value: int) -> None:
        buf, off = self._find(addr, size)
        buf[off:off + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")

    def get(self, addr: int, size: int) -> int:
        buf, off = self._find(addr, size)
        return int.from_bytes(buf[off:off + size], "little")

    def frozen(self) -> dict:
        return {a: bytes(b) for a, b in self.regions.items()}


# Our emulator --------------------------------------------------------------------------------------------------------

class Runner:
    """One Emulator per (mode, backend), reused for every case and every fragment."""

    def __init__(self):
        self.emus = {}
        self.code = {}

    def emulator(self, mode: int, backend: str):
        key = (mode, backend)
        emu = self.emus.get(key)
        if emu is None:
            from dbt import Emulator
            emu = Emulator(mode, backend)
            g = geometry(mode)
            if mode == 16:
                # IVT + one HLT per vector below the code: an exception stops on its handler's HLT.
                emu.mem_map(0, g.data, "rwx")
                ivt = b"".join((REAL_MODE_HANDLERS + n).to_bytes(2, "little") + b"\0\0" for n in range(256))
                emu.mem_write(0, ivt)
                emu.mem_write(REAL_MODE_HANDLERS, b"\xf4" * 256)
            else:
                emu.mem_map(g.code & ~0xFFF, 0x2000, "rwx")
            emu.mem_map(g.data, g.size, "rw")
            self.emus[key] = emu
            self.code[key] = b""
        return emu

    @staticmethod
    def data_buffer(emu):
        """The host buffer behind the guest data area (mapped as one region, holding no code): the harness
        rewrites and reads it whole for every case, which mem_write/mem_read would do page by page."""
        g = geometry(emu.mode)
        region, off, _ = emu.engine.mem.pages[g.data // 0x1000]
        assert region.start == g.data and region.size == g.size and off == 0
        return region.buf

    def forget_code(self) -> None:
        """The next fragment is rewritten even if its bytes did not change (its translations are dropped)."""
        for key in self.code:
            self.code[key] = None

    def load(self, mode: int, backend: str, code: bytes):
        emu = self.emulator(mode, backend)
        key = (mode, backend)
        if self.code[key] != code:
            pad = max(0, len(self.code[key] or b"\0" * 0x100) - len(code))
            emu.mem_write(geometry(mode).code, code + b"\xcc" * pad)
            self.code[key] = code
        return emu

    def run(self, mode: int, backend: str, code: bytes, regs: dict, mem: dict, max_insns: int):
        """-> result dict in the oracles' format, plus 'data' (the whole data area after the run)."""
        from dbt import GuestFault, x87
        emu = self.load(mode, backend, code)
        st = emu.engine.state
        g = geometry(mode)
        image = bytearray(g.size)
        for addr, b in mem.items():
            image[addr - g.data:addr - g.data + len(b)] = b
        buf = self.data_buffer(emu)
        buf[:] = image
        for r in native.REGS64:
            st[r] = 0
        for r in native.XMM_NAMES:
            st[r] = 0
        st["mxcsr"] = native.MXCSR_DEFAULT
        # The x87 control/status/tag words as the host's fresh oracle process has them (FNINIT's), whatever an
        # earlier fragment (FLDCW, FXRSTOR, unbalanced pushes) left in this reused emulator.
        st["fcw"], st["fsw"], st["ftw"] = x87.FCW_INIT, x87.FSW_INIT, x87.FTW_INIT
        for k, v in regs.items():
            if k == "flags":
                continue
            if k in SSE_NAMES:
                st[k] = v
                continue
            st[native.REGS64[REGS[mode].index(k)]] = v
        st.unpack_flags(regs["flags"] | 0x202)
        start = g.code
        res = {"regs": None, "mem": None, "exception": None, "vector": None, "fault_addr": None}
        try:
            stop = emu.emu_start(start, until=start + len(code), count=max_insns)
        except GuestFault as e:
            res["exception"] = _SIGNAL_OF_VECTOR.get(e.vector, f"VECTOR_{e.vector}")
            res["vector"] = e.vector
            res["fault_addr"] = e.address
            res["pc"] = e.pc
        else:
            ip = st["rip"]
            if mode == 16 and stop == "hlt" and REAL_MODE_HANDLERS < ip <= REAL_MODE_HANDLERS + 256:
                vector = ip - REAL_MODE_HANDLERS - 1         # delivered through the IVT onto its HLT
                res["exception"] = _SIGNAL_OF_VECTOR.get(vector, f"VECTOR_{vector}")
                res["vector"] = vector
            elif stop != "until":
                res["exception"] = "TIMEOUT" if stop == "count" else f"STOP_{stop}"
        out = {n: st[n64] for n, n64 in zip(REGS[mode], native.REGS64)}
        out["flags"] = st.pack_flags() & ALL_FLAGS
        out.update({x: st[x] for x in XMM[mode]})
        out["mxcsr"] = st["mxcsr"]
        res["state"] = out
        res["upper"] = {r: st[r] >> 32 for r in native.REGS64[:8]} if mode == 32 else {}
        if res["exception"] is None:
            res["regs"] = out
        res["data"] = buf[:]
        res["mem"] = {a: res["data"][a - g.data:a - g.data + len(b)] for a, b in mem.items()}
        return res


_RUNNER = Runner()


def runner() -> Runner:
    return _RUNNER


def have_backend(name: str) -> bool:
    if name == "interp":
        return True
    try:
        import backends.llvm  # noqa: F401
        from dbt import Emulator
        Emulator(64, name)
    except Exception:   # noqa: BLE001 (not there yet, or does not build here)
        return False
    return True


# Comparison ----------------------------------------------------------------------------------------------------------

def _fmt_flags(v: int) -> str:
    names = [n for n, b in (("CF", CF), ("PF", PF), ("AF", AF), ("ZF", ZF), ("SF", SF), ("DF", DF), ("OF", OF))
             if v & b]
    return f"{v:#05x}[{' '.join(names) or '-'}]"


def _fmt_regs(regs: dict, mode: int, only=None) -> str:
    w = mode // 4
    parts = []
    for k in REGS[mode]:
        if k in regs and (only is None or k in only):
            parts.append(f"{k}={regs[k]:0{w}x}")
    for k in XMM[mode] + ("mxcsr",):
        if k in regs and (only is None or k in only):
            parts.append(f"{k}={regs[k]:0{32 if k != 'mxcsr' else 4}x}")
    if "flags" in regs and (only is None or "flags" in only):
        parts.append(f"flags={_fmt_flags(regs['flags'])}")
    return " ".join(parts)


def compare(mode, inputs, ours, ref, mask, oracle: str, compare_mem: bool):
    """List of difference lines between our result and an oracle's (empty when they agree)."""
    diffs = []
    exp_exc = ref.get("exception")
    if oracle == "unicorn" and exp_exc is not None:
        from tests.oracle.unicorn_oracle import expected_signal
        exp_exc = expected_signal(ref)
    got_exc = ours.get("exception")
    if exp_exc != got_exc:
        diffs.append(f"exception: expected {exp_exc} (vector {ref.get('vector')}), got {got_exc} "
                     f"(vector {ours.get('vector')})")
        return diffs
    if exp_exc is not None:
        if oracle == "native" and ref.get("vector") is not None and ref["vector"] != ours.get("vector"):
            diffs.append(f"exception vector: expected {ref['vector']}, got {ours.get('vector')}")
        return diffs
    exp, got = ref["regs"], ours["regs"]
    for r in REGS[mode]:
        if exp[r] != got[r]:
            diffs.append(f"{r}: expected {exp[r]:#x}, got {got[r]:#x}")
    for r in XMM[mode] + ("mxcsr",):
        if r in exp and exp[r] != got[r]:
            diffs.append(f"{r}: expected {exp[r]:#034x}, got {got[r]:#034x}")
    ef = exp.get("rflags", exp.get("eflags", exp.get("flags"))) & mask
    gf = got["flags"] & mask
    if ef != gf:
        diffs.append(f"flags (mask {mask:#x}): expected {_fmt_flags(ef)}, got {_fmt_flags(gf)} "
                     f"(differ: {_fmt_flags(ef ^ gf)})")
    if compare_mem:
        for addr, b in ref["mem"].items():
            g = ours["mem"].get(addr)
            if g != b:
                i = next(k for k in range(len(b)) if b[k] != g[k])
                diffs.append(f"memory at {addr + i:#x}: expected {b[i:i + 16].hex()}, got {g[i:i + 16].hex()}")
    for r, v in ours.get("upper", {}).items():
        if v:
            diffs.append(f"mode 32: upper half of {r} became {v:#x}")
    return diffs


def _stray_writes(ours, mem: dict, mode: int) -> list:
    """Our data area must be untouched outside the compared windows."""
    g = geometry(mode)
    data = bytearray(ours["data"])
    for addr, b in mem.items():
        data[addr - g.data:addr - g.data + len(b)] = bytes(len(b))
    if data != g.zero:
        i = next(k for k, x in enumerate(data) if x)
        return [f"memory outside the compared windows changed at {g.data + i:#x}: {bytes(data[i:i + 16]).hex()}"]
    return []


class Mismatch(AssertionError):
    pass


_ORACLE_CACHE: dict = {}
LAST_STATS: dict = {}          # cases and faulting cases of the last check() (for tests that want a mix)


def check(asm_or_bytes, mode: int, cases=None, *, regs=None, mem_operand=False, flags_defined_mask=ALL_FLAGS,
          backends=("interp", "llvm"), oracles=("native", "unicorn"), seed=None, mem_window=None,
          stack_window=STACK_WINDOW, fixed=None, max_insns=10000, check_precise=None, unicorn_ok=None, setup=None,
          strict=None, sse=False):
    """Runs one fragment on every case and compares (see the module docstring). Returns the number of cases.

    cases: a count of random cases (default ``quick_cases()``) or a list of input dicts (register name -> value,
    'flags'; missing registers are random). regs: ``fn(rng) -> dict`` or a dict applied over the random inputs.
    mem_operand: True (rbx/ebx) or a register name: that register holds ``MEM_BASE`` and the window around it is
    random. flags_defined_mask: int or ``fn(inputs) -> int``. unicorn_ok: ``fn(inputs, mem) -> bool`` for cases whose
    result Unicorn models (architecturally undefined results are compared with the host only). setup:
    ``fn(rng, regs, mem)`` edits a case's registers and memory windows (``Mem``) after they are generated.
    strict: compare every flag with the host CPU (default: ``DBT_DIFF_STRICT_FLAGS``); Unicorn is then skipped.
    sse: random xmm registers and MXCSR in every case, compared afterwards (native oracle only)."""
    if isinstance(asm_or_bytes, str):
        code, text = assemble(asm_or_bytes, mode), asm_or_bytes
    else:
        code, text = bytes(asm_or_bytes), bytes(asm_or_bytes).hex()
    rng = random.Random(f"{seed}/{text}/{mode}" if seed is None or isinstance(seed, (int, str)) else seed)
    pin = None
    if mem_operand:
        pin = _canon(mem_operand if isinstance(mem_operand, str) else "rbx", mode)
    if mem_window is None:
        mem_window = MEM_WINDOW if mem_operand else (0, 0)
    if cases is None:
        cases = quick_cases()
    if isinstance(cases, int):
        inputs = [_make_case(rng, mode, regs, pin, fixed, sse) for _ in range(cases)]
    else:
        inputs = []
        for c in cases:
            r = _make_case(rng, mode, None, pin, fixed, sse)
            for k, v in c.items():
                r[_canon(k, mode)] = v & (ALL_FLAGS if _canon(k, mode) == "flags" else _width(_canon(k, mode), mode))
            inputs.append(r)
    mems = []
    for r in inputs:
        m = Mem(rng, mem_window, stack_window, mode)
        if setup is not None:
            setup(rng, r, m)
        mems.append(m.frozen())
    if check_precise is None:
        check_precise = mode != 16 and _single_insn(code, mode)     # mode 16: delivered through the IVT
    if mode == 16:
        oracles = tuple(o for o in oracles if o != "native")         # no native real mode
    if any(k in SSE_NAMES for k in inputs[0]):
        oracles = tuple(o for o in oracles if o == "native")         # the Unicorn adapter knows GPRs only
    if strict is None:
        strict = strict_flags()

    oracle_cases = [(code, mode, _oracle_regs(r), m) for r, m in zip(inputs, mems)]
    use = tuple(o for o in oracles if o == "native" or not strict or mode == 16)
    # The tests run each form once per backend, one after the other: the oracles' results are kept for the next.
    key = (code, mode, use, len(inputs), repr(inputs[:2]), repr(inputs[-1:]), repr(mems[:1]))
    refs = _ORACLE_CACHE.get(key)
    if refs is None:
        refs = {}
        if "native" in use:
            refs["native"] = []
            for i in range(0, len(oracle_cases), BATCH):
                refs["native"] += native.run_native_batch(oracle_cases[i:i + BATCH])
        if "unicorn" in use:
            from tests.oracle import unicorn_oracle
            refs["unicorn"] = unicorn_oracle.run_batch(oracle_cases[:unicorn_cases()])
        _ORACLE_CACHE.clear()
        _ORACLE_CACHE[key] = refs

    failures = []
    nfail = 0
    faults = 0
    for backend in backends:
        for i, (inp, mem) in enumerate(zip(inputs, mems)):
            ours = _RUNNER.run(mode, backend, code, inp, mem, max_insns)
            faults += ours["exception"] is not None
            mask = flags_defined_mask(inp) if callable(flags_defined_mask) else flags_defined_mask
            diffs_all = []
            for oracle, results in refs.items():
                if i >= len(results):
                    continue
                if oracle == "unicorn" and unicorn_ok is not None and not unicorn_ok(inp, mem):
                    continue
                m = mask | DF
                if strict and oracle == "native":
                    m = ALL_FLAGS
                d = compare(mode, inp, ours, results[i], m, oracle, compare_mem=oracle == "native")
                if d:
                    diffs_all.append((oracle, results[i], d))
            extra = _stray_writes(ours, mem, mode)
            if ours["exception"] is not None and check_precise:
                extra += _precise(mode, inp, ours, mem)
            if extra:
                diffs_all.append(("self-check", None, extra))
            if diffs_all:
                nfail += 1
                if len(failures) < MAX_REPORTED:
                    failures.append(_report(text, mode, backend, inp, ours, diffs_all, mask))
    if failures:
        total = len(inputs) * len(backends)
        raise Mismatch(f"{nfail} of {total} cases differ for {text!r} in mode {mode}:\n\n" + "\n\n".join(failures))
    LAST_STATS.update(cases=len(inputs) * len(backends), faults=faults)
    return len(inputs)


def _oracle_regs(inp: dict) -> dict:
    r = dict(inp)
    r["rflags" if "rax" in r else "eflags"] = r.pop("flags")
    return r


def _single_insn(code: bytes, mode: int) -> bool:
    from dbt.decode import Decoder
    ins = Decoder(mode).decode(code)
    return ins.valid and ins.length == len(code)


def _precise(mode, inp, ours, mem) -> list:
    """After a fault in a one-instruction fragment, every register, flag and memory byte must be as before it."""
    diffs = []
    for addr, b in mem.items():
        if ours["mem"][addr] != b:
            i = next(k for k in range(len(b)) if b[k] != ours["mem"][addr][k])
            diffs.append(f"after the fault memory at {addr + i:#x} changed (state not precise)")
    st = ours["state"]
    for r in REGS[mode]:
        if st[r] != inp[r]:
            diffs.append(f"after the fault {r} = {st[r]:#x}, was {inp[r]:#x} (state not precise)")
    for r in XMM[mode] + ("mxcsr",):
        if r in inp and st[r] != inp[r]:
            diffs.append(f"after the fault {r} = {st[r]:#x}, was {inp[r]:#x} (state not precise)")
    if st["flags"] != inp["flags"]:
        diffs.append(f"after the fault flags = {_fmt_flags(st['flags'])}, were {_fmt_flags(inp['flags'])}")
    if ours.get("pc") != geometry(mode).code:
        diffs.append(f"fault reported at pc {ours.get('pc'):#x}, expected {geometry(mode).code:#x}")
    return diffs


def _report(text, mode, backend, inp, ours, diffs_all, mask) -> str:
    lines = [f"[{backend}] {text!r} (mode {mode}, defined flags {_fmt_flags(mask)})",
             f"  input:    {_fmt_regs(inp, mode)}"]
    for oracle, ref, d in diffs_all:
        if ref is not None and ref.get("regs"):
            exp = dict(ref["regs"])
            exp["flags"] = exp.pop("rflags", exp.pop("eflags", 0))
            changed = {k for k in exp if inp.get(k) != exp.get(k) or ours["state"].get(k) != exp.get(k)}
            lines.append(f"  {oracle:8}: {_fmt_regs(exp, mode, changed) or '(no register changed)'}")
            lines.append(f"  ours    : {_fmt_regs(ours['state'], mode, changed) or '(no register changed)'}")
        else:
            lines.append(f"  ours    : {_fmt_regs(ours['state'], mode)}")
        if ours["exception"]:
            lines.append(f"  ours raised {ours['exception']} (vector {ours['vector']})")
        for x in d:
            lines.append(f"    {oracle}: {x}")
    return "\n".join(lines)



# Test generation -----------------------------------------------------------------------------------------------------

class Form:
    """One instruction form in one mode: the fragment and its ``check`` options."""

    def __init__(self, mode: int, asm, **kw):
        self.mode, self.asm, self.kw = mode, asm, kw
        text = asm if isinstance(asm, str) else asm.hex()
        self.id = f"m{mode}-" + " ".join(text.replace("ptr ", "").split()).replace(" ", "_")

    def run(self, backend: str, cases: int) -> int:
        return check(self.asm, self.mode, cases, backends=(backend,), **self.kw)

    def __repr__(self) -> str:
        return self.id


BACKENDS = ("interp", "llvm")
_backend_ok: dict = {}


def require_backend(backend: str) -> None:
    import pytest
    ok = _backend_ok.get(backend)
    if ok is None:
        ok = _backend_ok[backend] = have_backend(backend)
    if not ok:
        pytest.skip(f"backend {backend!r} is not available")


def make_tests(forms):
    """(test_quick, test_sweep) pytest functions over ``forms`` x backends: the quick one runs by default with
    ``quick_cases()`` cases per form, the sweep (marked ``diff``) with ``sweep_cases()``."""
    import pytest
    ids = [f.id for f in forms]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise ValueError(f"duplicate forms: {sorted(dup)}")

    @pytest.mark.parametrize("backend", BACKENDS)
    @pytest.mark.parametrize("form", forms, ids=ids)
    def test_quick(form, backend):
        require_backend(backend)
        form.run(backend, quick_cases())

    @pytest.mark.diff
    @pytest.mark.parametrize("backend", BACKENDS)
    @pytest.mark.parametrize("form", forms, ids=ids)
    def test_sweep(form, backend):
        require_backend(backend)
        form.run(backend, sweep_cases())

    return test_quick, test_sweep


# Operand helpers for the test tables ---------------------------------------------------------------------------------

WIDTHS = {32: (8, 16, 32), 64: (8, 16, 32, 64)}
def reg(mode: int, width: int, index: int) -> str:
    """Register ``index`` (0 = rax) at ``width`` bits, as keystone spells it (8-bit 4..7 are ah..bh in mode 32 and
    spl..dil in mode 64)."""
    legacy = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"]
    if index >= 8:
        return f"r{index}" + {8: "b", 16: "w", 32: "d", 64: ""}[width]
    if width == 64:
        return "r" + legacy[index]
    if width == 32:
        return "e" + legacy[index]
    if width == 16:
        return legacy[index]
    if index < 4:
        return legacy[index][0] + "l"
    if mode != 64:
        return "acdb"[index - 4] + "h"
    return legacy[index] + "l"


PTR = {8: "byte", 16: "word", 32: "dword", 64: "qword", 128: "xmmword"}


def mem(mode: int, width: int, disp: int = 0, index: str | None = None, scale: int = 1) -> str:
    """A memory operand based on the pinned register (rbx/ebx/bx = the mode's memory base)."""
    base = {64: "rbx", 32: "ebx", 16: "bx"}[mode]
    s = f"{PTR[width]} ptr [{base}"
    if index:
        s += f" + {index}*{scale}"
    if disp:
        s += f" {'+' if disp > 0 else '-'} {abs(disp):#x}"
    return s + "]"


def host_vendor() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""
