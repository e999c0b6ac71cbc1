"""SingleStepTests 80286 conformance (tests/conformance/sst.py does the work).

    python -m pytest tests/conformance -q -o pythonpath=. -k smoke             # fast: 20 tests x 12 forms, interp
    python -m pytest tests/conformance -q -o pythonpath=. -m conformance -x    # everything (slow)
    SST_LIMIT=50 SST_BACKENDS=interp python -m pytest tests/conformance -q -o pythonpath=. -m conformance

The harness self-tests (``-k harness``) run it against an oracle fake emulator; they need neither dbt nor Unicorn.
"""
from __future__ import annotations

import os

import pytest

from tests.conformance import sst

BACKENDS = [b for b in os.environ.get("SST_BACKENDS", "interp,llvm").split(",") if b]
LIMIT = int(os.environ["SST_LIMIT"]) if os.environ.get("SST_LIMIT") else None
# The llvm backend compiles every test's block on its own (~2-3 ms each; the whole set takes ~6 min on two cores).
# SST_LLVM_LIMIT=N runs only the first N tests of each form on it (default 0: all).
LLVM_LIMIT = int(os.environ.get("SST_LLVM_LIMIT", "0")) or None
SHOW = 5

try:
    FORMS = sst.list_forms()
except OSError:                         # data not present: test_data_present says so
    FORMS = []


def test_data_present():
    assert FORMS, f"no 80286 conformance vectors found in {sst.DATA_DIR} (set SST80286_DIR)"

# One representative per family: ALU r/m, BCD, push, Jcc, mov, pushf, string+REP, ret, INT n (IVT), shift by CL,
# DIV with #DE, indirect call.
SMOKE_FORMS = ["00", "27", "50", "74", "88", "9C", "A4", "C3", "CD", "D3.4", "F6.6", "FF.2"]
SMOKE_LIMIT = 20


def _check(form: str, backend: str, limit: int | None):
    res = sst.run_file(sst.form_path(form), backend, limit=limit, max_failures=SHOW)
    assert res.error is None, res.report(SHOW)
    assert res.ran + res.excluded > 0, f"{form}: no tests found"
    assert res.ok, res.report(SHOW)


@pytest.mark.conformance
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", FORMS)
def test_sst80286(form, backend):
    limit = LIMIT
    if backend == "llvm" and LLVM_LIMIT is not None:
        limit = min(limit or LLVM_LIMIT, LLVM_LIMIT)
    _check(form, backend, limit)


@pytest.mark.parametrize("form", SMOKE_FORMS)
def test_smoke(form):
    # Fails with a clear ImportError until `from dbt import Emulator, GuestFault` works.
    _check(form, "interp", SMOKE_LIMIT)


# --------------------------------------------------------------------------------------------------------------------
# Harness self-tests: an oracle emulator that "executes" a test by applying its recorded final state. The harness must
# pass it, must fail it when a compared bit is broken, and must not fail it for masked (undefined) flag bits.

class OracleEmulator:
    def __init__(self, tests, corrupt=None):
        self.mem = bytearray(sst.MEM_SIZE)
        self.regs = {r: 0 for r in sst.REGS}
        self.by_key = {}
        for t in tests:
            self.by_key[self._key(t["initial"]["regs"], bytes(t["bytes"]))] = t
        self.corrupt = corrupt          # callable(emulator, test) applied after the final state

    @staticmethod
    def _key(r, code):
        return tuple(r[n] & (0x0FFF if n == "flags" else 0xFFFF) for n in sst.REGS), code

    def mem_map(self, addr, size, perms="rwx"):
        assert addr == 0 and size <= len(self.mem)

    def mem_write(self, addr, data):
        self.mem[addr:addr + len(data)] = data

    def mem_read(self, addr, size):
        return bytes(self.mem[addr:addr + size])

    def reg_write(self, name, value):
        self.regs[name] = value & 0xFFFF

    def reg_read(self, name):
        return self.regs[name]

    def emu_start(self, begin, until=None, count=None):
        self.regs["ip"] = begin
        r = self.regs
        t = next(t for n in range(1, 16) if (t := self.by_key.get(
            self._key(r, self.mem_read((r["cs"] << 4) + r["ip"], n)))) is not None)
        self.regs.update(t["final"]["regs"])
        for a, v in t["final"]["ram"]:
            self.mem[a] = v
        if self.corrupt:
            self.corrupt(self, t)
        return "hlt"


def _oracle_run(form, corrupt=None, limit=60):
    tests = list(sst.iter_tests(sst.form_path(form), limit))
    m = sst.Machine.__new__(sst.Machine)
    m.backend, m.GuestFault, m.emu = "oracle", RuntimeError, OracleEmulator(tests, corrupt)
    m._zero = bytes(sst.SCAN_CHUNK)
    masks = sst.flag_masks()
    out = []
    for t in tests:
        out.append(sst.run_test(m, t, masks.mask_for(form, t)))
    assert not any(m.emu.mem), "harness left memory dirty"
    return tests, out


needs_data = pytest.mark.skipif(not FORMS, reason="sst80286 data not present")


@needs_data
@pytest.mark.parametrize("form", ["00", "9C", "CD", "F6.6", "D3.4", "8F", "A5"])
def test_harness_oracle_passes(form):
    _, out = _oracle_run(form)
    fails = [str(f) for f in out if f is not None]
    assert not fails, "\n".join(fails[:3])


@needs_data
def test_harness_detects_defined_flag_and_memory_and_stray():
    def flip_cf(emu, t):                           # CF is defined for ADD
        emu.regs["flags"] ^= 1
    _, out = _oracle_run("00", flip_cf, limit=10)
    assert all(f is not None and any("flags" in d for d in f.diffs) for f in out)

    def flip_af(emu, t):                           # AF is undefined for OR (mask clears it)
        emu.regs["flags"] ^= 0x10
    _, out = _oracle_run("08", flip_af, limit=10)
    assert all(f is None for f in out)

    def stray(emu, t):                             # a write just past the last listed byte (a guard byte)
        a = max(a for a, _ in t["initial"]["ram"] + t["final"]["ram"])
        emu.mem[a + 1] ^= 0x5A
    _, out = _oracle_run("00", stray, limit=10)
    assert all(f is not None for f in out)

    def far_stray(emu, t):                         # a write far away: found by the full scan after the failure
        emu.mem[0xABCDE] = 1
        emu.regs["ax"] ^= 1
    _, out = _oracle_run("00", far_stray, limit=3)
    assert all(any("stray write" in d for d in f.diffs) for f in out)


@needs_data
def test_harness_pushed_flags_image_masked():
    # DIV #DE pushes FLAGS with undefined arithmetic flags: flipping them in the image must not fail,
    # flipping DF (defined) must.
    def flip(bits):
        def f(emu, t):
            if t.get("exception"):
                r = dict(t["initial"]["regs"]); r.update(t["final"]["regs"])
                a = (r["ss"] << 4) + ((r["sp"] + 4) & 0xFFFF)
                emu.mem[a] ^= bits & 0xFF
                a_hi = (r["ss"] << 4) + ((r["sp"] + 5) & 0xFFFF)
                emu.mem[a_hi] ^= bits >> 8
        return f
    tests, out = _oracle_run("F6.6", flip(0x08D5))     # OF SF ZF AF PF CF
    assert all(f is None for f in out)
    tests, out = _oracle_run("F6.6", flip(0x0400))     # DF
    assert all((f is not None) == bool(t.get("exception")) for t, f in zip(tests, out))


def test_flag_masks_286_overrides():
    if not FORMS:
        pytest.skip("sst80286 data not present")
    m = sst.flag_masks()
    assert m.form_mask("69") == m.form_mask("F7.5") == 0x0F2B         # IMUL: SZAP undefined
    assert m.form_mask("C1.4") == m.form_mask("D3.4")                  # shift by imm8 == shift by CL
    assert m.form_mask("D0.6") == m.form_mask("D0.4")                  # /6 = SAL alias on the 286
    assert m.form_mask("00") == 0x0FFF
    assert isinstance(m.form_mask("8F"), tuple)                        # group opcode in one file: per-reg
