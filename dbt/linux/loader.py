"""ELF64 x86-64 loader and the initial process stack, as Linux's binfmt_elf builds them.

``load_program`` maps an ET_EXEC (at its link address) or ET_DYN (static-pie or PIE, at ``PIE_BASE``) program: each
PT_LOAD with its permissions, file bytes copied and the rest of memsz zero (bss); the break starts at the page after
the highest segment. A PT_INTERP program also gets its dynamic loader (read from SYSROOT + the interpreter path, as
qemu-user's -L does) placed top-down in the mmap area, and starts at the loader's entry. PT_GNU_STACK decides whether
the stack is executable (no PT_GNU_STACK: executable, as the kernel's default for x86-64).

``build_stack`` lays out the initial stack exactly as the kernel does: from the top, 8 zero bytes, the program path
(AT_EXECFN), the environment and argument strings, then (16-byte aligned) the platform string "x86_64", the 16
AT_RANDOM bytes, and below them argc, argv[], NULL, envp[], NULL and the auxiliary vector, with rsp (pointing at argc)
16-byte aligned. There is no vDSO: AT_SYSINFO_EHDR is absent, so the C library makes real system calls.

Anything that is not a well-formed ELF64 little-endian x86-64 executable raises ``ElfError`` naming the problem.
"""

from __future__ import annotations

import io
import itertools
import os
import struct
from dataclasses import dataclass, field

from dbt.linux.mm import PIE_BASE, STACK_SIZE, STACK_TOP, page_up
from dbt.memory import PAGE, PERM_R, PERM_W, PERM_X

ET_EXEC, ET_DYN = 2, 3
EM_X86_64 = 62
PT_LOAD, PT_INTERP, PT_PHDR, PT_GNU_STACK = 1, 3, 6, 0x6474E551
PF_X, PF_W, PF_R = 1, 2, 4

AT = {"AT_NULL": 0, "AT_PHDR": 3, "AT_PHENT": 4, "AT_PHNUM": 5, "AT_PAGESZ": 6, "AT_BASE": 7, "AT_FLAGS": 8,
      "AT_ENTRY": 9, "AT_UID": 11, "AT_EUID": 12, "AT_GID": 13, "AT_EGID": 14, "AT_PLATFORM": 15, "AT_HWCAP": 16,
      "AT_CLKTCK": 17, "AT_SECURE": 23, "AT_RANDOM": 25, "AT_HWCAP2": 26, "AT_EXECFN": 31, "AT_MINSIGSTKSZ": 51}
PLATFORM = b"x86_64"
CLK_TCK = 100
MINSIGSTKSZ = 2048          # what a signal frame without extended FPU state needs (see dbt.linux.signals)


class ElfError(Exception):
    """The file is not an ELF64 x86-64 executable this loader can run; the message names the problem."""


@dataclass
class Segment:
    vaddr: int
    offset: int
    filesz: int
    memsz: int
    flags: int


@dataclass
class ElfImage:
    path: str
    etype: int
    entry: int
    phoff: int
    phentsize: int
    phnum: int
    segments: list
    interp: str | None = None
    exec_stack: bool = True
    phdr_vaddr: int | None = None
    data: bytes = field(default=b"", repr=False)


def parse_elf(data: bytes, path: str) -> ElfImage:
    """Checks the ELF header and program headers (pyelftools reads them) and returns what the loader needs."""
    if len(data) < 4 or data[:4] != b"\x7fELF":
        raise ElfError(f"{path}: not an ELF file (bad magic)")
    if len(data) < 64:
        raise ElfError(f"{path}: truncated ELF header ({len(data)} bytes)")
    if data[4] != 2:
        raise ElfError(f"{path}: {'32-bit (ELFCLASS32)' if data[4] == 1 else 'unknown ELF class'} executable; "
                       "only ELF64 x86-64 is supported")
    if data[5] != 1:
        raise ElfError(f"{path}: big-endian or unknown data encoding; x86-64 ELF is little-endian")
    etype, machine = struct.unpack_from("<HH", data, 16)
    if machine != EM_X86_64:
        raise ElfError(f"{path}: ELF machine {machine} is not x86-64 (EM_X86_64 = 62)")
    if etype not in (ET_EXEC, ET_DYN):
        raise ElfError(f"{path}: ELF type {etype} is not an executable (ET_EXEC) or shared object (ET_DYN)")
    from elftools.common.exceptions import ELFError as _PyElfError
    from elftools.elf.elffile import ELFFile
    try:
        elf = ELFFile(io.BytesIO(data))
        hdr = elf.header
        phoff, phentsize, phnum = hdr["e_phoff"], hdr["e_phentsize"], hdr["e_phnum"]
        if phnum and phentsize != 56:
            raise ElfError(f"{path}: program header entry size {phentsize}, expected 56")
        if phoff + phnum * phentsize > len(data):
            raise ElfError(f"{path}: truncated: program headers end past the end of the file")
        img = ElfImage(path, etype, hdr["e_entry"], phoff, phentsize, phnum, [], data=data)
        for seg in elf.iter_segments():
            h = seg.header
            ptype = h["p_type"]
            if ptype == "PT_LOAD":
                if h["p_filesz"] > h["p_memsz"]:
                    raise ElfError(f"{path}: PT_LOAD at {h['p_vaddr']:#x} has filesz > memsz")
                if h["p_offset"] + h["p_filesz"] > len(data):
                    raise ElfError(f"{path}: truncated: PT_LOAD at {h['p_vaddr']:#x} extends past the end of the file")
                if h["p_align"] > 1 and (h["p_vaddr"] - h["p_offset"]) % PAGE:
                    raise ElfError(f"{path}: PT_LOAD at {h['p_vaddr']:#x}: address and file offset disagree "
                                   "modulo the page size")
                img.segments.append(Segment(h["p_vaddr"], h["p_offset"], h["p_filesz"], h["p_memsz"],
                                            h["p_flags"]))
            elif ptype == "PT_INTERP":
                end = h["p_offset"] + h["p_filesz"]
                if end > len(data):
                    raise ElfError(f"{path}: truncated: PT_INTERP extends past the end of the file")
                img.interp = data[h["p_offset"]:end].split(b"\0")[0].decode("utf-8", "surrogateescape")
            elif ptype == "PT_GNU_STACK":
                img.exec_stack = bool(h["p_flags"] & PF_X)
            elif ptype == "PT_PHDR":
                img.phdr_vaddr = h["p_vaddr"]
    except ElfError:
        raise
    except (_PyElfError, struct.error, ValueError, KeyError) as e:
        raise ElfError(f"{path}: malformed ELF file ({e})") from None
    except Exception as e:  # noqa: BLE001  (pyelftools raises assorted errors on garbage: construct's StreamError)
        raise ElfError(f"{path}: malformed ELF file ({type(e).__name__}: {e})") from None
    if not img.segments:
        raise ElfError(f"{path}: no PT_LOAD segment")
    segs = sorted(img.segments, key=lambda s: s.vaddr)
    for a, b in itertools.pairwise(segs):
        if a.vaddr + a.memsz > b.vaddr:
            raise ElfError(f"{path}: PT_LOAD segments at {a.vaddr:#x} and {b.vaddr:#x} overlap")
    return img


def read_elf(path: str) -> ElfImage:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ElfError(f"{path}: {e.strerror}") from None
    return parse_elf(data, path)


def _perms(flags: int) -> int:
    return (PERM_R if flags & (PF_R | PF_W | PF_X) else 0) | (PERM_W if flags & PF_W else 0) | \
        (PERM_X if flags & PF_X else 0)


def map_image(img: ElfImage, aspace, base: int | None = None) -> int:
    """Maps the PT_LOAD segments; returns the load bias (0 for ET_EXEC). ``base``: where an ET_DYN goes (None:
    top-down in the mmap area)."""
    mem = aspace.mem
    lo = min(s.vaddr for s in img.segments) & ~(PAGE - 1)
    hi = page_up(max(s.vaddr + s.memsz for s in img.segments))
    if img.etype == ET_EXEC:
        bias = 0
    else:
        if base is None:
            base = aspace.find_free(hi - lo)
            if base is None:
                raise ElfError(f"{img.path}: no room in the address space for {hi - lo:#x} bytes")
        bias = base - lo
    for s in img.segments:
        start = (s.vaddr + bias) & ~(PAGE - 1)
        end = page_up(s.vaddr + bias + s.memsz)
        p = _perms(s.flags)
        for page in range(start, end, PAGE):
            old = mem.perms_of(page)
            if old is None:
                mem.map(page, PAGE, p)
            else:                                       # a page shared with the previous segment: both uses
                mem.protect(page, PAGE, old | p)
        if s.filesz:
            mem.write(s.vaddr + bias, img.data[s.offset:s.offset + s.filesz], check_code=False, need=0)
    return bias


@dataclass
class Loaded:
    entry: int                   # where execution starts (the interpreter's entry for a dynamic program)
    prog_entry: int              # AT_ENTRY
    phdr: int                    # AT_PHDR
    phent: int
    phnum: int
    interp_base: int             # AT_BASE (0 without an interpreter)
    brk: int
    exec_stack: bool


def load_program(img: ElfImage, aspace, sysroot: str = "/") -> Loaded:
    bias = map_image(img, aspace, PIE_BASE if img.etype == ET_DYN else None)
    if img.phdr_vaddr is not None:
        phdr = img.phdr_vaddr + bias
    else:
        phdr = 0
        for s in img.segments:
            if s.offset <= img.phoff < s.offset + s.filesz:
                phdr = s.vaddr + (img.phoff - s.offset) + bias
                break
    end = max(s.vaddr + s.memsz for s in img.segments) + bias
    brk = page_up(end)
    aspace.brk_start = aspace.brk_cur = brk
    entry, interp_base = img.entry + bias, 0
    if img.interp:
        ipath = img.interp
        if sysroot and sysroot != "/":
            ipath = os.path.join(sysroot, ipath.lstrip("/"))
        interp = read_elf(ipath)
        if interp.interp:
            raise ElfError(f"{ipath}: the interpreter itself asks for an interpreter")
        ibias = map_image(interp, aspace, None if interp.etype == ET_DYN else 0)
        interp_base = ibias + (min(s.vaddr for s in interp.segments) & ~(PAGE - 1)) if interp.etype == ET_DYN else 0
        entry = interp.entry + ibias
        aspace.mmap_top = min(aspace.mmap_top, interp_base or aspace.mmap_top)
    return Loaded(entry, img.entry + bias, phdr, 56, img.phnum, interp_base, brk, img.exec_stack)


def build_stack(mem, ld: Loaded, argv: list[bytes], envp: list[bytes], execfn: bytes, hwcap: int,
                random16: bytes, ids: tuple[int, int, int, int]) -> int:
    """Maps the stack and writes the initial process stack; returns the initial rsp (at argc)."""
    mem.map(STACK_TOP - STACK_SIZE, STACK_SIZE, PERM_R | PERM_W | (PERM_X if ld.exec_stack else 0))

    def put(addr: int, data: bytes) -> None:
        mem.write(addr, data, check_code=False, need=0)

    p = STACK_TOP - 8
    p -= len(execfn) + 1
    execfn_addr = p
    put(p, execfn + b"\0")
    strings = argv + envp
    total = sum(len(s) + 1 for s in strings)
    if total > STACK_SIZE // 4:
        raise ElfError("argument list too long")
    p -= total
    ptrs, q = [], p
    for s in strings:
        put(q, s + b"\0")
        ptrs.append(q)
        q += len(s) + 1
    p &= ~0xF
    p -= len(PLATFORM) + 1
    platform = p
    put(p, PLATFORM + b"\0")
    p -= 16
    rand = p
    put(p, random16)
    uid, euid, gid, egid = ids
    aux = [("AT_HWCAP", hwcap), ("AT_PAGESZ", PAGE), ("AT_CLKTCK", CLK_TCK), ("AT_PHDR", ld.phdr),
           ("AT_PHENT", ld.phent), ("AT_PHNUM", ld.phnum), ("AT_BASE", ld.interp_base), ("AT_FLAGS", 0),
           ("AT_ENTRY", ld.prog_entry), ("AT_UID", uid), ("AT_EUID", euid), ("AT_GID", gid), ("AT_EGID", egid),
           ("AT_SECURE", 0), ("AT_RANDOM", rand), ("AT_HWCAP2", 0), ("AT_EXECFN", execfn_addr),
           ("AT_PLATFORM", platform), ("AT_MINSIGSTKSZ", MINSIGSTKSZ), ("AT_NULL", 0)]
    words = [len(argv)] + ptrs[:len(argv)] + [0] + ptrs[len(argv):] + [0]
    for name, v in aux:
        words += [AT[name], v]
    sp = (p - 8 * len(words)) & ~0xF
    put(sp, struct.pack(f"<{len(words)}Q", *words))
    return sp
