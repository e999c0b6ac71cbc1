"""The execution engine: translation cache, tiering, the run loop, exits and exception delivery.

A ``Block`` is one translation: its unit, the interpreter's prepared form, and, once it is hot (or always with the
``llvm`` backend), native code. The cache is keyed by the block's linear pc and the translation-relevant mode; pages
record which blocks were made from their bytes, so a write to those bytes (self-modifying code) drops them.

Instruction counting is exact: blocks run whole while the budget allows; when fewer instructions remain than the next
block holds, the engine runs single-instruction translations. Breakpoints (``until``) split blocks so a stop lands
exactly on an instruction boundary.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from backends.interp import InterpBackend, RuntimeInfo
from dbt import state as S
from dbt.cpumode import CpuMode, flat_mode
from dbt.decode import Decoder
from dbt.lift import lift_block
from dbt.memory import GUEST_FAULTS, CodeWrite, Memory, MemoryFault
from dbt.state import LAYOUT, CpuState


class GuestFault(Exception):
    """A guest exception with no guest handler (modes 32/64 have no IDT here): emulation stopped, state precise."""

    def __init__(self, vector: int, error: int, pc: int, address: int | None = None):
        self.vector, self.error, self.pc, self.address = vector, error, pc, address
        names = {0: "#DE", 1: "#DB", 3: "#BP", 4: "#OF", 5: "#BR", 6: "#UD", 7: "#NM", 8: "#DF", 10: "#TS",
                 11: "#NP", 12: "#SS", 13: "#GP", 14: "#PF", 16: "#MF", 17: "#AC"}
        where = f" accessing {address:#x}" if address is not None else ""
        super().__init__(f"guest exception {names.get(vector, vector)} (vector {vector}, error code {error:#x}) "
                         f"at pc {pc:#x}{where}")


@dataclass(eq=False)
class Block:
    key: tuple
    ip: int
    ninsns: int
    pages: set
    ips: list                       # instruction IPs, in order
    unit: object
    interp: object = None
    native: object = None
    execs: int = 0
    valid: bool = True
    optimized: bool = False
    single: bool = False            # a one-instruction unit: interpreted only, never compiled
    frames: tuple = ()              # code_page() of each page in ``pages`` when translated (system MMU: frames)
    samples: int = 0                # times a time slice ended at this unit (see sample())
    reoptimized: bool = False


@dataclass
class Stats:
    blocks_translated: int = 0
    insns_translated: int = 0
    blocks_compiled: int = 0
    blocks_invalidated: int = 0
    blocks_reoptimized: int = 0
    insns_executed: int = 0
    blocks_executed: int = 0
    seconds: dict = field(default_factory=lambda: {p: 0.0 for p in
                                                  ("decode", "lift", "optimize", "compile", "execute")})

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "seconds"}
        d["seconds"] = dict(self.seconds)
        return d


STOP_HLT, STOP_UNTIL, STOP_COUNT, STOP_REQUEST = "hlt", "until", "count", "request"


def runtime_info(helpers: dict) -> RuntimeInfo:
    """What a backend needs to know of the CPU state: run-time field offsets, exit reasons, helpers, fault types."""
    off = {n: LAYOUT.offset(n) for n in ("rip", "cs_base", "exit_reason", "exc_vector", "exc_error",
                                         "fault_addr", "budget", "tbflags", "mxcsr")}
    reasons = {"NONE": S.EXIT_NONE, "HLT": S.EXIT_HLT, "TRAP": S.EXIT_TRAP, "BUDGET": S.EXIT_BUDGET,
               "RESTART": S.EXIT_RESTART, "STOP": S.EXIT_STOP}
    # Memory slow paths (TLB refill, faults, MMIO, code-write checks) look at control state only, never at these.
    blind = [LAYOUT.offset(n) for n in [*S.GPR64, *S.FLAG_FIELDS, *S.XMM, *(f"fpr{i}" for i in range(8))]]
    return RuntimeInfo(off, reasons, helpers, GUEST_FAULTS, LAYOUT.size, blind)


class Engine:
    def __init__(self, mode: int, backend: str = "auto", hot_threshold: int = 50, optimize: bool = True,
                 max_block_insns: int = 64, llvm_opt: int | None = None, memory: Memory | None = None,
                 helpers: dict | None = None, fpenv: bool = True):
        if mode not in (16, 32, 64):
            raise ValueError(f"mode must be 16, 32 or 64, not {mode!r}")
        if backend not in ("auto", "interp", "llvm"):
            raise ValueError(f"backend must be 'auto', 'interp' or 'llvm', not {backend!r}")
        self.mode = mode
        self.backend_name = backend
        self.hot_threshold = hot_threshold
        self.warm_threshold = max(1, hot_threshold // 2)
        self.warm: list[Block] = []          # interpreted blocks past half the threshold: compiled with the next hot one
        self.batch_max = 64
        self.optimize = optimize
        self.max_block_insns = max_block_insns
        self.state = CpuState()
        self.state["tbflags"] = flat_mode(mode).flags
        self.mem = memory if memory is not None else Memory((1 << 64) - 1 if mode == 64 else 0xFFFFFFFF)
        self.mem.on_code_write = self._code_written
        self.decoders = {m: Decoder(m) for m in (16, 32, 64)}
        self.decoder = self.decoders[mode]
        # The system VM sets ``deliver(vector, error, pc)`` to deliver guest exceptions (IDT / IVT); without it,
        # real mode uses the IVT and modes 32/64 raise GuestFault.
        self.deliver = None
        self.exit_requested = False         # request_exit(): leave run() at the next unit boundary
        self._stolen = 0                    # budget taken back from running native code by request_exit()
        self._native_remaining = 0
        self._done = 0
        self._in_native = False
        self.stats = Stats()
        self.cache: dict[tuple, Block] = {}
        self.single: dict[tuple, Block] = {}     # one-instruction translations (budget tails, SMC re-runs)
        self.page_blocks: dict[int, set] = {}
        self.breakpoints: frozenset = frozenset()
        self.smc_passthrough = False
        self.helpers = {}
        from dbt import helpers as _helpers
        _helpers.install(self)
        self.helpers.update(helpers or {})
        # Logging (the CLI's -d): "in_asm" guest code of each translation, "op" its IR, "out_asm" the LLVM IR of
        # compiled units; ``log`` receives the text.
        self.trace: frozenset = frozenset()
        self.log = None
        self.retired: dict[tuple, list] = {}     # translations set aside by remap_code(), reusable if frames match
        self.code_linear: set = set()            # linear pages translations were made from
        self.rt = runtime_info(self.helpers)
        self.interp = InterpBackend(self.rt)
        self.native = None
        if backend in ("auto", "llvm"):
            from backends.llvm import LLVMBackend
            # "llvm" compiles every block as soon as it is translated, so it compiles fast (opt 0); "auto" compiles
            # only hot blocks and optimizes them.
            opt = llvm_opt if llvm_opt is not None else (0 if backend == "llvm" else 1)
            self.native = LLVMBackend(self.rt, self.mem, self.state, opt_level=opt,
                                      no_chain_offsets=[LAYOUT.offset("cs")], fpenv=fpenv)

    # Translation ------------------------------------------------------------------------------------------------
    def _key(self, ip: int) -> tuple:
        st = self.state
        return ((st["cs_base"] + ip) & self.mem.addr_mask, st["tbflags"])

    @property
    def cpu_mode(self) -> CpuMode:
        return CpuMode.unpack(self.state["tbflags"])

    def icount(self) -> int:
        """Guest instructions retired so far, including the run in progress (for virtual time and the TSC)."""
        n = self.stats.insns_executed + self._done
        if self._in_native:
            n += self._native_remaining - self.state["budget"] - self._stolen
        return n

    def request_exit(self) -> None:
        """Makes run() return STOP_REQUEST at the next unit boundary (a device raised an interrupt, the host asked
        to stop). Called from helpers while a unit runs: native code sees an empty budget at its next unit entry."""
        self.exit_requested = True
        if self._in_native:
            st = self.state
            self._stolen += st["budget"]
            st["budget"] = 0

    def _fetch(self, linear: int, n: int) -> bytes:
        try:
            return self.mem.fetch(linear, n)
        except MemoryFault as e:
            from dbt.lift import FetchFault
            raise FetchFault(linear, self.mem.fetch_error(e)) from None

    def translate(self, ip: int, single: bool = False) -> Block:
        st = self.stats
        t0 = time.perf_counter()
        cpu = self.cpu_mode
        decoder = self.decoders[cpu.code]
        d0 = decoder.seconds
        tr = lift_block(decoder, self._fetch, cpu, ip, self.state["cs_base"],
                        1 if single else self.max_block_insns, self.breakpoints)
        decode = decoder.seconds - d0
        st.seconds["decode"] += decode
        st.seconds["lift"] += time.perf_counter() - t0 - decode
        st.blocks_translated += 1
        st.insns_translated += tr.ninsns
        key = self._key(ip)
        blk = Block(key, ip, tr.ninsns, tr.pages, [i for i, _ in tr.insns] or [ip], tr.unit, single=single)
        blk.frames = tuple(self.mem.code_page(p) for p in sorted(tr.pages))
        if self.trace and self.log is not None:
            self._log_translation(blk, tr)
        self.code_linear.update(tr.pages)
        cs_base = self.state["cs_base"]
        start = end = None
        for cur, insn in tr.insns:                # one mark per run of adjacent instructions, not per instruction
            lin = cs_base + cur
            if lin != end:
                if start is not None:
                    self.mem.mark_code(start, end - start)
                start = lin
            end = lin + insn.length
        if start is not None:
            self.mem.mark_code(start, end - start)
        for p in tr.pages:
            self.page_blocks.setdefault(self.mem.code_page(p), set()).add(blk)
        if self.backend_name == "llvm" and not single:
            self._compile([blk])
        else:
            # Single-instruction units (budget tails, SMC re-runs) stay in the interpreter: they must never take
            # the place of the full unit at the same pc in the native dispatch table.
            # The cold tier of "auto" runs units as lifted: most cold blocks run a few times, fewer than it takes
            # to pay for optimizing them. The "interp" backend (the reference) runs optimized units.
            if self.backend_name == "interp":
                self._optimize(blk)
            blk.interp = self.interp.prepare(blk.unit)
        return blk

    def _optimize(self, blk: Block) -> None:
        if self.optimize and not blk.optimized:
            from ir.passes import optimize
            t0 = time.perf_counter()
            optimize(blk.unit)
            blk.optimized = True
            self.stats.seconds["optimize"] += time.perf_counter() - t0

    def _log_translation(self, blk: Block, tr) -> None:
        if "in_asm" in self.trace:
            cs_base = blk.key[0] - blk.ip
            lines = [f"IN: linear {blk.key[0]:#x} mode {self.cpu_mode}"]
            lines += [f"  {cs_base + ip:#010x}: {insn.raw.hex():<20s} {insn.text}" for ip, insn in tr.insns]
            self.log("\n".join(lines) + "\n")
        if "op" in self.trace:
            self.log(f"OP:\n{blk.unit}\n")

    def _compile(self, blocks: list) -> None:
        for blk in blocks:
            self._optimize(blk)
        if "out_asm" in self.trace and self.log is not None:
            self.native.log = self.log
        t0 = time.perf_counter()
        self.native.compile_blocks(blocks)
        self.stats.seconds["compile"] += time.perf_counter() - t0
        self.stats.blocks_compiled += len(blocks)

    def lookup(self, ip: int) -> Block:
        key = self._key(ip)
        blk = self.cache.get(key)
        if blk is None:
            blk = self._reuse(key)
            if blk is None:
                blk = self.translate(ip)
            self.cache[key] = blk
        return blk

    def _reuse(self, key) -> Block | None:
        """A translation set aside by remap_code() whose pages still map to the frames it was made from."""
        for blk in self.retired.pop(key, ()):
            if blk.valid and blk.frames == tuple(self.mem.code_page(p) for p in sorted(blk.pages)):
                if blk.native is not None:
                    self.native.reinstall(blk)
                return blk
        return None

    def remap_code(self, linear: int | None = None) -> None:
        """The linear-to-physical mapping changed (CR3 write, paging switched, INVLPG of ``linear``): translations
        are found by linear pc, so set them all aside; each is reused on its next lookup if its frames match."""
        if linear is not None and (linear & self.mem.addr_mask) >> 12 not in self.code_linear:
            return
        for key, blk in self.cache.items():
            self.retired.setdefault(key, []).append(blk)
        self.cache.clear()
        self.single.clear()
        self.code_linear.clear()
        if self.native is not None:
            self.native.reset_dispatch()

    def invalidate_page(self, page: int) -> None:
        for blk in self.page_blocks.pop(page, ()):
            if blk.valid:
                blk.valid = False
                self.stats.blocks_invalidated += 1
                for table in (self.cache, self.single):
                    if table.get(blk.key) is blk:
                        del table[blk.key]
                if self.native is not None:
                    self.native.invalidate(blk)
        self.mem.clear_code(page)

    def _code_written(self, page: int) -> None:
        self.invalidate_page(page)
        if not self.smc_passthrough:
            raise CodeWrite(page)

    def set_breakpoints(self, ips) -> None:
        bps = frozenset(ips)
        if bps == self.breakpoints:
            return
        self.breakpoints = bps
        for key, blk in list(self.cache.items()):
            if any(ip in bps for ip in blk.ips[1:]):
                del self.cache[key]
                if self.native is not None:
                    self.native.invalidate(blk)
        if self.native is not None:
            self.native.set_blocked({self._key(ip) for ip in bps})

    # Running ----------------------------------------------------------------------------------------------------
    def run(self, begin: int, until: int | None = None, count: int | None = None) -> str:
        """Runs from ``begin`` until ip == until, ``count`` instructions, a HLT, or request_exit()."""
        st = self.state
        st["rip"] = begin
        self.set_breakpoints([until] if until is not None else [])
        self._done = 0
        t0 = time.perf_counter()
        translating0 = self._translation_seconds()
        try:
            while True:
                ip = st["rip"]
                if self.exit_requested:
                    self.exit_requested = False
                    return STOP_REQUEST
                if until is not None and ip == until:
                    return STOP_UNTIL
                done = self._done
                if count is not None and done >= count:
                    return STOP_COUNT
                blk = self.lookup(ip)
                remaining = count - done if count is not None else 1 << 62
                if remaining < blk.ninsns:
                    blk = self._single(ip)
                st["exit_reason"] = S.EXIT_NONE
                if blk.native is not None:
                    st["budget"] = remaining
                    blk.execs += 1
                    self._native_remaining = remaining
                    self._stolen = 0
                    self._in_native = True
                    try:
                        self.native.run(st, blk.native)
                    finally:
                        self._in_native = False
                    self._done += remaining - st["budget"] - self._stolen
                    reason = st["exit_reason"]
                    if reason in (S.EXIT_NONE, S.EXIT_BUDGET):
                        continue                   # dispatch miss or budget: Python picks the next unit
                    if reason == S.EXIT_HLT:
                        return STOP_HLT
                else:
                    self._execute(blk)
                    reason = st["exit_reason"]
                    if reason == S.EXIT_NONE:
                        self._done += blk.ninsns
                        continue
                    if reason == S.EXIT_HLT:
                        self._done += blk.ninsns
                        return STOP_HLT
                    self._done += self._completed(blk, st["rip"])
                if reason == S.EXIT_RESTART:
                    self._done += self._rerun_single(st["rip"])
                    if st["exit_reason"] == S.EXIT_HLT:
                        return STOP_HLT
                    continue
                if reason == S.EXIT_TRAP:
                    self._exception(st["exc_vector"], st["exc_error"], st["rip"])
                    continue
                if reason == S.EXIT_STOP:
                    continue                       # a helper asked to leave native code (exit_requested is set)
                raise RuntimeError(f"unexpected exit reason {reason}")
        finally:
            # "execute" is the run's time less the translation work done during it.
            elapsed = time.perf_counter() - t0
            self.stats.seconds["execute"] += elapsed - (self._translation_seconds() - translating0)
            self.stats.insns_executed += self._done
            self._done = 0

    def _translation_seconds(self) -> float:
        sec = self.stats.seconds
        return sec["decode"] + sec["lift"] + sec["optimize"] + sec["compile"]

    def _execute(self, blk: Block) -> None:
        """Runs a block in the interpreter (counting executions for tiering)."""
        blk.execs += 1
        self.stats.blocks_executed += 1
        blk.interp.run(self.state, self.mem)
        if self.backend_name == "auto" and blk.valid and not blk.single:
            if blk.execs == self.hot_threshold:
                self._compile_hot(blk)
            elif blk.execs == self.warm_threshold:
                self.warm.append(blk)

    def sample(self, ip: int, threshold: int = 2) -> None:
        """A time slice ended at ``ip``: a statistical profile of where native code spends its time (the system VM
        calls this at each slice end). A compiled unit sampled ``threshold`` times is recompiled at LLVM opt 2 when
        the backend compiles fast (opt 0): cold boots get quick compiles and their hottest loops get fast code."""
        if self.native is None or self.native.opt_level >= 2:
            return
        blk = self.cache.get(self._key(ip))
        if blk is None or blk.native is None or blk.reoptimized or not blk.valid:
            return
        blk.samples += 1
        if blk.samples >= threshold:
            blk.reoptimized = True
            t0 = time.perf_counter()
            self.native.compile_blocks([blk], optimized=True)
            self.stats.seconds["compile"] += time.perf_counter() - t0
            self.stats.blocks_reoptimized += 1

    def _compile_hot(self, blk: Block) -> None:
        """Compiles a block that just became hot together with the warm ones (half the threshold): one LLVM module
        per batch, and the warm blocks are usually its successors, which then chain to it at once."""
        batch = [blk] + [b for b in self.warm if b is not blk and b.valid and b.native is None][:self.batch_max - 1]
        self.warm = [b for b in self.warm if b not in batch and b.valid and b.native is None]
        self._compile(batch)

    def _completed(self, blk: Block, pc: int) -> int:
        """Instructions of blk completed before the one at pc (where it trapped or restarted)."""
        try:
            return blk.ips.index(pc)
        except ValueError:
            return 0

    def _single(self, ip: int) -> Block:
        key = self._key(ip)
        blk = self.single.get(key)
        if blk is None:
            blk = self.single[key] = self.translate(ip, single=True)
        return blk

    def _rerun_single(self, ip: int) -> int:
        """Re-runs one instruction whose store hit translated code, letting the store through."""
        blk = self._single(ip)                 # one-instruction units are always interpreted
        self.state["exit_reason"] = S.EXIT_NONE
        self.smc_passthrough = True
        try:
            blk.interp.run(self.state, self.mem)
        finally:
            self.smc_passthrough = False
        if self.state["exit_reason"] == S.EXIT_TRAP:
            self.state["exit_reason"] = S.EXIT_NONE
            self._exception(self.state["exc_vector"], self.state["exc_error"], self.state["rip"])
            return 0
        return 1

    def _exception(self, vector: int, error: int, pc: int) -> None:
        st = self.state
        if self.deliver is not None:
            self.deliver(vector, error, pc)
            return
        if self.mode == 16:
            self._deliver_real_mode(vector, pc)
            return
        addr = st["fault_addr"] if vector == 14 else None
        raise GuestFault(vector, error, pc, addr)

    def _deliver_real_mode(self, vector: int, ip: int) -> None:
        """Real-mode exception delivery through the IVT at 0: push FLAGS, CS, IP; clear AC, IF, TF; load CS:IP."""
        st, mem = self.state, self.mem
        flags = st.pack_flags() & 0xFFFF
        sp = st["rsp"] & 0xFFFF
        for v in (flags, st["cs"], ip):
            sp = (sp - 2) & 0xFFFF
            mem.store(st["ss_base"] + sp, 2, v)
        st["rsp"] = (st["rsp"] & ~0xFFFF) | sp
        st["eflags"] = st["eflags"] & ~((1 << 18) | (1 << 9) | (1 << 8))   # AC, IF, TF (SDM: real-mode INT)
        new_ip = mem.load(vector * 4, 2)
        new_cs = mem.load(vector * 4 + 2, 2)
        st["cs"] = new_cs
        st["cs_base"] = new_cs << 4
        st["rip"] = new_ip
