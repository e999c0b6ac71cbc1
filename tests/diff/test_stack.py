"""PUSH POP (registers, immediates, memory, the stack pointer itself, 16-bit operand size) PUSHF POPF LEAVE ENTER
(nesting levels 0..31, 16-bit frames) PUSHA POPA against the host CPU and Unicorn, modes 32 and 64, with the stack
pointer (and RBP for LEAVE/ENTER) inside the data area so the stack window is compared after every case."""

from __future__ import annotations

from tests.diff.harness import REGS, SP, STACK_BASE, Form, make_tests, mem, reg


def frame_regs(mode):
    """RBP/EBP somewhere in the stack window (LEAVE pops from it, ENTER copies frame pointers below it)."""
    bp = REGS[mode][5]

    def gen(rng):
        return {bp: STACK_BASE + rng.randrange(-0xF0, 0xF0)}
    return gen


def flags_image(rng, regs, m):
    """The value POPF loads: any arithmetic flags and DF, IF; never TF/AC/NT (they would trap or fault natively)."""
    m.put(STACK_BASE, 8, rng.getrandbits(64) & 0xCD5 | 0x202 | (rng.getrandbits(64) & ~0xFFFFFFFF))


def _forms():
    out = []
    for mode in (32, 64):
        sp, wide = SP[mode], mode
        out += [
            Form(mode, f"push {reg(mode, wide, 1)}"), Form(mode, f"push {reg(mode, wide, 7)}"),
            Form(mode, f"push {reg(mode, 16, 2)}"), Form(mode, f"push {sp}"), Form(mode, f"push {reg(mode, 16, 4)}"),
            Form(mode, "push 0x12"), Form(mode, "push -0x1234567"),
            Form(mode, bytes.fromhex("66683412")),                          # push imm16
            Form(mode, bytes.fromhex("666afe")),                            # push imm8 as 16 bits
            Form(mode, f"push {mem(mode, wide, 0x10)}", mem_operand=True),
            Form(mode, f"push {mem(mode, 16, -0x10)}", mem_operand=True),
            Form(mode, f"pop {reg(mode, wide, 1)}"), Form(mode, f"pop {reg(mode, wide, 5)}"),
            Form(mode, f"pop {reg(mode, 16, 2)}"), Form(mode, f"pop {sp}"), Form(mode, f"pop {reg(mode, 16, 4)}"),
            Form(mode, f"pop {mem(mode, wide, 0x20)}", mem_operand=True),
            Form(mode, f"pop {mem(mode, 16, 0x22)}", mem_operand=True),
            Form(mode, f"pop {'qword' if mode == 64 else 'dword'} ptr [{sp} + 8]"),   # address after the increment
            Form(mode, f"pop {'qword' if mode == 64 else 'dword'} ptr [{sp} - 8]"),
            Form(mode, bytes.fromhex("9c")), Form(mode, bytes.fromhex("669c")),         # pushf (operand size), pushfw
            Form(mode, bytes.fromhex("9d"), setup=flags_image),                       # popf
            Form(mode, bytes.fromhex("669d"), setup=flags_image),
            Form(mode, f"push {reg(mode, wide, 0)}\npop {reg(mode, wide, 2)}"),
            Form(mode, "leave", regs=frame_regs(mode)),
            Form(mode, bytes.fromhex("66c9"), regs=frame_regs(mode)),                  # leave, 16-bit pop of BP
        ]
        for size, level in ((0x10, 0), (0x20, 1), (8, 2), (0, 3), (0x18, 31), (0x10, 33)):
            out.append(Form(mode, f"enter {size:#x}, {level}", regs=frame_regs(mode)))
        out.append(Form(mode, bytes.fromhex("66c8100002"), regs=frame_regs(mode)))   # 16-bit frame
        if mode == 32:
            out += [Form(mode, "pushal"), Form(mode, "popal"),
                    Form(mode, bytes.fromhex("6660")), Form(mode, bytes.fromhex("6661"))]
    return out


FORMS = _forms()
test_quick, test_sweep = make_tests(FORMS)
