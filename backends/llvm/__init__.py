"""The LLVM backend: units compiled to native code with llvmlite (MCJIT), run by a native dispatcher.

Pieces:
- ``codegen`` turns a unit into LLVM IR text; a batch of units becomes one module, optimized and compiled at once.
- The *environment* (``env``) is a small array of words the generated code reads: the software TLB, the slow-path
  callbacks, the dispatcher, the helper table and the dispatch hash table.
- The *dispatcher* is native code: it hashes the guest pc (cs_base + rip, with the mode flags ``tbflags`` above
  bit 48) into an open-addressing table of
  (pc, function) pairs and tail-calls the unit, or returns to Python on a miss. Units chain to each other directly:
  each constant exit has a slot that points at the target unit's code once it exists (else at the dispatcher), so hot
  loops run without leaving native code.
- Python is entered only for a dispatch miss, a TLB miss or fault (``load_slow``/``store_slow``), a helper call, or
  when the instruction budget runs out.

This module knows the state only through ``RuntimeInfo`` offsets; it knows nothing about x86.

Profiling: with ``DBT_PERF_MAP=1`` in the environment, every compiled unit is listed in ``/tmp/perf-PID.map`` (the
file ``perf report`` reads to name JIT code) as ``dbt_<guest pc>``, so ``perf record`` attributes host time to guest
code. Sizes are the distance to the next function of the same module (MCJIT does not report them).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import inspect
import itertools
import os

import llvmlite.binding as llvm

from backends.llvm.codegen import MODULE_HEADER, Layout, declarations_for, gen_unit, has_loop
from backends.llvm.fpenv import DECLARATIONS as FP_DECLARATIONS
from backends.llvm.fpenv import slow_path_stubs, trampoline

ENV_WORDS = 8
# The passes run on straight-line units (no loop) instead of LLVM's opt-1 pipeline: guest state out of allocas
# into SSA, then folding and clean-up. Measured on the process benchmarks: a third of the pass time, the same code
# speed for such units (loops lose up to 25% without opt 1, so they keep it).
LIGHT_PIPELINE = ("sroa", "instruction_combine", "simplify_cfg", "dead_code_elimination")
SLOT_CHUNK = 4096
ENV_TABLE, ENV_MASK = 5, 6          # words of env (codegen.ENV_TABLE / ENV_MASK are their byte offsets)
EMPTY, TOMB = (1 << 64) - 1, (1 << 64) - 2

LOAD_SLOW = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32)
STORE_SLOW = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_uint64)
HELPER = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64,
                          ctypes.c_uint64)
ENTER = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)   # dbt_enter(fn, st, env)

_initialized = False


def _init_llvm():
    global _initialized
    if not _initialized:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        llvm.initialize_native_asmparser()      # inline asm (backends.llvm.fpenv)
        lib = ctypes.util.find_library("gcc_s")
        if lib:
            llvm.load_library_permanently(lib)   # __udivti3 & co. for i128 division
        _initialized = True


def _table_key(key) -> int:
    """The dispatch table's key of an engine key (linear pc, tbflags): the mode flags sit above bit 48."""
    return (key[0] + (key[1] << 48)) & ((1 << 64) - 1)


def _hash(pc: int, mask: int) -> int:
    return (pc ^ (pc >> 15)) & mask


DISPATCHER = """
define preserve_nonecc i64 @dbt_dispatch(ptr %st, ptr %env) nounwind {{
entry:
  %ripp = getelementptr i8, ptr %st, i64 {rip}
  %rip = load i64, ptr %ripp
  %csbp = getelementptr i8, ptr %st, i64 {cs_base}
  %csb = load i64, ptr %csbp
  %pc0 = add i64 %rip, %csb
  %tbp = getelementptr i8, ptr %st, i64 {tbflags}
  %tb32 = load i32, ptr %tbp
  %tb = zext i32 %tb32 to i64
  %tbs = shl i64 %tb, 48
  %pc = add i64 %pc0, %tbs
  %tabpp = getelementptr i64, ptr %env, i64 {table}
  %tab = load ptr, ptr %tabpp
  %maskp = getelementptr i64, ptr %env, i64 {mask}
  %mask = load i64, ptr %maskp
  %sh = lshr i64 %pc, 15
  %hx = xor i64 %pc, %sh
  %h = and i64 %hx, %mask
  br label %probe
probe:
  %i = phi i64 [ %h, %entry ], [ %inext, %next ]
  %e = getelementptr [2 x i64], ptr %tab, i64 %i
  %k = load i64, ptr %e
  %hit = icmp eq i64 %k, %pc
  br i1 %hit, label %found, label %other
found:
  %fpp = getelementptr i64, ptr %e, i64 1
  %fn = load ptr, ptr %fpp
  %r = musttail call preserve_nonecc i64 %fn(ptr %st, ptr %env)
  ret i64 %r
other:
  %empty = icmp eq i64 %k, -1
  br i1 %empty, label %miss, label %next
next:
  %i1 = add i64 %i, 1
  %inext = and i64 %i1, %mask
  br label %probe
miss:
  ret i64 1
}}
"""


# Python's way into native code (C convention) when no MXCSR trampoline is needed: units are preserve_none functions.
ENTRY_TRAMPOLINE = """
define i64 @dbt_enter(ptr %fn, ptr %st, ptr %env) nounwind {
entry:
  %r = call preserve_nonecc i64 %fn(ptr %st, ptr %env)
  ret i64 %r
}
"""


class NativeUnit:
    """A compiled unit: its entry address and the chain slots of its constant exits."""

    __slots__ = ("addr", "slots", "key")

    def __init__(self, addr: int, slots: list, key):
        self.addr = addr
        self.slots = slots      # [(slot address, target key)]
        self.key = key


class LLVMBackend:
    name = "llvm"

    def __init__(self, rt, memory, state=None, opt_level: int = 1, cs_base_field: str = "cs_base",
                 no_chain_offsets=(), fpenv: bool = True):
        # fpenv=False: the guest can never run an fp op (a CPU model without SSE or x87 arithmetic), so native code
        # leaves the host MXCSR alone: no trampoline, no save/restore around helper and slow-path calls.
        if not fpenv and "mxcsr" in rt.off:
            import copy
            rt = copy.copy(rt)
            rt.off = {k: v for k, v in rt.off.items() if k != "mxcsr"}
        _init_llvm()
        self.rt = rt
        self.mem = memory
        self.state = state
        self.opt_level = opt_level
        target = llvm.Target.from_default_triple()
        self.tm = target.create_target_machine(opt=2 if opt_level else 0, codemodel="jitdefault")
        self.triple = llvm.get_process_triple()
        backing = llvm.parse_assembly("")
        self.engine = llvm.create_mcjit_compiler(backing, self.tm)
        self._opt_engine = None
        self._ids = itertools.count()
        helper_names = sorted(rt.helpers)
        self.layout = Layout(rt.off, rt.reasons, {n: i for i, n in enumerate(helper_names)}, rt.state_size,
                             no_chain_offsets, self._alloc_slot, getattr(memory, "tlb_size", 1024),
                             getattr(rt, "mem_blind", ()))
        self._slot_chunks = []                     # chain slots live here, outside JIT memory (never freed)
        self._slot_free = 0
        self._callbacks = []                       # keep ctypes callbacks alive
        self.env = (ctypes.c_uint64 * ENV_WORDS)()
        self.env_address = ctypes.addressof(self.env)
        self.env[0] = memory.tlb_address
        memory.on_tlb_switch = self.set_tlb        # the system MMU keeps one TLB per privilege class
        self.env[1] = self._cb(LOAD_SLOW, self._load_slow)
        self.env[2] = self._cb(STORE_SLOW, self._store_slow)
        self.helper_table = (ctypes.c_uint64 * max(1, len(helper_names)))()
        for i, n in enumerate(helper_names):
            self.helper_table[i] = self._cb(HELPER, self._wrap_helper(rt.helpers[n]))
        self.env[4] = ctypes.addressof(self.helper_table)
        self._table_size = 0
        self._table_used = 0
        self._alloc_table(1 << 12)
        self.units: dict = {}                       # key -> NativeUnit (valid ones)
        self.blocked: set = set()                   # keys never entered natively (breakpoints)
        self.waiting: dict = {}                     # target key -> {slot addresses} chained to the dispatcher
        self.incoming: dict = {}                    # target key -> {slot addresses} chained to it
        self.log = None                             # callable(str): receives the LLVM IR of each compiled module
        self._build_dispatcher(cs_base_field)

    # set-up ----------------------------------------------------------------------------------------------------
    def _cb(self, proto, fn) -> int:
        c = proto(fn)
        self._callbacks.append(c)
        return ctypes.cast(c, ctypes.c_void_p).value

    def _alloc_slot(self) -> int:
        """A new chain slot (one pointer-sized word) pointing at the dispatcher; returns its address."""
        if not self._slot_chunks or self._slot_free == SLOT_CHUNK:
            self._slot_chunks.append((ctypes.c_uint64 * SLOT_CHUNK)())
            self._slot_free = 0
        chunk = self._slot_chunks[-1]
        chunk[self._slot_free] = self.dispatch_addr
        addr = ctypes.addressof(chunk) + 8 * self._slot_free
        self._slot_free += 1
        return addr

    def _alloc_table(self, size: int) -> None:
        self.table = (ctypes.c_uint64 * (2 * size))()
        ctypes.memset(self.table, 0xFF, ctypes.sizeof(self.table))
        self._table_size = size
        self._table_used = 0
        self.env[ENV_TABLE] = ctypes.addressof(self.table)
        self.env[ENV_MASK] = size - 1

    def _build_dispatcher(self, cs_base_field: str) -> None:
        off = self.rt.off
        text = MODULE_HEADER.format(triple=self.triple) + DISPATCHER.format(
            rip=off["rip"], cs_base=off[cs_base_field], tbflags=off["tbflags"], table=ENV_TABLE, mask=ENV_MASK)
        if "mxcsr" in off:      # the host MXCSR carries the guest's while native code runs (backends.llvm.fpenv)
            text += FP_DECLARATIONS + trampoline(off["mxcsr"])
        else:
            text += ENTRY_TRAMPOLINE
        text += slow_path_stubs(off.get("mxcsr"))
        self._add_module(text)
        self.layout.load_stub = self.engine.get_function_address("dbt_load_stub")
        self.layout.store_stub = self.engine.get_function_address("dbt_store_stub")
        self.dispatch_addr = self.engine.get_function_address("dbt_dispatch")
        self.env[3] = self.dispatch_addr
        self.enter = ENTER(self.engine.get_function_address("dbt_enter"))

    def _call_native(self, addr: int, state) -> None:
        """Runs native code at ``addr`` on ``state`` (through the trampoline: C convention to preserve_none, and
        the guest MXCSR when the layout has mxcsr)."""
        self.enter(addr, state.address, self.env_address)

    def _add_module(self, text: str, optimized: bool = False, light: bool = False):
        mod = llvm.parse_assembly(text)
        mod.verify()
        level = 2 if optimized else self.opt_level
        engine, tm = self.engine, self.tm
        if optimized and not self.opt_level:
            engine, tm = self._optimizing_engine()
        if level:
            pto = llvm.create_pipeline_tuning_options(speed_level=level)
            pb = llvm.create_pass_builder(tm, pto)
            if light:
                mpm = llvm.create_new_module_pass_manager()
                for p in LIGHT_PIPELINE:
                    getattr(mpm, f"add_{p}_pass")()
                mpm.run(mod, pb)
            else:
                pb.getModulePassManager().run(mod, pb)
        engine.add_module(mod)
        engine.finalize_object()
        return mod

    def _optimizing_engine(self):
        """A second MCJIT with an optimizing code generator, for units recompiled because they are very hot (when
        the backend compiles fast, at opt 0). Units hold no symbols of each other, so two JITs mix freely."""
        if self._opt_engine is None:
            target = llvm.Target.from_default_triple()
            tm = target.create_target_machine(opt=2, codemodel="jitdefault")
            self._opt_engine = (llvm.create_mcjit_compiler(llvm.parse_assembly(""), tm), tm)
        return self._opt_engine

    # slow paths (called from native code) ----------------------------------------------------------------------
    def _fault(self, e) -> None:
        st, off, rs = self.state.slots, self.rt.off, self.rt.reasons
        if getattr(e, "restart", False):
            st[off["exit_reason"] >> 3] = rs["RESTART"]
            return
        st[off["exit_reason"] >> 3] = rs["TRAP"]
        st[off["exc_vector"] >> 3] = e.vector
        st[off["exc_error"] >> 3] = e.error
        st[off["fault_addr"] >> 3] = e.address

    def _load_slow(self, st, addr, size):
        try:
            v = self.mem.load(addr, size)
            self.mem.fill_tlb(addr >> 12)
            return v
        except self.rt.faults as e:
            self._fault(e)
            return 0
        except BaseException as e:  # never let an exception unwind through native frames
            self._internal_error(e)
            return 0

    def _store_slow(self, st, addr, size, value):
        try:
            if size == 16:              # a 16-byte store: ``value`` points to the value (codegen's mem_access_128)
                value = int.from_bytes(ctypes.string_at(value, 16), "little")
            self.mem.store(addr, size, value)
            self.mem.fill_tlb(addr >> 12)
        except self.rt.faults as e:
            self._fault(e)
        except BaseException as e:
            self._internal_error(e)

    def _wrap_helper(self, fn):
        nargs = len(inspect.signature(fn).parameters) - 2

        def call(st, a0, a1, a2, a3):
            try:
                return (fn(self.state, self.mem, *(a0, a1, a2, a3)[:nargs]) or 0) & ((1 << 64) - 1)
            except self.rt.faults as e:      # a guest exception: the calling instruction faults
                self._fault(e)
                return 0
            except BaseException as e:
                self._internal_error(e)
                return 0
        return call

    def _internal_error(self, e) -> None:
        self.pending_error = e
        self.state.slots[self.rt.off["exit_reason"] >> 3] = self.rt.reasons["STOP"]

    # compile ---------------------------------------------------------------------------------------------------
    def compile_blocks(self, blocks, install: bool = True, optimized: bool = False) -> None:
        """Compiles engine blocks (with .unit .ip .ninsns .key) in one module; attaches ``block.native`` and, when
        ``install``, enters them in the dispatch table and chains them (replacing earlier code of the same key).
        ``optimized``: at LLVM opt 2 whatever the backend's level (recompiling very hot units)."""
        promote = bool(self.opt_level or optimized)
        if not promote:
            return self._compile_module(blocks, optimized, False, install)
        # Units that loop get LLVM's whole opt-1 pipeline (their loops are where the time goes); straight-line
        # units get the short pipeline, which costs a third as much and gives them nearly the same code. The hot
        # recompiles of a fast opt-0 backend (``optimized``: the system VM's boot tier) all take the short one:
        # measured on the boot, their compile time 70 -> 43 ms and the same run time, loops included.
        if optimized and not self.opt_level:
            return self._compile_module(blocks, optimized, True, install)
        loops = [b for b in blocks if has_loop(b.unit, b.ip)]
        straight = [b for b in blocks if b not in loops]
        for group, light in ((loops, False), (straight, True)):
            if group:
                self._compile_module(group, optimized, light, install)

    def _compile_module(self, blocks, optimized: bool, light: bool, install: bool = True) -> None:
        parts = []
        metas = []
        for blk in blocks:
            name = f"u{next(self._ids)}"
            text, targets = gen_unit(blk.unit, name, self.layout, blk.ip, blk.ninsns,
                                     promote=bool(self.opt_level or optimized),
                                     dispatch_bias=self._bias(blk))
            parts.append(text)
            metas.append((blk, name, targets))
        body = "\n".join(parts)
        text = MODULE_HEADER.format(triple=self.triple) + declarations_for(body) + "\n" + body
        if self.log is not None:
            self.log(f"OUT: LLVM module of {len(blocks)} unit(s)\n{text}\n")
        self._add_module(text, optimized, light)
        engine = self._opt_engine[0] if optimized and not self.opt_level else self.engine
        addrs = [engine.get_function_address(name) for _, name, _ in metas]
        if os.environ.get("DBT_PERF_MAP"):
            self._perf_map(addrs, [blk.key[0] for blk, _, _ in metas])
        for (blk, name, targets), addr in zip(metas, addrs):
            cs_base = blk.key[0] - blk.ip
            slots = [(slot, (cs_base + t, blk.key[1])) for t, slot in targets]
            nu = NativeUnit(addr, slots, blk.key)
            blk.native = nu
            if install:
                self._install(blk.key, nu)
            else:
                for slot, _ in slots:
                    self._patch(slot, self.dispatch_addr)

    @staticmethod
    def _bias(blk) -> int | None:
        """Dispatch-table key minus guest pc for blk's mode (None for units outside the engine's keys)."""
        if not isinstance(blk.key[1], int):
            return None
        return (_table_key(blk.key) - blk.ip) & ((1 << 64) - 1)

    @staticmethod
    def _perf_map(addrs: list, pcs: list) -> None:
        order = sorted(addrs)
        with open(f"/tmp/perf-{os.getpid()}.map", "a") as f:
            for addr, pc in zip(addrs, pcs):
                i = order.index(addr)
                size = order[i + 1] - addr if i + 1 < len(order) else 4096
                f.write(f"{addr:x} {min(size, 1 << 16):x} dbt_{pc:#x}\n")

    def _install(self, key, nu: NativeUnit) -> None:
        old = self.units.get(key)
        if old is not None:
            self._uninstall(key)
        self.units[key] = nu
        if key in self.blocked:
            for slot, tkey in nu.slots:
                self._patch(slot, self.dispatch_addr)
                self.waiting.setdefault(tkey, set()).add(slot)
            return
        self._table_put(_table_key(key), nu.addr)
        for slot, tkey in nu.slots:
            target = self.units.get(tkey)
            if target is not None:
                self._patch(slot, target.addr)
                self.incoming.setdefault(tkey, set()).add(slot)
            else:
                self._patch(slot, self.dispatch_addr)
                self.waiting.setdefault(tkey, set()).add(slot)
        for slot in self.waiting.pop(key, ()):
            self._patch(slot, nu.addr)
            self.incoming.setdefault(key, set()).add(slot)

    def _uninstall(self, key) -> None:
        nu = self.units.pop(key, None)
        if nu is None:
            return
        self._table_del(_table_key(key))
        for slot in self.incoming.pop(key, ()):
            self._patch(slot, self.dispatch_addr)
            self.waiting.setdefault(key, set()).add(slot)
        # Its own outgoing slots die with it: drop them from the edge sets of their targets.
        for slot, tkey in nu.slots:
            for table in (self.waiting, self.incoming):
                edges = table.get(tkey)
                if edges is not None:
                    edges.discard(slot)
                    if not edges:
                        del table[tkey]

    def set_tlb(self, address: int) -> None:
        """Points translated code at another software TLB (same layout)."""
        self.env[0] = address

    def reset_dispatch(self) -> None:
        """Forgets every installed unit (dispatch table and chains); compiled code stays, for ``reinstall``."""
        for nu in self.units.values():
            for slot, _ in nu.slots:
                self._patch(slot, self.dispatch_addr)
        self.units.clear()
        self.waiting.clear()
        self.incoming.clear()
        ctypes.memset(self.table, 0xFF, ctypes.sizeof(self.table))
        self._table_used = 0

    def reinstall(self, blk) -> None:
        self._install(blk.key, blk.native)

    @staticmethod
    def _patch(slot: int, addr: int) -> None:
        ctypes.c_uint64.from_address(slot).value = addr

    def invalidate(self, blk) -> None:
        if blk.native is not None and self.units.get(blk.key) is blk.native:
            self._uninstall(blk.key)
        blk.native = None

    def set_blocked(self, keys) -> None:
        """Units at these keys are never entered natively (breakpoints): every entry to them returns to Python."""
        old, self.blocked = self.blocked, set(keys)
        for key in old | self.blocked:
            nu = self.units.get(key)
            if nu is not None:
                self._uninstall(key)
                self._install(key, nu)

    # dispatch table ------------------------------------------------------------------------------------------------
    def _table_put(self, pc: int, addr: int) -> None:
        if (self._table_used + 1) * 2 > self._table_size:
            entries = [(self.table[2 * i], self.table[2 * i + 1]) for i in range(self._table_size)
                       if self.table[2 * i] not in (EMPTY, TOMB)]
            self._alloc_table(self._table_size * 2)
            for k, a in entries:
                self._table_put(k, a)
        mask = self._table_size - 1
        i = _hash(pc, mask)
        first_tomb = None
        while True:
            k = self.table[2 * i]
            if k == pc:
                self.table[2 * i + 1] = addr
                return
            if k == TOMB and first_tomb is None:
                first_tomb = i
            if k == EMPTY:
                j = first_tomb if first_tomb is not None else i
                self.table[2 * j + 1] = addr
                self.table[2 * j] = pc
                self._table_used += 1
                return
            i = (i + 1) & mask

    def _table_del(self, pc: int) -> None:
        mask = self._table_size - 1
        i = _hash(pc, mask)
        while True:
            k = self.table[2 * i]
            if k == pc:
                self.table[2 * i] = TOMB
                return
            if k == EMPTY:
                return
            i = (i + 1) & mask

    # run -------------------------------------------------------------------------------------------------------
    def run(self, state, unit: NativeUnit) -> None:
        """Enters native code at ``unit`` (the unit of state's pc); returns on a dispatch miss, an exit reason,
        or an empty budget."""
        self.state = state
        self.pending_error = None
        self.enter(unit.addr, state.address, self.env_address)
        if self.pending_error is not None:
            e, self.pending_error = self.pending_error, None
            raise e

    # the backend protocol used by the IR-level tests ---------------------------------------------------------
    def prepare(self, unit):
        backend = self

        class _Blk:
            pass
        blk = _Blk()
        blk.unit, blk.ip, blk.ninsns = unit, unit.attrs.get("pc", 0), _count_insns(unit)
        blk.key = (blk.ip, ("unit", id(unit)))    # never equal to an engine key
        blk.native = None
        self.compile_blocks([blk], install=False)

        class _Runnable:
            def run(self, state, memory):
                backend.state = state
                state.slots[backend.rt.off["budget"] >> 3] = 1 << 62
                backend.pending_error = None
                backend._call_native(blk.native.addr, state)
                if backend.pending_error is not None:
                    raise backend.pending_error
        return _Runnable()

    def run_unit(self, unit, state, memory) -> None:
        self.prepare(unit).run(state, memory)


def _count_insns(unit) -> int:
    from ir import OP
    return sum(1 for o in unit.ops if o.op is OP.insn)
