"""Self-tests of the native (host CPU) oracle and the Unicorn oracle.

Run: cd /work/main && python -m pytest tests/oracle_selftest -q -o pythonpath=.
"""

import random
import time

import keystone
import pytest

from tests.oracle.native import (
    DATA_SIZE, FLAGS_MASK, REGS32, REGS64, code_address, data_area,
    run_native, run_native_batch)
from tests.oracle import unicorn_oracle as uo

CF, PF, AF, ZF, SF, DF, OF = 0x1, 0x4, 0x10, 0x40, 0x80, 0x400, 0x800
M64 = (1 << 64) - 1
M32 = (1 << 32) - 1

_KS = {16: keystone.KS_MODE_16, 32: keystone.KS_MODE_32, 64: keystone.KS_MODE_64}
_ks_cache = {}


def asm(mode, text, addr=None):
    """Assemble at the address the oracle runs the code at."""
    ks = _ks_cache.get(mode)
    if ks is None:
        ks = _ks_cache[mode] = keystone.Ks(keystone.KS_ARCH_X86, _KS[mode])
    if addr is None:
        addr = uo.code_address(mode)
    enc, _ = ks.asm(text, addr)
    return bytes(enc)


def ok(res):
    assert res["exception"] is None, res
    return res["regs"]


# --------------------------------------------------------------------------
# basic setup

def test_addresses_below_4g():
    for mode in (32, 64):
        base, size = data_area(mode)
        assert size == DATA_SIZE >= 0x10000
        assert base + size <= 1 << 32
        assert code_address(mode) < 1 << 32


def test_result_shape():
    r = run_native(b"\x90", 64, {})
    assert set(r) >= {"regs", "mem", "exception"}
    assert set(r["regs"]) == set(REGS64) | {"rflags"}
    r = run_native(b"\x90", 32, {})
    assert set(r["regs"]) == set(REGS32) | {"eflags"}


@pytest.mark.parametrize("mode", [32, 64])
def test_all_registers_roundtrip(mode):
    rnd = random.Random(mode)
    names = REGS64 if mode == 64 else REGS32
    cases = []
    for _ in range(50):
        regs = {n: rnd.getrandbits(mode) for n in names}    # rsp too: nop never uses it
        regs["rflags" if mode == 64 else "eflags"] = rnd.getrandbits(12) & FLAGS_MASK
        cases.append((b"\x90", mode, regs))
    for (_, _, regs), res in zip(cases, run_native_batch(cases)):
        assert ok(res) == regs


@pytest.mark.parametrize("mode", [32, 64])
def test_flags_in_out_masked(mode):
    fl = "rflags" if mode == 64 else "eflags"
    # every non-arithmetic bit (TF, IF, AC, ...) is ignored on input and masked on output
    r = ok(run_native(b"\x90", mode, {fl: 0xFFFFFFFF}))
    assert r[fl] == FLAGS_MASK
    r = ok(run_native(b"\x90", mode, {fl: 0}))
    assert r[fl] == 0
    # pushf shows what the CPU really had: requested bits + IF + bit 1, no TF
    code = asm(mode, "pushfq; pop rax" if mode == 64 else "pushfd; pop eax")
    r = ok(run_native(code, mode, {fl: 0xFFFFFFFF}))
    a = r["rax" if mode == 64 else "eax"]
    assert a & 0xFFFF == FLAGS_MASK | 0x202


def test_32bit_code_really_runs_in_compat_mode():
    # 0x40 is "inc eax" in 32-bit mode but a REX prefix in 64-bit mode.
    assert ok(run_native(b"\x40", 32, {"eax": 5}))["eax"] == 6
    assert ok(run_native(b"\x40", 64, {"rax": 5}))["rax"] == 5
    # push eax moves esp by 4 (push rax would move it by 8)
    base, _ = data_area(32)
    r = ok(run_native(b"\x50", 32, {"eax": 1, "esp": base + 0x100}))
    assert r["esp"] == base + 0xFC


# --------------------------------------------------------------------------
# hand-verified arithmetic

def test_add_64_overflow_flags():
    r = ok(run_native(asm(64, "add rax, rbx"), 64,
                      {"rax": 0x7FFFFFFFFFFFFFFF, "rbx": 1}))
    assert r["rax"] == 0x8000000000000000
    assert r["rflags"] == OF | SF | AF | PF


def test_add_eax_ebx_64_zero_extends():
    r = ok(run_native(asm(64, "add eax, ebx"), 64,
                      {"rax": 0xDEADBEEF00000003, "rbx": 0xFFFFFFFF00000004}))
    assert r["rax"] == 7
    assert r["rflags"] == 0                  # 7 = 0b111 -> odd parity, PF=0


def test_add_32_wraps_to_zero():
    r = ok(run_native(asm(32, "add eax, ebx"), 32, {"eax": 0xFFFFFFFF, "ebx": 1}))
    assert r["eax"] == 0
    assert r["eflags"] & (CF | ZF) == CF | ZF
    assert r["eflags"] == CF | PF | AF | ZF   # 0xF + 0x1 carries out of bit 3
    assert r["ebx"] == 1


def test_sub_32_borrow():
    r = ok(run_native(asm(32, "sub eax, ebx"), 32, {"eax": 1, "ebx": 2}))
    assert r["eax"] == 0xFFFFFFFF
    assert r["eflags"] == CF | PF | AF | SF


def test_adc_uses_input_carry():
    code = asm(64, "adc rax, rbx")
    r0, r1 = run_native_batch([(code, 64, {"rax": 1, "rbx": 1, "rflags": 0}),
                               (code, 64, {"rax": 1, "rbx": 1, "rflags": CF})])
    assert ok(r0)["rax"] == 2 and ok(r1)["rax"] == 3


def test_mul_rbx_64():
    r = ok(run_native(asm(64, "mul rbx"), 64, {"rax": M64, "rbx": 2, "rdx": 12345}))
    assert r["rax"] == M64 - 1
    assert r["rdx"] == 1
    assert r["rflags"] & (CF | OF) == CF | OF
    r = ok(run_native(asm(64, "mul rbx"), 64, {"rax": 3, "rbx": 5, "rdx": 7}))
    assert (r["rax"], r["rdx"]) == (15, 0)
    assert r["rflags"] & (CF | OF) == 0


def test_div_64():
    r = ok(run_native(asm(64, "div rcx"), 64, {"rdx": 1, "rax": 5, "rcx": 3}))
    q, rem = divmod((1 << 64) + 5, 3)
    assert (r["rax"], r["rdx"]) == (q, rem)


def test_short_sequence_with_internal_branch():
    code = asm(64, "cmp rax, rbx; jne skip; mov rcx, 1; skip: inc rdx")
    a, b = run_native_batch([(code, 64, {"rax": 1, "rbx": 1}),
                             (code, 64, {"rax": 1, "rbx": 2})])
    assert (ok(a)["rcx"], ok(a)["rdx"]) == (1, 1)
    assert (ok(b)["rcx"], ok(b)["rdx"]) == (0, 1)


def test_rip_relative_lea():
    r = ok(run_native(asm(64, "lea rax, [rip]"), 64, {}))
    assert r["rax"] == code_address(64) + 7


# --------------------------------------------------------------------------
# faults

@pytest.mark.parametrize("catch", [True, False])
@pytest.mark.parametrize("mode", [32, 64])
def test_div_by_zero_sigfpe_and_batch_continues(mode, catch):
    div = asm(mode, "div ecx")
    add = asm(mode, "add eax, ecx")
    cases = [(add, mode, {"eax": 1, "ecx": 2}),
             (div, mode, {"eax": 1, "ecx": 0}),
             (add, mode, {"eax": 10, "ecx": 20}),
             (div, mode, {"eax": 7, "ecx": 2}),
             (div, mode, {"eax": 7, "ecx": 0}),
             (add, mode, {"eax": 100, "ecx": 200})]
    res = run_native_batch(cases, catch_faults=catch)
    ax = "rax" if mode == 64 else "eax"
    assert ok(res[0])[ax] == 3
    assert res[1]["exception"] == "SIGFPE" and res[1]["regs"] is None
    assert ok(res[2])[ax] == 30
    assert ok(res[3])[ax] == 3
    assert res[4]["exception"] == "SIGFPE"
    assert ok(res[5])[ax] == 300
    if catch:
        assert res[1]["vector"] == 0
        assert res[1]["fault_addr"] == code_address(mode)


@pytest.mark.parametrize("mode", [32, 64])
def test_other_faults(mode):
    bad = 0x1238                                   # unmapped low page
    cases = [(asm(mode, "ud2"), mode, {}),
             (asm(mode, "int3"), mode, {}),
             (asm(mode, f"mov eax, dword ptr [{bad:#x}]" if mode == 32
                  else "mov eax, dword ptr [rbx]"), mode, {"rbx": bad}),
             (asm(mode, "hlt"), mode, {}),
             (asm(mode, "push eax" if mode == 32 else "push rax"), mode,
              {"esp" if mode == 32 else "rsp": 8}),   # bad stack: needs sigaltstack
             (asm(mode, "nop"), mode, {})]
    res = run_native_batch(cases)
    assert [r["exception"] for r in res] == [
        "SIGILL", "SIGTRAP", "SIGSEGV", "SIGSEGV", "SIGSEGV", None]
    assert [r["vector"] for r in res[:5]] == [6, 3, 14, 13, 14]
    assert res[2]["fault_addr"] == bad


@pytest.mark.parametrize("mode", [32, 64])
def test_hang_times_out_and_batch_continues(mode):
    cases = [(b"\xeb\xfe", mode, {}), (asm(mode, "inc ecx"), mode, {"ecx": 1})]
    t = time.monotonic()
    res = run_native_batch(cases, timeout=0.2)
    assert time.monotonic() - t < 5
    assert res[0]["exception"] == "TIMEOUT"
    assert ok(res[1])["ecx" if mode == 32 else "rcx"] == 2


# --------------------------------------------------------------------------
# memory, stack, string ops, DF

def test_push_rax_into_data_area():
    base, _ = data_area(64)
    sp = base + 0x800
    r = run_native(asm(64, "push rax"), 64, {"rax": 0x1122334455667788, "rsp": sp},
                   {sp - 8: bytes(8), sp: b"\xAA" * 8})
    assert ok(r)["rsp"] == sp - 8
    assert r["mem"][sp - 8] == (0x1122334455667788).to_bytes(8, "little")
    assert r["mem"][sp] == b"\xAA" * 8


def test_pop_and_push_32():
    base, _ = data_area(32)
    sp = base + 0x400
    r = run_native(asm(32, "pop ebx; push ecx; push ecx"), 32,
                   {"esp": sp, "ecx": 0xCAFEBABE}, {sp - 4: bytes(4), sp: b"\x01\x02\x03\x04"})
    regs = ok(r)
    assert regs["ebx"] == 0x04030201
    assert regs["esp"] == sp - 4
    assert r["mem"][sp] == (0xCAFEBABE).to_bytes(4, "little")
    assert r["mem"][sp - 4] == (0xCAFEBABE).to_bytes(4, "little")


def test_data_area_is_reset_between_cases():
    base, _ = data_area(64)
    store = asm(64, "mov qword ptr [rbx], rax")
    load = asm(64, "mov rax, qword ptr [rbx]")
    res = run_native_batch([(store, 64, {"rbx": base + 0x100, "rax": 77}),
                            (load, 64, {"rbx": base + 0x100, "rax": 1})])
    assert ok(res[1])["rax"] == 0


@pytest.mark.parametrize("mode", [32, 64])
def test_std_lodsb(mode):
    base, _ = data_area(mode)
    si, ax, fl = ("rsi", "rax", "rflags") if mode == 64 else ("esi", "eax", "eflags")
    r = run_native(asm(mode, "std; lodsb"), mode, {si: base + 0x20, ax: 0x1100},
                   {base + 0x20: b"\x5A"})
    regs = ok(r)
    assert regs[si] == base + 0x1F
    assert regs[ax] == 0x115A
    assert regs[fl] & DF


@pytest.mark.parametrize("mode", [32, 64])
def test_df_from_input_and_cleared_for_host(mode):
    base, _ = data_area(mode)
    di, fl = ("rdi", "rflags") if mode == 64 else ("edi", "eflags")
    code = asm(mode, "stosb")
    # DF=1 requested: stosb goes down; the *following* cases (whose setup uses
    # libc memmove/memset in the child) must still work, i.e. DF was cleared.
    cases = [(code, mode, {di: base + 0x40, "eax": 0x33, fl: DF}, {base + 0x3F: bytes(2)}),
             (code, mode, {di: base + 0x40, "eax": 0x44}, {base + 0x3F: bytes(2)})] * 3
    res = run_native_batch(cases)
    for i, r in enumerate(res):
        regs = ok(r)
        if i % 2 == 0:
            assert regs[di] == base + 0x3F and regs[fl] == DF
        else:
            assert regs[di] == base + 0x41 and regs[fl] == 0
        assert r["mem"][base + 0x3F] == (b"\x00\x33" if i % 2 == 0 else b"\x00\x44")


def test_rep_movsb_32():
    base, _ = data_area(32)
    src, dst = base + 0x100, base + 0x200
    r = run_native(asm(32, "rep movsb"), 32, {"esi": src, "edi": dst, "ecx": 5},
                   {src: b"hello", dst: bytes(8)})
    regs = ok(r)
    assert r["mem"][dst] == b"hello\0\0\0"
    assert (regs["ecx"], regs["esi"], regs["edi"]) == (0, src + 5, dst + 5)


def test_mem_outside_data_area_rejected():
    base, size = data_area(64)
    with pytest.raises(ValueError):
        run_native(b"\x90", 64, {}, {base + size - 2: bytes(4)})
    with pytest.raises(ValueError):
        run_native(b"\x90", 16, {})


# --------------------------------------------------------------------------
# throughput

def test_throughput_at_least_20000_per_second():
    rnd = random.Random(7)
    code = asm(64, "add rax, rbx")
    cases = [(code, 64, {"rax": rnd.getrandbits(64), "rbx": rnd.getrandbits(64)})
             for _ in range(20000)]
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        res = run_native_batch(cases)
        best = max(best, len(cases) / (time.perf_counter() - t))
        if best >= 20000:
            break
    for (_, _, regs), r in zip(cases[:100], res):
        assert ok(r)["rax"] == (regs["rax"] + regs["rbx"]) & M64
    assert best >= 20000, f"{best:.0f} cases/s"


# --------------------------------------------------------------------------
# Unicorn as second oracle

_DIFF_INSNS = [
    "add {a}, {b}", "sub {a}, {b}", "adc {a}, {b}", "sbb {a}, {b}", "and {a}, {b}",
    "or {a}, {b}", "xor {a}, {b}", "cmp {a}, {b}", "test {a}, {b}", "neg {a}",
    "not {a}", "inc {a}", "dec {a}", "shl {a}, 1", "shr {a}, 1", "sar {a}, 1",
    "rol {a}, 1", "ror {a}, 1", "rcl {a}, 1", "rcr {a}, 1", "bswap {a}",
    "xchg {a}, {b}", "cmovb {a}, {b}", "setz bl", "add al, bl", "sub ax, bx",
    "adc cl, 0x80", "lea {a}, [{a} + {b}*4 + 0x10]", "imul {a}, {b}",
    "movzx {a}, bl", "movsx {a}, bx", "cbw", "cwd", "sahf", "lahf", "cmc", "stc",
    "clc", "cld", "std",
]


@pytest.mark.parametrize("mode", [32, 64])
def test_unicorn_agrees_on_regs_and_defined_flags(mode):
    rnd = random.Random(100 + mode)
    a, b = ("rax", "rbx") if mode == 64 else ("eax", "ebx")
    names = REGS64 if mode == 64 else REGS32
    fl = "rflags" if mode == 64 else "eflags"
    cases = []
    for text in _DIFF_INSNS:
        code = asm(mode, text.format(a=a, b=b))
        for _ in range(25):
            regs = {n: rnd.choice([0, 1, 0x7F, 0x80, 0xFF, M64, 1 << (mode - 1),
                                   rnd.getrandbits(mode)]) & ((1 << mode) - 1)
                    for n in names if n not in ("rsp", "esp")}
            regs[fl] = rnd.getrandbits(12) & FLAGS_MASK
            cases.append((code, mode, regs))
    nat = run_native_batch(cases)
    emu = uo.run_batch(cases)
    for case, n, e in zip(cases, nat, emu):
        assert n["exception"] is None and e["exception"] is None, (case, n, e)
        nr, er = dict(n["regs"]), dict(e["regs"])
        if case[0] in (asm(mode, f"imul {a}, {b}"),):      # SF ZF AF PF undefined
            nr[fl] &= CF | OF | DF
            er[fl] &= CF | OF | DF
        assert nr == er, (case[0].hex(), case[2], nr, er)


@pytest.mark.parametrize("mode", [32, 64])
def test_unicorn_agrees_on_memory_and_faults(mode):
    base, _ = uo.data_area(mode)
    sp = base + 0x800
    ax, spn = ("rax", "rsp") if mode == 64 else ("eax", "esp")
    cases = [(asm(mode, f"push {ax}"), mode, {ax: 0x12345678, spn: sp},
              {sp - 8: bytes(8)}),
             (asm(mode, "std; lodsb"), mode, {"esi": base + 5}, {base: b"abcdefgh"}),
             (asm(mode, "div ecx"), mode, {"ecx": 0}),
             (asm(mode, "ud2"), mode, {}),
             (asm(mode, "int3"), mode, {}),
             (asm(mode, "mov eax, dword ptr [ebx]" if mode == 32
                  else "mov eax, dword ptr [rbx]"), mode, {"ebx": 0x1000})]
    nat = run_native_batch(cases)
    emu = uo.run_batch(cases)
    for n, e in zip(nat, emu):
        assert n["exception"] == uo.expected_signal(e), (n, e)
        if n["exception"] is None:
            assert n["regs"] == e["regs"] and n["mem"] == e["mem"]


def test_unicorn_16bit_mode():
    base, size = uo.data_area(16)
    assert base + size <= 0x10000
    r = uo.run_unicorn(asm(16, "add ax, bx"), 16, {"ax": 0xFFFF, "bx": 1})
    assert r["regs"]["eax"] == 0 and r["regs"]["eflags"] == CF | PF | AF | ZF
    sp = base + 0x100
    r = uo.run_unicorn(asm(16, "push ax"), 16, {"ax": 0xBEEF, "sp": sp}, {sp - 2: bytes(2)})
    assert r["regs"]["esp"] == sp - 2 and r["mem"][sp - 2] == b"\xEF\xBE"
    r = uo.run_unicorn(asm(16, "div bx"), 16, {"bx": 0})
    assert uo.expected_signal(r) == "SIGFPE"
    r = uo.run_unicorn(b"\xeb\xfe", 16, {})
    assert r["exception"] == "TIMEOUT"
