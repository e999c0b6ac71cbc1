"""XADD, CMPXCHG, CMPXCHG8B, CMPXCHG16B with and without LOCK against the host CPU and Unicorn, every width, register
and memory destinations, modes 32 and 64. Half of the cases make the comparison succeed (accumulator = destination)
so both paths are covered; CMPXCHG16B on a misaligned operand must raise #GP(0)."""

from __future__ import annotations

from tests.diff.harness import REGS, WIDTHS, Form, make_tests, mem, reg


def equal_reg(mode, dst_index, width):
    """CMPXCHG with a register destination: half the time the accumulator equals it."""
    acc, dst = REGS[mode][0], REGS[mode][dst_index]

    def setup(rng, regs, m):
        if rng.random() < 0.5:
            mask = (1 << width) - 1
            regs[acc] = (regs[acc] & ~mask) | (regs[dst] & mask)
    return setup


def equal_mem(mode, disp, width, pair=False):
    """Memory destination: half the time it holds the accumulator (or EDX:EAX / RDX:RAX for CMPXCHG8B/16B)."""
    def setup(rng, regs, m):
        if rng.random() < 0.5:
            if pair:
                half = width // 2
                mask = (1 << half) - 1
                v = (regs[REGS[mode][2]] & mask) << half | (regs[REGS[mode][0]] & mask)
            else:
                v = regs[REGS[mode][0]] & ((1 << width) - 1)
            m.put(m.base + disp, width // 8, v)
    return setup


def _never(inp, m):
    return False


def _forms():
    out = []
    for mode in (32, 64):
        other = 12 if mode == 64 else 6
        for w in WIDTHS[mode]:
            r0, r1, r2, ro = (reg(mode, w, i) for i in (0, 1, 2, other))
            # Unicorn (QEMU) writes both the accumulator and a register destination of a 32-bit CMPXCHG in 64-bit
            # mode, zero-extending them; the CPU writes only the one that changes. Compared with the host only.
            uc = dict(unicorn_ok=_never) if (mode, w) == (64, 32) else {}
            out += [
                Form(mode, f"xadd {r1}, {r2}"),
                Form(mode, f"xadd {ro}, {ro}"),
                Form(mode, f"xadd {r0}, {r1}"),
                Form(mode, f"xadd {mem(mode, w, 0x10)}, {r2}", mem_operand=True),
                Form(mode, f"lock xadd {mem(mode, w, -0x10)}, {ro}", mem_operand=True),
                Form(mode, f"cmpxchg {r1}, {r2}", setup=equal_reg(mode, 1, w), **uc),
                Form(mode, f"cmpxchg {ro}, {r0}", setup=equal_reg(mode, other, w), **uc),
                Form(mode, f"cmpxchg {r0}, {r1}", **uc),      # the accumulator is the destination: always equal
                Form(mode, f"cmpxchg {mem(mode, w, 0x20)}, {r2}", mem_operand=True, setup=equal_mem(mode, 0x20, w),
                     **uc),
                Form(mode, f"lock cmpxchg {mem(mode, w, 0x28)}, {ro}", mem_operand=True,
                     setup=equal_mem(mode, 0x28, w), **uc),
            ]
        if mode == 32:
            out.append(Form(mode, "xadd ah, al"))
            out.append(Form(mode, "cmpxchg ah, cl", setup=equal_reg(mode, 1, 8)))
        out += [
            Form(mode, f"cmpxchg8b {mem(mode, 64, 0x30)}", mem_operand=True, setup=equal_mem(mode, 0x30, 64, True)),
            Form(mode, f"lock cmpxchg8b {mem(mode, 64, 0x34)}", mem_operand=True,
                 setup=equal_mem(mode, 0x34, 64, True)),
        ]
        if mode == 64:
            out += [
                Form(mode, f"cmpxchg16b {mem(mode, 128, 0x40)}", mem_operand=True,
                     setup=equal_mem(mode, 0x40, 128, True)),
                Form(mode, f"lock cmpxchg16b {mem(mode, 128, -0x60)}", mem_operand=True,
                     setup=equal_mem(mode, -0x60, 128, True)),
                Form(mode, f"cmpxchg16b {mem(mode, 128, 0x48)}", mem_operand=True),     # misaligned: #GP(0)
            ]
    return out


# LOCK where it is not allowed: a register destination, or an instruction that does not take it: #UD (SIGILL).
BAD_LOCKS = ["f001c8", "f00fc1c8", "f00fb1c8", "f00fa308", "f08b08", "f0ffc0", "f00f4408", "f0f7d0", "f00fbc08",
             "f0d320", "f00f9400", "f0480fc7c8"]


def _lock_forms():
    return [Form(mode, bytes.fromhex(h), oracles=("native",)) for mode in (32, 64) for h in BAD_LOCKS
            if not (mode == 32 and h.startswith("f048"))]


FORMS = _forms() + _lock_forms()
test_quick, test_sweep = make_tests(FORMS)
