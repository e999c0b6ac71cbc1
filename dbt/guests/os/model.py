"""Python models of what the guest OS computes, so tests can check its serial output independently.

The task results are computed by fast-forward (an affine map for the LCG, a GF(2) matrix power for xorshift32),
so the defaults (millions of iterations) cost microseconds; ``lcg_steps``/``xorshift32_steps`` are the plain loops
the fast versions are tested against.
"""

from __future__ import annotations

import zlib

from . import layout

MASK = 0xFFFFFFFF
LCG_A, LCG_C, LCG_SEED = 1664525, 1013904223, 1
XORSHIFT_SEED = 2463534242


def lcg_steps(n: int, x: int = LCG_SEED) -> int:
    for _ in range(n):
        x = (x * LCG_A + LCG_C) & MASK
    return x


def lcg(n: int, x: int = LCG_SEED) -> int:
    """Task 1: n steps of x = x * 1664525 + 1013904223 (mod 2**32) from x = 1."""
    a, c = 1, 0                          # the accumulated map x -> a*x + c
    step_a, step_c = LCG_A, LCG_C
    while n:
        if n & 1:
            a, c = (step_a * a) & MASK, (step_a * c + step_c) & MASK
        step_a, step_c = (step_a * step_a) & MASK, (step_a * step_c + step_c) & MASK
        n >>= 1
    return (a * x + c) & MASK


def _xorshift_step(x: int) -> int:
    x ^= (x << 13) & MASK
    x ^= x >> 17
    x ^= (x << 5) & MASK
    return x


def xorshift32_steps(n: int, x: int = XORSHIFT_SEED) -> int:
    for _ in range(n):
        x = _xorshift_step(x)
    return x


def _apply(columns: list[int], x: int) -> int:
    y = 0
    for bit, column in enumerate(columns):
        if x >> bit & 1:
            y ^= column
    return y


def xorshift32(n: int, x: int = XORSHIFT_SEED) -> int:
    """Task 2: n steps of xorshift32 (shifts 13, 17, 5). The step is linear over GF(2): square its matrix."""
    step = [_xorshift_step(1 << bit) for bit in range(32)]      # column images of the one-step map
    while n:
        if n & 1:
            x = _apply(step, x)
        step = [_apply(step, column) for column in step]
        n >>= 1
    return x


def sieve_flags(n: int) -> bytes:
    """flags[i] = 1 when i is prime, for 0 <= i < n."""
    flags = bytearray([1]) * n
    flags[:2] = bytes(min(n, 2))
    i = 2
    while i * i < n:
        if flags[i]:
            flags[i * i::i] = bytes(len(range(i * i, n, i)))
        i += 1
    return bytes(flags)


def work(n: int) -> tuple[int, int, int]:
    """The ring-3 workload: (number of primes below n, mix, CRC-32 of the n flag bytes), where
    mix = mix * 31 + (p * p mod 65521) over the primes p in increasing order (mod 2**32)."""
    n = min(n, layout.WORK_MAX)
    flags = sieve_flags(n)
    mix = primes = 0
    for p in range(n):
        if flags[p]:
            primes += 1
            mix = (mix * 31 + p * p % 65521) & MASK
    return primes, mix, zlib.crc32(flags)


def expected_checksum(n: int) -> int:
    """The crc32 the workload prints for ``work=n``."""
    return zlib.crc32(sieve_flags(min(n, layout.WORK_MAX)))


def task_lines(spin: int = layout.SPIN_DEFAULT) -> list[str]:
    """The lines tasks 1 and 2 print for ``spin=N``."""
    return [f"task 1: lcg({spin}) = {lcg(spin):08X}", f"task 2: xorshift32({spin}) = {xorshift32(spin):08X}"]


def work_line(n: int = layout.WORK_DEFAULT) -> str:
    """The line the workload prints for ``work=N``."""
    primes, mix, crc = work(n)
    return f"work: n={min(n, layout.WORK_MAX)} primes={primes} mix={mix:08X} crc32={crc:08X}"
