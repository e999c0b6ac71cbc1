"""IR unit -> LLVM IR text (one function per unit). Text, not llvmlite.ir objects: 24-31x cheaper to build.

Every unit becomes ``define i64 @NAME(ptr %st, ptr %env)``: ``st`` is the guest state slot array, ``env`` the
backend's run-time environment (see ``Env`` in backends.llvm.runtime for its words). The function:

- checks the instruction budget on entry (not enough left: rip = unit ip, exit_reason BUDGET, return);
- does guest memory accesses inline through the software TLB (tag compare on the page of the access's last byte,
  so a page-crossing access misses) and on a miss calls the slow-path stubs (``dbt_load_stub``/``dbt_store_stub``,
  see backends.llvm.fpenv.slow_path_stubs), which call the Python callbacks of env;
- leaves through ``exit``: rip = target, then a ``musttail`` call through a chain slot (a word of the backend's slot
  pool, patched to point at the target unit once it is compiled, else at the native dispatcher); indirect exits
  tail-call the dispatcher. Modules hold code only: no globals, and ``nounwind`` functions so no .eh_frame is made.
  A data section next to code could share its page and leave it non-executable under MCJIT's memory manager (seen
  as a rare SIGSEGV on entering a freshly compiled unit at a page start);
- on a trap, a fault or a stop request sets the exit fields, gives back the budget of the instructions that did not
  run, and returns to the caller (Python).

Units compiled through LLVM's optimizer (``promote``) keep the guest-state fields they touch in allocas: loaded once
on entry, written back to the state before every call out (helpers, memory slow paths) and every exit, and reloaded
after every call (Python may change any field). SROA turns the allocas into SSA values, so a unit that loops on
itself (see ``chain_to``) runs its loop in host registers and stores registers, flags and the budget only when it
leaves, instead of once per iteration. At LLVM opt 0 nothing would promote them, so such units address the state
directly.

Semantics follow ir.ops exactly: oversized shift amounts are clamped with selects, rotates use funnel shifts,
ctlz/cttz of 0 give the width (the ``is_zero_poison`` flag is false).
"""

from __future__ import annotations

import re

from backends.llvm.fpenv import DECLARATIONS as FP_DECLARATIONS
from backends.llvm.fpenv import FPEnvCodegen, gen_fp
from ir import OP, Shape, Ty, Unit

# Units, the dispatcher and their tail calls use LLVM's preserve_none convention: no callee-saved registers, so a
# unit neither saves nor restores any on its way in and out (a chain of units is a chain of plain jumps). Python
# enters native code through a C-convention trampoline (backends.llvm.ENTRY_TRAMPOLINE / fpenv), which saves them
# once.
CC = "preserve_nonecc"
ENV_TLB, ENV_LOAD_SLOW, ENV_STORE_SLOW, ENV_DISPATCH, ENV_HELPERS, ENV_TABLE, ENV_MASK = 0, 8, 16, 24, 32, 40, 48
PAGE_BITS = 12


def state_param_attrs(lay) -> str:
    """Attributes of the state pointer. ``noalias``: guest RAM, the TLB and the environment never overlap the state
    array, and every call that may touch the state (slow paths, helpers) receives it as an argument. ``writable``
    and ``dereferenceable``: the whole array is ours to write. Together they let LLVM keep guest state in host
    registers through a unit's native loop and store it once on the way out."""
    size = lay.state_size
    return f"noalias writable dereferenceable({size})" if size else "noalias"


def lty(t: Ty) -> str:
    return f"i{t.bits}"


class Layout:
    """What the generated code needs from the backend: state offsets, exit-reason codes, helper indices, the state
    size, the offsets whose write forbids chaining (CS), the allocator of chain slots, the software TLB's size and the
    fields the memory slow paths never look at (see RuntimeInfo.mem_blind)."""

    def __init__(self, off: dict, reasons: dict, helper_index: dict, state_size: int = 0,
                 no_chain_offsets=(), alloc_slot=None, tlb_size: int = 1024, mem_blind=frozenset()):
        self.off = off
        self.mem_blind = frozenset(mem_blind)
        self.load_stub = self.store_stub = 0     # addresses of the slow-path stubs (set once they are compiled)
        self.tlb_mask = tlb_size - 1
        self.reasons = reasons
        self.helper_index = helper_index
        self.state_size = state_size
        self.no_chain_offsets = frozenset(no_chain_offsets)
        self.alloc_slot = alloc_slot


class UnitCodegen(FPEnvCodegen):
    def __init__(self, unit: Unit, name: str, lay: Layout, ip: int, ninsns: int, promote: bool = False):
        self.u = unit
        self.promote = promote
        self.cache: dict[int, str] = {}         # promoted field offset -> its LLVM type (empty: no promotion)
        self.dirty: list[int] = []              # the promoted fields the unit may write (spilled before calls/exits)
        self.written: set[int] = set()          # the fields put so far (in op order)
        self.stop_written: set[int] = set()     # the fields put before any branch to the shared stop block
        self.loops = False                      # the unit has a backward branch (its own start included)
        self.dispatch_bias = None               # dispatch-table key minus guest pc (None: indirect exits probe not)
        self.name = name
        self.lay = lay
        self.ip = ip
        self.ninsns = ninsns
        self.lines: list[str] = []
        self.tmp = 0
        self.chain_slots: list = []           # (constant exit target, slot address)
        self.terminated = False
        self.insn_index = 0                    # instructions started so far
        self.insn_pc = ip
        self.locals: set[int] = set()
        self.names: dict[int, str] = {}        # IR value -> LLVM operand text when not %vN (literals, aliases)
        self.stops: list = []                  # (label, pc, unrun) of the branches to the shared stop exit

    # helpers ---------------------------------------------------------------------------------------------------
    def t(self) -> str:
        self.tmp += 1
        return f"%t{self.tmp}"

    def emit(self, s: str) -> None:
        self.lines.append("  " + s)

    def block(self, label: str) -> None:
        if not self.terminated:
            self.emit(f"br label %{label}")
        self.lines.append(f"{label}:")
        self.terminated = False

    def field_ptr(self, off: int) -> str:
        if off in self.cache:
            return f"%sf{off}"
        p = self.t()
        self.emit(f"{p} = getelementptr i8, ptr %st, i64 {off}")
        return p

    def store_field(self, name: str, value: str, ty: str = "i64") -> None:
        self.written.add(self.lay.off[name])
        p = self.field_ptr(self.lay.off[name])
        self.emit(f"store {ty} {value}, ptr {p}")

    def load_field(self, name: str, ty: str = "i64") -> str:
        p = self.field_ptr(self.lay.off[name])
        r = self.t()
        self.emit(f"{r} = load {ty}, ptr {p}")
        return r

    # promoted state fields ---------------------------------------------------------------------------------------
    def promote_fields(self) -> None:
        """Allocas for the fields the unit gets or puts (emitted in the entry block), and for the TLB's address.
        Not the budget: another thread may zero it to stop native code (see dbt.linux.signals), and a loop must
        see that."""
        fields = self.u.fields
        mx = self.lay.off.get("mxcsr")
        touched: dict[int, bool] = {}       # offset -> written
        for o in self.u.ops:
            if o.op.shape in (Shape.GET, Shape.PUT) and o.imm != mx and o.imm != self.lay.off["budget"]:
                touched[o.imm] = touched.get(o.imm, False) or o.op.shape is Shape.PUT
        for off in sorted(touched):
            f = fields.by_offset.get(off) if fields else None
            ty = lty(f.ty) if f is not None else "i64"
            self.emit(f"%sf{off} = alloca {ty}, align 8")
            p, v = self.t(), self.t()
            self.emit(f"{p} = getelementptr i8, ptr %st, i64 {off}")
            self.emit(f"{v} = load {ty}, ptr {p}, align 8")
            self.emit(f"store {ty} {v}, ptr %sf{off}, align 8")
            self.cache[off] = ty
        self.dirty = [off for off, w in touched.items() if w]
        self.emit("%tlbc = alloca ptr, align 8")
        self.reload_tlb()

    def reload_tlb(self) -> None:
        if self.promote:
            self.emit(f"store ptr {self.env_ptr(ENV_TLB)}, ptr %tlbc, align 8")

    def tlb_ptr(self) -> str:
        if not self.promote:
            return self.env_ptr(ENV_TLB)
        r = self.t()
        self.emit(f"{r} = load ptr, ptr %tlbc, align 8")
        return r

    def spill(self, skip=frozenset()) -> None:
        """Promoted fields the unit writes -> the state (before a call out or an exit), but those in ``skip``. A
        unit without backward branches spills only the fields put before this point (in op order: a superset of
        what the path wrote); one that loops may have written any of them on an earlier iteration."""
        for off in self.dirty:
            if off in skip or not (self.loops or off in self.written):
                continue
            ty = self.cache[off]
            p, v = self.t(), self.t()
            self.emit(f"{v} = load {ty}, ptr %sf{off}, align 8")
            self.emit(f"{p} = getelementptr i8, ptr %st, i64 {off}")
            self.emit(f"store {ty} {v}, ptr {p}, align 8")

    def reload(self, skip=frozenset()) -> None:
        """The state -> every promoted field but those in ``skip`` (after a call out, which may change them)."""
        self.reload_tlb()
        for off, ty in self.cache.items():
            if off in skip:
                continue
            p, v = self.t(), self.t()
            self.emit(f"{p} = getelementptr i8, ptr %st, i64 {off}")
            self.emit(f"{v} = load {ty}, ptr {p}, align 8")
            self.emit(f"store {ty} {v}, ptr %sf{off}, align 8")

    def before_call(self) -> None:
        self.spill()
        self.host_to_state()

    def after_call(self) -> None:
        self.state_to_host()
        self.reload()

    def before_mem_call(self) -> None:
        """Before a memory slow path, which never looks at the registers and flags: they stay in host registers
        (the exits store them, a fault's included). The stub takes care of MXCSR."""
        self.spill(self.lay.mem_blind)

    def after_mem_call(self) -> None:
        self.reload(self.lay.mem_blind)

    # Optimized (promoted) units call the preserve_most stubs; fast opt-0 code calls the Python callbacks itself
    # (with the MXCSR hand-over inline): at opt 0 the extra calling convention costs compile time (~15% of a
    # boot's opt-0 compiles) and buys nothing, since the fast register allocator spills around calls anyway.
    def call_load_slow(self, addr: str, size: int) -> str:
        r = self.t()
        if not self.promote:
            fn = self.env_ptr(ENV_LOAD_SLOW)
            self.host_to_state()
            self.emit(f"{r} = call i64 {fn}(ptr %st, i64 {addr}, i32 {size})")
            self.state_to_host()
            return r
        self.emit(f"{r} = call preserve_mostcc i64 inttoptr (i64 {self.lay.load_stub} to ptr)"
                  f"(ptr %st, ptr %env, i64 {addr}, i32 {size})")
        return r

    def call_store_slow(self, addr: str, size: int, value: str) -> None:
        if not self.promote:
            fn = self.env_ptr(ENV_STORE_SLOW)
            self.host_to_state()
            self.emit(f"call void {fn}(ptr %st, i64 {addr}, i32 {size}, i64 {value})")
            self.state_to_host()
            return
        self.emit(f"call preserve_mostcc void inttoptr (i64 {self.lay.store_stub} to ptr)"
                  f"(ptr %st, ptr %env, i64 {addr}, i32 {size}, i64 {value})")

    def ret0(self) -> None:
        self.spill()
        self.emit("ret i64 0")

    def env_ptr(self, off: int) -> str:
        p = self.t()
        self.emit(f"{p} = getelementptr i8, ptr %env, i64 {off}")
        r = self.t()
        self.emit(f"{r} = load ptr, ptr {p}")
        return r

    def v(self, n: int) -> str:
        return self.names.get(n) or f"%v{n}"

    def ty(self, n: int) -> Ty:
        return self.u.types[n]

    # exits -----------------------------------------------------------------------------------------------------
    def refund(self, unrun: int) -> None:
        """Gives back the budget of ``unrun`` instructions that the unit charged on entry but did not run."""
        if unrun > 0:
            b = self.load_field("budget")
            nb = self.t()
            self.emit(f"{nb} = add i64 {b}, {unrun}")
            self.store_field("budget", nb)

    def leave(self, reason: str, rip: str, refund: bool = True) -> None:
        """Returns to the caller with rip and an exit reason; ``refund``: the current instruction did not complete."""
        self.store_field("rip", rip)
        if reason != "NONE":
            self.store_field("exit_reason", str(self.lay.reasons[reason]), "i32")
        if refund:
            self.refund(self.ninsns - self.insn_index + 1)
        self.ret0()
        self.terminated = True

    def chain_to(self, target_value: str, const_target: int | None) -> None:
        """rip = target; continue in the target unit through a chain slot (constant) or the dispatcher."""
        self.refund(self.ninsns - self.insn_index)        # a side exit skips the unit's later instructions
        if const_target == self.ip and not self.nochain:
            # A jump to the unit's own start is a native loop: no store of rip, no chain slot, and LLVM can keep
            # guest state in host registers across iterations (its exits store rip themselves).
            self.budget_check("top", self.t()[1:] + "_nobudget")
            return
        self.store_field("rip", target_value)
        self.spill()
        if const_target is not None and not self.nochain:
            slot = self.lay.alloc_slot()
            self.chain_slots.append((const_target, slot))
            fn = self.t()
            self.emit(f"{fn} = load ptr, ptr inttoptr (i64 {slot} to ptr)")
        else:
            if self.promote and not self.nochain and self.dispatch_bias is not None:
                self.probe(target_value)        # (not in fast opt-0 code: IR that only pays off where hot)
            fn = self.env_ptr(ENV_DISPATCH)
        self.tail_call(fn)

    def tail_call(self, fn: str) -> None:
        r = self.t()
        self.emit(f"{r} = musttail call {CC} i64 {fn}(ptr %st, ptr %env)")
        self.emit(f"ret i64 {r}")
        self.terminated = True

    def probe(self, target_value: str) -> None:
        """An indirect exit looks its target up in the dispatch table itself (the first probe of the dispatcher's
        search, see backends.llvm.DISPATCHER) and jumps there: one indirect jump per exit site, which the host
        predicts per site as it would the guest's own, instead of one shared jump in the dispatcher. A miss or a
        collision falls through to the dispatcher."""
        k, sh, hx, h, e, kk, hit, fpp, fn = (self.t() for _ in range(9))
        self.emit(f"{k} = add i64 {target_value}, {self.dispatch_bias}")
        self.emit(f"{sh} = lshr i64 {k}, 15")
        self.emit(f"{hx} = xor i64 {k}, {sh}")
        tab = self.env_ptr(ENV_TABLE)
        mp, mask = self.t(), self.t()
        self.emit(f"{mp} = getelementptr i8, ptr %env, i64 {ENV_MASK}")
        self.emit(f"{mask} = load i64, ptr {mp}")
        self.emit(f"{h} = and i64 {hx}, {mask}")
        self.emit(f"{e} = getelementptr [2 x i64], ptr {tab}, i64 {h}")
        self.emit(f"{kk} = load i64, ptr {e}")
        self.emit(f"{hit} = icmp eq i64 {kk}, {k}")
        lbl = self.t()[1:]
        self.emit(f"br i1 {hit}, label %{lbl}_hit, label %{lbl}_miss, !prof !0")
        self.lines.append(f"{lbl}_hit:")
        self.emit(f"{fpp} = getelementptr i64, ptr {e}, i64 1")
        self.emit(f"{fn} = load ptr, ptr {fpp}")
        self.tail_call(fn)
        self.lines.append(f"{lbl}_miss:")

    def budget_check(self, go: str, out: str) -> None:
        """Enough budget left for the whole unit: continue at ``go``; else leave from block ``out`` (rip = the
        unit's start, exit reason BUDGET). On entry, and on a loop's back edge: checking there rather than at the
        loop head keeps the loop's values out of the exit path's reach, so what only the exits need is computed
        after the loop."""
        b = self.load_field("budget")
        ok = self.t()
        self.emit(f"{ok} = icmp sge i64 {b}, {self.ninsns}")
        self.emit(f"br i1 {ok}, label %{go}, label %{out}, !prof !0")
        self.lines.append(f"{out}:")
        self.store_field("rip", str(self.ip))
        self.store_field("exit_reason", str(self.lay.reasons["BUDGET"]), "i32")
        self.ret0()
        self.terminated = True

    def check_stop(self) -> None:
        """After a slow path or helper: leave if it recorded an exit reason (fault, restart, stop). Every such
        branch goes to one shared exit block at the end of the function, which takes rip and the budget refund of
        the current instruction through phis (one copy of the exit code per unit instead of one per access)."""
        r = self.load_field("exit_reason", "i32")
        c = self.t()
        self.emit(f"{c} = icmp ne i32 {r}, 0")
        lbl = self.t()[1:]
        src = self._last_label()
        self.emit(f"br i1 {c}, label %stop, label %{lbl}_go, !prof !1")
        self.stops.append((src, self.insn_pc, self.ninsns - self.insn_index + 1))
        self.stop_written |= self.written
        self.lines.append(f"{lbl}_go:")
        self.terminated = False

    def shared_stop(self) -> None:
        """The exit block of check_stop (the exit reason is already recorded)."""
        if not self.stops:
            return
        self.lines.append("stop:")
        rip = ", ".join(f"[ {pc}, %{lbl} ]" for lbl, pc, _ in self.stops)
        unrun = ", ".join(f"[ {n}, %{lbl} ]" for lbl, _, n in self.stops)
        self.emit(f"%stop_rip = phi i64 {rip}")
        self.emit(f"%stop_unrun = phi i64 {unrun}")
        self.store_field("rip", "%stop_rip")
        b = self.load_field("budget")
        nb = self.t()
        self.emit(f"{nb} = add i64 {b}, %stop_unrun")
        self.store_field("budget", nb)
        self.written = self.stop_written | {self.lay.off["rip"]}
        self.ret0()

    # memory ----------------------------------------------------------------------------------------------------
    def mem_access(self, addr: str, ty: Ty, store_value: str | None) -> str | None:
        size = ty.bits // 8
        if ty is Ty.i128:
            return self.mem_access_128(addr, store_value)
        lt = lty(ty)
        lbl = self.t()[1:]
        tlb = self.tlb_ptr()
        last = self.t()
        self.emit(f"{last} = add i64 {addr}, {size - 1}")
        lastpage = self.t()
        self.emit(f"{lastpage} = and i64 {last}, -4096")
        idx = self.t()
        self.emit(f"{idx} = lshr i64 {addr}, {PAGE_BITS}")
        idx2 = self.t()
        self.emit(f"{idx2} = and i64 {idx}, {self.lay.tlb_mask}")
        ent = self.t()
        self.emit(f"{ent} = getelementptr [4 x i64], ptr {tlb}, i64 {idx2}")
        tagp = self.t()
        self.emit(f"{tagp} = getelementptr i64, ptr {ent}, i64 {1 if store_value is not None else 0}")
        tag = self.t()
        self.emit(f"{tag} = load i64, ptr {tagp}")
        hit = self.t()
        self.emit(f"{hit} = icmp eq i64 {tag}, {lastpage}")
        self.emit(f"br i1 {hit}, label %{lbl}_fast, label %{lbl}_slow, !prof !0")
        # fast path
        self.lines.append(f"{lbl}_fast:")
        addp = self.t()
        self.emit(f"{addp} = getelementptr i64, ptr {ent}, i64 3")
        addend = self.t()
        self.emit(f"{addend} = load i64, ptr {addp}")
        host = self.t()
        self.emit(f"{host} = add i64 {addr}, {addend}")
        hp = self.t()
        self.emit(f"{hp} = inttoptr i64 {host} to ptr")
        fast_v = None
        if store_value is None:
            fast_v = self.t()
            self.emit(f"{fast_v} = load {lt}, ptr {hp}, align 1")
        else:
            self.emit(f"store {lt} {store_value}, ptr {hp}, align 1")
        self.emit(f"br label %{lbl}_join")
        # slow path
        self.lines.append(f"{lbl}_slow:")
        slow_v = None
        if store_value is None:
            self.before_mem_call()
            raw = self.call_load_slow(addr, size)
            self.after_mem_call()
            if ty is Ty.i64:
                slow_v = raw
            else:
                slow_v = self.t()
                self.emit(f"{slow_v} = trunc i64 {raw} to {lt}")
        else:
            wide = store_value
            if ty is not Ty.i64:
                wide = self.t()
                self.emit(f"{wide} = zext {lt} {store_value} to i64")
            self.before_mem_call()
            self.call_store_slow(addr, size, wide)
            self.after_mem_call()
        self.check_stop()
        self.emit(f"br label %{lbl}_join")
        # the slow path's last block is the "_go" block created by check_stop
        go_label = self._last_label()
        self.lines.append(f"{lbl}_join:")
        if store_value is None:
            r = self.t()
            self.emit(f"{r} = phi {lt} [ {fast_v}, %{lbl}_fast ], [ {slow_v}, %{go_label} ]")
            return r
        return None

    def _last_label(self) -> str:
        for line in reversed(self.lines):
            if not line.startswith("  ") and line.endswith(":"):
                return line[:-1]
        raise AssertionError("no label")

    def mem_access_128(self, addr: str, store_value: str | None) -> str | None:
        hi_addr = self.t()
        self.emit(f"{hi_addr} = add i64 {addr}, 8")
        if store_value is None:
            lo = self.mem_access(addr, Ty.i64, None)
            hi = self.mem_access(hi_addr, Ty.i64, None)
            a, b_, c, r = self.t(), self.t(), self.t(), self.t()
            self.emit(f"{a} = zext i64 {lo} to i128")
            self.emit(f"{b_} = zext i64 {hi} to i128")
            self.emit(f"{c} = shl i128 {b_}, 64")
            self.emit(f"{r} = or i128 {a}, {c}")
            return r
        # A store that crosses a page goes whole to the slow path (the value through a stack cell), which checks
        # both pages before writing: two 8-byte stores could leave the first half written when the second faults.
        lo, sh, hi = self.t(), self.t(), self.t()
        self.emit(f"{lo} = trunc i128 {store_value} to i64")
        self.emit(f"{sh} = lshr i128 {store_value}, 64")
        self.emit(f"{hi} = trunc i128 {sh} to i64")
        lbl = self.t()[1:]
        off, cross = self.t(), self.t()
        self.emit(f"{off} = and i64 {addr}, {(1 << PAGE_BITS) - 1}")
        self.emit(f"{cross} = icmp ugt i64 {off}, {(1 << PAGE_BITS) - 16}")
        self.emit(f"br i1 {cross}, label %{lbl}_cross, label %{lbl}_page, !prof !1")
        self.lines.append(f"{lbl}_cross:")
        self.emit(f"store i128 {store_value}, ptr %cell128, align 16")
        cell = self.t()
        self.emit(f"{cell} = ptrtoint ptr %cell128 to i64")
        self.before_mem_call()
        self.call_store_slow(addr, 16, cell)
        self.after_mem_call()
        self.check_stop()
        self.emit(f"br label %{lbl}_done")
        self.lines.append(f"{lbl}_page:")
        self.mem_access(addr, Ty.i64, lo)
        self.mem_access(hi_addr, Ty.i64, hi)
        self.emit(f"br label %{lbl}_done")
        self.lines.append(f"{lbl}_done:")
        return None

    # ops -------------------------------------------------------------------------------------------------------
    def gen(self) -> str:
        out_lines = self.lines
        # entry + budget check
        strict = " strictfp" if any(o.op.fpenv for o in self.u.ops) else ""
        out_lines.append(f"define {CC} i64 @{self.name}(ptr {state_param_attrs(self.lay)} %st, ptr %env) "
                         f"nounwind{strict} {{")
        out_lines.append("entry:")
        if "mxcsr" in self.lay.off:
            self.emit("%mxtmp = alloca i32")       # stmxcsr/ldmxcsr go through memory (see backends.llvm.fpenv)
        # Locals are i64 cells, or i128 for a local that ever holds an i128 value.
        self.local_ty = {}
        for o in self.u.ops:
            if o.op.shape in (Shape.GETL, Shape.PUTL):
                t = o.ty if o.op.shape is Shape.GETL else self.u.types[o.args[0]]
                self.local_ty[o.imm] = max(self.local_ty.get(o.imm, 64), t.bits)
        for n in sorted(self.local_ty):
            self.emit(f"%l{n} = alloca i{self.local_ty[n]}")
            self.emit(f"store i{self.local_ty[n]} 0, ptr %l{n}")
        if any(o.op is OP.store and self.u.types[o.args[1]] is Ty.i128 for o in self.u.ops):
            self.emit("%cell128 = alloca i128, align 16")       # a page-crossing 16-byte store's value
        if self.promote:
            self.promote_fields()
        self.budget_check("top", "nobudget")
        self.lines.append("top:")             # a unit that jumps to itself loops back here (see chain_to)
        self.terminated = False
        b = self.load_field("budget")
        nb = self.t()
        self.emit(f"{nb} = sub i64 {b}, {self.ninsns}")
        self.store_field("budget", nb)
        for o in self.u.ops:
            if self.terminated and o.op.shape is not Shape.LABEL:
                continue            # unreachable until the next label
            _GEN[o.op.shape](self, o)
        if not self.terminated:
            self.emit("unreachable")
        self.shared_stop()
        self.lines.append("}")
        return "\n".join(self.lines)


def _binary(g: UnitCodegen, o):
    a, b = g.v(o.args[0]), g.v(o.args[1])
    t = lty(o.ty)
    bits = o.ty.bits
    name = o.op.name
    d = g.v(o.dst)
    if name in ("add", "sub", "mul", "and", "or", "xor", "udiv", "sdiv", "urem", "srem"):
        g.emit(f"{d} = {name} {t} {a}, {b}")
    elif name in ("shl", "lshr", "ashr") and o.args[1] in g.consts:
        amt = g.consts[o.args[1]]
        if amt < bits:
            g.emit(f"{d} = {name} {t} {a}, {amt}")
        elif name == "ashr":
            g.emit(f"{d} = ashr {t} {a}, {bits - 1}")
        else:
            g.names[o.dst] = "0"
    elif name in ("shl", "lshr"):
        c, s = g.t(), g.t()
        g.emit(f"{c} = icmp ult {t} {b}, {bits}")
        g.emit(f"{s} = {name} {t} {a}, {b}")
        g.emit(f"{d} = select i1 {c}, {t} {s}, {t} 0")
    elif name == "ashr":
        c, amt = g.t(), g.t()
        g.emit(f"{c} = icmp ult {t} {b}, {bits}")
        g.emit(f"{amt} = select i1 {c}, {t} {b}, {t} {bits - 1}")
        g.emit(f"{d} = ashr {t} {a}, {amt}")
    elif name in ("rotl", "rotr"):
        f = "fshl" if name == "rotl" else "fshr"
        if bits == 1:
            g.emit(f"{d} = or i1 {a}, false")
        else:
            g.emit(f"{d} = call {t} @llvm.{f}.{t}({t} {a}, {t} {a}, {t} {b})")
    else:
        raise NotImplementedError(name)


def _unary(g, o):
    a, t, d = g.v(o.args[0]), lty(o.ty), g.v(o.dst)
    name = o.op.name
    if name == "neg":
        g.emit(f"{d} = sub {t} 0, {a}")
    elif name == "not":
        g.emit(f"{d} = xor {t} {a}, -1")
    elif name == "ctpop":
        g.emit(f"{d} = call {t} @llvm.ctpop.{t}({t} {a})")
    elif name in ("ctlz", "cttz"):
        g.emit(f"{d} = call {t} @llvm.{name}.{t}({t} {a}, i1 false)")
    elif name == "bswap":
        g.emit(f"{d} = call {t} @llvm.bswap.{t}({t} {a})")
    else:
        raise NotImplementedError(name)


_PRED = {"eq": "eq", "ne": "ne", "ult": "ult", "ule": "ule", "slt": "slt", "sle": "sle"}


def _cmp(g, o):
    t = lty(g.ty(o.args[0]))
    g.emit(f"{g.v(o.dst)} = icmp {_PRED[o.op.name]} {t} {g.v(o.args[0])}, {g.v(o.args[1])}")


def _cast(g, o):
    src = lty(g.ty(o.args[0]))
    g.emit(f"{g.v(o.dst)} = {o.op.name} {src} {g.v(o.args[0])} to {lty(o.ty)}")


def _const(g, o):
    # No instruction: uses of the value read the literal (less IR to parse and to select at codegen opt 0).
    val = o.imm
    if o.ty is Ty.i1:
        g.names[o.dst] = "true" if val else "false"
    else:
        if val >> (o.ty.bits - 1):
            val -= 1 << o.ty.bits
        g.names[o.dst] = str(val)


def _select(g, o):
    t = lty(o.ty)
    g.emit(f"{g.v(o.dst)} = select i1 {g.v(o.args[0])}, {t} {g.v(o.args[1])}, {t} {g.v(o.args[2])}")


def _get(g, o):
    if o.imm == g.lay.off.get("mxcsr"):
        return g.get_mxcsr(g.v(o.dst))
    p = g.field_ptr(o.imm)
    fty = g.u.fields.by_offset[o.imm].ty if g.u.fields else o.ty
    if o.ty is Ty.i1 and fty is Ty.i8:
        raw = g.t()
        g.emit(f"{raw} = load i8, ptr {p}")
        g.emit(f"{g.v(o.dst)} = trunc i8 {raw} to i1")
    else:
        # State fields are 8-aligned (an i128 field too, whose ABI alignment would be 16).
        g.emit(f"{g.v(o.dst)} = load {lty(o.ty)}, ptr {p}, align 8")


def _put(g, o):
    if o.imm == g.lay.off.get("mxcsr"):
        return g.put_mxcsr(g.v(o.args[0]))
    g.written.add(o.imm)
    p = g.field_ptr(o.imm)
    vt = g.ty(o.args[0])
    val = g.v(o.args[0])
    if vt is Ty.i1:
        z = g.t()
        g.emit(f"{z} = zext i1 {val} to i8")
        g.emit(f"store i8 {z}, ptr {p}")
    else:
        g.emit(f"store {lty(vt)} {val}, ptr {p}, align 8")


def _getl(g, o):
    bits = g.local_ty[o.imm]
    raw = g.t()
    g.emit(f"{raw} = load i{bits}, ptr %l{o.imm}")
    if o.ty.bits == bits:
        g.names[o.dst] = raw
    else:
        g.emit(f"{g.v(o.dst)} = trunc i{bits} {raw} to {lty(o.ty)}")


def _putl(g, o):
    bits = g.local_ty[o.imm]
    vt = g.ty(o.args[0])
    val = g.v(o.args[0])
    if vt.bits < bits:
        z = g.t()
        g.emit(f"{z} = zext {lty(vt)} {val} to i{bits}")
        val = z
    g.emit(f"store i{bits} {val}, ptr %l{o.imm}")


def _load(g, o):
    g.names[o.dst] = g.mem_access(g.v(o.args[0]), o.ty, None)


def _store(g, o):
    g.mem_access(g.v(o.args[0]), g.ty(o.args[1]), g.v(o.args[1]))


def _call(g, o):
    idx = g.lay.helper_index[o.imm]
    table = g.env_ptr(ENV_HELPERS)
    fp = g.t()
    g.emit(f"{fp} = getelementptr ptr, ptr {table}, i64 {idx}")
    fn = g.t()
    g.emit(f"{fn} = load ptr, ptr {fp}")
    args = []
    for a in o.args:
        at = g.ty(a)
        if at is Ty.i64:
            args.append(g.v(a))
        else:
            z = g.t()
            op = "zext" if at.bits < 64 else "trunc"
            g.emit(f"{z} = {op} {lty(at)} {g.v(a)} to i64")
            args.append(z)
    while len(args) < 4:
        args.append("0")
    r = g.t()
    g.before_call()
    g.emit(f"{r} = call i64 {fn}(ptr %st, " + ", ".join(f"i64 {x}" for x in args) + ")")
    g.after_call()
    g.check_stop()
    if o.dst is not None:
        if o.ty is Ty.i64:
            g.names[o.dst] = r
        else:
            g.emit(f"{g.v(o.dst)} = trunc i64 {r} to {lty(o.ty)}")


def _label(g, o):
    g.block(f"L{o.imm}")


def _br(g, o):
    g.emit(f"br label %L{o.imm}")
    g.terminated = True


def _brif(g, o):
    nxt = g.t()[1:]
    g.emit(f"br i1 {g.v(o.args[0])}, label %L{o.imm}, label %{nxt}")
    g.lines.append(f"{nxt}:")


def _exit(g, o):
    if o.op is OP.halt:
        g.leave("HLT", g.v(o.args[0]), refund=False)
        return
    g.chain_to(g.v(o.args[0]), g.consts.get(o.args[0]))


def _exitif(g, o):
    lbl = g.t()[1:]
    g.emit(f"br i1 {g.v(o.args[0])}, label %{lbl}_x, label %{lbl}_c")
    g.lines.append(f"{lbl}_x:")
    g.chain_to(g.v(o.args[1]), g.consts.get(o.args[1]))
    g.lines.append(f"{lbl}_c:")
    g.terminated = False


def _raise(g, vector: int, err: str):
    g.store_field("exc_vector", str(vector), "i32")
    e = err
    g.store_field("exc_error", e, "i32")
    g.leave("TRAP", str(g.insn_pc))


def _trap(g, o):
    _raise(g, o.imm, g.v(o.args[0]))


def _trapif(g, o):
    lbl = g.t()[1:]
    g.emit(f"br i1 {g.v(o.args[0])}, label %{lbl}_x, label %{lbl}_c, !prof !1")
    g.lines.append(f"{lbl}_x:")
    _raise(g, o.imm, g.v(o.args[1]))
    g.lines.append(f"{lbl}_c:")
    g.terminated = False


def _insn(g, o):
    g.insn_index += 1
    g.insn_pc = o.imm[0]


# Vector ops (ir.vector semantics) as native LLVM vector code: the i128 value is bitcast to <128/L x iL> and back.

def _vt(lanes: int, n: int | None = None) -> str:
    return f"<{n or 128 // lanes} x i{lanes}>"


def _splat(lanes: int, value: int, n: int | None = None) -> str:
    n = n or 128 // lanes
    return "<" + ", ".join([f"i{lanes} {value}"] * n) + ">"


def _as_vec(g, v: str, lanes: int) -> str:
    r = g.t()
    g.emit(f"{r} = bitcast i128 {v} to {_vt(lanes)}")
    return r


def _as_int(g, v: str, vt: str, dst: str) -> None:
    g.emit(f"{dst} = bitcast {vt} {v} to i128")


_V_PLAIN = {"vadd": "add", "vsub": "sub", "vmul": "mul"}
_V_INTRINSIC = {"vadds": "sadd.sat", "vaddu": "uadd.sat", "vsubs": "ssub.sat", "vsubu": "usub.sat",
                "vmins": "smin", "vmaxs": "smax", "vminu": "umin", "vmaxu": "umax"}
_V_CMP = {"vcmpeq": "eq", "vcmpgt": "sgt"}


def _vbinary(g, o):
    L, name, d = o.imm, o.op.name, g.v(o.dst)
    vt, n = _vt(L), 128 // L
    a, b = _as_vec(g, g.v(o.args[0]), L), _as_vec(g, g.v(o.args[1]), L)
    r = g.t()
    if name in _V_PLAIN:
        g.emit(f"{r} = {_V_PLAIN[name]} {vt} {a}, {b}")
    elif name in _V_INTRINSIC:
        g.emit(f"{r} = call {vt} @llvm.{_V_INTRINSIC[name]}.v{n}i{L}({vt} {a}, {vt} {b})")
    elif name in _V_CMP:
        c = g.t()
        g.emit(f"{c} = icmp {_V_CMP[name]} {vt} {a}, {b}")
        g.emit(f"{r} = sext <{n} x i1> {c} to {vt}")
    elif name in ("vmulhs", "vmulhu", "vavgu"):
        wt, ext = _vt(2 * L, n), "sext" if name == "vmulhs" else "zext"
        xa, xb, p, h = g.t(), g.t(), g.t(), g.t()
        g.emit(f"{xa} = {ext} {vt} {a} to {wt}")
        g.emit(f"{xb} = {ext} {vt} {b} to {wt}")
        if name == "vavgu":
            s1 = g.t()
            g.emit(f"{s1} = add {wt} {xa}, {xb}")
            g.emit(f"{p} = add {wt} {s1}, {_splat(2 * L, 1, n)}")
            g.emit(f"{h} = lshr {wt} {p}, {_splat(2 * L, 1, n)}")
        else:
            g.emit(f"{p} = mul {wt} {xa}, {xb}")
            g.emit(f"{h} = lshr {wt} {p}, {_splat(2 * L, L, n)}")
        g.emit(f"{r} = trunc {wt} {h} to {vt}")
    elif name == "vmulevu":
        wt, m = _vt(2 * L), _splat(2 * L, (1 << L) - 1)
        wa, wb, ma, mb = g.t(), g.t(), g.t(), g.t()
        g.emit(f"{wa} = bitcast {vt} {a} to {wt}")
        g.emit(f"{wb} = bitcast {vt} {b} to {wt}")
        g.emit(f"{ma} = and {wt} {wa}, {m}")
        g.emit(f"{mb} = and {wt} {wb}, {m}")
        g.emit(f"{r} = mul {wt} {ma}, {mb}")
        vt = wt
    elif name == "vmadd":
        wt, ht = _vt(2 * L, n), _vt(2 * L)
        xa, xb, p, ev, od = g.t(), g.t(), g.t(), g.t(), g.t()
        g.emit(f"{xa} = sext {vt} {a} to {wt}")
        g.emit(f"{xb} = sext {vt} {b} to {wt}")
        g.emit(f"{p} = mul {wt} {xa}, {xb}")
        evens = ", ".join(f"i32 {2 * i}" for i in range(n // 2))
        odds = ", ".join(f"i32 {2 * i + 1}" for i in range(n // 2))
        g.emit(f"{ev} = shufflevector {wt} {p}, {wt} poison, <{n // 2} x i32> <{evens}>")
        g.emit(f"{od} = shufflevector {wt} {p}, {wt} poison, <{n // 2} x i32> <{odds}>")
        g.emit(f"{r} = add {ht} {ev}, {od}")
        vt = ht
    elif name == "vsad":                     # L = 8 (the verifier's rule): PSADBW itself
        g.emit(f"{r} = call <2 x i64> @llvm.x86.sse2.psad.bw(<16 x i8> {a}, <16 x i8> {b})")
        vt = "<2 x i64>"
    elif name in ("vpacks", "vpacku"):
        h = L // 2
        lo, hi = (-(1 << (h - 1)), (1 << (h - 1)) - 1) if name == "vpacks" else (0, (1 << h) - 1)
        ht = _vt(h, n)
        parts = []
        for x in (a, b):
            c1, c2, t = g.t(), g.t(), g.t()
            g.emit(f"{c1} = call {vt} @llvm.smax.v{n}i{L}({vt} {x}, {vt} {_splat(L, lo)})")
            g.emit(f"{c2} = call {vt} @llvm.smin.v{n}i{L}({vt} {c1}, {vt} {_splat(L, hi)})")
            g.emit(f"{t} = trunc {vt} {c2} to {ht}")
            parts.append(t)
        idx = ", ".join(f"i32 {i}" for i in range(2 * n))
        g.emit(f"{r} = shufflevector {ht} {parts[0]}, {ht} {parts[1]}, <{2 * n} x i32> <{idx}>")
        vt = _vt(h)
    else:
        raise NotImplementedError(name)
    _as_int(g, r, vt, d)


def _vshift(g, o):
    L, name, d = o.imm, o.op.name, g.v(o.dst)
    vt, n = _vt(L), 128 // L
    a = _as_vec(g, g.v(o.args[0]), L)
    cnt = g.v(o.args[1])
    inrange = g.t()
    g.emit(f"{inrange} = icmp ult i64 {cnt}, {L}")
    amt = cnt
    if name == "vashr":                      # a count >= L fills with the sign: shift by L - 1
        amt = g.t()
        g.emit(f"{amt} = select i1 {inrange}, i64 {cnt}, i64 {L - 1}")
    if L < 64:
        t = g.t()
        g.emit(f"{t} = trunc i64 {amt} to i{L}")
        amt = t
    ins, spl, r = g.t(), g.t(), g.t()
    g.emit(f"{ins} = insertelement {vt} poison, i{L} {amt}, i32 0")
    g.emit(f"{spl} = shufflevector {vt} {ins}, {vt} poison, <{n} x i32> zeroinitializer")
    op = {"vshl": "shl", "vlshr": "lshr", "vashr": "ashr"}[name]
    g.emit(f"{r} = {op} {vt} {a}, {spl}")
    if name != "vashr":
        z = g.t()
        g.emit(f"{z} = select i1 {inrange}, {vt} {r}, {vt} zeroinitializer")
        r = z
    _as_int(g, r, vt, d)


def _vshuffle(g, o):
    a, b = _as_vec(g, g.v(o.args[0]), 8), _as_vec(g, g.v(o.args[1]), 8)
    idx = ", ".join(f"i32 {(o.imm >> (8 * k)) & 0xFF}" for k in range(16))
    r = g.t()
    g.emit(f"{r} = shufflevector <16 x i8> {a}, <16 x i8> {b}, <16 x i32> <{idx}>")
    _as_int(g, r, "<16 x i8>", g.v(o.dst))


def _vmask(g, o):
    L = o.imm
    vt, n = _vt(L), 128 // L
    a = _as_vec(g, g.v(o.args[0]), L)
    c, bits = g.t(), g.t()
    g.emit(f"{c} = icmp slt {vt} {a}, zeroinitializer")
    g.emit(f"{bits} = bitcast <{n} x i1> {c} to i{n}")
    g.emit(f"{g.v(o.dst)} = zext i{n} {bits} to i32")


_GEN = {
    Shape.VBINARY: _vbinary, Shape.VSHIFT: _vshift, Shape.VSHUFFLE: _vshuffle, Shape.VMASK: _vmask,
    Shape.BINARY: _binary, Shape.UNARY: _unary, Shape.CMP: _cmp, Shape.CAST: _cast, Shape.CONST: _const,
    Shape.SELECT: _select, Shape.GET: _get, Shape.PUT: _put, Shape.GETL: _getl, Shape.PUTL: _putl,
    Shape.LOAD: _load, Shape.STORE: _store, Shape.CALL: _call, Shape.LABEL: _label, Shape.BR: _br,
    Shape.BRIF: _brif, Shape.EXIT: _exit, Shape.EXITIF: _exitif, Shape.TRAP: _trap, Shape.TRAPIF: _trapif,
    Shape.INSN: _insn, Shape.FBINARY: gen_fp, Shape.FUNARY: gen_fp, Shape.FCAST: gen_fp,
}


def has_loop(unit: Unit, ip: int, consts: dict | None = None) -> bool:
    """True when the unit branches backward: to an earlier label, or an exit to its own start (see chain_to)."""
    if consts is None:
        consts = {o.dst: o.imm for o in unit.ops if o.op is OP.const}
    seen = set()
    for o in unit.ops:
        if o.op is OP.label:
            seen.add(o.imm)
        elif (o.op in (OP.br, OP.brif) and o.imm in seen
              or o.op in (OP.exit, OP.exitif) and consts.get(o.args[-1]) == ip):
            return True
    return False


def gen_unit(unit: Unit, name: str, lay: Layout, ip: int, ninsns: int, promote: bool = False,
             dispatch_bias: int | None = None) -> tuple[str, list]:
    """LLVM IR text of one unit's function; returns (text, [(constant exit target, chain slot address)]).
    ``promote``: keep the state fields it touches in allocas (only worth it when LLVM's optimizer runs).
    ``dispatch_bias``: the dispatch table's key of guest pc X is X + bias for this unit's mode; given, indirect
    exits probe the table inline."""
    g = UnitCodegen(unit, name, lay, ip, ninsns, promote)
    g.dispatch_bias = dispatch_bias
    g.consts = {o.dst: o.imm for o in unit.ops if o.op is OP.const}
    g.loops = has_loop(unit, ip, g.consts)
    # A unit that loads CS (far transfers) changes the code segment: its exits cannot be chained by IP.
    g.nochain = unit.attrs.get("nochain", False) or any(o.op is OP.put and o.imm in lay.no_chain_offsets
                                                         for o in unit.ops)
    return g.gen() + "\n", g.chain_slots


MODULE_HEADER = """target triple = "{triple}"
!0 = !{{!"branch_weights", i32 2000, i32 1}}
!1 = !{{!"branch_weights", i32 1, i32 2000}}
"""

INTRINSICS = "\n".join(
    [f"declare i{b} @llvm.{f}.i{b}(i{b}, i{b}, i{b})" for f in ("fshl", "fshr") for b in (8, 16, 32, 64, 128)]
    + [f"declare i{b} @llvm.ctpop.i{b}(i{b})" for b in (1, 8, 16, 32, 64, 128)]
    + [f"declare i{b} @llvm.{f}.i{b}(i{b}, i1)" for f in ("ctlz", "cttz") for b in (1, 8, 16, 32, 64, 128)]
    + [f"declare i{b} @llvm.bswap.i{b}(i{b})" for b in (16, 32, 64, 128)]
    # vector ops
    + [f"declare <{128 // L} x i{L}> @llvm.{f}.v{128 // L}i{L}(<{128 // L} x i{L}>, <{128 // L} x i{L}>)"
       for f in ("sadd.sat", "uadd.sat", "ssub.sat", "usub.sat", "smin", "smax", "umin", "umax")
       for L in (8, 16, 32, 64)]
    + ["declare <2 x i64> @llvm.x86.sse2.psad.bw(<16 x i8>, <16 x i8>)"]
) + "\n" + FP_DECLARATIONS

# intrinsic name -> its declaration line
_DECL_LINES = {m.group(1): m.group(0) for m in re.finditer(r"^declare [^@]*(@[\w.]+)\(.*$", INTRINSICS, re.MULTILINE)}
_USED = re.compile(r"@llvm\.[\w.]+")


def declarations_for(body: str) -> str:
    """The intrinsic declarations that ``body`` uses: a module declares only those (each declaration costs parse
    time and lives as long as the JIT keeps the module)."""
    used = set(_USED.findall(body))
    return "\n".join(line for name, line in _DECL_LINES.items() if name in used) + "\n"
