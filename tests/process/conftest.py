"""Fixtures of the process-VM acceptance tests: the runner, and the C programs compiled once per session."""

from __future__ import annotations

import shutil

import pytest

from tests.process import harness


@pytest.fixture(scope="session")
def runner() -> harness.Runner:
    r = harness.runner_from_env()
    if shutil.which(r.argv[0]) is None:
        pytest.fail(f"runner {r.name!r} (from $DBT_PROCESS_RUNNER) is not installed")
    return r


@pytest.fixture(scope="session")
def compiled(tmp_path_factory):
    """compiled(name, static) -> path of progs/NAME.c built with gcc -O2 [-static], built once per session."""
    if shutil.which("gcc") is None:
        pytest.fail("gcc is not installed: the process-VM tests compile their C programs at test time")
    out_dir = tmp_path_factory.mktemp("progs-bin")
    cache = {}

    def get(name: str, static: bool):
        key = (name, static)
        if key not in cache:
            exe = out_dir / f"{name}-{'static' if static else 'dynamic'}"
            cache[key] = harness.compile_c(harness.PROGS / f"{name}.c", exe, static=static)
        return cache[key]

    return get
