"""SingleStepTests 80286 (real mode) conformance harness.

Runs the vectors in /work/shared/conformance/sst80286 (one ``FORM.jsonl.gz`` per opcode form, see the README there)
against the emulator's public API (``from dbt import Emulator, GuestFault``), or against the Unicorn-based reference
adapter (``--backend unicorn``, tests/conformance/unicorn_adapter.py) that validates this harness itself.

Per test: write the test's RAM bytes and registers, ``emu_start(ip, count=COUNT)`` (the test instruction is followed
by a HLT; control transfers and exceptions land on a HLT too, exceptions delivered through the real-mode IVT), then
compare every register (``final.regs`` lists only the changed ones), every byte listed in initial+final RAM plus a few
guard bytes around them (which must stay zero), and FLAGS under the per-form mask of defined flags. For exception
tests the FLAGS image pushed at ``exception.flag_address`` is compared under the same mask. Afterwards every byte
that was written is zeroed again, so tests are independent; a periodic full-memory scan catches stray writes.

CLI::

    python -m tests.conformance.sst [--backend interp|llvm|auto|unicorn] [--forms 00,01,F6.4,D3.*] [--limit N] [-j 2]
"""
from __future__ import annotations

import argparse
import fnmatch
import gzip
import json
import os
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

try:                                    # ~3x faster parsing; optional
    import orjson as _orjson
    _loads = _orjson.loads
except ImportError:                     # pragma: no cover
    _loads = json.loads

from tests.conformance import excluded as _excl
from tests.conformance.decode import decode

def _default_data_dir() -> Path:
    """shared/ sits beside the repository (in CI too: a fresh clone with a copy of shared/ next to it)."""
    beside = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "sst80286"
    return beside if beside.is_dir() else Path("/work/shared/conformance/sst80286")


DATA_DIR = Path(os.environ.get("SST80286_DIR") or _default_data_dir())
METADATA_NAME = "undefined-flags-8086-metadata.json"

REGS = ("ax", "bx", "cx", "dx", "si", "di", "bp", "sp", "ip", "cs", "ds", "es", "ss", "flags")
MEM_SIZE = 0x1010000            # 16 MB + 64 KB: FFFF:FFFF = 0x10FFEF is reached (A20 enabled)
FLAGS_IGNORED = 0xF000          # IOPL/NT/bit 15: cannot be set in 286 real mode; random in the initial states
DEFAULT_COUNT = 256             # safety net against runaways (REP counts in the data are <= 63); the HLT stop is the normal end
GUARD = 2                       # bytes checked on each side of every touched run (must stay zero)
SCAN_EVERY = 250                # full-memory stray-write scan period (tests); also after failures and at end
SCAN_CHUNK = 1 << 20

FLAG_NAMES = {0: "CF", 2: "PF", 4: "AF", 6: "ZF", 7: "SF", 8: "TF", 9: "IF", 10: "DF", 11: "OF",
              12: "IOPL0", 13: "IOPL1", 14: "NT", 15: "b15", 1: "b1", 3: "b3", 5: "b5"}

# --------------------------------------------------------------------------------------------------------------------
# Loading


def form_path(form: str, data_dir: Path | str | None = None) -> Path:
    return Path(data_dir or DATA_DIR) / f"{form}.jsonl.gz"


def form_of(path: Path | str) -> str:
    name = Path(path).name
    return name[:-len(".jsonl.gz")] if name.endswith(".jsonl.gz") else name


def list_forms(data_dir: Path | str | None = None) -> list[str]:
    d = Path(data_dir or DATA_DIR)
    return sorted(form_of(p) for p in d.glob("*.jsonl.gz"))


def iter_tests(path: Path | str, limit: int | None = None):
    """Stream the tests of one form file (gzip + one JSON object per line)."""
    with gzip.open(path, "rb") as fh:
        for n, line in enumerate(fh):
            if limit is not None and n >= limit:
                return
            if line.strip():
                yield _loads(line)


# --------------------------------------------------------------------------------------------------------------------
# Flag masks (bits set = defined = compared)

# The metadata file describes the 8086 (it is the one the SingleStepTests 80286 suite ships with). Opcodes that the
# 8086 treats as aliases of other opcodes but the 286 defines anew need their mask from the 286 (= SDM) definition:
MASK_FROM = {
    # IMUL r16, r/m16, imm: SF ZF AF PF undefined, exactly like one-operand IMUL (F7 /5).
    "69": "F7.5", "6B": "F7.5",
    # Shift/rotate by imm8 (new on the 186/286): same flags as the by-CL forms.
    **{f"C0.{r}": f"D2.{r}" for r in range(8)},
    **{f"C1.{r}": f"D3.{r}" for r in range(8)},
}
# ModRM reg 6 of the shift groups is SETMO on the 8086 (all flags "undefined" in the 8086 metadata) but an alias of
# SHL/SAL /4 on the 286 (the vectors disassemble it as "sal") and on 386+: use the /4 mask.
for _op in ("C0", "C1", "D0", "D1", "D2", "D3"):
    MASK_FROM[f"{_op}.6"] = f"{_op}.4"


class FlagMasks:
    def __init__(self, data_dir: Path | str | None = None):
        with open(Path(data_dir or DATA_DIR) / METADATA_NAME) as fh:
            self.opcodes = json.load(fh)["opcodes"]
        self._cache: dict[str, tuple] = {}

    def _raw(self, form: str) -> int | list:
        """Mask for ``form`` from the metadata: an int, or a list of 8 (per ModRM reg) if the form is not split."""
        src = MASK_FROM.get(form)
        if src is not None:
            return self._raw(src)
        if "." in form:
            base, reg = form.split(".", 1)
            ent = self.opcodes.get(base, {})
            ent = ent.get("reg", {}).get(reg, ent)
            return ent.get("flags-mask", 0xFFFF)
        ent = self.opcodes.get(form, {})
        if "reg" in ent:
            return [self._raw(f"{form}.{r}") for r in range(8)]
        return ent.get("flags-mask", 0xFFFF)

    def form_mask(self, form: str):
        """int, or a list of 8 ints indexed by ModRM reg for a group opcode stored in one file."""
        if form not in self._cache:
            raw = self._raw(form)
            if isinstance(raw, list):
                self._cache[form] = tuple(m & ~FLAGS_IGNORED & 0xFFFF for m in raw)
            else:
                self._cache[form] = raw & ~FLAGS_IGNORED & 0xFFFF
        return self._cache[form]

    def mask_for(self, form: str, test: dict) -> int:
        m = self.form_mask(form)
        if isinstance(m, tuple):
            reg = decode(test["bytes"]).reg
            return m[reg or 0]
        return m


_MASKS: dict[str, FlagMasks] = {}


def flag_masks(data_dir: Path | str | None = None) -> FlagMasks:
    key = str(data_dir or DATA_DIR)
    if key not in _MASKS:
        _MASKS[key] = FlagMasks(data_dir)
    return _MASKS[key]


def flag_bits(x: int) -> str:
    return ",".join(FLAG_NAMES.get(b, str(b)) for b in range(16) if x >> b & 1) or "-"


# --------------------------------------------------------------------------------------------------------------------
# Results


@dataclass
class Failure:
    idx: int
    name: str
    bytes_hex: str
    diffs: list[str]
    exception: dict | None = None
    reason: str | None = None
    crashed: bool = False

    def __str__(self) -> str:
        head = f"#{self.idx} {self.name!r} [{self.bytes_hex}]"
        if self.exception:
            head += f" (expects exception {self.exception['number']})"
        if self.reason and self.reason != "hlt":
            head += f" stop={self.reason}"
        return head + "".join("\n    " + d for d in self.diffs)


@dataclass
class FormResult:
    form: str
    backend: str
    passed: int = 0
    failed: int = 0
    excluded: int = 0
    excluded_by: dict = field(default_factory=dict)
    relaxed_by: dict = field(default_factory=dict)      # tests run with a relaxed flags mask (excluded.py)
    failures: list = field(default_factory=list)
    stray: list = field(default_factory=list)       # stray-write events found by full-memory scans
    error: str | None = None                        # harness-level error (no emulator, unreadable file, ...)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.excluded

    @property
    def ran(self) -> int:
        return self.passed + self.failed

    @property
    def ok(self) -> bool:
        return self.error is None and self.failed == 0 and not self.stray

    @property
    def pass_rate(self) -> float:
        return 100.0 * self.passed / self.ran if self.ran else 0.0

    def report(self, max_failures: int = 5) -> str:
        lines = [f"{self.form} [{self.backend}]: {self.passed}/{self.ran} passed ({self.pass_rate:.2f}%), "
                 f"{self.failed} failed, {self.excluded} excluded"]
        if self.error:
            lines.append("ERROR: " + self.error)
        for k, v in sorted(self.excluded_by.items()):
            lines.append(f"  excluded {v} by {k}")
        for k, v in sorted(self.relaxed_by.items()):
            lines.append(f"  flags mask relaxed for {v} by {k}")
        for s in self.stray:
            lines.append("  STRAY WRITES: " + s)
        for f in self.failures[:max_failures]:
            lines.append("  " + str(f).replace("\n", "\n  "))
        if self.failed > max_failures:
            lines.append(f"  ... {self.failed - max_failures} more failures")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------------
# Emulator backends


def load_backend(backend: str):
    """(factory() -> emulator, GuestFault class) for ``backend``. Raises a clear ImportError if unavailable."""
    if backend == "unicorn":
        from tests.conformance.unicorn_adapter import Emulator as UEmu, GuestFault as UFault
        return (lambda: UEmu(mode=16)), UFault
    try:
        from dbt import Emulator, GuestFault
    except ImportError as e:
        raise ImportError(
            f"conformance backend {backend!r} needs the emulator under test, but `from dbt import Emulator, "
            f"GuestFault` failed: {e}. (Validate the harness alone with --backend unicorn.)") from e
    return (lambda: Emulator(mode=16, backend=backend)), GuestFault


class Machine:
    """One emulator with 16 MB + 64 KB mapped, reused for every test of a backend in this process."""

    def __init__(self, backend: str):
        factory, self.GuestFault = load_backend(backend)
        self.backend = backend
        self.emu = factory()
        self.emu.mem_map(0, MEM_SIZE, "rwx")
        self._zero = bytes(SCAN_CHUNK)

    def scan_and_clear(self, limit: int = 8) -> list[tuple[int, bytes]]:
        """Find every non-zero byte in guest memory (stray writes), zero it, return up to ``limit`` runs."""
        found, emu = [], self.emu
        for base in range(0, MEM_SIZE, SCAN_CHUNK):
            n = min(SCAN_CHUNK, MEM_SIZE - base)
            chunk = emu.mem_read(base, n)
            if chunk == (self._zero if n == SCAN_CHUNK else bytes(n)):
                continue
            for m in re.finditer(rb"[^\x00]+", chunk):
                a = base + m.start()
                emu.mem_write(a, bytes(m.end() - m.start()))
                if len(found) < limit:
                    found.append((a, m.group()[:16]))
        return found


_MACHINES: dict[str, Machine] = {}
_USES: dict[str, int] = {}
# A machine serves this many vector files, then a fresh one takes over: an LLVM JIT keeps every module it compiled,
# and one machine running the whole sweep would hold all of them (gigabytes).
MACHINE_FILES = 16


def get_machine(backend: str) -> Machine:
    m = _MACHINES.get(backend)
    if m is None or _USES.get(backend, 0) >= MACHINE_FILES:
        m = _MACHINES[backend] = Machine(backend)
        _USES[backend] = 0
    _USES[backend] += 1
    return m


def _spans(addrs, guard: int):
    """Merge sorted addresses into [start, end) spans, each address widened by ``guard`` bytes on both sides."""
    spans = []
    s = e = None
    for a in addrs:
        lo, hi = a - guard, a + guard + 1
        if s is None:
            s, e = lo, hi
        elif lo <= e:
            if hi > e:
                e = hi
        else:
            spans.append((max(s, 0), min(e, MEM_SIZE)))
            s, e = lo, hi
    if s is not None:
        spans.append((max(s, 0), min(e, MEM_SIZE)))
    return spans


def run_test(machine: Machine, t: dict, mask: int, count: int = DEFAULT_COUNT,
             scan_on_failure: bool = True) -> Failure | None:
    """Run one test; None if it passed, else a Failure with a readable diff. Leaves the touched memory zeroed;
    after a failure (always after a crash or a non-HLT stop) a full-memory scan also clears stray writes."""
    emu = machine.emu
    init = t["initial"]
    fin = t["final"]
    iregs = init["regs"]
    init_ram = init["ram"]
    fin_ram = fin["ram"]
    ini = dict(init_ram)
    exp = dict(ini)
    exp.update(fin_ram)
    spans = _spans(sorted(exp), GUARD)

    # ---- load
    for s, e in spans:
        emu.mem_write(s, bytes([ini.get(a, 0) for a in range(s, e)]))
    rw = emu.reg_write
    for r in REGS:
        if r == "flags":
            rw("flags", iregs["flags"] & ~FLAGS_IGNORED)
        elif r != "ip":
            rw(r, iregs[r])
    rw("ip", iregs["ip"])

    # ---- run
    reason = None
    diffs = []
    crashed = False
    try:
        reason = emu.emu_start(iregs["ip"], count=count)
        if reason == "count":
            diffs.append(f"stopped by the instruction budget (count={count}) instead of a HLT: runaway?")
        elif reason not in ("hlt", None):
            diffs.append(f"unexpected stop reason {reason!r}")
    except machine.GuestFault as e:
        crashed = True
        diffs.append(f"GuestFault: {e}")
    except Exception as e:  # noqa: BLE001 - an emulator crash is a test failure, not a harness crash
        crashed = True
        tb = traceback.extract_tb(e.__traceback__)
        where = f" at {tb[-1].filename}:{tb[-1].lineno}" if tb else ""
        diffs.append(f"emulator raised {type(e).__name__}: {e}{where}")

    # ---- registers
    fregs = fin["regs"]
    rr = emu.reg_read
    for r in REGS:
        want = fregs.get(r, iregs[r])
        try:
            got = rr(r)
        except Exception as e:  # noqa: BLE001
            diffs.append(f"{r}: reg_read failed: {type(e).__name__}: {e}")
            continue
        if r == "flags":
            if (got ^ want) & mask:
                d = (got ^ want) & mask
                diffs.append(f"flags: expected {want:#06x} got {got:#06x} (mask {mask:#06x}); "
                             f"differ: {flag_bits(d)} (expected {flag_bits(want & d)} set)")
        elif got != want:
            diffs.append(f"{r}: expected {want:#06x} got {got:#06x}" + (
                f" (initial {iregs[r]:#06x})" if r in fregs else " (unchanged in the test)"))

    # ---- memory (+ guards), masked pushed FLAGS image for exceptions
    exc = t.get("exception")
    flag_at = {}                    # address -> mask byte, for the FLAGS image pushed by an exception
    if exc:
        # The image is at final SS:SP+4 (IP, CS, FLAGS pushed; the handler is a bare HLT). Do not use
        # exception.flag_address: it is rounded down to even when SP is odd (839 vectors), i.e. one byte off.
        fss, fsp = fregs.get("ss", iregs["ss"]), fregs.get("sp", iregs["sp"])
        fa = (fss << 4) + ((fsp + 4) & 0xFFFF)
        fa_hi = (fss << 4) + ((fsp + 5) & 0xFFFF)
        flag_at = {fa: mask & 0xFF, fa_hi: mask >> 8 & 0xFF}
    memdiffs = []
    for s, e in spans:
        got = emu.mem_read(s, e - s)
        want = bytes([exp.get(a, 0) for a in range(s, e)])
        if got == want:
            continue
        for i in range(e - s):
            g, w = got[i], want[i]
            if g == w:
                continue
            a = s + i
            bm = flag_at.get(a)
            if bm is not None and not (g ^ w) & bm:
                continue
            memdiffs.append((a, w, g))
    if memdiffs:
        flagd = [m for m in memdiffs if m[0] in flag_at]
        if flagd:
            w = exp.get(fa, 0) | exp.get(fa_hi, 0) << 8
            g = _read8(emu, fa) | _read8(emu, fa_hi) << 8
            d = (g ^ w) & mask
            diffs.append(f"pushed FLAGS @{fa:#x}: expected {w:#06x} got {g:#06x} (mask {mask:#06x}); "
                         f"differ: {flag_bits(d)}")
        other = [m for m in memdiffs if m not in flagd]
        for a, w, g in other[:8]:
            kind = "" if a in exp else " (untouched byte / guard)"
            diffs.append(f"mem[{a:#08x}]: expected {w:#04x} got {g:#04x}{kind}")
        if len(other) > 8:
            diffs.append(f"... {len(other) - 8} more memory bytes differ")

    if diffs:
        hint = _exception_hint(emu, iregs, exc, reason)
        if hint:
            diffs.append(hint)

    # ---- restore
    for s, e in spans:
        emu.mem_write(s, bytes(e - s))
    if not diffs:
        return None
    fail = Failure(t["idx"], t["name"], bytes(t["bytes"]).hex(), diffs, exc, reason)
    fail.crashed = crashed
    if scan_on_failure or crashed or reason != "hlt":
        strays = machine.scan_and_clear()
        for a, b in strays:
            diffs.append(f"stray write: {len(b)}+ non-zero byte(s) at {a:#08x} not listed in the test: {b.hex()}")
    return fail


def _exception_hint(emu, r: dict, exc: dict | None, reason) -> str | None:
    """Diagnose the usual cause of a runaway: an exception delivered through an IVT entry the test does not set."""
    base, sp = r["ss"] << 4, r["sp"]
    ip, cs, fl = (_read8(emu, base + ((sp - 6 + k) & 0xFFFF)) | _read8(emu, base + ((sp - 5 + k) & 0xFFFF)) << 8
                  for k in (0, 2, 4))
    if exc is None and cs == r["cs"] and ((ip - r["ip"]) & 0xFFFF) <= 15:
        return (f"hint: the emulator seems to have raised an exception the 286 did not (frame at "
                f"SS:{(sp - 6) & 0xFFFF:04x}: IP={ip:04x} CS={cs:04x} FLAGS={fl:04x}); its IVT entry is not part of "
                f"the test, so the handler address was 0000:0000")
    if exc is not None and reason == "count":
        return (f"hint: expected delivery through vector {exc['number']} (IVT entry at {4 * exc['number']:#x}) "
                f"to a HLT; the emulator went elsewhere (another vector, or no exception)")
    return None


def _read8(emu, a: int) -> int:
    try:
        return emu.mem_read(a, 1)[0]
    except Exception:  # noqa: BLE001
        return 0


def run_file(path: Path | str, backend: str = "interp", limit: int | None = None, max_failures: int = 20,
             exclusions: bool = True, count: int = DEFAULT_COUNT, scan_every: int = SCAN_EVERY,
             data_dir: Path | str | None = None) -> FormResult:
    """Run one form file against ``backend``; returns a FormResult (first ``max_failures`` failures kept)."""
    path = Path(path)
    if not path.exists() and path.name == str(path) and not str(path).endswith(".gz"):
        path = form_path(str(path), data_dir)          # a bare form name such as "F6.4"
    form = form_of(path)
    res = FormResult(form, backend)
    t0 = time.perf_counter()
    machine = get_machine(backend)          # ImportError propagates: no emulator is not a test result
    masks = flag_masks(data_dir or path.parent)
    form_reason = _excl.EXCLUDED_FORMS.get(form) if exclusions else None
    window_start = None
    since_scan = 0
    try:
        for t in iter_tests(path, limit):
            if form_reason is not None:
                res.excluded += 1
                res.excluded_by["form: " + form_reason] = res.excluded_by.get("form: " + form_reason, 0) + 1
                continue
            if exclusions:
                ex = _excl.exclusion_for(form, t)
                if ex is not None:
                    res.excluded += 1
                    res.excluded_by[ex] = res.excluded_by.get(ex, 0) + 1
                    continue
            mask = masks.mask_for(form, t)
            if exclusions:
                relax, bits = _excl.mask_relaxation(form, t)
                if relax:
                    mask &= ~bits
                    res.relaxed_by[relax] = res.relaxed_by.get(relax, 0) + 1
            fail = run_test(machine, t, mask, count, scan_on_failure=len(res.failures) < max_failures)
            if fail is None:
                res.passed += 1
            else:
                res.failed += 1
                if len(res.failures) < max_failures:
                    res.failures.append(fail)
            if window_start is None:
                window_start = t["idx"]
            since_scan += 1
            if scan_every and since_scan >= scan_every:
                _stray_check(machine, res, window_start, t["idx"])
                window_start, since_scan = None, 0
        if since_scan:
            _stray_check(machine, res, window_start, "end")
    except ImportError:
        raise
    except Exception as e:  # noqa: BLE001
        res.error = f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
    res.seconds = time.perf_counter() - t0
    return res


def _stray_check(machine: Machine, res: FormResult, first, last) -> None:
    strays = machine.scan_and_clear()
    if strays:
        res.stray.append(f"after tests #{first}..#{last}: " + ", ".join(
            f"{a:#08x}:{b.hex()}" for a, b in strays) + " (rerun with --scan-every 1 to pinpoint)")


# --------------------------------------------------------------------------------------------------------------------
# CLI


def _select_forms(spec: str | None, data_dir) -> list[str]:
    forms = list_forms(data_dir)
    if not spec:
        return forms
    out = []
    for pat in spec.split(","):
        pat = pat.strip().upper()
        if not pat:
            continue
        hit = [f for f in forms if fnmatch.fnmatchcase(f.upper(), pat)]
        if not hit:
            raise SystemExit(f"no form file matches {pat!r} in {data_dir or DATA_DIR}")
        out.extend(h for h in hit if h not in out)
    return out


def _worker(args):
    form, backend, limit, max_failures, exclusions, count, scan_every, data_dir = args
    try:
        return run_file(form_path(form, data_dir), backend, limit, max_failures, exclusions, count, scan_every,
                        data_dir)
    except ImportError as e:
        r = FormResult(form, backend)
        r.error = f"ImportError: {e}"
        return r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.conformance.sst", description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", default="interp", choices=("interp", "llvm", "auto", "unicorn"))
    ap.add_argument("--forms", help="comma-separated forms or globs, e.g. 00,01,F6.4,D3.* (default: all)")
    ap.add_argument("--limit", type=int, help="first N tests per form")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="worker processes (one emulator each)")
    ap.add_argument("--show", type=int, default=3, help="failures to print per failing form (0: none)")
    ap.add_argument("--no-exclusions", action="store_true", help="run excluded tests too")
    ap.add_argument("--count", type=int, default=DEFAULT_COUNT, help="instruction budget per test")
    ap.add_argument("--scan-every", type=int, default=SCAN_EVERY, help="full-memory stray-write scan period")
    ap.add_argument("--data-dir", default=None, help=f"default {DATA_DIR}")
    ap.add_argument("--json", help="write per-form results to this JSON file")
    ap.add_argument("-q", "--quiet", action="store_true", help="only print failing forms and totals")
    a = ap.parse_args(argv)

    forms = _select_forms(a.forms, a.data_dir)
    # biggest files first for load balance
    forms_run = sorted(forms, key=lambda f: -form_path(f, a.data_dir).stat().st_size) if a.jobs > 1 else forms
    jobs = [(f, a.backend, a.limit, max(a.show, 20), not a.no_exclusions, a.count, a.scan_every, a.data_dir)
            for f in forms_run]
    t0 = time.perf_counter()
    results = []
    if a.jobs > 1:
        import multiprocessing as mp
        with mp.get_context("fork").Pool(a.jobs) as pool:
            for r in pool.imap_unordered(_worker, jobs):
                results.append(r)
                print(f"\r{len(results)}/{len(jobs)} forms", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
    else:
        for j in jobs:
            results.append(_worker(j))
            if not a.quiet:
                print(f"\r{len(results)}/{len(jobs)} forms", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
    wall = time.perf_counter() - t0
    results.sort(key=lambda r: forms.index(r.form))

    hdr = f"{'form':8} {'tests':>6} {'pass':>6} {'fail':>6} {'excl':>5} {'pass%':>7} {'sec':>6}"
    print(hdr)
    print("-" * len(hdr))
    for r in results:
        if a.quiet and r.ok:
            continue
        flag = "" if r.ok else ("  ERROR" if r.error else "  STRAY" if r.stray and not r.failed else "  <--")
        print(f"{r.form:8} {r.total:6} {r.passed:6} {r.failed:6} {r.excluded:5} {r.pass_rate:7.2f} "
              f"{r.seconds:6.1f}{flag}")
    print("-" * len(hdr))
    tp = sum(r.passed for r in results)
    tf = sum(r.failed for r in results)
    tx = sum(r.excluded for r in results)
    ran = tp + tf
    nok = sum(r.ok for r in results)
    cpu = sum(r.seconds for r in results)
    print(f"{'TOTAL':8} {tp + tf + tx:6} {tp:6} {tf:6} {tx:5} {100.0 * tp / ran if ran else 0:7.2f} {wall:6.1f}")
    print(f"forms at 100%: {nok}/{len(results)}; {ran / wall if wall else 0:.0f} tests/s wall, "
          f"{ran / cpu if cpu else 0:.0f} tests/s per process; backend {a.backend}")
    excl_tot: dict = {}
    for r in results:
        for k, v in r.excluded_by.items():
            excl_tot[k] = excl_tot.get(k, 0) + v
    for k, v in sorted(excl_tot.items()):
        print(f"excluded {v:6} by {k}")
    relax_tot: dict = {}
    for r in results:
        for k, v in r.relaxed_by.items():
            relax_tot[k] = relax_tot.get(k, 0) + v
    for k, v in sorted(relax_tot.items()):
        print(f"relaxed  {v:6} by {k} (flags mask)")
    errors = [r for r in results if r.error]
    for r in errors[:3]:
        print(f"\n{r.form}: ERROR {r.error}")
    if a.show:
        for r in results:
            if not r.ok and not r.error:
                print()
                print(r.report(a.show))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump([{"form": r.form, "backend": r.backend, "passed": r.passed, "failed": r.failed,
                        "excluded": r.excluded, "excluded_by": r.excluded_by, "relaxed_by": r.relaxed_by, "error": r.error,
                        "stray": r.stray, "seconds": r.seconds,
                        "failures": [str(f) for f in r.failures]} for r in results], fh, indent=1)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
