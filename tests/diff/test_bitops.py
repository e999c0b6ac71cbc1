"""BT BTS BTR BTC (register and memory destinations; immediate and register bit offsets, negative and beyond-the-
operand offsets into memory; LOCK forms), BSF BSR TZCNT LZCNT POPCNT against the host CPU and Unicorn, modes 32 and
64. Sources are often 0 (BSF/BSR leave the destination unchanged then, TZCNT/LZCNT return the width)."""

from __future__ import annotations

from tests.diff.harness import ALL_FLAGS, CF, MEM_BASE, MEM_WINDOW, REGS, ZF, Form, make_tests, mem, reg

WIDTHS = {32: (16, 32), 64: (16, 32, 64)}
BIT_WINDOW = (-0x1100, 0x2200)


def offset_regs(mode, index, width):
    """The bit-offset register: any 16-bit value, or +-0x8000 bits (+-4 KiB) for wider operands."""
    name = REGS[mode][index]

    def gen(rng):
        hi = rng.getrandbits(mode)
        if width == 16:
            v = rng.getrandbits(16)
        else:
            v = rng.choice([rng.randrange(-0x8000, 0x8000), rng.randrange(-64, 128)]) & ((1 << width) - 1)
        return {name: (hi & ~((1 << width) - 1)) | v}
    return gen


def zero_src(mode, index):
    name = REGS[mode][index]

    def gen(rng):
        k = rng.random()
        if k < 0.2:
            return {name: 0}
        if k < 0.3:
            return {name: rng.getrandbits(mode) & ~0xFFFFFFFF & ((1 << mode) - 1)}    # zero low half
        if k < 0.45:
            return {name: 1 << rng.randrange(mode)}
        return {}
    return gen


def zero_mem(disp, width):
    def setup(rng, regs, m):
        k = rng.random()
        if k < 0.2:
            m.put(m.base + disp, width // 8, 0)
        elif k < 0.35:
            m.put(m.base + disp, width // 8, 1 << rng.randrange(width))
    return setup


def _forms():
    out = []
    for mode in (32, 64):
        other = 13 if mode == 64 else 6
        for w in WIDTHS[mode]:
            r0, r1, ro = reg(mode, w, 0), reg(mode, w, 1), reg(mode, w, other)
            for op in ("bt", "bts", "btr", "btc"):
                kw = dict(flags_defined_mask=CF)
                out += [
                    Form(mode, f"{op} {r0}, {r1}", **kw),
                    Form(mode, f"{op} {ro}, {r0}", **kw),
                    Form(mode, f"{op} {r1}, {w - 1}", **kw),
                    Form(mode, f"{op} {r0}, {w + 3}", **kw),          # immediate taken modulo the width
                    Form(mode, f"{op} {mem(mode, w, 0x10)}, {w // 2 + 1}", mem_operand=True, **kw),
                    Form(mode, f"{op} {mem(mode, w, 0x10)}, {r1}", mem_operand=True, mem_window=BIT_WINDOW,
                         regs=offset_regs(mode, 1, w), **kw),
                ]
                if op != "bt":
                    out.append(Form(mode, f"lock {op} {mem(mode, w, -0x8)}, {ro}", mem_operand=True,
                                    mem_window=BIT_WINDOW, regs=offset_regs(mode, other, w), **kw))
            for op, mask in (("bsf", ZF), ("bsr", ZF), ("tzcnt", CF | ZF), ("lzcnt", CF | ZF),
                             ("popcnt", ALL_FLAGS)):
                # Unicorn (QEMU) zero-extends a 32-bit BSF/BSR destination even for a zero source; the CPU keeps it.
                uc = uco = ucm = {}
                if op in ("bsf", "bsr") and w == 32 and mode == 64:
                    uc = dict(unicorn_ok=lambda inp, m, src=REGS[mode][1]: inp[src] & 0xFFFFFFFF != 0)
                    uco = dict(unicorn_ok=lambda inp, m, src=REGS[mode][other]: inp[src] & 0xFFFFFFFF != 0)
                    ucm = dict(unicorn_ok=lambda inp, m: m[MEM_BASE + MEM_WINDOW[0]][0x108:0x10C] != bytes(4))
                out += [
                    Form(mode, f"{op} {r0}, {r1}", flags_defined_mask=mask, regs=zero_src(mode, 1), **uc),
                    Form(mode, f"{op} {ro}, {ro}", flags_defined_mask=mask, regs=zero_src(mode, other),
                         **uco),
                    Form(mode, f"{op} {r1}, {mem(mode, w, 0x8)}", mem_operand=True, flags_defined_mask=mask,
                         setup=zero_mem(0x8, w), **ucm),
                ]
    return out


FORMS = _forms()
test_quick, test_sweep = make_tests(FORMS)
