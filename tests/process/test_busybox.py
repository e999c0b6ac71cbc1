"""Debian's busybox-static (/bin/busybox) under the runner, compared with the same busybox command run natively
(the oracle): stdout and exit status must be identical. Inputs are files written into each side's own working
directory (inputs.py); commands run from there, with the fixed environment of harness.py.

The shell runs applets in-process or, for most of them, by fork + exec of /proc/self/exe, so these tests also
exercise fork, execve, pipes and wait under the VM. Nothing is installed here: `.ci/run` installs busybox-static.
"""

from __future__ import annotations

import os

import pytest

from tests.process import harness
from tests.process.inputs import make_inputs

BUSYBOX = "/bin/busybox"

SCRIPTS = {
    "sh-arith-loop": 'i=0; s=0; while [ $i -lt 300 ]; do s=$((s + i * i % 97)); i=$((i + 1)); done; echo "sum=$s"',
    "sh-for-case-func": ('f() { case $1 in a*) echo "A:$1";; [0-9]*) echo "num:$1";; *) echo "other:$1";; esac; }; '
                         'for w in apple 42 berry avocado; do f "$w"; done; x=$(echo sub | wc -c); echo "len=$x"; '
                         '(exit 3); echo "status=$?"; set -- one two three; echo "$# $2"; '
                         'v=abcdef; echo "${v#ab} ${v%ef} ${#v}"'),
    "sh-pipeline": 'cat words.txt | tr " " "\\n" | grep -v "^$" | sort | uniq -c | sort -k1,1nr -k2 | head -15',
    "sh-redirect-while-read": ('n=0; while read -r a b rest; do n=$((n + 1)); [ -n "$b" ] && echo "$n $b"; '
                               'done < words.txt > out.txt; wc -l < out.txt; tail -3 out.txt; '
                               'echo appended >> out.txt; tail -1 out.txt; rm out.txt; ls'),
    "sh-exit-status": 'false || echo "false failed"; true && echo "true ok"; grep -q nothing-here words.txt; exit $?',
    "sort-numeric": "sort -n numbers.txt | head -20; sort -rn numbers.txt | tail -5",
    "sort-keys": "sort -t, -k2,2 -k3,3n table.csv | head -30; sort -u -t, -k1,1 table.csv",
    "sort-fold-unique": "tr ' ' '\\n' < words.txt | sort -f -u",
    "sha256sum": "sha256sum data.bin words.txt numbers.txt table.csv",
    "md5sum": "md5sum data.bin words.txt; md5sum < table.csv",
    "gzip-roundtrip": ("gzip -c < data.bin > data.gz && gunzip -c data.gz | cmp - data.bin && echo same; "
                       "wc -c < data.gz; md5sum < data.gz; gzip -9 -c < words.txt | gunzip | md5sum; rm data.gz"),
    "wc": "wc words.txt numbers.txt table.csv; wc -l < data.bin; wc -w words.txt",
    "grep": ("grep -n -i apple words.txt | head; grep -c -E 'omega|psi' words.txt; grep -v -e a -e e words.txt "
             "| head -5; grep -o '[0-9][0-9]*' words.txt | sort -n | uniq | tr '\\n' ' '; echo"),
    "grep-no-match": "grep -w xylophone words.txt; echo \"status $?\"; grep -w xylophone words.txt",
    "sed": (r"sed -n 's/^\([a-z]*\) \([a-z]*\)/\2 \1/p' words.txt | head -10; sed -e '1,350d' -e 's/a/@/g' words.txt; "
            r"sed -n '$=' numbers.txt; printf 'x\ny\n' | sed 'y/xy/XY/;a\
after'"),
    "awk": ("awk -F, '{s[$1] += $3; n[$1]++} END {for (k in s) printf \"%s %d %d %.4f\\n\", k, n[k], s[k], "
            "s[k] / n[k]}' table.csv | sort; awk '{w += NF; if (length($0) > m) m = length($0)} "
            "END {print NR, w, m}' words.txt; awk 'BEGIN {for (i = 1; i <= 8; i++) "
            "printf \"%.6f %.3e %d %s\\n\", i / 7 * 1.5 + i * i / 3, i * i * i / 11e5, int(i * 3.7), i / 3}'"),
}
STDIN_CASES = {
    "sort-stdin": (["sort", "-r"], b"pear\napple\nfig\nbanana\n\nApple\n"),
    "sha256sum-stdin": (["sha256sum"], bytes(range(256)) * 40),
}


@pytest.fixture(scope="module")
def busybox():
    if not os.path.exists(BUSYBOX):
        pytest.fail(f"{BUSYBOX} is missing: .ci/run must install Debian's busybox-static "
                    "(apt-get install -y busybox-static)")
    return BUSYBOX


def run_both(argv, tmp_path, runner, stdin=b""):
    env = harness.fixed_env()
    native = harness.run(argv, env=env, cwd=make_inputs(tmp_path / "native"), stdin=stdin)
    emulated = harness.run(argv, env=env, cwd=make_inputs(tmp_path / "runner"), stdin=stdin, runner=runner)
    return native, emulated


@pytest.mark.parametrize("name", SCRIPTS)
def test_busybox_sh(name, busybox, runner, tmp_path):
    native, emulated = run_both([busybox, "sh", "-c", SCRIPTS[name]], tmp_path, runner)
    assert native.stdout, f"the native run printed nothing: {native.describe()}"
    harness.assert_same(native, emulated, runner, stderr=False)


@pytest.mark.parametrize("name", STDIN_CASES)
def test_busybox_stdin(name, busybox, runner, tmp_path):
    args, data = STDIN_CASES[name]
    native, emulated = run_both([busybox, *args], tmp_path, runner, stdin=data)
    harness.assert_same(native, emulated, runner, stderr=False)


def test_busybox_native_oracle(busybox, tmp_path):
    """Hand-checked values of native runs, so the comparison above cannot pass on two equally broken runs."""
    env = harness.fixed_env()
    cwd = make_inputs(tmp_path)
    res = harness.run([busybox, "sh", "-c", SCRIPTS["sh-arith-loop"]], env=env, cwd=cwd)
    assert res.stdout == f"sum={sum(i * i % 97 for i in range(300))}\n".encode()
    res = harness.run([busybox, "sh", "-c", SCRIPTS["sh-exit-status"]], env=env, cwd=cwd)
    assert res.stdout == b"false failed\ntrue ok\n" and res.status == 1
    import hashlib
    res = harness.run([busybox, "sha256sum"], env=env, cwd=cwd, stdin=STDIN_CASES["sha256sum-stdin"][1])
    assert res.stdout.split()[0].decode() == hashlib.sha256(STDIN_CASES["sha256sum-stdin"][1]).hexdigest()
    res = harness.run([busybox, "sort", "-r"], env=env, cwd=cwd, stdin=STDIN_CASES["sort-stdin"][1])
    assert res.stdout == b"pear\nfig\nbanana\napple\nApple\n\n"
