"""SHL/SAL SHR SAR ROL ROR RCL RCR SHLD SHRD against the host CPU and Unicorn: every width, register and memory
destinations, counts 1 (D0/D1), CL (biased to 0..2*width+1, and any byte) and immediates (0, 1 through C0/C1,
width-1, width, width+1, above the mask), modes 32 and 64.

The defined-flags mask depends on the count (SDM): nothing changes for a masked count of 0; AF is undefined after a
shift; OF only defined for a count of 1; CF undefined for SHL/SHR by >= width; SHLD/SHRD by more than the width leave
result and flags undefined (compared with the host only: we model P6+)."""

from __future__ import annotations

from tests.diff.harness import AF, ALL_FLAGS, CF, DF, OF, REGS, WIDTHS, Form, make_tests, mem, reg

SHIFTS = ["shl", "shr", "sar", "rol", "ror", "rcl", "rcr"]
_OPCODE_EXT = {"rol": 0, "ror": 1, "rcl": 2, "rcr": 3, "shl": 4, "shr": 5, "sal": 6, "sar": 7}


def defined_mask(op: str, width: int, count: int) -> int:
    c = count & (0x3F if width == 64 else 0x1F)
    if c == 0:
        return ALL_FLAGS
    m = ALL_FLAGS
    if op in ("shl", "sal", "shr", "sar", "shld", "shrd"):
        m &= ~AF
    if c != 1:
        m &= ~OF
    if op in ("shl", "sal", "shr") and c >= width:
        m &= ~CF
    if op in ("shld", "shrd") and c > width:
        m = DF
    return m


def _cl(mode):
    return REGS[mode][1]


def cl_regs(mode, width):
    def gen(rng):
        k = rng.random()
        low = rng.randrange(0, 2 * width + 2) if k < 0.75 else rng.randrange(256)
        return {_cl(mode): (rng.getrandbits(mode) & ~0xFF) | low}
    return gen


def _count_of(mode, count):
    if count == "cl":
        return lambda inp: inp[_cl(mode)] & 0xFF
    return lambda inp: count


def _form(mode, op, width, dst, count, **kw):
    cnt = _count_of(mode, count)
    mask = (lambda inp, op=op, width=width, cnt=cnt: defined_mask(op, width, cnt(inp)))
    extra = {}
    if count == "cl":
        extra["regs"] = cl_regs(mode, width)
    if op in ("shld", "shrd") and width == 16:
        extra["unicorn_ok"] = lambda inp, mem, cnt=cnt: cnt(inp) & 0x1F <= 16
    return Form(mode, kw.pop("asm", None) or f"{op} {dst}, {count}", flags_defined_mask=mask, **extra, **kw)


def _forms():
    out = []
    for mode in (32, 64):
        for w in WIDTHS[mode]:
            r0, r2 = reg(mode, w, 0), reg(mode, w, 10 if mode == 64 else 2)
            m = mem(mode, w, 0x20)
            for op in SHIFTS:
                counts = list(dict.fromkeys(["cl", 1, 0, 3, w - 1, w, w + 1, 35 if w < 64 else 67]))
                for c in counts:
                    out.append(_form(mode, op, w, r0 if c != 3 else r2, c))
                out.append(_form(mode, op, w, m, "cl", mem_operand=True))
                out.append(_form(mode, op, w, m, 1, mem_operand=True))
                out.append(_form(mode, op, w, m, 5, mem_operand=True))
                # C0/C1 with an immediate of 1 (keystone picks D0/D1 for "op r, 1"): OF is defined there too
                opc = 0xC0 if w == 8 else 0xC1
                pre = (b"\x66" if w == 16 else b"") + (b"\x48" if w == 64 else b"")
                raw = pre + bytes([opc, 0xC0 | _OPCODE_EXT[op] << 3 | 1, 1])        # op ecx-family, 1
                out.append(_form(mode, op, w, None, 1, asm=raw))
            # SAL's undocumented /6 encoding is SHL
            pre = (b"\x66" if w == 16 else b"") + (b"\x48" if w == 64 else b"")
            out.append(_form(mode, "sal", w, None, "cl", asm=pre + bytes([0xD2 if w == 8 else 0xD3, 0xF0 | 2])))
            if w == 8:
                continue
            src = reg(mode, w, 2)
            for op in ("shld", "shrd"):
                for c in ["cl", 1, 0, 4, w - 1, w, 17 if w == 16 else w + 3]:
                    out.append(_form(mode, op, w, f"{r0}, {src}", c))
                out.append(_form(mode, op, w, f"{m}, {src}", "cl", mem_operand=True))
                out.append(_form(mode, op, w, f"{m}, {src}", 7, mem_operand=True))
    return out


FORMS = _forms()
test_quick, test_sweep = make_tests(FORMS)
