"""The benchmark programs of bench/bench_process.py, with tiny arguments: their native results are checked against
independent values (published test vectors and results, prime counts, and Python re-implementations of the
bytecode program, the matrix loop and the qsort checksum), and each static build must give the same output under the runner."""

from __future__ import annotations

import pytest

from tests.process import harness

BENCH = harness.REPO / "bench" / "programs"
TINY = {
    "sieve": ("100000", "2"),
    "sha256": ("4096", "2"),
    "crc32": ("65536", "2"),
    "matmul": ("24", "2"),
    "qsort": ("4000", "1"),
    "bytecode": ("3000",),
    "nbody": ("1000",),
}


def collatz_checksum(limit: int) -> str:
    total = h = 0
    for n in range(1, limit):
        x, steps = n, 0
        while x != 1:
            x = x * 3 + 1 if x & 1 else x >> 1
            steps += 1
        total += steps
        h = (h * 1000003 + steps) & 0xFFFFFFFF
    return f"checksum: {total} {h:08x}"


def matmul_checksum(n: int, rounds: int) -> str:
    """bench/programs/matmul.c in Python: the same operations in the same order (no FMA, no reassociation), so
    the same doubles."""
    a = [((i * 7 + j * 3) % 17 - 8) / 16.0 for i in range(n) for j in range(n)]
    b = [((i * 5 + j * 11) % 13 - 6) / 12.0 + (i == j) for i in range(n) for j in range(n)]
    c = [0.0] * (n * n)
    for _ in range(rounds):
        c = [0.0] * (n * n)
        for i in range(n):
            for k in range(n):
                aik = a[i * n + k]
                for j in range(n):
                    c[i * n + j] += aik * b[k * n + j]
        norm = 0.0
        for v in c:
            norm += v * v
        norm = 1.0 / (1.0 + norm / n)
        a = [v * norm for v in c]
    trace = 0.0
    for i in range(n):
        trace += c[i * n + i]
    total = 0.0
    for i, v in enumerate(c):
        total += v * ((i % 7) - 3)
    return f"checksum: {trace:.10e} {total:.10e}"


def qsort_checksum(n: int, rounds: int) -> str:
    """bench/programs/qsort.c in Python: the same xorshift64 inputs, sorted by the same keys."""
    m64 = (1 << 64) - 1
    x, check = 0x2545F4914F6CDD1D, 0

    def step():
        nonlocal x
        x ^= (x << 13) & m64
        x ^= x >> 7
        x ^= (x << 17) & m64
        return x

    for _ in range(rounds):
        v = sorted(step() & 0xFFFFFFFF for _ in range(n))
        for i in range(0, n, 97):
            check = (check * 31 + v[i]) & m64
        recs = []
        for _ in range(n // 2):
            r = step()
            recs.append((r & 0xFFFFFFFF, (r >> 40) % 50, f"{((r >> 20) & 0xFFFFFFFF) % 10000000:07d}"))
        recs.sort(key=lambda t: (t[0] % 1000, t[1], t[2]))
        for i in range(0, n // 2, 101):
            key, tie, name = recs[i]
            check = (check * 31 + key + tie + ord(name[6])) & m64
    return f"checksum: {check:016x}"


EXPECTED_LINES = {
    "sieve": ["primes below 100000: 9592"],
    "sha256": ["sha256(abc) = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
    "crc32": ['crc32 of "123456789": cbf43926'],
    "matmul": [matmul_checksum(24, 2)],
    "qsort": ["sorted 4000 ints and 2000 records x 1", qsort_checksum(4000, 1)],
    "bytecode": [collatz_checksum(3000)],
    "nbody": ["steps=1000 energy before -0.169075164"],
}
# The published energies of this five-body system after 1000 steps of 0.01 (the benchmarks game's nbody output).
STARTS = {"nbody": "checksum: -1.69087605"}


@pytest.mark.parametrize("name", TINY)
def test_bench_program(name, runner, tmp_path):
    exe = harness.compile_c(BENCH / f"{name}.c", tmp_path / name, static=True)
    env = harness.fixed_env()
    native = harness.run([str(exe), *TINY[name]], env=env, cwd=tmp_path)
    lines = native.stdout.decode().splitlines()
    assert native.status == 0, native.describe()
    for want in EXPECTED_LINES[name]:
        assert want in lines, f"{name}: expected line {want!r} in {lines}"
    assert any(line.startswith(STARTS.get(name, "checksum: ")) for line in lines), lines
    emulated = harness.run([str(exe), *TINY[name]], env=env, cwd=tmp_path, runner=runner)
    harness.assert_same(native, emulated, runner)


def test_parse_dbt_stats():
    """bench_process.py's reading of ``dbt run --stats``, on the format the process VM prints and on variants."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_process", harness.REPO / "bench" / "bench_process.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    md = bench.parse_dbt_stats("dbt stats: blocks_translated 4, insns_executed 200009, blocks_compiled 1; decode "
                               "0.25s, lift 0.5s, optimize 0.125s, compile 0.125s, execute 2.0s\n", 4.0)
    assert md["dbt_blocks_translated"] == 4 and md["dbt_insns_executed"] == 200009 and md["dbt_execute"] == 2.0
    assert md["translate_share"] == 0.25 and md["stats_run_seconds"] == 4.0
    md = bench.parse_dbt_stats("insns_executed=1,234 decode: 30 ms\ncompile=0.07 s\n", 0.5)
    assert md["dbt_insns_executed"] == 1234 and abs(md["translate_share"] - 0.2) < 1e-12
    assert bench.parse_dbt_stats("translate share: 42%", 9.0)["translate_share"] == 0.42
    assert "translate_share" not in bench.parse_dbt_stats("no numbers here", 1.0)
