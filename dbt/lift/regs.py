"""Register names as Capstone spells them -> (state field, bit shift, IR type).

Sub-registers are not state fields: AL/AH/AX/EAX are bit ranges of the ``rax`` field, so partial writes merge into it
(and a 32-bit write in 64-bit mode zero-extends, as the SDM says).
"""

from __future__ import annotations

from ir import Ty

from dbt.state import GPR64, SEGMENTS, XMM

_LEGACY = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"]


def _build() -> dict[str, tuple[str, int, Ty]]:
    m: dict[str, tuple[str, int, Ty]] = {}
    for i, full in enumerate(GPR64):
        if i < 8:
            w = _LEGACY[i]
            m["e" + w] = (full, 0, Ty.i32)
            m[w] = (full, 0, Ty.i16)
            if i < 4:
                m[w[0] + "l"] = (full, 0, Ty.i8)
                m[w[0] + "h"] = (full, 8, Ty.i8)
            else:
                m[w + "l"] = (full, 0, Ty.i8)
        else:
            m[full + "d"] = (full, 0, Ty.i32)
            m[full + "w"] = (full, 0, Ty.i16)
            m[full + "b"] = (full, 0, Ty.i8)
        m[full] = (full, 0, Ty.i64)
    for s in SEGMENTS:
        m[s] = (s, 0, Ty.i16)
    m["rip"] = ("rip", 0, Ty.i64)
    m["eip"] = ("rip", 0, Ty.i32)
    m["ip"] = ("rip", 0, Ty.i16)
    for x in XMM:
        m[x] = (x, 0, Ty.i128)
    m["mxcsr"] = ("mxcsr", 0, Ty.i32)
    return m


REGS = _build()
FLAG_REG_NAMES = {"rflags": Ty.i64, "eflags": Ty.i32, "flags": Ty.i16}
