"""Multi-instruction SSE2 routines in the style of glibc's x86-64 string functions (strlen, memchr, memcmp, memset),
against the host CPU on both backends, in modes 64 and 32.

They exercise what single instructions cannot: PCMPEQB + PMOVMSKB + BSF chains across blocks, loops through the same
translated block with XMM state live across iterations, aligned loads from a rounded-down pointer (the aligned-load
trick glibc relies on), overlapping unaligned stores. Each case writes a fresh random string or buffer into the
memory window; every GPR, xmm register, the flags (AF masked: TEST leaves it undefined) and the window are compared.
"""

from __future__ import annotations

import pytest

from tests.diff.harness import AF, ALL_FLAGS, BACKENDS, check, quick_cases, require_backend, sweep_cases

STRLEN = """
    pxor xmm0, xmm0
    mov rcx, rdi
    and rcx, 15
    mov rax, rdi
    and rax, -16
    movdqa xmm1, xmmword ptr [rax]
    pcmpeqb xmm1, xmm0
    pmovmskb edx, xmm1
    shr edx, cl
    test edx, edx
    jnz first
next:
    add rax, 16
    movdqa xmm1, xmmword ptr [rax]
    pcmpeqb xmm1, xmm0
    pmovmskb edx, xmm1
    test edx, edx
    jz next
    bsf edx, edx
    add rax, rdx
    sub rax, rdi
    jmp done
first:
    bsf edx, edx
    mov rax, rdx
done:
    test rax, rax
"""

MEMCHR = """
    movd xmm1, esi
    punpcklbw xmm1, xmm1
    punpcklwd xmm1, xmm1
    pshufd xmm1, xmm1, 0
    xor eax, eax
next:
    movdqu xmm0, xmmword ptr [rdi + rax]
    pcmpeqb xmm0, xmm1
    pmovmskb ecx, xmm0
    test ecx, ecx
    jnz found
    add rax, 16
    cmp rax, rdx
    jb next
    mov rax, -1
    jmp done
found:
    bsf ecx, ecx
    add rax, rcx
    cmp rax, rdx
    jb done
    mov rax, -1
done:
    test rax, rax
"""

MEMCMP = """
    xor eax, eax
next:
    movdqu xmm1, xmmword ptr [rdi + rax]
    movdqu xmm2, xmmword ptr [rsi + rax]
    pcmpeqb xmm1, xmm2
    pmovmskb ecx, xmm1
    sub ecx, 0xffff
    jnz differ
    add rax, 16
    cmp rax, 0x80
    jb next
    xor eax, eax
    jmp done
differ:
    bsf ecx, ecx
    add rax, rcx
    movzx ecx, byte ptr [rdi + rax]
    movzx eax, byte ptr [rsi + rax]
    sub eax, ecx
done:
    test eax, eax
"""

MEMSET = """
    movd xmm0, esi
    punpcklbw xmm0, xmm0
    pshuflw xmm0, xmm0, 0
    punpcklqdq xmm0, xmm0
    movdqu xmmword ptr [rdi], xmm0
    movdqu xmmword ptr [rdi + rdx - 16], xmm0
    lea rax, [rdi + 16]
    and rax, -16
    lea rcx, [rdi + rdx - 16]
next:
    cmp rax, rcx
    jae done
    movdqa xmmword ptr [rax], xmm0
    add rax, 16
    jmp next
done:
    test rax, rax
"""


def for_mode(text: str, mode: int) -> str:
    if mode == 64:
        return text
    for r in ("ax", "cx", "dx", "si", "di"):
        text = text.replace("r" + r, "e" + r)
    return text


def reg(mode, name):
    return name if mode == 64 else "e" + name[1:]


def fill(rng, mem, start, n, avoid=None):
    for i in range(n):
        v = rng.randrange(256)
        while v == avoid:
            v = rng.randrange(256)
        mem.put(start + i, 1, v)


def strlen_setup(mode):
    def setup(rng, regs, mem):
        s = mem.base + rng.randrange(0, 48)
        n = rng.choice((0, 1, 15, 16, 17, rng.randrange(0, 0xA0)))
        fill(rng, mem, mem.base - 0x40, s - mem.base + 0x40)        # bytes before the string: zeros allowed
        fill(rng, mem, s, n, avoid=0)
        mem.put(s + n, 1, 0)
        regs[reg(mode, "rdi")] = s
    return setup


def memchr_setup(mode):
    def setup(rng, regs, mem):
        s = mem.base + rng.randrange(0, 40)
        c = rng.choice((0, 0xFF, 0x80, rng.randrange(256)))
        n = rng.randrange(1, 0x90)
        fill(rng, mem, s, 0xA0, avoid=c)
        pos = rng.randrange(0, n + 24)                              # sometimes past the length: not found
        if pos < 0xA0:
            mem.put(s + pos, 1, c)
        regs[reg(mode, "rdi")], regs[reg(mode, "rdx")] = s, n
        regs[reg(mode, "rsi")] = (rng.getrandbits(24) << 8) | c     # only the low byte counts
    return setup


def memcmp_setup(mode):
    def setup(rng, regs, mem):
        a = mem.base - 0x100 + rng.randrange(0, 0x20)
        b = mem.base + rng.randrange(0, 0x20)
        fill(rng, mem, a, 0x90)
        for i in range(0x90):
            mem.put(b + i, 1, mem.get(a + i, 1))
        if rng.random() < 0.8:
            k = rng.randrange(0x80)
            mem.put(b + k, 1, (mem.get(a + k, 1) + rng.randrange(1, 256)) & 0xFF)
        regs[reg(mode, "rdi")], regs[reg(mode, "rsi")] = a, b
    return setup


def memset_setup(mode):
    def setup(rng, regs, mem):
        regs[reg(mode, "rdi")] = mem.base - 0x80 + rng.randrange(0, 0x40)
        regs[reg(mode, "rdx")] = rng.choice((16, 17, 31, 32, 33, rng.randrange(16, 0xC0)))
        regs[reg(mode, "rsi")] = rng.getrandbits(32)
    return setup


ROUTINES = {"strlen": (STRLEN, strlen_setup), "memchr": (MEMCHR, memchr_setup), "memcmp": (MEMCMP, memcmp_setup),
            "memset": (MEMSET, memset_setup)}


def run(name, mode, backend, cases):
    text, setup = ROUTINES[name]
    return check(for_mode(text, mode), mode, cases, backends=(backend,), mem_operand=True, sse=True,
                 setup=setup(mode), flags_defined_mask=ALL_FLAGS & ~AF, oracles=("native",))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", [64, 32])
@pytest.mark.parametrize("name", list(ROUTINES))
def test_sse_routine(name, mode, backend):
    require_backend(backend)
    run(name, mode, backend, quick_cases())


@pytest.mark.diff
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", [64, 32])
@pytest.mark.parametrize("name", list(ROUTINES))
def test_sse_routine_sweep(name, mode, backend):
    require_backend(backend)
    run(name, mode, backend, sweep_cases())
