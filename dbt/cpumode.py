"""The translation-relevant CPU mode: the facts a translation depends on besides its bytes (QEMU's "hflags").

A translated unit is only valid in the mode it was lifted for: the default operand/address size of the code segment
(CS.D), the stack size (SS.B), real-address vs protected mode, the current privilege level, EFLAGS.TF (single-step:
one instruction per unit, then #DB), and whether the engine is a system VM (privileged instructions, descriptors and the IDT are modelled) or a flat user-level CPU (modes 32/64 of
the plain ``Emulator``, the process VM). The mode is packed into the ``tbflags`` state field; the translation cache
and the native dispatcher key every unit by (linear pc, tbflags), so code reached in another mode is translated again.

Instructions that change the mode (far transfers, interrupts, IRET, MOV CR0, MOV SS, SYSENTER...) end their unit and
leave through the dispatcher, never through a chain slot, so the next unit is looked up with the new flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

_SIZE_CODE = {16: 0, 32: 1, 64: 2}
_CODE_SIZE = {0: 16, 1: 32, 2: 64}


@dataclass(frozen=True)
class CpuMode:
    code: int               # default operand/address size: 16, 32 or 64 (the decoder mode)
    stack: int              # stack-pointer width: 16, 32 or 64 (SS.B; 64 in long mode)
    real: bool = False      # real-address mode: segment base = selector * 16, interrupts through the IVT
    system: bool = False    # system VM: privileged instructions, descriptors, IDT (else flat user level)
    cpl: int = 0            # current privilege level
    tf: bool = False        # EFLAGS.TF (system VM): one instruction per unit, then the single-step #DB

    @property
    def flags(self) -> int:
        """The packed form stored in ``tbflags`` (small: it is shifted into the dispatcher's key)."""
        return (_SIZE_CODE[self.code] | _SIZE_CODE[self.stack] << 2 | int(self.real) << 4 | int(self.system) << 5
                | self.cpl << 6 | int(self.tf) << 8)

    @staticmethod
    def unpack(flags: int) -> "CpuMode":
        return _unpack(flags)

    @property
    def addseg(self) -> bool:
        """Whether DS/ES/SS bases are added to offsets (real and system modes; flat user modes have base 0)."""
        return self.real or self.system

    @property
    def user(self) -> bool:
        return self.cpl == 3


@lru_cache(maxsize=None)
def _unpack(flags: int) -> CpuMode:
    return CpuMode(_CODE_SIZE[flags & 3], _CODE_SIZE[(flags >> 2) & 3], bool(flags >> 4 & 1), bool(flags >> 5 & 1),
                   (flags >> 6) & 3, bool(flags >> 8 & 1))


def flat_mode(bits: int) -> CpuMode:
    """The mode of the plain engine: 16 = real mode (CPL 0), 32/64 = flat user level (CPL 3)."""
    if bits == 16:
        return CpuMode(16, 16, real=True, cpl=0)
    return CpuMode(bits, bits, cpl=3)
