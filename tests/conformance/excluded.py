"""Exclusions: tests whose recorded 80286 result legitimately differs from what a 386+ CPU (the machine our
emulator implements in mode 16) does. Every entry states its reason and is as narrow as the data allows:
prefer a per-test predicate over a whole form.

Sources: Intel 80386 Programmer's Reference Manual (1986) ch. 14 "80386 Real-Address Mode" (14.7 differences from
8086, 14.8 differences from 80286 real mode) and ch. 17 LOCK; Intel SDM Vol. 3 "Architecture Compatibility"
(section "Segment Wraparound"), Vol. 2 MOV/LOCK. Evidence from the data is quoted with each entry
(counts are over the 325,000 stored vectors).

Not excluded (nothing to do): LOADALL (0F 05) and every other 0F form are absent from the data set; PUSH SP pushes
the pre-decrement value on the 286 exactly as on the 386 (54.jsonl.gz); shift/rotate counts are masked to 5 bits on
both; divide-error return addresses point at the faulting instruction on both; IOPL/NT/bit 15 are masked by the
harness (sst.FLAGS_IGNORED) rather than excluded.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from tests.conformance.decode import decode, first_wrapping_access

# Whole forms excluded: form -> reason. Keep empty unless a whole form is 286-specific.
EXCLUDED_FORMS: dict[str, str] = {}


@dataclass(frozen=True)
class Exclusion:
    name: str
    reason: str
    applies: Callable[[str, dict], bool]
    forms: frozenset | None = None     # only these forms (None: any)


def _exc(t: dict) -> int | None:
    e = t.get("exception")
    return None if e is None else e["number"]


# ---- 1. instruction length limit ----------------------------------------------------------------------------------
def _too_long(form: str, t: dict) -> bool:
    if _exc(t) != 13:
        return False
    ins = decode(t["bytes"])
    return ins.length > 10 and ins.opcode not in (0xCC, 0xCD, 0xCE)


# ---- 2. LOCK on a non-lockable instruction -------------------------------------------------------------------------
_LOCKABLE_MODRM = frozenset((0x00, 0x01, 0x08, 0x09, 0x10, 0x11, 0x18, 0x19, 0x20, 0x21, 0x28, 0x29, 0x30, 0x31,
                             0x86, 0x87))


def lockable_on_386(ins) -> bool:
    """LOCK is legal on 386+ only for these instructions with a memory destination (else #UD)."""
    if not ins.has_mem_operand:
        return False
    op, reg = ins.opcode, ins.reg
    if op in _LOCKABLE_MODRM:
        return True
    if op in (0x80, 0x81, 0x82, 0x83):
        return reg != 7                 # ADD OR ADC SBB AND SUB XOR, not CMP
    if op in (0xF6, 0xF7):
        return reg in (2, 3)            # NOT NEG
    if op in (0xFE, 0xFF):
        return reg in (0, 1)            # INC DEC
    return False


def _lock_ud(form: str, t: dict) -> bool:
    ins = decode(t["bytes"])
    return ins.lock and not lockable_on_386(ins) and _exc(t) != 6


# ---- 3. SS segment-limit violation: #GP on the 286, #SS on 386+ ----------------------------------------------------
def _ss_wrap(form: str, t: dict) -> bool:
    if _exc(t) != 13:
        return False
    ins = decode(t["bytes"])
    if ins.length > 10 or ins.opcode in (0xCC, 0xCD, 0xCE):
        return False
    a = first_wrapping_access(ins, t["initial"]["regs"])
    return a is not None and a.seg == "ss"


# ---- 4. MOV to/from Sreg 4/5 -------------------------------------------------------------------------------------
def _fs_gs(form: str, t: dict) -> bool:
    return _exc(t) == 6 and decode(t["bytes"]).reg in (4, 5)


TEST_EXCLUSIONS: list[Exclusion] = [
    Exclusion(
        "length>10",
        "The 80286 limits an instruction (prefixes included) to 10 bytes and raises #GP(13) beyond; the 386+ limit "
        "is 15 bytes (386 PRM 14.7 item 6, SDM 2.3.11), so a 386 executes these normally. Data: all 41 vectors "
        "whose decoded length is 11-12 bytes expect exception 13 (e.g. 69 #499 'lock imul di,[4A9h],6133h').",
        _too_long),
    Exclusion(
        "lock-#UD-on-386",
        "The 80286 ignores LOCK on any instruction; from the 386 on, LOCK is #UD unless the instruction is "
        "ADD/OR/ADC/SBB/AND/SUB/XOR/XCHG/INC/DEC/NOT/NEG (or BT*) with a memory destination (386 PRM 14.8.1 and "
        "LOCK; SDM Vol. 2 LOCK). Data: e.g. CC 'lock int3', F4 'lock hlt', 6B 'lock imul' run normally on the 286. "
        "Vectors where the 286 itself raised #UD are kept.",
        _lock_ud),
    Exclusion(
        "SS-wrap-#SS-on-386",
        "A word/dword access that crosses offset FFFFh through SS raises #GP(13) on the 286 but a stack fault "
        "#SS(12) on the 386+ (386 PRM 14.7 item 7; SDM Vol. 3 'Segment Wraparound': '#SS if the segment is a stack "
        "segment'). Through DS/ES/CS both raise #GP(13), and those vectors are kept. Data: 131 vectors, e.g. "
        "C9 'leave' with BP=FFFFh, 07 'pop es' with SP=FFFFh, C3 'ret' with SP=FFFFh, [bp+...] operands.",
        _ss_wrap),
    Exclusion(
        "sreg-4-5-FS-GS",
        "8C/8E with ModRM reg 4 or 5 name FS/GS on the 386+ (SDM MOV: Sreg encodings ES=0 CS=1 SS=2 DS=3 FS=4 "
        "GS=5); the 286 has no FS/GS and raises #UD. Data: all 35 such vectors in 8C/8E expect exception 6 "
        "(reg 6/7 are #UD on both and are kept).",
        _fs_gs, frozenset(("8C", "8E"))),
]


def exclusion_for(form: str, t: dict) -> str | None:
    """Name of the first exclusion that applies to this test, or None."""
    for ex in TEST_EXCLUSIONS:
        if (ex.forms is None or form in ex.forms) and ex.applies(form, t):
            return ex.name
    return None


def describe() -> str:
    lines = [f"form {f}: {r}" for f, r in sorted(EXCLUDED_FORMS.items())]
    lines += [f"{e.name}: {e.reason}" for e in TEST_EXCLUSIONS]
    return "\n".join(lines)
