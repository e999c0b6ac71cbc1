"""Harness of the process-VM acceptance tests: run one Linux x86-64 program natively and under a runner (``python
-m dbt run`` by default, or the command in ``$DBT_PROCESS_RUNNER``, e.g. ``qemu-x86_64``), and compare.

The native run is the oracle. Both runs get the same argv, working directory, stdin bytes and an explicit, fixed
environment (``fixed_env``): the guest of a qemu-user-like runner inherits the runner's environment, so the runner
process is started with exactly that environment too. A runner that needs extra variables for itself (the default
one needs PYTHONPATH to import ``dbt`` from a checkout) gets them in its own environment and removes them from the
guest's with ``-U VAR`` (qemu-user and ``dbt run`` share that option).

Exit statuses are compared as a shell reports them: 128 + N for a process killed by signal N. Natively (and under
qemu-user, which re-raises the guest's fatal signal on itself) Python sees -N; ``dbt run`` exits with 128 + N.

Constraints: ``gcc`` must be installed (tests compile their C sources at test time); the runner's timeout is
``$DBT_PROCESS_TIMEOUT`` seconds (default 600), generous because a cold VM translates everything it runs.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROGS = Path(__file__).resolve().parent / "progs"
TIMEOUT = float(os.environ.get("DBT_PROCESS_TIMEOUT", "600"))
NATIVE_TIMEOUT = 60


def fixed_env(**extra: str) -> dict[str, str]:
    """The environment of every run, native or not. LC_ALL=C keeps outputs locale-independent and stops Python's
    PEP 538 locale coercion from adding LC_CTYPE to the environment of a Python-based runner."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/nonexistent", "LC_ALL": "C", "TZ": "UTC",
           "DBT_TEST_MARK": "process-vm"}
    env.update(extra)
    return env


@dataclass(frozen=True)
class Runner:
    """How to start a program under the VM: ``argv + ["-U", v for v in own_env] + program argv``."""
    argv: tuple[str, ...]
    own_env: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return " ".join(self.argv)

    def command(self, prog_argv: list[str]) -> list[str]:
        unset = [a for v in sorted(self.own_env) for a in ("-U", v)]
        return [*self.argv, *unset, *prog_argv]

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        return {**env, **self.own_env}


def runner_from_env() -> Runner:
    spec = os.environ.get("DBT_PROCESS_RUNNER", "").strip()
    if spec:
        return Runner(tuple(shlex.split(spec)))
    return Runner((sys.executable, "-m", "dbt", "run"), {"PYTHONPATH": str(REPO)})


@dataclass
class Result:
    status: int          # 128 + N when killed by signal N
    stdout: bytes
    stderr: bytes

    def describe(self) -> str:
        return (f"status {self.status}\n--- stdout (tail) ---\n{self.stdout[-1500:].decode('utf-8', 'replace')}"
                f"\n--- stderr (tail) ---\n{self.stderr[-1500:].decode('utf-8', 'replace')}")


def shell_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def run(argv: list[str], *, env: dict[str, str], cwd: Path | str, stdin: bytes = b"",
        runner: Runner | None = None) -> Result:
    """Run ``argv`` natively (runner None) or under ``runner``; stdin is fed from ``stdin`` bytes."""
    cmd, penv, timeout = list(argv), dict(env), NATIVE_TIMEOUT
    if runner is not None:
        cmd, penv, timeout = runner.command(list(argv)), runner.environment(env), TIMEOUT
    done = subprocess.run(cmd, input=stdin, capture_output=True, env=penv, cwd=cwd, timeout=timeout, check=False)
    return Result(shell_status(done.returncode), done.stdout, done.stderr)


def assert_same(native: Result, emulated: Result, runner: Runner, *, stderr: bool = True) -> None:
    """Exact comparison of status, stdout and (when deterministic) stderr, with both sides shown on failure."""
    why = []
    if native.status != emulated.status:
        why.append(f"exit status {emulated.status} != native {native.status}")
    if native.stdout != emulated.stdout:
        why.append(f"stdout differs{first_difference(native.stdout, emulated.stdout)}")
    if stderr and native.stderr != emulated.stderr:
        why.append(f"stderr differs{first_difference(native.stderr, emulated.stderr)}")
    if why:
        raise AssertionError(f"under {runner.name}: " + "; ".join(why) + f"\n=== native ===\n{native.describe()}"
                             f"\n=== {runner.name} ===\n{emulated.describe()}")


def first_difference(a: bytes, b: bytes) -> str:
    la, lb = a.splitlines(), b.splitlines()
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            return f" at line {i + 1}: native {x[:200]!r} vs {y[:200]!r}"
    return f": native has {len(la)} lines, runner {len(lb)}"


def compile_c(source: Path, out: Path, *, static: bool) -> Path:
    """gcc -O2 [-static] SOURCE -o OUT -lm."""
    cmd = ["gcc", "-O2", *(["-static"] if static else []), str(source), "-o", str(out), "-lm"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return out
