"""ADD ADC SUB SBB AND OR XOR CMP TEST INC DEC NEG NOT against the host CPU and Unicorn: every width, register,
immediate (short accumulator forms, sign-extended imm8, full immediates) and memory forms, modes 32 and 64."""

from __future__ import annotations

from tests.diff.harness import AF, ALL_FLAGS, WIDTHS, Form, make_tests, mem, reg

BINARY = ["add", "adc", "sub", "sbb", "and", "or", "xor", "cmp", "test"]
LOGIC = {"and", "or", "xor", "test"}      # AF undefined


def _imms(width):
    full = {8: 0xA5, 16: 0x8765, 32: 0x87654321, 64: -0x789ABCDF}[width]
    return full, -3


def _forms():
    out = []
    for mode in (32, 64):
        for op in BINARY:
            kw = dict(flags_defined_mask=ALL_FLAGS & ~AF if op in LOGIC else ALL_FLAGS)
            for w in WIDTHS[mode]:
                other = 9 if mode == 64 else (4 if w == 8 else 6)     # r9 / ah / esi
                big, small = _imms(w)
                out += [
                    Form(mode, f"{op} {reg(mode, w, 0)}, {reg(mode, w, 1)}", **kw),
                    Form(mode, f"{op} {reg(mode, w, other)}, {reg(mode, w, 2)}", **kw),
                    Form(mode, f"{op} {reg(mode, w, 0)}, {big}", **kw),              # accumulator short form
                    Form(mode, f"{op} {reg(mode, w, 2 if w == 8 else other)}, {small}", **kw),   # imm8 (83 /x)
                    Form(mode, f"{op} {mem(mode, w, 0x10)}, {reg(mode, w, 1)}", mem_operand=True, **kw),
                    Form(mode, f"{op} {mem(mode, w, -0x20)}, {big if w < 64 else small}", mem_operand=True, **kw),
                ]
                if op != "test":
                    out.append(Form(mode, f"{op} {reg(mode, w, 2)}, {mem(mode, w, 8)}", mem_operand=True, **kw))
            out.append(Form(mode, f"{op} {reg(mode, 32, 1)}, {reg(mode, 32, 1)}", **kw))     # same register
        for op in ("inc", "dec", "neg", "not"):
            for w in WIDTHS[mode]:
                out += [
                    Form(mode, f"{op} {reg(mode, w, 0)}"),
                    Form(mode, f"{op} {reg(mode, w, 15 if mode == 64 else 7)}"),
                    Form(mode, f"{op} {mem(mode, w, 4)}", mem_operand=True),
                ]
    return out


FORMS = _forms()
test_quick, test_sweep = make_tests(FORMS)
