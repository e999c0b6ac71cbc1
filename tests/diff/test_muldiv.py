"""MUL, IMUL (one, two, three operands), DIV, IDIV against the host CPU and Unicorn, every width, register and memory
operands, modes 32 and 64. Division inputs are built from a quotient and remainder so most cases do not fault, with
quotients just inside and just outside the range to probe the #DE boundary; zero divisors are included."""

from __future__ import annotations

from tests.diff.harness import CF, OF, REGS, WIDTHS, Form, edge_value, make_tests, mem, reg

MUL_FLAGS = CF | OF
DIV_FLAGS = 0            # all six arithmetic flags are undefined


def set_low(regs: dict, mode: int, index: int, width: int, value: int, shift: int = 0) -> None:
    """Writes ``value`` into bits [shift, shift+width) of GPR ``index`` in a case's input registers."""
    name = REGS[mode][index]
    m = ((1 << width) - 1) << shift
    regs[name] = (regs[name] & ~m) | ((value << shift) & m)


def div_setup(mode: int, width: int, signed: bool, divisor_reg: int | None = None, divisor_disp: int = 0):
    def setup(rng, regs, m):
        k = rng.random()
        if k < 0.1:
            return                                    # as generated: mostly quotient overflow
        lim = 1 << width
        d = 0 if k < 0.15 else edge_value(rng, width) or 1
        if signed:
            sd = d - lim if d >> (width - 1) else d
            q = rng.choice([rng.randrange(-lim // 2, lim // 2), -lim // 2, lim // 2 - 1, lim // 2, -lim // 2 - 1,
                            rng.randrange(-3, 4)])
            r = rng.randrange(-abs(sd) + 1, abs(sd)) if sd else 0
            n = q * sd + r
            if n and r and (n < 0) != (r < 0):
                r = 0
                n = q * sd
        else:
            q = rng.choice([rng.randrange(lim), lim - 1, lim, rng.randrange(4)])
            r = rng.randrange(d) if d else 0
            n = q * d + r
        n &= (1 << (2 * width)) - 1
        if width == 8:
            set_low(regs, mode, 0, 16, n)
        else:
            set_low(regs, mode, 0, width, n)
            set_low(regs, mode, 2, width, n >> width)
        if divisor_reg is None:
            m.put(m.base + divisor_disp, width // 8, d)
        elif divisor_reg >= 4 and width == 8 and mode == 32:
            set_low(regs, mode, divisor_reg - 4, 8, d, shift=8)       # ah..bh
        else:
            set_low(regs, mode, divisor_reg, width, d)
    return setup


def _forms():
    out = []
    for mode in (32, 64):
        other = 11 if mode == 64 else 6
        for w in WIDTHS[mode]:
            for op in ("mul", "imul"):
                out += [Form(mode, f"{op} {reg(mode, w, 1)}", flags_defined_mask=MUL_FLAGS),
                        Form(mode, f"{op} {reg(mode, w, 0)}", flags_defined_mask=MUL_FLAGS),     # rax * rax
                        Form(mode, f"{op} {mem(mode, w, 0x18)}", mem_operand=True, flags_defined_mask=MUL_FLAGS)]
            if w > 8:
                imm = {16: 0x7123, 32: -0x12345679, 64: 0x6543210}[w]
                out += [
                    Form(mode, f"imul {reg(mode, w, 0)}, {reg(mode, w, 1)}", flags_defined_mask=MUL_FLAGS),
                    Form(mode, f"imul {reg(mode, w, other)}, {reg(mode, w, other)}", flags_defined_mask=MUL_FLAGS),
                    Form(mode, f"imul {reg(mode, w, 2)}, {mem(mode, w, -8)}", mem_operand=True,
                         flags_defined_mask=MUL_FLAGS),
                    Form(mode, f"imul {reg(mode, w, 0)}, {reg(mode, w, 1)}, -7", flags_defined_mask=MUL_FLAGS),
                    Form(mode, f"imul {reg(mode, w, other)}, {reg(mode, w, 2)}, {imm}", flags_defined_mask=MUL_FLAGS),
                    Form(mode, f"imul {reg(mode, w, 1)}, {mem(mode, w, 0x40)}, 0x55", mem_operand=True,
                         flags_defined_mask=MUL_FLAGS),
                ]
            for op in ("div", "idiv"):
                signed = op == "idiv"
                dreg = 5 if (w == 8 and mode == 32) else other     # ch / esi / r11
                out += [
                    Form(mode, f"{op} {reg(mode, w, dreg)}", flags_defined_mask=DIV_FLAGS,
                         setup=div_setup(mode, w, signed, dreg)),
                    Form(mode, f"{op} {reg(mode, w, 1)}", flags_defined_mask=DIV_FLAGS,
                         setup=div_setup(mode, w, signed, 1)),
                    Form(mode, f"{op} {mem(mode, w, 0x30)}", mem_operand=True, flags_defined_mask=DIV_FLAGS,
                         setup=div_setup(mode, w, signed, None, 0x30)),
                ]
    return out


FORMS = _forms()
test_quick, test_sweep = make_tests(FORMS)
