"""Small multiboot test kernels for the system CPU tests, and the runners that boot them (our VM, QEMU).

A test kernel is a test body (Keystone assembly, 32-bit) after a common prelude. The image is a flat binary with a
multiboot header using the a.out kludge (flag 16): it loads at 1 MiB and enters ``start`` in flat 32-bit protected
mode, as QEMU's ``-kernel`` and ``dbt.multiboot`` both do. The prelude then sets up, before jumping to ``test``:

- a GDT (``GDT_ENTRIES``) with flat ring 0/1/3 segments, a 32-bit TSS at 0x28 (SS0:ESP0 = 0x10:``ESP0``,
  SS1:ESP1 = 0x39:``ESP1``, an I/O bitmap that denies every port), and free slots from 0x40 that a test fills with
  descriptors (``gdt=`` {selector: (low, high)}, see ``descriptor()`` and ``gate()``);
- an IDT of 256 interrupt gates (DPL 0) to recording stubs, a ring-0 stack at ``STACK0``, EFLAGS = 2, IF = 0,
  every IRQ masked at the PICs (the BIOS under QEMU leaves some open).

Recording: every stub stores a 64-byte record at ``RECS`` + 64 * n (at most ``MAX_RECS``): the vector, ESP and SS at handler entry, CR2,
the 8 dwords at [ESP] (the frame the CPU pushed: [error code,] EIP, CS, EFLAGS[, ESP, SS]), the handler's CS,
EFLAGS and DS, and the interrupted EAX. Then it resumes at ``resume_eip`` with ESP = ``resume_esp`` (both set by the
test before the faulting instruction with ``catch()``; the resume is one-shot and clobbers EAX). A fault with no
resume point set ends the kernel with status ``UNEXPECTED``.

The machine state at entry is kept at ``boot_eax``, ``boot_ebx``, ``boot_eflags``, ``boot_cr0``.

The kernel ends at ``finish`` (status 1) or ``fail`` (AL = code: status (code << 1) | 1): it dumps the 64 ``VALS``
dwords (the test's own results, written to ``[VALS + 4*i]``), the record count and the records to the debug console
(port 0xE9) and writes isa-debug-exit (port 0x501). From ring 3, ``int 0xF0`` (a DPL 3 gate) goes to ``finish``.

``labels=`` names test labels whose addresses the runner reports (a table of ``.long`` at the image's end).
Routines for tests: ``set_gate`` (EAX vector, EBX offset, ECX = selector << 16 | type/attr word), ``paging_on``
(identity map of 0-8 MiB with 4 KiB pages, all P|W|U, page directory ``PD``, tables from ``PT0``), ``to_ring3``
(EAX = ring-3 entry: IRETD to 0x1B:EAX with SS:ESP = 0x23:``USTACK``, DS/ES/FS/GS = 0x23).

``run(kernel, runner)`` boots a kernel on a backend of our VM or under QEMU and parses the dump into an ``Outcome``;
``build_rom``/``run_rom`` do the same for a 64 KiB ROM started from the reset vector (``load_bios``, ``-bios``).

Keystone quirks (see dbt/guests/os/build.py): comments are stripped, ``check_source`` rejects the forms it
assembles wrongly, far JMPs, LGDT and LIDT are written as bytes (``ljmp()``), and decimal numbers are rewritten in
hexadecimal (its default radix is indeterminate once the LLVM backend has run in the process).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field

from dbt.guests import hex_literals
from dbt.guests.os.build import check_source, strip_comments

BASE = 0x100000
MB_MAGIC, MB_FLAGS = 0x1BADB002, 0x00010000
VALS, NREC, RECS = 0x200000, 0x200100, 0x200200
MAX_RECS = 96
STACK0, ESP0, ESP1, USTACK = 0x1F0000, 0x1E0000, 0x1D8000, 0x1D0000
PD, PT0 = 0x300000, 0x301000
KCODE, KDATA, UCODE, UDATA, TSS_SEL, R1CODE, R1DATA = 0x08, 0x10, 0x1B, 0x23, 0x28, 0x31, 0x39
UNEXPECTED = (0x7F << 1) | 1
TOO_MANY = (0x7E << 1) | 1
QEMU = shutil.which("qemu-system-i386")

# descriptors as (low dword, high dword)
FLAT_CODE0 = (0x0000FFFF, 0x00CF9A00)
FLAT_DATA0 = (0x0000FFFF, 0x00CF9200)
FLAT_CODE3 = (0x0000FFFF, 0x00CFFA00)
FLAT_DATA3 = (0x0000FFFF, 0x00CFF200)
FLAT_CODE1 = (0x0000FFFF, 0x00CFBA00)
FLAT_DATA1 = (0x0000FFFF, 0x00CFB200)
TSS_LIMIT = 0x68 + 0x2000            # the 32-bit TSS and an I/O bitmap for all 65536 ports, then the 0xFF byte
GDT_ENTRIES = [(0, 0), FLAT_CODE0, FLAT_DATA0, FLAT_CODE3, FLAT_DATA3,
               (TSS_LIMIT & 0xFFFF, 0x00008900 | (TSS_LIMIT & 0xF0000)),     # base filled in at run time
               FLAT_CODE1, FLAT_DATA1]
GDT_SLOTS = 32


def descriptor(base: int, limit: int, access: int, flags: int = 0xC) -> tuple[int, int]:
    """(low, high) dwords of a segment descriptor: ``access`` is the byte P|DPL|S|type, ``flags`` the nibble
    G|D|L|AVL."""
    lo = ((base & 0xFFFF) << 16) | (limit & 0xFFFF)
    hi = (base & 0xFF000000) | (flags << 20) | (limit & 0xF0000) | (access << 8) | ((base >> 16) & 0xFF)
    return lo, hi


def gate(selector: int, offset: int, access: int, params: int = 0) -> tuple[int, int]:
    """(low, high) of a call/interrupt/trap gate (``access``: P|DPL|0|type)."""
    return ((selector << 16) | (offset & 0xFFFF), (offset & 0xFFFF0000) | (access << 8) | params)


def ljmp(selector: int, target: str) -> str:
    """A far JMP ptr16:32 as bytes (Keystone cannot assemble one)."""
    return f".byte 0xEA\n.long {target}\n.short {selector:#x}"


def lcall(selector: int, target: str = "0") -> str:
    return f".byte 0x9A\n.long {target}\n.short {selector:#x}"


def catch(resume: str) -> str:
    """The next fault resumes at ``resume`` with the current ESP."""
    return f"mov dword ptr [resume_eip], {resume}\nmov dword ptr [resume_esp], esp"


PRELUDE = f"""
.equ VALS, {VALS:#x}
.equ NREC, {NREC:#x}
.equ RECS, {RECS:#x}
.equ STACK0, {STACK0:#x}
.equ ESP0, {ESP0:#x}
.equ ESP1, {ESP1:#x}
.equ USTACK, {USTACK:#x}
.equ PD, {PD:#x}
.equ PT0, {PT0:#x}
mb_header:
    .long {MB_MAGIC:#x}, {MB_FLAGS:#x}, {(-(MB_MAGIC + MB_FLAGS)) & 0xFFFFFFFF:#x}
    .long {BASE:#x}, {BASE:#x}, 0, 0, start
start:
    mov dword ptr [boot_eax], eax
    mov dword ptr [boot_ebx], ebx
    mov esp, STACK0
    pushfd
    pop dword ptr [boot_eflags]
    mov eax, cr0
    mov dword ptr [boot_cr0], eax
    cli
    push 2
    popfd
    mov al, 0xFF
    out 0x21, al
    out 0xA1, al
    .byte 0x0F, 0x01, 0x15
    .long gdt_ptr
    {ljmp(KCODE, "reload")}
reload:
    mov eax, 0x10
    mov ds, eax
    mov es, eax
    mov fs, eax
    mov gs, eax
    mov ss, eax
    xor eax, eax
idt_fill:
    mov ebx, dword ptr [isr_table + eax*4]
    mov ecx, 0x00088E00
    call set_gate
    inc eax
    cmp eax, 256
    jne idt_fill
    mov eax, 0xF0
    mov ebx, finish
    mov ecx, 0x0008EE00
    call set_gate
    .byte 0x0F, 0x01, 0x1D
    .long idt_ptr
    mov eax, tss
    mov word ptr [gdt + 0x2A], ax
    shr eax, 16
    mov byte ptr [gdt + 0x2C], al
    mov byte ptr [gdt + 0x2F], ah
    mov dword ptr [tss + 4], ESP0
    mov dword ptr [tss + 8], 0x10
    mov dword ptr [tss + 12], ESP1
    mov dword ptr [tss + 16], 0x39
    mov word ptr [tss + 0x66], 0x68
    mov edi, tss
    add edi, 0x68
    mov ecx, 0x2001
    mov al, 0xFF
    cld
    rep stosb
    mov eax, 0x28
    ltr ax
    mov dword ptr [NREC], 0
    mov dword ptr [rec_ptr], RECS
    mov edi, VALS
    mov ecx, 64
    xor eax, eax
    rep stosd
    xor ebx, ebx
    xor ecx, ecx
    xor edx, edx
    xor esi, esi
    xor edi, edi
    xor ebp, ebp
    jmp test

set_gate:
    push edx
    push edi
    lea edi, [idt + eax*8]
    mov edx, ebx
    and edx, 0xFFFF
    push ecx
    and ecx, 0xFFFF0000
    or edx, ecx
    mov dword ptr [edi], edx
    pop ecx
    mov edx, ebx
    and edx, 0xFFFF0000
    push ecx
    and ecx, 0xFFFF
    or edx, ecx
    mov dword ptr [edi + 4], edx
    pop ecx
    pop edi
    pop edx
    ret

paging_on:
    pushad
    mov edi, PD
    mov ecx, 1024
    xor eax, eax
    cld
    rep stosd
    mov edi, PT0
    mov eax, 7
    mov ecx, 2048
paging_fill:
    mov dword ptr [edi], eax
    add eax, 0x1000
    add edi, 4
    dec ecx
    jnz paging_fill
    mov dword ptr [PD], PT0 + 7
    mov dword ptr [PD + 4], PT0 + 0x1007
    mov eax, PD
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    jmp paging_done
paging_done:
    popad
    ret

to_ring3:
    mov ecx, 0x23
    mov ds, ecx
    mov es, ecx
    mov fs, ecx
    mov gs, ecx
    push 0x23
    push USTACK
    push 2
    push 0x1B
    push eax
    iretd

isr_common:
    mov dword ptr [save_ebx], ebx
    mov ebx, dword ptr [rec_ptr]
    mov dword ptr [ebx], eax
    mov dword ptr [ebx + 4], esp
    mov eax, ss
    mov dword ptr [ebx + 8], eax
    mov eax, cr2
    mov dword ptr [ebx + 12], eax
    mov eax, dword ptr [esp]
    mov dword ptr [ebx + 16], eax
    mov eax, dword ptr [esp + 4]
    mov dword ptr [ebx + 20], eax
    mov eax, dword ptr [esp + 8]
    mov dword ptr [ebx + 24], eax
    mov eax, dword ptr [esp + 12]
    mov dword ptr [ebx + 28], eax
    mov eax, dword ptr [esp + 16]
    mov dword ptr [ebx + 32], eax
    mov eax, dword ptr [esp + 20]
    mov dword ptr [ebx + 36], eax
    mov eax, dword ptr [esp + 24]
    mov dword ptr [ebx + 40], eax
    mov eax, dword ptr [esp + 28]
    mov dword ptr [ebx + 44], eax
    mov eax, cs
    mov dword ptr [ebx + 48], eax
    pushfd
    pop eax
    mov dword ptr [ebx + 52], eax
    mov eax, ds
    mov dword ptr [ebx + 56], eax
    mov eax, dword ptr [save_eax]
    mov dword ptr [ebx + 60], eax
    add ebx, 64
    mov dword ptr [rec_ptr], ebx
    mov ebx, dword ptr [save_ebx]
    inc dword ptr [NREC]
    cmp dword ptr [NREC], {MAX_RECS}
    jae too_many
    mov eax, dword ptr [resume_eip]
    test eax, eax
    jz unexpected
    mov dword ptr [resume_eip], 0
    mov esp, dword ptr [resume_esp]
    jmp eax
too_many:
    mov al, 0x7E
    jmp fail
unexpected:
    mov al, 0x7F
    jmp fail

finish:
    xor eax, eax
fail:
    cli
    movzx ebx, al
    mov eax, 0x10
    mov ds, eax
    mov es, eax
    mov ss, eax
    mov esp, STACK0
    cld
    mov dx, 0xE9
    mov esi, VALS
    mov ecx, 0x104
    rep outsb
    mov esi, RECS
    mov ecx, dword ptr [NREC]
    shl ecx, 6
    rep outsb
    mov eax, ebx
    mov dx, 0x501
    out dx, al
halt_loop:
    hlt
    jmp halt_loop
"""


def _stubs() -> str:
    lines = []
    for v in range(256):
        lines += [f"isr_{v}:", "    mov dword ptr [save_eax], eax", f"    mov eax, {v}", "    jmp isr_common"]
    return "\n".join(lines)


def _data(gdt: dict) -> str:
    entries = list(GDT_ENTRIES) + [(0, 0)] * (GDT_SLOTS - len(GDT_ENTRIES))
    for index, d in gdt.items():
        entries[index >> 3] = d
    lines = [".align 16", "boot_eax: .long 0", "boot_ebx: .long 0", "boot_eflags: .long 0", "boot_cr0: .long 0",
             "save_eax: .long 0", "save_ebx: .long 0", "rec_ptr: .long 0", "resume_eip: .long 0",
             "resume_esp: .long 0", ".align 8", "gdt:"]
    lines += [f"    .long {lo:#x}, {hi:#x}" for lo, hi in entries]
    lines += [".align 4", ".short 0", f"gdt_ptr: .short {8 * GDT_SLOTS - 1:#x}", "    .long gdt",
              ".short 0", "idt_ptr: .short 0x7FF", "    .long idt", ".align 8", "idt:", "    .fill 2048, 1, 0",
              ".align 16", "tss:", f"    .fill {TSS_LIMIT + 1}, 1, 0", ".align 4", "isr_table:"]
    lines += [f"    .long isr_{v}" for v in range(256)]
    return "\n".join(lines)


@dataclass
class Kernel:
    image: bytes
    labels: dict


def assemble32(source: str, base: int) -> bytes:
    import keystone
    text = strip_comments(source)
    check_source(text)
    ks = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_32)
    enc, _ = ks.asm(hex_literals(text), base)
    return bytes(enc or b"")


def build(body: str, labels=(), gdt: dict | None = None) -> Kernel:
    """A test kernel: the prelude, ``body`` (which must define ``test``), the stubs, the data, the label table."""
    table = ".align 4\nlabel_table:\n" + "\n".join(f"    .long {name}" for name in labels) + "\n.long 0x4C424154"
    source = "\n".join([PRELUDE, body, _stubs(), _data(gdt or {}), table])
    image = assemble32(source, BASE)
    if image[-4:] != b"TABL":
        raise ValueError("the test kernel did not assemble to the end (a Keystone error?)")
    n = len(labels)
    addrs = struct.unpack_from(f"<{n}I", image, len(image) - 4 - 4 * n)
    return Kernel(image, dict(zip(labels, addrs)))


# Results ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Record:
    vector: int
    esp: int
    ss: int
    cr2: int
    frame: tuple              # the 8 dwords at the handler's ESP
    cs: int
    eflags: int
    ds: int
    eax: int


@dataclass
class Outcome:
    status: int | None
    vals: list
    recs: list
    raw: bytes
    stop_reason: str | None = None
    vm: object = None
    extra: dict = field(default_factory=dict)


def parse(status, raw: bytes, **kw) -> Outcome:
    vals, recs = [], []
    if len(raw) >= 0x104:
        vals = list(struct.unpack_from("<64I", raw, 0))
        n = struct.unpack_from("<I", raw, 0x100)[0]
        for i in range(min(n, MAX_RECS)):
            w = struct.unpack_from("<16I", raw, 0x104 + 64 * i)
            recs.append(Record(w[0], w[1], w[2] & 0xFFFF, w[3], tuple(w[4:12]), w[12] & 0xFFFF, w[13],
                               w[14] & 0xFFFF, w[15]))
    return Outcome(status, vals, recs, raw, **kw)


def run_vm(image: bytes, backend: str, max_insns: int = 2_000_000, ram_mb: int = 16, cmdline: str = "") -> Outcome:
    from dbt.machine import PcMachine
    out = bytearray()
    vm = PcMachine(ram_mb, backend=backend, debugcon=out.extend)
    vm.load_multiboot(image, cmdline)
    status = vm.run(max_insns)
    return parse(status, bytes(out), stop_reason=vm.stop_reason, vm=vm)


def qemu_command(kernel_path: str, debugcon_path: str, bios: bool = False, ram_mb: int = 16,
                 cmdline: str = "") -> list[str]:
    return [QEMU, "-accel", "tcg", "-bios" if bios else "-kernel", kernel_path, "-m", str(ram_mb),
            *(["-append", cmdline] if cmdline else []),
            "-display", "none", "-no-reboot", "-serial", "null", "-monitor", "none", "-nodefaults",
            "-device", "isa-debug-exit,iobase=0x501,iosize=2", "-debugcon", f"file:{debugcon_path}"]


def run_qemu(image: bytes, bios: bool = False, ram_mb: int = 16, timeout: float = 20, cmdline: str = "") -> Outcome:
    """Boots ``image`` (a multiboot kernel, or with ``bios`` a ROM) under QEMU; status is QEMU's exit status."""
    with tempfile.TemporaryDirectory() as tmp:
        path, con = os.path.join(tmp, "image.bin"), os.path.join(tmp, "debugcon.bin")
        with open(path, "wb") as f:
            f.write(image)
        done = subprocess.run(qemu_command(path, con, bios, ram_mb, cmdline), stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout, check=False)
        raw = b""
        if os.path.exists(con):
            with open(con, "rb") as f:
                raw = f.read()
    return parse(done.returncode, raw, extra={"stderr": done.stderr.decode(errors="replace")})


def run(kernel: Kernel, runner: str, **kw) -> Outcome:
    """Runs a test kernel on ``runner``: a backend name ("interp", "llvm", "auto") or "qemu"."""
    if runner == "qemu":
        return run_qemu(kernel.image, **{k: v for k, v in kw.items() if k in ("cmdline", "ram_mb")})
    return run_vm(kernel.image, runner, **kw)


# ROMs started from the reset vector -----------------------------------------------------------------------------------
ROM_SIZE = 0x10000                     # QEMU's -bios wants a multiple of 64 KiB


def assemble(source: str, mode: int, base: int) -> bytes:
    """Keystone, any mode, with the same comment and radix handling (``check_source`` is for 32-bit kernels)."""
    import keystone
    ks = keystone.Ks(keystone.KS_ARCH_X86, {16: keystone.KS_MODE_16, 32: keystone.KS_MODE_32}[mode])
    enc, _ = ks.asm(hex_literals(strip_comments(source)), base)
    return bytes(enc or b"")


def build_rom(pieces) -> bytes:
    """A 64 KiB ROM (mapped at F0000h and below 4 GiB) from ``pieces``: (offset in the ROM, mode, assembly base,
    source). The CPU starts at F000:FFF0, 16 bytes before its end."""
    rom = bytearray(b"\xff" * ROM_SIZE)
    for offset, mode, base, source in pieces:
        code = assemble(source, mode, base)
        if not code or offset + len(code) > ROM_SIZE:
            raise ValueError(f"ROM piece at {offset:#x} did not assemble or does not fit")
        rom[offset:offset + len(code)] = code
    return bytes(rom)


def run_rom(rom: bytes, runner: str, max_insns: int = 1_000_000) -> Outcome:
    """Boots a ROM with ``-bios`` (QEMU) or ``load_bios`` (our VM); ``raw`` is the debug console's output."""
    if runner == "qemu":
        return run_qemu(rom, bios=True)
    from dbt.machine import PcMachine
    out = bytearray()
    vm = PcMachine(16, backend=runner, debugcon=out.extend)
    vm.load_bios(rom)
    status = vm.run(max_insns)
    return Outcome(status, [], [], bytes(out), stop_reason=vm.stop_reason, vm=vm)
