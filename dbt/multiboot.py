"""Multiboot v1 loading, as QEMU's ``-kernel`` does for a multiboot image (Multiboot Specification 0.6.96).

The header (magic 1BADB002h, flags, checksum) must lie 4-byte aligned in the first 8 KiB. The kernel is an ELF32
executable (PT_LOAD segments at their physical addresses, pyelftools reads it) or, when header flag 16 is set, a
binary loaded by the header's address fields (the "a.out kludge"). Flags 0 (page-aligned modules) and 1 (memory
information) are honoured; flag 2 (video mode) is ignored, as there is no display.

The boot information structure, the command line, the module list and the BIOS-style memory map are placed in low memory above 0x9000 (below the kernel's usual 1 MiB load address),
modules are placed page-aligned after the kernel. The machine state handed over: EAX = 2BADB002h, EBX = the info
structure's address, flat 4 GiB ring-0 code and data segments, protected mode without paging, IF = 0.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field

MAGIC = 0x1BADB002
BOOTLOADER_MAGIC = 0x2BADB002
INFO_ADDR = 0x9000
SEARCH = 8192
RESERVED_TOP = 128 << 10


class MultibootError(ValueError):
    """The image is not a loadable multiboot kernel (the message says why)."""


@dataclass
class Loaded:
    entry: int
    info_addr: int
    end: int                                  # first byte after the kernel image
    segments: list = field(default_factory=list)   # (physical address, size in memory)


def find_header(image: bytes) -> tuple[int, int, tuple]:
    """(offset, flags, address fields) of the multiboot header, or MultibootError."""
    for off in range(0, min(len(image), SEARCH) - 11, 4):
        magic, flags, checksum = struct.unpack_from("<III", image, off)
        if magic == MAGIC and (magic + flags + checksum) & 0xFFFFFFFF == 0:
            addrs = struct.unpack_from("<5I", image, off + 12) if flags & 0x10000 and len(image) >= off + 32 else ()
            return off, flags, addrs
    raise MultibootError("no multiboot header (magic 0x1BADB002 with a valid checksum) in the first 8 KiB")


def _load_elf(image: bytes, write, ram_size: int) -> tuple[int, int, list]:
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    try:
        elf = ELFFile(io.BytesIO(image))
        if elf.elfclass != 32 or elf["e_machine"] != "EM_386":
            raise MultibootError(f"multiboot ELF kernels must be ELF32 for i386, not {elf.elfclass}-bit "
                                 f"{elf['e_machine']}")
        segs = []
        end = 0
        for ph in elf.iter_segments():
            if ph["p_type"] != "PT_LOAD" or ph["p_memsz"] == 0:
                continue
            paddr, filesz, memsz = ph["p_paddr"], ph["p_filesz"], ph["p_memsz"]
            if filesz > memsz or paddr + memsz > ram_size or paddr < 0x1000:
                raise MultibootError(f"segment at {paddr:#x} (+{memsz:#x}) does not fit in guest RAM "
                                     f"({ram_size >> 20} MiB)")
            data = ph.data()
            if len(data) != filesz:
                raise MultibootError("ELF segment extends past the end of the file")
            write(paddr, data + bytes(memsz - filesz))
            segs.append((paddr, memsz))
            end = max(end, paddr + memsz)
        if not segs:
            raise MultibootError("the ELF kernel has no loadable segment")
        return elf["e_entry"], end, segs
    except ELFError as e:
        raise MultibootError(f"malformed ELF kernel: {e}") from None
    except (struct.error, ValueError) as e:
        if isinstance(e, MultibootError):
            raise
        raise MultibootError(f"malformed ELF kernel: {e}") from None


def _load_aout(image: bytes, hoff: int, addrs: tuple, write, ram_size: int) -> tuple[int, int, list]:
    if len(addrs) != 5:
        raise MultibootError("multiboot header flag 16 set but the address fields are missing")
    header_addr, load_addr, load_end, bss_end, entry = addrs
    start = hoff - (header_addr - load_addr)
    if start < 0 or load_addr > header_addr:
        raise MultibootError("multiboot address fields are inconsistent (load_addr > header_addr)")
    size = (load_end - load_addr) if load_end else len(image) - start
    data = image[start:start + size]
    end = max(bss_end, load_addr + len(data))
    if end > ram_size or load_addr < 0x1000:
        raise MultibootError(f"kernel at {load_addr:#x}-{end:#x} does not fit in guest RAM")
    write(load_addr, data + bytes(end - load_addr - len(data)))
    return entry, end, [(load_addr, end - load_addr)]


def load(image: bytes, write, ram_size: int, cmdline: str = "", modules=()) -> Loaded:
    """Loads ``image`` through ``write(physical address, bytes)``; ``modules``: [(bytes, command line)]."""
    hoff, flags, addrs = find_header(image)
    if flags & 0xFFFF & ~0x7:
        raise MultibootError(f"multiboot header requires unsupported features (flags {flags:#x})")
    if image[:4] == b"\x7fELF" and not flags & 0x10000:
        entry, end, segs = _load_elf(image, write, ram_size)
    else:
        entry, end, segs = _load_aout(image, hoff, addrs, write, ram_size)
    # modules, page aligned after the kernel
    mod_entries = []
    at = (end + 0xFFF) & ~0xFFF
    strings = bytearray()
    strings_base = INFO_ADDR + 0x100 + 16 * len(modules) + 24 * 4

    def add_string(s: str) -> int:
        addr = strings_base + len(strings)
        strings.extend(s.encode() + b"\0")
        return addr

    for data, mcmd in modules:
        if at + len(data) > ram_size:
            raise MultibootError(f"module of {len(data)} bytes does not fit in guest RAM")
        write(at, bytes(data))
        mod_entries.append((at, at + len(data), add_string(mcmd)))
        at = (at + len(data) + 0xFFF) & ~0xFFF
    cmd_addr = add_string(cmdline)
    loader_name = add_string("dbt")
    mods_addr = INFO_ADDR + 0x100
    mmap_addr = mods_addr + 16 * len(modules)
    # The memory a PC BIOS reports (as SeaBIOS under QEMU): 639 KiB below the EBDA, RAM from 1 MiB up to the last
    # 128 KiB, which the firmware keeps (type 2, reserved).
    top = ram_size - RESERVED_TOP
    mmap = b"".join(struct.pack("<IQQI", 20, base, length, kind) for base, length, kind in
                    ((0, 0x9FC00, 1), (0x9FC00, 0x400, 2), (0x100000, top - 0x100000, 1), (top, RESERVED_TOP, 2)))
    info_flags = 0x1 | 0x2 | 0x4 | 0x8 | 0x40 | 0x200     # mem, boot device, cmdline, mods, mmap, loader name
    # flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr, syms[4] (offsets 0..43)
    info = struct.pack("<11I", info_flags, 639, (top >> 10) - 1024, 0x8000FFFF, cmd_addr, len(modules), mods_addr,
                       0, 0, 0, 0)
    info += struct.pack("<II", len(mmap), mmap_addr)                    # 44, 48
    info += bytes(4 * 3) + struct.pack("<I", loader_name)          # drives (52, 56), config (60), loader name (64)
    write(INFO_ADDR, info)
    write(mods_addr, b"".join(struct.pack("<IIII", s, e, c, 0) for s, e, c in mod_entries))
    write(mmap_addr, mmap)
    if strings_base + len(strings) > 0x9FC00:
        raise MultibootError("command line and module strings are too long")
    write(strings_base, bytes(strings))
    return Loaded(entry, INFO_ADDR, end, segs)
