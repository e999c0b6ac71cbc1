"""``python -m dbt run``: malformed ELF files and bad options end with one clear line and status 1 (argparse's
usage errors: 2); -E/-U edit the host environment; --strace prints qemu-user-shaped lines on stderr."""

import re
import struct
import subprocess
import sys

import pytest

from dbt.__main__ import main


def _run(argv, capfd):
    capfd.readouterr()
    status = main(["run", *argv])
    out, err = capfd.readouterr()
    return status, out, err


def _phdrs(data: bytes):
    phoff, = struct.unpack_from("<Q", data, 32)
    phnum, = struct.unpack_from("<H", data, 56)
    return [phoff + 56 * i for i in range(phnum)]


def _edit(prog, tmp_path, name, fn) -> str:
    data = bytearray(prog.read_bytes())
    fn(data)
    p = tmp_path / name
    p.write_bytes(bytes(data))
    p.chmod(0o755)
    return str(p)


def _no_load(data):
    for off in _phdrs(data):
        if struct.unpack_from("<I", data, off)[0] == 1:
            struct.pack_into("<I", data, off, 0)


def _overlap(data):
    loads = [off for off in _phdrs(data) if struct.unpack_from("<I", data, off)[0] == 1]
    first = struct.unpack_from("<Q", data, loads[0] + 16)[0]
    second = struct.unpack_from("<Q", data, loads[1] + 16)[0]
    moved = second - (second - first) // 4096 * 4096        # same page offset, on the first segment's page
    struct.pack_into("<QQ", data, loads[1] + 16, moved, moved)


BAD = {
    "bad_magic": (lambda d: d.__setitem__(slice(0, 4), b"MZ\x90\x00"), "bad magic"),
    "elf32": (lambda d: d.__setitem__(4, 1), "32-bit"),
    "big_endian": (lambda d: d.__setitem__(5, 2), "big-endian"),
    "arm64": (lambda d: struct.pack_into("<H", d, 18, 183), "machine 183 is not x86-64"),
    "relocatable": (lambda d: struct.pack_into("<H", d, 16, 1), "ELF type 1"),
    "no_load": (_no_load, "no PT_LOAD"),
    "overlap": (_overlap, "overlap"),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_malformed_elf_one_line_status_1(prog, tmp_path, capfd, kind):
    fn, words = BAD[kind]
    path = _edit(prog, tmp_path, kind, fn)
    status, out, err = _run(["--backend", "interp", path], capfd)
    assert status == 1
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"dbt: {path}: ") and words in err, err


@pytest.mark.parametrize("size,words", [(40, "truncated ELF header"), (2000, "truncated")])
def test_truncated_elf(prog, tmp_path, capfd, size, words):
    p = tmp_path / f"cut{size}"
    p.write_bytes(prog.read_bytes()[:size])
    status, _, err = _run([str(p)], capfd)
    assert status == 1 and err.count("\n") == 1 and words in err, err


def test_missing_program(tmp_path, capfd):
    status, _, err = _run([str(tmp_path / "nope")], capfd)
    assert status == 1 and err == f"dbt: {tmp_path / 'nope'}: No such file or directory\n"


@pytest.mark.parametrize("argv", [["--no-such-flag", "x"], [], ["--backend", "fast", "x"]])
def test_bad_flags_are_usage_errors(argv, capfd):
    with pytest.raises(SystemExit) as e:
        main(["run", *argv])
    assert e.value.code == 2
    assert "usage:" in capfd.readouterr().err


def test_bad_log_item_and_env_syntax(prog, capfd):
    status, _, err = _run(["-d", "in_asm,bogus", str(prog)], capfd)
    assert status == 1 and "bogus" in err
    status, _, err = _run(["-E", "NOEQUALS", str(prog)], capfd)
    assert status == 1 and "VAR=VALUE" in err


def test_env_edits_and_args(prog, capfd, monkeypatch):
    monkeypatch.setenv("DBT_KEEP", "kept")
    monkeypatch.setenv("DBT_DROP", "dropped")
    status, out, _ = _run(["--backend", "interp", "-E", "DBT_NEW=a=b", "-U", "DBT_DROP", str(prog), "args", "z"],
                          capfd)
    assert status == 3
    assert "argv=args\nargv=z\n" in out
    assert "env=DBT_NEW=a=b\n" in out and "env=DBT_KEEP=kept\n" in out and "DBT_DROP" not in out


def test_strace_shape_and_status(prog):
    r = subprocess.run([sys.executable, "-m", "dbt", "run", "--strace", "--backend", "interp", str(prog),
                        "unsupported"], capture_output=True, timeout=120, check=False)
    assert r.returncode == 0
    lines = r.stderr.decode().splitlines()
    assert "dbt: unsupported syscall 206 (io_setup)" in lines
    calls = [ln for ln in lines if not ln.startswith("dbt:")]
    pid = r"\d+"
    assert re.fullmatch(pid + r" io_setup\(0x1,0x0,0x0,0x0,0x0,0x0\) = -1 errno=38 \(Function not implemented\)",
                        calls[0]), calls[0]
    assert re.fullmatch(pid + r" write\(1,0x[0-9a-f]+,\d+\) = \d+", calls[-2]), calls[-2]
    assert re.fullmatch(pid + r" exit_group\(0\) = \?", calls[-1]), calls[-1]


def test_exit_status_and_stats(prog):
    r = subprocess.run([sys.executable, "-m", "dbt", "run", "--stats", "--backend", "llvm", str(prog), "die",
                        "term"], capture_output=True, timeout=120, check=False)
    assert r.returncode == 128 + 15
    assert b"dbt stats: blocks_translated" in r.stderr


def test_boot_subcommand_still_parses(capfd):
    with pytest.raises(SystemExit) as e:
        main(["boot", "-m", "1", "--help"])
    assert e.value.code == 0


def test_translation_log_to_file(prog, tmp_path, capfd):
    log = tmp_path / "d.log"
    status, out, _ = _run(["-d", "in_asm,op", "-D", str(log), "--backend", "interp", str(prog), "tls"], capfd)
    assert status == 0 and "fs8=22" in out
    text = log.read_text()
    assert text.startswith("IN: linear 0x") and "\nOP:\nunit pc=0x" in text and "syscall" in text


def test_process_api_default_environment(prog, capfd, monkeypatch):
    import dbt
    monkeypatch.setenv("DBT_FROM_HOST", "yes")
    capfd.readouterr()
    assert dbt.Process([str(prog), "args"], backend="interp").run() == 3
    out = capfd.readouterr().out
    assert "env=DBT_FROM_HOST=yes\n" in out
