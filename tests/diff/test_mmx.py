"""MMX instructions against the host CPU, on both backends.

Each form runs inside one fragment: FNINIT, mm0..mm7 loaded from random 64-bit values of edge-case lanes (MOVQ from
the memory window), then FINCSTP and FFREE ST(3) (TOP = 1, one register empty), the instruction under test, then
FNSTENV (control word, status word with TOP, the full tag word computed from the register contents) and FXSAVE
(every x87 register's 80 bits: an MMX write must set the exponent field to all ones; MXCSR and the xmm registers).
Both images are compared byte for byte with the host's, except the instruction/data pointers, which our x87 model
does not track: the fragment zeroes them on both sides. So one case checks the result and the x87 aliasing facts
(mmN = physical RN, TOP = 0 and all tags valid after an MMX instruction, all empty after EMMS). Random xmm
registers, MXCSR and GPRs are compared too; memory forms address [rbx + rcx] at aligned and misaligned offsets (no
MMX alignment rule: none may fault).
"""

from __future__ import annotations

import pytest

from tests.diff import harness
from tests.diff.harness import quick_cases, require_backend, sweep_cases, xmm_value
from tests.diff.test_sse import SseForm
from tests.diff.test_sse_fp import mxcsr

OFFSETS = (0, 8, 0x10, 0x18, 0x20, 1, 3, 4, 0xC, 0x21, 0x2F)
MMIN, ENV, FXS = 0x100, 0x180, 0x200       # offsets from rbx: mm inputs, FNSTENV image, FXSAVE image
WINDOW = (-0x100, 0x500)


def _base(mode):
    return "rbx" if mode == 64 else "ebx"


def wrap(mode: int, body: str) -> str:
    b = _base(mode)
    loads = "; ".join(f"movq mm{i}, qword ptr [{b} + {MMIN + 8 * i}]" for i in range(8))
    if mode == 64:
        clear_env = f"mov qword ptr [{b} + {ENV + 12}], 0; mov qword ptr [{b} + {ENV + 20}], 0"
        clear_fx = f"mov word ptr [{b} + {FXS + 6}], 0; mov qword ptr [{b} + {FXS + 8}], 0; " \
                   f"mov qword ptr [{b} + {FXS + 16}], 0"
    else:
        clear_env = "; ".join(f"mov dword ptr [{b} + {ENV + o}], 0" for o in (12, 16, 20, 24))
        clear_fx = "; ".join([f"mov word ptr [{b} + {FXS + 6}], 0"]
                             + [f"mov dword ptr [{b} + {FXS + o}], 0" for o in (8, 12, 16, 20)])
    return (f"fninit; {loads}; fincstp; ffree st(3); {body}; fnstenv [{b} + {ENV}]; {clear_env}; "
            f"fxsave [{b} + {FXS}]; {clear_fx}")


def _setup(rng, regs, mem):
    for i in range(8):
        mem.put(mem.base + MMIN + 8 * i, 8, xmm_value(rng) & ((1 << 64) - 1))
    # the memory operand: edge-case lanes too
    at = mem.base + regs.get("rcx", regs.get("ecx", 0))
    mem.put(at, 16, xmm_value(rng))


def _regs(rng):
    return {"rcx": rng.choice(OFFSETS), "mxcsr": mxcsr(rng)}


class MmxForm(SseForm):
    def __init__(self, mode, body, faults=False, **kw):
        self.body = body
        super().__init__(mode, wrap(mode, body), faults=faults, mem_operand=True, mem_window=WINDOW, regs=_regs,
                         setup=_setup, **kw)
        self.id = f"m{mode}-" + "_".join(body.replace("ptr ", "").replace(",", "").split())


def M(mode, width=64):
    return {64: "qword", 32: "dword", 16: "word"}[width] + f" ptr [{_base(mode)} + {'rcx' if mode == 64 else 'ecx'}]"


PACKED = """
paddb paddw paddd paddq psubb psubw psubd psubq paddsb paddsw paddusb paddusw psubsb psubsw psubusb psubusw
pmullw pmulhw pmulhuw pmuludq pmaddwd psadbw pavgb pavgw pminub pmaxub pminsw pmaxsw
pcmpeqb pcmpeqw pcmpeqd pcmpgtb pcmpgtw pcmpgtd pand pandn por pxor
punpcklbw punpcklwd punpckldq punpckhbw punpckhwd punpckhdq packsswb packssdw packuswb
""".split()
SHIFTS = "psllw pslld psllq psrlw psrld psrlq psraw psrad".split()


def forms():
    out = []
    for m in PACKED:
        out += [MmxForm(64, f"{m} mm1, mm2"), MmxForm(64, f"{m} mm6, {M(64)}"), MmxForm(32, f"{m} mm7, mm0")]
    for m in ("pxor", "pcmpeqb", "punpcklbw", "packsswb"):
        out.append(MmxForm(64, f"{m} mm3, mm3"))
    out.append(MmxForm(32, f"paddw mm2, {M(32)}"))
    for m in SHIFTS:
        out += [MmxForm(64, f"{m} mm3, mm4"), MmxForm(64, f"{m} mm5, {M(64)}")]
        for n in (0, 1, 7, 15, 16, 31, 33, 63, 64, 200):
            out.append(MmxForm(64 if n % 2 else 32, f"{m} mm2, {n}"))
    # Shift counts that are small most of the time: an mm count from a small value.
    out += [MmxForm(64, f"movd mm4, ecx; {m} mm1, mm4") for m in ("psllw", "psrad", "psrlq")]
    # data movement
    out += [
        MmxForm(64, "movd mm1, edx"), MmxForm(64, "movq mm2, rsi"), MmxForm(64, f"movd mm3, {M(64, 32)}"),
        MmxForm(64, f"movq mm4, {M(64)}"), MmxForm(64, "movq mm5, mm6"), MmxForm(64, "movd eax, mm2"),
        MmxForm(64, "movq r9, mm7"), MmxForm(64, f"movd {M(64, 32)}, mm1"), MmxForm(64, f"movq {M(64)}, mm0"),
        MmxForm(32, "movd mm0, esi"), MmxForm(32, "movd edi, mm5"), MmxForm(32, f"movq mm2, {M(32)}"),
        MmxForm(32, f"movq {M(32)}, mm3"), MmxForm(64, f"movntq {M(64)}, mm2"),
        MmxForm(64, "movq2dq xmm3, mm5"), MmxForm(64, "movq2dq xmm12, mm0"), MmxForm(64, "movdq2q mm6, xmm9"),
        MmxForm(32, "movdq2q mm1, xmm2"),
        MmxForm(64, "emms"), MmxForm(32, "emms"), MmxForm(64, "paddb mm1, mm2; emms"),
        # an x87 push after MMX code finds every register valid (stack overflow: the indefinite), and after EMMS
        # an empty one
        MmxForm(64, "por mm0, mm1; fld1"), MmxForm(64, "emms; fld1"),
    ]
    # SSE-era MMX forms
    for imm in (0x1B, 0x00, 0xE4, 0x93, 0xFF):
        out.append(MmxForm(64, f"pshufw mm1, mm2, {imm:#x}"))
    out += [MmxForm(64, f"pshufw mm3, {M(64)}, 0x4e"), MmxForm(32, "pshufw mm0, mm7, 0x39")]
    out += [MmxForm(64, "pmovmskb eax, mm3"), MmxForm(64, "pmovmskb r10d, mm7"), MmxForm(32, "pmovmskb edx, mm1")]
    for i in (0, 1, 2, 3, 5, 0xFE):
        out.append(MmxForm(64, f"pextrw ecx, mm4, {i}"))
        out.append(MmxForm(64, f"pinsrw mm2, esi, {i}"))
    out += [MmxForm(64, f"pinsrw mm6, {M(64, 16)}, 1"), MmxForm(32, "pextrw eax, mm1, 2"),
            MmxForm(32, "pinsrw mm5, edx, 3")]
    out += [MmxForm(64, "mov rdi, rbx; add rdi, rcx; maskmovq mm1, mm2"),
            MmxForm(32, "mov edi, ebx; add edi, ecx; maskmovq mm6, mm3")]
    # conversions (MXCSR rounding and DAZ/FTZ come from the random MXCSR)
    out += [MmxForm(64, "cvtpi2ps xmm1, mm2"), MmxForm(64, f"cvtpi2ps xmm10, {M(64)}"),
            MmxForm(64, "cvtpi2pd xmm3, mm4"), MmxForm(64, f"cvtpi2pd xmm5, {M(64)}"),
            MmxForm(64, "cvtps2pi mm1, xmm2"), MmxForm(64, f"cvtps2pi mm3, {M(64)}"),
            MmxForm(64, "cvttps2pi mm4, xmm11"), MmxForm(64, f"cvttps2pi mm5, {M(64)}"),
            MmxForm(64, "cvtpd2pi mm6, xmm7"), MmxForm(64, "cvttpd2pi mm7, xmm0"),
            MmxForm(32, "cvtpi2ps xmm1, mm2"), MmxForm(32, "cvttpd2pi mm1, xmm3")]
    base = "rbx + rcx"
    out += [MmxForm(64, f"cvtpd2pi mm2, xmmword ptr [{base}]", faults=True),
            MmxForm(64, f"cvttpd2pi mm3, xmmword ptr [{base}]", faults=True)]
    return out


FORMS = forms()
IDS = [f.id for f in FORMS]
assert len(set(IDS)) == len(IDS), [i for i in IDS if IDS.count(i) > 1]


@pytest.mark.parametrize("backend", harness.BACKENDS)
@pytest.mark.parametrize("form", FORMS, ids=IDS)
def test_mmx(form, backend):
    require_backend(backend)
    form.run(backend, max(4, quick_cases() // 2))


@pytest.mark.diff
@pytest.mark.parametrize("backend", harness.BACKENDS)
@pytest.mark.parametrize("form", FORMS, ids=IDS)
def test_mmx_sweep(form, backend):
    # an eighth of the sweep's count: each case is a 30-instruction fragment, and there are many forms
    require_backend(backend)
    form.run(backend, max(8, sweep_cases() // 8))
