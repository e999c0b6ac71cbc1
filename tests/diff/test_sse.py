"""SSE/SSE2 integer, logic, move, shuffle and hint instructions against the host CPU, on both backends.

Every form runs with random xmm registers (lanes of edge values: 0, 1, all ones, sign and saturation boundaries)
and compares all xmm registers, MXCSR, the GPRs, the flags and the memory window with the native oracle. Memory
forms address ``[rbx + rcx]`` with rcx drawn from aligned and misaligned offsets, so one form checks both the
access and the #GP(0) of a misaligned 16-byte operand (the host reports it as SIGSEGV, trap 13); the test also
asserts that such a form really saw both outcomes, and that the unaligned forms never fault.
"""

import pytest

from tests.diff import harness
from tests.diff.harness import Form, quick_cases, require_backend, sweep_cases

OFFSETS = (0, 0x10, 0x20, 0x30, 0x40, 1, 2, 4, 8, 0xC, 0xF, 0x18, 0x21)
MEMX = {64: "xmmword ptr [rbx + rcx]", 32: "xmmword ptr [ebx + ecx]"}
MEMQ = {64: "qword ptr [rbx + rcx]", 32: "qword ptr [ebx + ecx]"}
MEMD = {64: "dword ptr [rbx + rcx]", 32: "dword ptr [ebx + ecx]"}
MEMW = {64: "word ptr [rbx + rcx]", 32: "word ptr [ebx + ecx]"}
MEMB = {64: "byte ptr [rbx + rcx]", 32: "byte ptr [ebx + ecx]"}
MODES = (64, 32)


def offsets(rng):
    return {"rcx": rng.choice(OFFSETS)}


class SseForm(Form):
    """A form with random xmm state; ``faults``: True when some cases must fault (misaligned 16-byte operand),
    False when none may, None when it does not matter."""

    def __init__(self, mode, asm, faults=None, **kw):
        kw.setdefault("sse", True)
        kw.setdefault("oracles", ("native",))
        super().__init__(mode, asm, **kw)
        self.faults = faults

    def run(self, backend, cases):
        n = super().run(backend, cases)
        stats = harness.LAST_STATS
        if self.faults is True:
            assert 0 < stats["faults"] < stats["cases"], f"{self.id}: expected a mix of faulting cases, {stats}"
        elif self.faults is False:
            assert stats["faults"] == 0, f"{self.id}: no case may fault, {stats}"
        return n


def mem_form(mode, asm, aligned=True, **kw):
    return SseForm(mode, asm, faults=aligned, mem_operand=True, regs=offsets, **kw)


# op xmm, xmm/m128 ------------------------------------------------------------------------------------------------

PACKED = """
paddb paddw paddd paddq psubb psubw psubd psubq paddsb paddsw paddusb paddusw psubsb psubsw psubusb psubusw
pmullw pmulhw pmulhuw pmuludq pmaddwd psadbw pavgb pavgw pminub pmaxub pminsw pmaxsw
pcmpeqb pcmpeqw pcmpeqd pcmpgtb pcmpgtw pcmpgtd
pand pandn por pxor andps andpd andnps andnpd orps orpd xorps xorpd
punpcklbw punpcklwd punpckldq punpcklqdq punpckhbw punpckhwd punpckhdq punpckhqdq
unpcklps unpckhps unpcklpd unpckhpd packsswb packssdw packuswb
""".split()


def packed_forms():
    forms = []
    for m in PACKED:
        forms.append(SseForm(64, f"{m} xmm1, xmm2"))
        forms.append(SseForm(64, f"{m} xmm9, xmm14"))
        forms.append(mem_form(64, f"{m} xmm5, {MEMX[64]}"))
        forms.append(SseForm(32, f"{m} xmm7, xmm0"))
        forms.append(mem_form(32, f"{m} xmm3, {MEMX[32]}"))
    for m in ("pxor", "pcmpeqb", "psubb", "pandn", "pcmpgtd", "punpcklbw", "packuswb", "psadbw"):
        forms.append(SseForm(64, f"{m} xmm4, xmm4"))             # the same register twice
    return forms


# shifts -------------------------------------------------------------------------------------------------------------

SHIFTS = {"psllw": 16, "pslld": 32, "psllq": 64, "psrlw": 16, "psrld": 32, "psrlq": 64, "psraw": 16, "psrad": 32}


def shift_count(rng):
    """xmm2 = a count: mostly 0..lane+2, sometimes huge, the upper quadword random (it is ignored)."""
    k = rng.random()
    low = rng.randrange(0, 70) if k < 0.7 else rng.choice((255, 256, 1 << 32, (1 << 63) + 3, (1 << 64) - 1))
    return {"xmm2": low | (rng.getrandbits(64) << 64 if rng.random() < 0.5 else 0)}


def shift_forms():
    forms = []
    for m, L in SHIFTS.items():
        for mode in MODES:
            forms.append(SseForm(mode, f"{m} xmm1, xmm2", regs=shift_count))
            forms.append(mem_form(mode, f"{m} xmm1, {MEMX[mode]}"))
            for imm in sorted({0, 1, L // 2 + 1, L - 1, L, L + 1, 255}):
                forms.append(SseForm(mode, f"{m} xmm6, {imm}"))
        forms.append(SseForm(64, f"{m} xmm11, xmm2", regs=shift_count))
    for m in ("pslldq", "psrldq"):
        for mode in MODES:
            for imm in (0, 1, 3, 8, 15, 16, 200):
                forms.append(SseForm(mode, f"{m} xmm{5 if mode == 32 else 13}, {imm}"))
    return forms


# shuffles, pack/unpack with immediates, PEXTRW/PINSRW ---------------------------------------------------------------

def shuffle_forms():
    forms = []
    for mode in MODES:
        for m in ("pshufd", "pshuflw", "pshufhw"):
            for imm in (0x1B, 0xE4, 0x00, 0x93, 0x4E):
                forms.append(SseForm(mode, f"{m} xmm1, xmm2, {imm:#x}"))
            forms.append(mem_form(mode, f"{m} xmm3, {MEMX[mode]}, 0x39"))
        for imm in (0x1B, 0x44, 0xEE, 0x00, 0xB1):
            forms.append(SseForm(mode, f"shufps xmm1, xmm2, {imm:#x}"))
        forms.append(mem_form(mode, f"shufps xmm3, {MEMX[mode]}, 0x8d"))
        for imm in (0, 1, 2, 3):
            forms.append(SseForm(mode, f"shufpd xmm1, xmm2, {imm}"))
        forms.append(mem_form(mode, f"shufpd xmm3, {MEMX[mode]}, 1"))
        for imm in (0, 3, 7, 9):
            forms.append(SseForm(mode, f"pextrw eax, xmm2, {imm}"))
            forms.append(SseForm(mode, f"pinsrw xmm1, ecx, {imm}"))
        forms.append(mem_form(mode, f"pinsrw xmm1, {MEMW[mode]}, 6", aligned=False))
    forms.append(SseForm(64, "pshufd xmm12, xmm8, 0xd8"))
    forms.append(SseForm(64, "pextrw r11d, xmm15, 5"))
    forms.append(SseForm(64, bytes.fromhex("66480fc5c203")))          # pextrw rax, xmm2, 3 (REX.W)
    forms.append(SseForm(64, "pinsrw xmm10, r9d, 2"))
    forms.append(SseForm(64, bytes.fromhex("660f3a15d003")))          # pextrw eax, xmm2, 3 (SSE4.1 encoding)
    forms.append(mem_form(64, f"pextrw {MEMW[64]}, xmm3, 6", aligned=False))
    forms.append(SseForm(64, bytes.fromhex("66480fc4c805")))          # pinsrw xmm1, rax, 5 (REX.W)
    return forms


# moves --------------------------------------------------------------------------------------------------------------

def move_forms():
    forms = []
    for mode in MODES:
        x, y = ("xmm1", "xmm2")
        forms += [
            SseForm(mode, f"movd {x}, eax"), SseForm(mode, f"movd eax, {x}"),
            mem_form(mode, f"movd {x}, {MEMD[mode]}", aligned=False),
            mem_form(mode, f"movd {MEMD[mode]}, {x}", aligned=False),
            SseForm(mode, f"movq {x}, {y}"),
            mem_form(mode, f"movq {x}, {MEMQ[mode]}", aligned=False),
            mem_form(mode, f"movq {MEMQ[mode]}, {x}", aligned=False),
        ]
        for m in ("movdqa", "movaps", "movapd", "movdqu", "movups", "movupd"):
            aligned = "a" in m[3:]
            forms += [SseForm(mode, f"{m} {x}, {y}"), mem_form(mode, f"{m} {x}, {MEMX[mode]}", aligned),
                      mem_form(mode, f"{m} {MEMX[mode]}, {y}", aligned)]
        for m in ("movntdq", "movntps", "movntpd"):
            forms.append(mem_form(mode, f"{m} {MEMX[mode]}, {y}"))
        forms.append(mem_form(mode, f"movnti {MEMD[mode]}, edx", aligned=False))
        for m, mm in (("movss", MEMD), ("movsd", MEMQ)):
            forms += [SseForm(mode, f"{m} {x}, {y}"), mem_form(mode, f"{m} {x}, {mm[mode]}", aligned=False),
                      mem_form(mode, f"{m} {mm[mode]}, {y}", aligned=False)]
        for m in ("movhps", "movlps", "movhpd", "movlpd"):
            forms += [mem_form(mode, f"{m} {x}, {MEMQ[mode]}", aligned=False),
                      mem_form(mode, f"{m} {MEMQ[mode]}, {y}", aligned=False)]
        forms += [SseForm(mode, f"movhlps {x}, {y}"), SseForm(mode, f"movlhps {x}, {y}"),
                  SseForm(mode, f"movhlps {x}, {x}"), SseForm(mode, f"movlhps {y}, {y}")]
        for m in ("movmskps", "movmskpd", "pmovmskb"):
            forms.append(SseForm(mode, f"{m} eax, xmm3"))
        # MASKMOVDQU stores to [rdi]: rdi = the memory base + a random (also misaligned) offset
        di = "rdi" if mode == 64 else "edi"
        forms.append(SseForm(mode, "maskmovdqu xmm1, xmm2", faults=False, mem_operand=di, regs=lambda rng, di=di: {
            di: harness.mem_base(64) + rng.choice(OFFSETS)}))
    forms += [
        SseForm(64, "movq xmm9, rax"), SseForm(64, "movq r10, xmm12"), SseForm(64, "movd r9d, xmm15"),
        SseForm(64, "movd xmm8, r12d"), SseForm(64, "movq xmm13, xmm3"), SseForm(64, "movdqa xmm15, xmm0"),
        mem_form(64, f"movnti {MEMQ[64]}, r8", aligned=False),
        SseForm(64, "movsd xmm10, xmm2"), SseForm(64, "movss xmm3, xmm11"),
        SseForm(64, "movmskps r9d, xmm12"), SseForm(64, "pmovmskb r14d, xmm9"),
        SseForm(64, bytes.fromhex("480f50c1")),            # movmskps rax, xmm1 (REX.W)
        SseForm(64, bytes.fromhex("66480f50c1")),          # movmskpd rax, xmm1
        SseForm(64, bytes.fromhex("66480fd7c1")),          # pmovmskb rax, xmm1
    ]
    return forms


# hints, fences, CLFLUSH ---------------------------------------------------------------------------------------------

def hint_forms():
    forms = []
    for mode in MODES:
        for m in ("prefetcht0", "prefetcht1", "prefetcht2", "prefetchnta", "prefetchw"):
            forms.append(mem_form(mode, f"{m} {MEMB[mode]}", aligned=False))
            forms.append(SseForm(mode, f"{m} byte ptr [{'r' if mode == 64 else 'e'}cx]", faults=False,
                                 regs={"rcx": 0}))                     # unmapped: a hint never faults
        for m in ("lfence", "mfence", "sfence", "pause"):
            forms.append(SseForm(mode, m, faults=False))
        forms.append(mem_form(mode, f"clflush {MEMB[mode]}", aligned=False))
        forms.append(SseForm(mode, f"clflush byte ptr [{'r' if mode == 64 else 'e'}cx]", regs={"rcx": 0}))
    return forms


FORMS = packed_forms() + shift_forms() + shuffle_forms() + move_forms() + hint_forms()
IDS = [f.id for f in FORMS]
assert len(set(IDS)) == len(IDS), "duplicate forms"


@pytest.mark.parametrize("backend", harness.BACKENDS)
@pytest.mark.parametrize("form", FORMS, ids=IDS)
def test_sse_quick(form, backend):
    require_backend(backend)
    form.run(backend, quick_cases())


@pytest.mark.diff
@pytest.mark.parametrize("backend", harness.BACKENDS)
@pytest.mark.parametrize("form", FORMS, ids=IDS)
def test_sse_sweep(form, backend):
    require_backend(backend)
    form.run(backend, sweep_cases())
