"""Dynamically linked programs of the host system under the runner, with the host's dynamic loader and libraries
(sysroot "/"): coreutils ls, sort and sha256sum, and Debian's python3 (marked process_slow: a Python start-up
runs ~20M guest instructions through hundreds of shared-object pages). The native run is the oracle.

`ls -la` needs stable input: a directory made here, with fixed modes and fixed mtimes (os.utime), owned by the
user running the tests. `ls -la /` itself can change while the tests run (/tmp's mtime, size and link count move
whenever anyone creates a file there), so it is run natively just before and just after the runner, and each line
of the runner's output must equal that line of one of the two native runs. The link count of /proc is the number
of live processes plus a constant, which the runner itself changes: that one field is masked.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil

import pytest

from tests.process import harness
from tests.process.inputs import make_inputs

PYTHON = "/usr/bin/python3"
FIXED_TIME = 1700000000          # 2023-11-14 22:13:20 UTC


def host_program(name: str) -> str:
    path = shutil.which(name, path="/usr/bin:/bin")
    if path is None:
        pytest.fail(f"host program {name} is missing")
    return path


def make_tree(root):
    """A directory with files, a subdirectory and a symlink, all with fixed modes and mtimes."""
    root.mkdir()
    (root / "small.txt").write_text("hello\n")
    (root / "big.bin").write_bytes(bytes(range(256)) * 300)
    (root / "sub").mkdir()
    (root / "sub" / "inner").write_text("x" * 1234)
    (root / "empty").touch()
    os.symlink("small.txt", root / "link")
    modes = {"small.txt": 0o644, "big.bin": 0o600, "sub": 0o750, "empty": 0o444, "sub/inner": 0o640}
    for rel, mode in modes.items():
        os.chmod(root / rel, mode)
    for i, rel in enumerate(["small.txt", "big.bin", "empty", "sub/inner", "sub", "."]):
        os.utime(root / rel, (FIXED_TIME + i * 3600, FIXED_TIME + i * 86400 + 17))
    os.utime(root / "link", (FIXED_TIME, FIXED_TIME + 99), follow_symlinks=False)
    return root


@pytest.mark.parametrize("flags", [["-la"], ["-laR", "--time-style=full-iso"], ["-1s", "--color=never"]])
def test_ls_fixed_tree(flags, runner, tmp_path):
    ls = host_program("ls")
    tree = make_tree(tmp_path / "tree")
    env = harness.fixed_env()
    native = harness.run([ls, *flags, str(tree)], env=env, cwd=tmp_path)
    assert b"small.txt" in native.stdout and native.status == 0, native.describe()
    emulated = harness.run([ls, *flags, str(tree)], env=env, cwd=tmp_path, runner=runner)
    harness.assert_same(native, emulated, runner)


def mask_proc_links(listing: bytes) -> list[bytes]:
    """The lines of ``ls -la /`` with the link count of the /proc line replaced by N."""
    lines = listing.splitlines()
    for i, line in enumerate(lines):
        fields = line.split(None, 2)
        if line.endswith(b" proc") and len(fields) == 3:
            lines[i] = b" ".join([fields[0], b"N", fields[2]])
    return lines


def test_ls_root(runner, tmp_path):
    ls = host_program("ls")
    env = harness.fixed_env()
    before = harness.run([ls, "-la", "/"], env=env, cwd=tmp_path)
    emulated = harness.run([ls, "-la", "/"], env=env, cwd=tmp_path, runner=runner)
    after = harness.run([ls, "-la", "/"], env=env, cwd=tmp_path)
    assert before.status == after.status == emulated.status == 0, emulated.describe()
    b, e, a = (mask_proc_links(r.stdout) for r in (before, emulated, after))
    assert len(e) in (len(b), len(a)), f"ls -la / under {runner.name}: {len(e)} lines, natively {len(b)}/{len(a)}"
    for i, line in enumerate(e):
        ok = (i < len(b) and line == b[i]) or (i < len(a) and line == a[i])
        assert ok, f"ls -la / line {i + 1} under {runner.name}: {line!r}; natively {b[i:i + 1]} / {a[i:i + 1]}"
    assert any(line.endswith(b" usr") for line in e)


@pytest.mark.parametrize("args", [["-n"], ["-t,", "-k2,2", "-k3,3nr"], ["-u", "-f"], ["-R", "--random-source=data.bin"]])
def test_sort(args, runner, tmp_path):
    sort = host_program("sort")
    target = "numbers.txt" if args == ["-n"] else "table.csv" if "-t," in args else "words.txt"
    env = harness.fixed_env()
    native = harness.run([sort, *args, target], env=env, cwd=make_inputs(tmp_path / "native"))
    emulated = harness.run([sort, *args, target], env=env, cwd=make_inputs(tmp_path / "runner"), runner=runner)
    assert native.stdout and native.status == 0
    harness.assert_same(native, emulated, runner)


def test_sort_stdin(runner, tmp_path):
    data = b"".join(f"{(i * 7919) % 1009:05d} line {i}\n".encode() for i in range(3000))
    env = harness.fixed_env()
    native = harness.run([host_program("sort"), "-r"], env=env, cwd=tmp_path, stdin=data)
    assert native.stdout == b"".join(sorted(data.splitlines(keepends=True), reverse=True))
    emulated = harness.run([host_program("sort"), "-r"], env=env, cwd=tmp_path, stdin=data, runner=runner)
    harness.assert_same(native, emulated, runner)


def test_sha256sum(runner, tmp_path):
    sha = host_program("sha256sum")
    d = make_inputs(tmp_path / "in")
    env = harness.fixed_env()
    files = ["data.bin", "words.txt", "numbers.txt"]
    native = harness.run([sha, *files], env=env, cwd=d)
    assert native.stdout.split()[0].decode() == hashlib.sha256((d / "data.bin").read_bytes()).hexdigest()
    emulated = harness.run([sha, *files], env=env, cwd=d, runner=runner)
    harness.assert_same(native, emulated, runner)


PY_SCRIPT = """
import hashlib, json, math, struct, sys, zlib
data = [{"n": i, "sq": i * i, "name": "item%03d" % i, "f": round(math.sin(i) * 1000, 6)} for i in range(300)]
text = json.dumps(data, sort_keys=True)
back = json.loads(text)
print(len(text), back[123]["name"], back[-1]["f"])
print(hashlib.sha256(text.encode()).hexdigest())
print(hashlib.md5(struct.pack("<300d", *(d["f"] for d in data))).hexdigest())
print(zlib.crc32(text.encode()), len(zlib.compress(text.encode(), 9)))
print(sum(x * x for x in range(100000)) % 1000003, math.fsum(1 / k for k in range(1, 5000)))
print(sorted(set("the quick brown fox jumps over the lazy dog")), f"{2 ** 0.5:.15f} {1e300 * 1e10}")
sys.exit(len(back) % 256)
"""


@pytest.mark.process_slow
def test_python3(runner, tmp_path):
    if not os.path.exists(PYTHON):
        pytest.fail(f"{PYTHON} is missing (Debian's python3)")
    env = harness.fixed_env()
    argv = [PYTHON, "-I", "-S", "-c", PY_SCRIPT]    # isolated: no user site, no site-packages scan
    native = harness.run(argv, env=env, cwd=tmp_path)
    text = json.dumps([{"n": i, "sq": i * i, "name": f"item{i:03d}", "f": round(math.sin(i) * 1000, 6)}
                       for i in range(300)], sort_keys=True)
    assert native.status == 300 % 256, native.describe()
    assert native.stdout.splitlines()[1].decode() == hashlib.sha256(text.encode()).hexdigest()
    emulated = harness.run(argv, env=env, cwd=tmp_path, runner=runner)
    harness.assert_same(native, emulated, runner)
