"""Process memory and the address-space manager, with hand-checked expectations: partial unmapping, buffer release,
top-down mmap placement, MAP_FIXED, mremap in place and moving, brk, EFAULT on wild syscall pointers; and the
translation cache dropping code whose page was unmapped and mapped again (both backends)."""

import errno

import keystone
import pytest

from dbt.engine import Engine
from dbt.linux.guestmem import Efault, GuestIO
from dbt.linux.memory import ProcessMemory
from dbt.linux.mm import MMAP_TOP, AddressSpace
from dbt.memory import PAGE, MemoryFault
from tests.linux.conftest import BACKENDS

ANON = 0x22                      # MAP_PRIVATE | MAP_ANONYMOUS
RW, R = 3, 1


def test_partial_unmap_keeps_the_rest_and_releases_buffers():
    m = ProcessMemory()
    m.map(0x10000, 4 * PAGE, "rw")
    m.write(0x10000, bytes(range(256)) * 64)
    m.unmap(0x11000, PAGE)
    with pytest.raises(MemoryFault):
        m.read(0x11000, 1)
    assert m.read(0x10000 + 255, 1) == b"\xff"
    assert m.read(0x12000 + 1, 1) == b"\x01"
    assert len(m.regions) == 1
    m.unmap(0x10000, 4 * PAGE)                      # unmapped pages in the range are skipped
    assert m.regions == [] and m.pages == {}
    with pytest.raises(MemoryFault):
        m.read(0x13000, 1)


def test_unmap_of_the_whole_address_space_is_quick():
    m = ProcessMemory()
    m.map(0x7FFF0000, PAGE, "r")
    m.unmap(0, 1 << 47)
    assert m.pages == {}


def test_mmap_is_top_down_and_fixed_replaces():
    a = AddressSpace(ProcessMemory())
    x = a.mmap(0, 3 * PAGE, RW, ANON, -1, 0)
    y = a.mmap(0, PAGE, RW, ANON, -1, 0)
    assert x == MMAP_TOP - 3 * PAGE and y == x - PAGE
    a.mem.write(x, b"old")
    assert a.mmap(x, PAGE, R, ANON | 0x10, -1, 0) == x            # MAP_FIXED over live memory: zero-filled
    assert a.mem.read(x, 3) == bytes(3)
    assert a.mmap(x, PAGE, R, ANON | 0x100000, -1, 0) == -errno.EEXIST  # MAP_FIXED_NOREPLACE
    assert a.munmap(x + PAGE, PAGE) == 0
    z = a.mmap(0, 2 * PAGE, RW, ANON, -1, 0)                       # a one-page hole is too small
    assert z == y - 2 * PAGE
    assert a.mmap(x + PAGE, PAGE, RW, ANON, -1, 0) == x + PAGE     # a free hint is taken
    assert a.mmap(0, 0, RW, ANON, -1, 0) == -errno.EINVAL
    assert a.mmap(0, PAGE, RW, 0x20, -1, 0) == -errno.EINVAL       # neither shared nor private
    assert a.mmap(0, 1 << 40, RW, ANON, -1, 0) == -errno.ENOMEM


def test_mprotect_and_mremap():
    a = AddressSpace(ProcessMemory())
    x = a.mmap(0, 2 * PAGE, RW, ANON, -1, 0)
    assert a.mprotect(x, PAGE, R) == 0
    with pytest.raises(MemoryFault):
        a.mem.write(x, b"no")
    assert a.mprotect(x + 5, PAGE, R) == -errno.EINVAL
    assert a.mprotect(x - PAGE, 2 * PAGE, R) == -errno.ENOMEM       # a page of the range is unmapped
    a.mem.write(x + PAGE, b"keep")
    # grow without room after it (x + 2 pages is the top of the mmap area? no: below y) and no MAYMOVE
    y = a.mmap(x + 2 * PAGE, PAGE, RW, ANON | 0x10, -1, 0)
    assert a.mremap(x, 2 * PAGE, 3 * PAGE, 0, 0) == -errno.ENOMEM
    moved = a.mremap(x, 2 * PAGE, 3 * PAGE, 1, 0)
    assert moved not in (x, y) and a.mem.read(moved + PAGE, 4) == b"keep"
    assert not a.mem.any_mapped(x, 2 * PAGE)
    assert a.mremap(moved, 3 * PAGE, PAGE, 0, 0) == moved and not a.mem.any_mapped(moved + PAGE, 2 * PAGE)
    assert a.mremap(0x1234000, PAGE, 2 * PAGE, 1, 0) == -errno.EFAULT


def test_brk():
    a = AddressSpace(ProcessMemory())
    a.brk_start = a.brk_cur = 0x600000
    assert a.brk(0) == 0x600000
    assert a.brk(0x600000 + 2 * PAGE + 1) == 0x602001
    a.mem.write(0x602000, b"x")                                     # the partial last page is mapped
    assert a.brk(0x600010) == 0x600010
    with pytest.raises(MemoryFault):
        a.mem.read(0x601000, 1)
    assert a.brk(0x500000) == 0x600010                             # below the start: unchanged
    a.mmap(0x640000, PAGE, RW, ANON | 0x10, -1, 0)
    assert a.brk(0x680000) == 0x600010                             # would run into a mapping: unchanged


def test_guest_io_faults_instead_of_touching_the_host():
    m = ProcessMemory()
    m.map(0x20000, PAGE, "rw")
    m.map(0x30000, PAGE, "r")
    io = GuestIO(m)
    m.write(0x21000 - 3, b"abc")
    with pytest.raises(Efault):
        io.cstr(0x21000 - 3)                                        # runs into unmapped memory unterminated
    m.write(0x20010, b"path\0")
    assert io.cstr(0x20010) == b"path"
    with pytest.raises(Efault):
        io.write(0x30000, b"x")                                     # read-only
    with pytest.raises(Efault):
        io.read(0x20FF0, 0x20)                                      # crosses into unmapped memory
    with pytest.raises(Efault):
        io.read((1 << 64) - 4, 8)                                   # wraps around
    assert io.read(0x30000, 2) == bytes(2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_code_unmapped_and_remapped_is_retranslated(backend):
    ks = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_64)
    mem = ProcessMemory()
    eng = Engine(64, backend, memory=mem, hot_threshold=1)
    mem.on_code_gone = eng.invalidate_page
    code = 0x400000
    for value in (1, 2):
        mem.map(code, PAGE, "rx")
        mem.write(code, bytes(ks.asm(f"mov eax, {value}; hlt", code)[0]), need=0, check_code=False)
        assert eng.run(code) == "hlt"
        assert eng.state["rax"] == value
        mem.unmap(code, PAGE)
    mem.map(code, PAGE, "rx")
    mem.write(code, bytes(ks.asm("mov eax, 3; hlt", code)[0]), need=0, check_code=False)
    mem.protect(code, PAGE, "r")                                    # no longer executable: a fetch fault
    from dbt.engine import GuestFault
    with pytest.raises(GuestFault) as e:
        eng.run(code)
    assert e.value.vector == 14
