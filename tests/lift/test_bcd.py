"""BCD adjustments (DAA DAS AAA AAS AAM AAD), SALC and XLATB in mode 32 against the host CPU, every flag compared
(``strict``: the undefined ones too, since ours are chosen to match Intel hosts), and against Unicorn on the defined
flags. AAM 0 must raise #DE (SIGFPE) with the state untouched."""

from __future__ import annotations

from tests.diff.harness import MEM_BASE, Form, make_tests

CF, PF, AF, ZF, SF, OF = 0x1, 0x4, 0x10, 0x40, 0x80, 0x800


def _al_cases(rng):
    """AL anywhere, AH random, CF/AF random: the BCD adjustments read nothing else."""
    return {"eax": rng.getrandbits(32), "flags": rng.getrandbits(12) & (CF | AF | PF | ZF | SF | OF)}


def _xlat_regs(rng):
    return {"ebx": MEM_BASE - 0x80, "eax": rng.getrandbits(32)}


def _forms():
    out = []
    for op in ("daa", "das", "aaa", "aas"):
        out.append(Form(32, op, regs=_al_cases, strict=True))
    for base in (10, 16, 1, 7, 255):
        out.append(Form(32, bytes([0xD4, base]), regs=_al_cases, strict=True))   # AAM imm8
    out.append(Form(32, bytes([0xD4, 0]), regs=_al_cases))                      # AAM 0: #DE
    for base in (10, 0, 16, 7, 255):
        out.append(Form(32, bytes([0xD5, base]), regs=_al_cases, strict=True))   # AAD imm8
    out.append(Form(32, b"\xd6", regs=_al_cases, strict=True))                  # SALC
    out.append(Form(32, b"\xd7", regs=_xlat_regs, mem_window=(-0x100, 0x200), strict=True))   # XLATB
    return out


FORMS = _forms()
test_quick, test_sweep = make_tests(FORMS)
