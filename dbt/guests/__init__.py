"""Bundled guest programs (x86 assembly source, assembled with Keystone at run time).

Each kernel is a small self-contained routine: it reads its input from registers, leaves its result in RAX/EAX and
ends with HLT. The demo (``python -m dbt demo``) and the benchmarks in ``bench/`` run them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
CODE_BASE = 0x10000
DATA_BASE = 0x100000
DATA_SIZE = 0x100000
STACK_TOP = 0x300000


@dataclass(frozen=True)
class Kernel:
    name: str
    summary: str
    regs: dict           # inputs
    expect: callable     # regs -> expected RAX (a Python model of the kernel)

    @property
    def source(self) -> str:
        """The assembly text with its ``;`` comments removed (Keystone reads ``;`` as a statement separator)."""
        text = (HERE / f"{self.name}.asm").read_text()
        return "\n".join(line.split(";", 1)[0] for line in text.splitlines())


_NUMBER = re.compile(r'"(?:[^"\\]|\\.)*"|(?<![\w.$])(\d+)(?![\w.])')


def hex_literals(text: str) -> str:
    """Every bare decimal number written as 0x... (string literals, identifiers such as ``isr_12`` or ``cr0`` and
    hexadecimal numbers are left alone). Keystone 0.9.2 takes its default radix from uninitialized memory: in a
    process that has run other native code (the LLVM backend), ``mov ecx, 64`` may assemble as ``mov ecx, 0x64``."""
    return _NUMBER.sub(lambda m: m.group(0) if m.group(1) is None else hex(int(m.group(1))), text)


def assemble(source: str, mode: int = 64, base: int = CODE_BASE) -> bytes:
    import keystone
    ks = keystone.Ks(keystone.KS_ARCH_X86, {16: keystone.KS_MODE_16, 32: keystone.KS_MODE_32,
                                            64: keystone.KS_MODE_64}[mode])
    enc, _ = ks.asm(hex_literals(source), base)
    return bytes(enc)


def _sieve(n):
    flags = [True] * (n + 1)
    count = 0
    for i in range(2, n + 1):
        if flags[i]:
            count += 1
            for j in range(i * i, n + 1, i):
                flags[j] = False
    return count


def _fib(n):
    return n if n < 2 else _fib(n - 1) + _fib(n - 2)


def _alu(n):
    a, b = 1, 0
    for i in range(n):
        a = (a * 3 + i) & 0xFFFFFFFFFFFFFFFF
        b ^= (a >> 7)
        b = (b + (a & 0xFF)) & 0xFFFFFFFFFFFFFFFF
    return b


def _branchy(n):
    x, acc = 12345, 0
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        if x & 0x100:
            acc += 3
        elif x & 0x40:
            acc ^= x
        else:
            acc -= 1
        acc &= 0xFFFFFFFFFFFFFFFF
    return acc


def _memcpy(n):
    return (n * 4096) & 0xFFFFFFFFFFFFFFFF


def _strings(n):
    return n * 64


KERNELS = {k.name: k for k in [
    Kernel("alu", "integer ALU loop (mul, xor, shift, add)", {"rcx": 2_000_000}, lambda r: _alu(r["rcx"])),
    Kernel("memcpy", "copy a 4 KB buffer with a load/store loop", {"rcx": 2_000}, lambda r: _memcpy(r["rcx"])),
    Kernel("fib", "recursive Fibonacci (call/return)", {"rcx": 24}, lambda r: _fib(r["rcx"])),
    Kernel("branchy", "LCG with data-dependent branches", {"rcx": 1_000_000}, lambda r: _branchy(r["rcx"])),
    Kernel("strings", "REP STOSB/MOVSB/SCASB over 4 KB", {"rcx": 500}, lambda r: _strings(r["rcx"])),
    Kernel("sieve", "sieve of Eratosthenes", {"rcx": 200_000}, lambda r: _sieve(r["rcx"])),
]}


def load(kernel: Kernel, backend: str = "auto", **options):
    """An Emulator (64-bit) with the kernel's code, data, stack and input registers in place."""
    from dbt import Emulator
    emu = Emulator(64, backend=backend, **options)
    code = assemble(kernel.source)
    emu.mem_map(CODE_BASE, (len(code) + 0xFFF) & ~0xFFF, "rx")
    emu.mem_write(CODE_BASE, code)
    emu.mem_map(DATA_BASE, DATA_SIZE, "rw")
    emu.mem_map(STACK_TOP - 0x10000, 0x10000, "rw")
    reset(emu, kernel)
    return emu


def reset(emu, kernel: Kernel) -> None:
    for r in ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11"):
        emu.reg_write(r, 0)
    emu.reg_write("rsp", STACK_TOP - 0x100)
    for r, v in kernel.regs.items():
        emu.reg_write(r, v)
