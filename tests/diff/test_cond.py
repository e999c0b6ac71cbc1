"""SETcc and CMOVcc, all 16 conditions, register and memory operands, every CMOV width, modes 32 and 64; the input
flags are random, so every condition is seen true and false. (A 32-bit CMOV zero-extends even when false.)"""

from __future__ import annotations

from tests.diff.harness import Form, make_tests, mem, reg

CONDITIONS = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"]


def _forms():
    out = []
    for mode in (32, 64):
        widths = (16, 32, 64) if mode == 64 else (16, 32)
        for i, cc in enumerate(CONDITIONS):
            r8 = reg(mode, 8, [0, 1, 2, 4, 5, 6, 7][i % 7] if mode == 32 else [0, 6, 7, 9, 12, 5, 2][i % 7])
            out += [Form(mode, f"set{cc} {r8}"),
                    Form(mode, f"set{cc} {mem(mode, 8, i)}", mem_operand=True)]
            for w in widths:
                d = reg(mode, w, [0, 2, 7, 10][i % 4] if mode == 64 else [0, 2, 7, 5][i % 4])
                out += [Form(mode, f"cmov{cc} {d}, {reg(mode, w, 1)}"),
                        Form(mode, f"cmov{cc} {d}, {mem(mode, w, 8 * i)}", mem_operand=True)]
    return out


FORMS = _forms()
test_quick, test_sweep = make_tests(FORMS)
