"""Build the guest OS image: assemble the kernel and the user blob with Keystone, wrap them in a multiboot ELF32.

The image has two PT_LOAD segments: the kernel at KERNEL_BASE (memsz reaches USER_BASE) and the user blob at
USER_BASE (memsz reaches BSS_END, so the kernel's bss and the user stacks are zero-filled and the bootloader puts its
own data above them). The entry point is the instruction right after the 12-byte multiboot header.

Keystone 0.9.2 quirks (measured while writing the kernel); ``check_source`` rejects the forms that assemble wrongly:
- a memory operand with two symbols loses the first one: ``[TASKS + T_EXIT]`` becomes ``[T_EXIT]``. Name the sum
  with ``.equ`` or put the base in a register.
- LGDT/LIDT, PUSH/POP DS/ES/SS, IRET and ``mov ds, ax`` get a 0x66 operand-size prefix (16-bit forms). The kernel
  writes LGDT/LIDT as bytes, uses IRETD, and moves segment registers through 32-bit registers.
- no far JMP (written as bytes), no shifts inside memory operands, ``;`` separates statements (comments are stripped
  here, outside string literals).
- the default radix is read from uninitialized memory: in a process that has run other native code (the LLVM
  backend), ``mov ecx, 64`` may assemble as ``mov ecx, 0x64``. ``dbt.guests.hex_literals`` rewrites every bare
  decimal number (outside string literals) in hexadecimal before assembling.
"""

from __future__ import annotations

import functools
import re
import struct
from pathlib import Path

from dbt.guests import hex_literals

from . import layout

HERE = Path(__file__).parent
KERNEL_SOURCES = ("defs.asm", "boot.asm", "console.asm", "multiboot.asm", "cpu.asm", "pic.asm", "paging.asm",
                  "rtc.asm", "sched.asm", "main.asm", "data.asm")
USER_SOURCES = ("user.asm",)
ELF_HEADER = struct.Struct("<16sHHIIIIIHHHHHH")
ELF_PHDR = struct.Struct("<IIIIIIII")
PT_LOAD = 1
EM_386 = 3
PAGE = 0x1000


def strip_comments(text: str) -> str:
    """Drop ``;`` comments (Keystone reads ``;`` as a statement separator) but keep ``;`` inside string literals."""
    out = []
    for line in text.splitlines():
        quoted = escaped = False
        for i, ch in enumerate(line):
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = quoted
            elif ch == '"':
                quoted = not quoted
            elif ch == ";" and not quoted:
                line = line[:i]
                break
        out.append(line.rstrip())
    return "\n".join(out)


_REGISTERS = frozenset(["eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "ax", "bx", "cx", "dx", "si", "di", "bp", "sp", "al", "bl", "cl", "dl", "ah", "bh", "ch", "dh"])
_BAD_FORMS = [
    (re.compile(r"^\s*(\w+:)?\s*(lgdt|lidt|sgdt|sidt)\b", re.IGNORECASE), "LGDT/LIDT get a 0x66 prefix: write the bytes"),
    (re.compile(r"^\s*(\w+:)?\s*(push|pop)\s+(ds|es|ss)\b", re.IGNORECASE), "PUSH/POP of DS/ES/SS get a 0x66 prefix"),
    (re.compile(r"^\s*(\w+:)?\s*iret\s*$", re.IGNORECASE), "IRET is the 16-bit form: use IRETD"),
    (re.compile(r"^\s*(\w+:)?\s*mov\s+(cs|ds|es|fs|gs|ss)\s*,\s*[a-d]x\b", re.IGNORECASE),
     "mov sreg, r16 gets a 0x66 prefix: use the 32-bit register"),
]


def check_source(text: str) -> None:
    """Reject the forms that Keystone assembles wrongly (see the module docstring). ``text`` has no comments."""
    for number, line in enumerate(text.splitlines(), 1):
        code = line.split('"', 1)[0]
        for inner in re.findall(r"\[([^]]*)\]", code):
            names = [t for t in re.findall(r"\b[A-Za-z_]\w*\b", inner) if t.lower() not in _REGISTERS]
            if len(names) > 1:
                raise ValueError(f"line {number}: {line.strip()!r}: a memory operand may name one symbol only")
        for pattern, why in _BAD_FORMS:
            if pattern.search(code):
                raise ValueError(f"line {number}: {line.strip()!r}: {why}")


def _equates() -> str:
    return "\n".join(f".equ {name}, {value:#x}" for name, value in sorted(layout.constants().items()))


def _trap_stubs() -> str:
    """One stub per gate (pushes a 0 error code where the CPU does not, then the vector) and the gate list."""
    gates = [(v, 0x8E) for v in range(32)] + [(0x20 + irq, 0x8E) for irq in range(16)] + [(0x80, 0xEE)]
    lines = []
    for vector, _ in gates:
        lines.append(f"isr_{vector:02x}:")
        if vector not in layout.EXCEPTIONS_WITH_ERROR_CODE:
            lines.append("    push 0")
        lines += [f"    push {vector:#x}", "    jmp isr_common"]
    lines += [".align 4", "idt_gates:"]
    lines += [f"    .long {vector:#x}, isr_{vector:02x}, {attr:#x}" for vector, attr in gates]
    lines.append("    .long 0xFFFFFFFF")
    return "\n".join(lines)


def _cmdline_default(cmdline: str | None) -> str:
    text = cmdline or ""
    if not all(0x20 <= ord(c) < 0x7F and c not in '"\\;' for c in text):
        raise ValueError(f"default command line must be printable ASCII without quotes, backslashes or ';': {text!r}")
    return f'cmdline_default: .asciz "{text}"'


def _read(directory: str, names) -> str:
    return "\n".join(strip_comments((HERE / directory / name).read_text()) for name in names)


def kernel_source(cmdline_default: str | None = None) -> str:
    """The full kernel assembly text as Keystone sees it."""
    return "\n".join([_equates(), _read("kernel", KERNEL_SOURCES), _trap_stubs(), _cmdline_default(cmdline_default)])


def user_source() -> str:
    return "\n".join([_equates(), _read("user", USER_SOURCES)])


def _assemble(source: str, base: int) -> bytes:
    import keystone
    check_source(source)
    ks = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_32)
    encoding, _ = ks.asm(hex_literals(source), base)
    return bytes(encoding or b"")


def elf32(entry: int, segments: list[tuple[int, bytes, int]]) -> bytes:
    """An ELF32 i386 executable: segments are (address, bytes, memsz); each gets a page-aligned file offset."""
    offset = PAGE
    headers, body = [], bytearray()
    for address, data, memsz in segments:
        assert address % PAGE == 0 and memsz >= len(data)
        headers.append(ELF_PHDR.pack(PT_LOAD, offset, address, address, len(data), memsz, 7, PAGE))
        body += data + bytes(-len(data) % PAGE)
        offset += len(data) + (-len(data) % PAGE)
    ident = b"\x7fELF" + bytes([1, 1, 1]) + bytes(9)      # 32-bit, little endian, version 1
    header = ELF_HEADER.pack(ident, 2, EM_386, 1, entry, ELF_HEADER.size, 0, 0, ELF_HEADER.size,
                             ELF_PHDR.size, len(segments), 0, 0, 0)
    head = header + b"".join(headers)
    return head + bytes(PAGE - len(head)) + bytes(body)


@functools.lru_cache(maxsize=8)
def build_kernel(cmdline_default: str | None = None) -> bytes:
    """The multiboot ELF32 image. ``cmdline_default`` holds arguments (``work=N spin=N``) used when the loader's
    command line does not set them."""
    kernel = _assemble(kernel_source(cmdline_default), layout.KERNEL_BASE)
    user = _assemble(user_source(), layout.USER_BASE)
    if len(kernel) > layout.USER_BASE - layout.KERNEL_BASE:
        raise ValueError(f"kernel is {len(kernel)} bytes, more than fits below USER_BASE")
    if len(user) > layout.USER_CODE_END - layout.USER_BASE:
        raise ValueError(f"user blob is {len(user)} bytes, more than fits below USER_CODE_END")
    magic = struct.pack("<I", layout.MB_MAGIC)
    assert kernel.startswith(magic) and kernel[12] == 0xFA, "boot.asm must start with the header, then CLI"
    image = elf32(layout.KERNEL_BASE + 12, [
        (layout.KERNEL_BASE, kernel, layout.USER_BASE - layout.KERNEL_BASE),
        (layout.USER_BASE, user, layout.BSS_END - layout.USER_BASE),
    ])
    where = image.find(magic)
    assert where % 4 == 0 and where + 12 <= 8192, "the multiboot header must be 4-aligned in the first 8 KiB"
    return image


def write_kernel(path, cmdline_default: str | None = None) -> int:
    """Write the image to ``path``; returns its size."""
    image = build_kernel(cmdline_default)
    Path(path).write_bytes(image)
    return len(image)
