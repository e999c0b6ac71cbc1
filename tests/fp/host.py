"""The host CPU as the floating-point oracle: ``oracle.c`` (one SSE or x87 instruction under a given MXCSR / x87
control word) built with gcc into a shared object at test time and called through ctypes.

The object is built once per source version into the system temp directory (never into the tree).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile

import pytest

_SRC = os.path.join(os.path.dirname(__file__), "oracle.c")

SSE_OPS = {"add": 0, "sub": 1, "mul": 2, "div": 3, "sqrt": 4, "comi": 5, "ucomi": 6, "cvtf": 7, "cvt2si32": 8,
           "cvtt2si32": 9, "cvt2si64": 10, "cvtt2si64": 11, "si32": 12, "si64": 13, "round": 14,
           "round_noexc": 15, "min": 16, "max": 17}
X87_OPS = {"add": 0, "sub": 1, "mul": 2, "div": 3, "sqrt": 4, "fcom": 5, "fucom": 6, "frndint": 7, "fst32": 8,
           "fst64": 9, "fld32": 10, "fld64": 11, "fist16": 12, "fist32": 13, "fist64": 14, "fisttp64": 15,
           "fild64": 16}

_lib = None


def lib():
    """The loaded oracle library (skips the test when gcc is missing: the oracle cannot exist without it)."""
    global _lib
    if _lib is None:
        if shutil.which("gcc") is None:
            pytest.skip("gcc is needed to build the host floating-point oracle")
        with open(_SRC, "rb") as fh:
            src = fh.read()
        tag = hashlib.sha256(src).hexdigest()[:16]
        path = os.path.join(tempfile.gettempdir(), f"dbt-fporacle-{tag}.so")
        if not os.path.exists(path):
            tmp = f"{path}.{os.getpid()}"
            subprocess.run(["gcc", "-O1", "-shared", "-fPIC", "-msse4.1", "-o", tmp, _SRC], check=True)
            os.replace(tmp, path)
        lib = ctypes.CDLL(path)
        lib.sse_op.restype = ctypes.c_uint32
        lib.sse_op.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint32,
                               ctypes.POINTER(ctypes.c_uint64)]
        lib.host_mxcsr.restype = ctypes.c_uint32
        lib.host_mxcsr.argtypes = []
        lib.fxsave_from.restype = None
        lib.fxsave_from.argtypes = [ctypes.c_char_p, ctypes.c_uint32, ctypes.c_char_p]
        lib.x87_op.restype = ctypes.c_uint16
        lib.x87_op.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint16, ctypes.c_char_p]
        _lib = lib
    return _lib


def sse(op: str, width: int, a: int, b: int = 0, mxcsr: int = 0x1F80) -> tuple[int, int]:
    """(result bits, MXCSR after) of the scalar SSE instruction ``op`` on binary``width`` operands.
    For comi/ucomi the result is RFLAGS; conversions to integer give the integer's bits."""
    out = ctypes.c_uint64()
    csr = lib().sse_op(SSE_OPS[op], int(width == 64), a, b, mxcsr | 0x1F80, ctypes.byref(out))
    return out.value, csr


def x87(op: str, a: int, b: int = 0, fcw: int = 0x37F) -> tuple[int, int]:
    """(result, FSW) of x87 ``op`` with st0 = a, st1 = b (80-bit images, or memory operand bits for loads);
    the result is the 80-bit st0 after the op, or the memory image it stored."""
    out = ctypes.create_string_buffer(10)
    sw = lib().x87_op(X87_OPS[op], a.to_bytes(10, "little"), b.to_bytes(10, "little"), fcw | 0x3F, out)
    return int.from_bytes(out.raw, "little"), sw


def host_mxcsr() -> int:
    """The MXCSR the calling thread runs under right now."""
    return lib().host_mxcsr()


def fxsave_from(fnsave_image: bytes, mxcsr: int) -> bytes:
    """The first 160 bytes of FXSAVE after FRSTOR of ``fnsave_image`` (108 bytes, 32-bit format) and LDMXCSR."""
    out = ctypes.create_string_buffer(160)
    lib().fxsave_from(fnsave_image, mxcsr, out)
    return out.raw
