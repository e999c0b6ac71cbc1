"""The multiboot v1 loader (dbt/multiboot.py): the boot information a kernel receives, modules, the a.out kludge,
and clear errors for images that are not loadable. Expected values are the Multiboot 0.6.96 specification's layout
and what QEMU (with SeaBIOS) reports, checked against a real QEMU boot where QEMU is installed."""

import struct
import subprocess
import sys

import pytest

from dbt import multiboot
from dbt.guests import os as guest_os
from tests.system.test_guest_qemu import QEMU, needs_qemu

RAM = 32 << 20


class Ram:
    def __init__(self, size=RAM):
        self.b = bytearray(size)

    def write(self, addr, data):
        self.b[addr:addr + len(data)] = data

    def u32(self, addr):
        return struct.unpack_from("<I", self.b, addr)[0]

    def cstr(self, addr):
        return bytes(self.b[addr:self.b.index(0, addr)]).decode()


def aout_kernel(load=0x200000, body=b"\xf4" * 16, bss=0x1000):
    """A flat kernel with the header at its start and the address fields (flag 16)."""
    flags = 0x10003
    hdr = struct.pack("<III", multiboot.MAGIC, flags, (-(multiboot.MAGIC + flags)) & 0xFFFFFFFF)
    end = load + 32 + len(body)
    hdr += struct.pack("<5I", load, load, end, end + bss, load + 32)
    return hdr + body


def test_boot_information_matches_the_specification():
    ram = Ram()
    mods = [(b"first module", "mod1 a=b"), (b"x" * 5000, "mod2")]
    loaded = multiboot.load(guest_os.build_kernel(), ram.write, RAM, "kernel.elf work=5", mods)
    info = loaded.info_addr
    flags = ram.u32(info)
    assert flags == 0x24F                             # mem, boot device, cmdline, mods, mmap, loader name (as QEMU)
    assert ram.u32(info + 4) == 639                   # mem_lower in KiB (below the EBDA)
    assert ram.u32(info + 8) == (RAM >> 10) - 1024 - 128   # mem_upper: the BIOS keeps the top 128 KiB
    assert ram.cstr(ram.u32(info + 16)) == "kernel.elf work=5"
    assert ram.u32(info + 20) == 2
    mods_addr = ram.u32(info + 24)
    starts = []
    for i, (data, cmd) in enumerate(mods):
        start, end, cmd_addr, _ = struct.unpack_from("<IIII", ram.b, mods_addr + 16 * i)
        assert start % 4096 == 0 and start >= loaded.end  # page aligned, after the kernel
        assert bytes(ram.b[start:end]) == data
        assert ram.cstr(cmd_addr) == cmd
        starts.append(start)
    assert starts[1] >= starts[0] + len(mods[0][0])
    length, addr = ram.u32(info + 44), ram.u32(info + 48)
    entries = [struct.unpack_from("<IQQI", ram.b, addr + off) for off in range(0, length, 24)]
    usable = [(base, n) for size, base, n, kind in entries if kind == 1]
    assert usable == [(0, 639 << 10), (1 << 20, RAM - (1 << 20) - (128 << 10))]
    assert ram.cstr(ram.u32(info + 64)) == "dbt"


def test_aout_kludge_kernel_is_loaded_at_its_address():
    ram = Ram()
    loaded = multiboot.load(aout_kernel(), ram.write, RAM)
    assert loaded.entry == 0x200000 + 32
    assert bytes(ram.b[0x200020:0x200030]) == b"\xf4" * 16
    assert loaded.end == 0x200030 + 0x1000


@pytest.mark.parametrize("image, message", [
    (b"\0" * 9000, "no multiboot header"),
    (b"\x7fELF" + bytes(100), "no multiboot header"),
    (aout_kernel(load=0x1F00000 + 0x200000), "does not fit in guest RAM"),
])
def test_unloadable_images_are_refused_with_a_reason(image, message):
    with pytest.raises(multiboot.MultibootError, match=message):
        multiboot.load(image, Ram().write, RAM)


def test_truncated_elf_is_a_clear_error():
    image = guest_os.build_kernel()
    with pytest.raises(multiboot.MultibootError, match="ELF"):
        multiboot.load(image[:4200], Ram().write, RAM)


def test_a_module_that_does_not_fit_is_refused():
    with pytest.raises(multiboot.MultibootError, match="module"):
        multiboot.load(aout_kernel(), Ram().write, RAM, "", [(bytes(RAM), "huge")])


@needs_qemu
def test_initrd_module_seen_like_qemu(tmp_path):
    kernel = tmp_path / "k.elf"
    kernel.write_bytes(guest_os.build_kernel())
    mod = tmp_path / "mod.txt"
    mod.write_bytes(b"module contents\n")
    # The default spin: the tasks run long enough to be preempted on QEMU's host-time timer and on our virtual one
    # alike ("preempted: yes" in both transcripts).
    args = ["-kernel", str(kernel), "-initrd", f"{mod} arg1", "-append", "work=10", "-m", "32"]
    q = subprocess.run([QEMU, "-accel", "tcg", *args, "-display", "none", "-no-reboot", "-serial", "stdio",
                        "-monitor", "none", "-device", "isa-debug-exit,iobase=0x501,iosize=2"],
                       capture_output=True, timeout=60, check=False)
    d = subprocess.run([sys.executable, "-m", "dbt", "boot", *args], capture_output=True, timeout=300, check=False)
    assert q.returncode == d.returncode == guest_os.EXIT_STATUS
    qlines = q.stdout.decode().splitlines()
    dlines = d.stdout.decode().splitlines()
    assert "multiboot: mods=1" in dlines
    assert [x for x in dlines if not x.startswith("time:")] == [x for x in qlines if not x.startswith("time:")]


def test_serial_and_debugcon_to_files(tmp_path):
    out = tmp_path / "serial.txt"
    done = subprocess.run([sys.executable, "-m", "dbt", "boot", "-append", "work=10 spin=10", "-serial",
                           f"file:{out}", "-debugcon", f"file:{tmp_path / 'con.txt'}"], capture_output=True,
                          timeout=300, check=False)
    assert done.returncode == guest_os.EXIT_STATUS
    assert done.stdout == b""
    text = out.read_text()
    assert text.startswith("mini-os: i386 multiboot kernel") and guest_os.work_line(10) in text
