"""Acceptance tests of the process VM: small C programs (progs/*.c), built with gcc -O2 both -static and dynamic,
run natively and under the runner (see harness.py); stdout, stderr and exit status must be identical.

    python -m pytest -q tests/process                                  # runner: python -m dbt run
    DBT_PROCESS_RUNNER=qemu-x86_64 python -m pytest -q tests/process   # validates the tests themselves
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.process import harness


@dataclass(frozen=True)
class Case:
    prog: str                                   # progs/PROG.c
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    stdin: bytes = b""
    needs_dir: bool = False                     # argv[1] is a fresh, empty directory for each run


CASES = {
    "floatfmt": Case("floatfmt"),
    "mallocs": Case("mallocs"),
    "strings": Case("strings"),
    "setjmp": Case("setjmp"),
    "fileio": Case("fileio", needs_dir=True),
    "signals": Case("signals"),
    "signals-die": Case("signals", args=("die",)),
    "forkpipe": Case("forkpipe"),
    "argvenv": Case("argvenv", args=("first", "with two spaces", "", "-E", "--", "ünïcödé", "x" * 300),
                    env={"DBT_TEST_SPACES": "a b  c", "DBT_TEST_EMPTY": ""}),
}
LINKS = {"static": True, "dynamic": False}


def run_case(case: Case, exe, tmp_path, runner):
    tmp_path.mkdir(exist_ok=True)
    env = harness.fixed_env(**case.env)
    results = []
    for side, who in (("native", None), ("runner", runner)):
        cwd = tmp_path / side
        cwd.mkdir()
        args = list(case.args)
        if case.needs_dir:
            (cwd / "work").mkdir()
            args = [str(cwd / "work")] + args
        results.append(harness.run([str(exe), *args], env=env, cwd=cwd, stdin=case.stdin, runner=who))
        if case.needs_dir:
            assert not any((cwd / "work").iterdir()), f"{side}: the program left files behind"
    return results


@pytest.mark.parametrize("link", LINKS)
@pytest.mark.parametrize("name", CASES)
def test_program(name, link, compiled, runner, tmp_path):
    case = CASES[name]
    exe = compiled(case.prog, LINKS[link])
    native, emulated = run_case(case, exe, tmp_path, runner)
    harness.assert_same(native, emulated, runner)


def test_native_outputs_are_meaningful(compiled, tmp_path):
    """The oracle itself: hand-checked facts about the native runs, so a broken build or harness (empty outputs,
    every program failing the same way on both sides) cannot pass as agreement."""
    env = harness.fixed_env()
    out = {}
    for name, status in (("floatfmt", 0), ("strings", 0), ("setjmp", 10 + 4), ("signals", 0), ("forkpipe", 0)):
        res = harness.run([str(compiled(name, True))], env=env, cwd=tmp_path)
        assert res.status == status, res.describe()
        out[name] = res.stdout.decode()
    assert "0.100000 0 0.1 0.10 " in out["floatfmt"] and "0x1.999999999999ap-4" in out["floatfmt"]
    assert "ld basel 1.6439345666815598" in out["floatfmt"]        # sum of 1/k^2, k <= 1000, in x87 precision
    assert "string checks: " in out["strings"] and ", errors: 0" in out["strings"]
    assert "nested(3) = 32" in out["setjmp"] and "round=4 last value=1" in out["setjmp"]
    assert "code=1 (SEGV_MAPERR=1) addr_ok=1" in out["signals"] and "killed by signal 9" in out["signals"]
    assert "grandchild's code doubled: 42" in out["forkpipe"]
    res = harness.run([str(compiled("argvenv", False)), "ab", "c"], env=env, cwd=tmp_path)
    assert res.status == (3 * 7 + 2) * 7 + 1 and b"argv[2] (1) = [c]" in res.stdout
    res = harness.run([str(compiled("signals", False)), "die"], env=env, cwd=tmp_path)
    assert res.status == 128 + 11


def test_harness_detects_differences(compiled, tmp_path):
    """The comparison can fail: ``env`` with no assignment is a faithful "runner" and must agree with the native
    run; ``env DBT_EXTRA=1`` changes the guest's environment and must be caught; so must another exit status."""
    exe = compiled("argvenv", True)
    case = CASES["argvenv"]
    faithful = harness.Runner(("env",))
    native, emulated = run_case(case, exe, tmp_path / "a", faithful)
    harness.assert_same(native, emulated, faithful)
    leaky = harness.Runner(("env", "DBT_EXTRA=1"))
    native, emulated = run_case(case, exe, tmp_path / "b", leaky)
    with pytest.raises(AssertionError, match="stdout differs"):
        harness.assert_same(native, emulated, leaky)
    native, emulated = run_case(Case("argvenv", args=("x",)), exe, tmp_path / "c", faithful)
    emulated.status += 1                        # a difference in the exit status alone
    with pytest.raises(AssertionError, match="exit status"):
        harness.assert_same(native, emulated, faithful)
