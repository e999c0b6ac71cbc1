"""MOV (registers, immediates, memory, moffs) MOVZX MOVSX MOVSXD LEA (32/64-bit and 16-bit addressing, RIP-relative)
XCHG BSWAP CBW CWDE CDQE CWD CDQ CQO and NOP forms against the host CPU and Unicorn, modes 32 and 64."""

from __future__ import annotations

from tests.diff.harness import MEM_BASE, REGS, WIDTHS, Form, make_tests, mem, reg


def _never(inp, m):
    return False


def wrap32(mode):
    """EBX + ESI*2 wraps around 2**32 onto MEM_BASE (32-bit addressing; upper register halves are ignored)."""
    def setup(rng, regs, m):
        k = rng.getrandbits(31) & ~0xFFF
        b, i = REGS[mode][3], REGS[mode][6]
        hi = rng.getrandbits(mode) & ~0xFFFFFFFF & ((1 << mode) - 1)
        regs[b] = hi | (MEM_BASE + (1 << 32) - 2 * k) & 0xFFFFFFFF
        regs[i] = hi | k
    return setup


def small_index(mode):
    """A small signed index register (ESI/RSI) for base + index*scale operands."""
    def gen(rng):
        return {REGS[mode][6]: rng.randrange(-16, 16) & ((1 << mode) - 1)}
    return gen


def _addressing():
    """Addressing forms: index scaling with negative indexes, 32-bit wrap-around, RIP-relative and absolute."""
    from tests.diff.harness import assemble, native
    out = []
    for mode in (32, 64):
        b, i = ("rbx", "rsi") if mode == 64 else ("ebx", "esi")
        out += [
            Form(mode, f"mov eax, dword ptr [{b} + {i}*8 - 0x40]", mem_operand=True, regs=small_index(mode)),
            Form(mode, f"add word ptr [{b} + {i}*2 + 0x7f], cx", mem_operand=True, regs=small_index(mode)),
            Form(mode, "mov eax, dword ptr [ebx + esi*2 + 0x10]", mem_operand=True, setup=wrap32(mode)),
            Form(mode, "sub dword ptr [ebx + esi*2], edx", mem_operand=True, setup=wrap32(mode)),
        ]
    code = native.code_address(64)
    for text, n in (("mov eax, dword ptr [rip + {}]", 6), ("add qword ptr [rip + {}], rcx", 7),
                    ("cmp byte ptr [rip + {}], 0x12", 7)):
        asm = text.format(MEM_BASE + 0x20 - (code + n))
        assert len(assemble(asm, 64)) == n, asm
        out.append(Form(64, asm, mem_operand=True))
    out += [Form(32, f"mov ecx, dword ptr [{MEM_BASE + 0x24:#x}]", mem_operand=True),
            Form(32, f"xor dword ptr [{MEM_BASE - 0x24:#x}], esi", mem_operand=True)]
    return out


def _forms():
    out = []
    for mode in (32, 64):
        other = 14 if mode == 64 else 7
        for w in WIDTHS[mode]:
            r0, r1, r2, ro = (reg(mode, w, i) for i in (0, 1, 2, other))
            imm = {8: 0x9C, 16: 0x8001, 32: 0x80000001, 64: -0x7F}[w]
            out += [
                Form(mode, f"mov {r1}, {r2}"),
                Form(mode, f"mov {ro}, {r0}"),
                Form(mode, f"mov {r2}, {imm}"),
                Form(mode, f"mov {r1}, {mem(mode, w, 0x18)}", mem_operand=True),
                Form(mode, f"mov {mem(mode, w, -0x18)}, {ro}", mem_operand=True),
                Form(mode, f"mov {mem(mode, w, 0x30)}, {imm}", mem_operand=True),
                Form(mode, f"xchg {r1}, {r2}"),
                Form(mode, f"xchg {ro}, {r0}"),
                Form(mode, f"xchg {mem(mode, w, 0x8)}, {r1}", mem_operand=True),
            ]
            moffs = f"{['byte', 'word', 'dword', 'qword'][w.bit_length() - 4]} ptr [{MEM_BASE + 0x40:#x}]"
            mov = "movabs" if mode == 64 else "mov"
            out += [Form(mode, f"{mov} {r0}, {moffs}", mem_operand=True),
                    Form(mode, f"{mov} {moffs}, {r0}", mem_operand=True)]
            if w >= 16:
                out += [Form(mode, f"movzx {r1}, {reg(mode, 8, 2)}"),
                        Form(mode, f"movsx {ro}, {reg(mode, 8, 0)}"),
                        Form(mode, f"movzx {r2}, {mem(mode, 8, 3)}", mem_operand=True),
                        Form(mode, f"movsx {r2}, {mem(mode, 8, 5)}", mem_operand=True),
                        Form(mode, f"lea {r1}, [{reg(mode, mode, 2)} + {reg(mode, mode, 6)}*4 + 0x12]"),
                        Form(mode, f"lea {ro}, [{reg(mode, mode, 5)} - 0x80]")]
            if w >= 32:
                out += [Form(mode, f"movzx {r1}, {reg(mode, 16, 2)}"),
                        Form(mode, f"movsx {ro}, {reg(mode, 16, 0)}"),
                        Form(mode, f"movzx {r0}, {mem(mode, 16, 6)}", mem_operand=True),
                        Form(mode, f"movsx {r0}, {mem(mode, 16, 10)}", mem_operand=True),
                        Form(mode, f"bswap {r1}"), Form(mode, f"bswap {ro}")]
        out += [
            Form(mode, "cbw"), Form(mode, "cwde"), Form(mode, "cwd"), Form(mode, "cdq"), Form(mode, "nop"),
            Form(mode, bytes.fromhex("0f1f00")),                     # nop dword ptr [eax/rax]: no access
            Form(mode, bytes.fromhex("87c0")),                       # xchg eax, eax (87 /r): zero-extends in 64
            Form(mode, f"lea {reg(mode, 32, 0)}, [0x12345678]"),
            Form(mode, f"lea {reg(mode, 32, 3)}, [{reg(mode, 32, 1)} + {reg(mode, 32, 1)}*8]"),
            # BSWAP r16 is undefined: the CPUs we know give 0 (Unicorn too, but keep it to the host)
            Form(mode, bytes.fromhex("660fc8"), unicorn_ok=_never),
        ]
        if mode == 64:
            out += [
                Form(mode, "cdqe"), Form(mode, "cqo"),
                Form(mode, "movsxd rax, ecx"), Form(mode, "movsxd r9, r10d"),
                Form(mode, f"movsxd rdx, {mem(mode, 32, 0x14)}", mem_operand=True),
                Form(mode, "movabs rax, 0x123456789abcdef0"), Form(mode, "mov r11, -5"),
                Form(mode, "lea eax, [ecx + edx*2 + 5]"),               # 32-bit addressing in 64-bit mode
                Form(mode, "lea rax, [rip + 0x1234]"), Form(mode, "lea r12w, [r13 + r14*2]"),
                Form(mode, bytes.fromhex("90")),                        # the real NOP: no zero-extension
            ]
        else:
            out += [
                Form(mode, "lea ax, [bx + si + 0x10]"),                 # 16-bit addressing (67h)
                Form(mode, "lea ecx, [bp + di - 2]"),
                Form(mode, "lea dx, [0x1234]"),
            ]
    return out


FORMS = _forms() + _addressing()
test_quick, test_sweep = make_tests(FORMS)
