"""Native-execution oracle: run a short x86 code fragment on the host CPU.

The fragment runs in 64-bit mode, or in 32-bit *compatibility* mode (far jump
to the Linux ``__USER32_CS`` selector 0x23 and back to 0x33), with every GPR
and the arithmetic flags + DF loaded from the case, and all GPRs / flags saved
afterwards.

Faults.  Everything runs in a forked child process.  Inside the child a tiny
machine-code signal handler (on an alternate signal stack) catches the
synchronous fault signals (SIGFPE, SIGSEGV, SIGILL, SIGBUS, SIGTRAP) raised
*while the fragment runs*, records signal / vector / fault address and
resumes the host in 64-bit mode, so a fault costs microseconds, not a fork.
Anything that still kills the child (a fault outside the fragment, a child
crash, a hang) is handled by the parent: results 0..k-1 are kept, case k
gets the signal name (or 'TIMEOUT' when no progress was made for ``timeout``
seconds), and a new child continues at k+1.  Pass ``catch_faults=False`` to
``run_native_batch`` to use only this fork-per-fault path.

Public API::

    run_native(code, mode, regs=None, mem=None, timeout=1.0) -> result
    run_native_batch(cases, timeout=1.0, catch_faults=True) -> [result, ...]
    data_area(mode) -> (address, size)     # host buffer for memory operands
    code_address(mode) -> address          # where the fragment is placed

A case is a tuple ``(code, mode, regs)`` / ``(code, mode, regs, mem)`` or a
dict with keys ``code, mode, regs[, mem]``; ``mode`` is 32 or 64.  A result is::

    {'regs': {'rax': .., ..., 'r15': .., 'rflags': ..} | None,   # mode 64
             {'eax': .., ..., 'edi': .., 'eflags': ..} | None,   # mode 32
     'mem': {address: bytes_after, ...} | None,
     'exception': None | 'SIGFPE' | 'SIGSEGV' | 'SIGILL' | 'SIGBUS' | 'SIGTRAP'
                  | ... | 'TIMEOUT',
     'vector': None | int,       # CPU exception vector (trapno), caught faults
     'fault_addr': None | int}   # si_addr of the caught fault

SSE state: a case whose ``regs`` name any of 'xmm0'..'xmm15' (128-bit ints) or 'mxcsr' runs with all of them
loaded (the others 0, MXCSR 0x1F80) and saved afterwards, and its result's ``regs`` also holds 'xmm0'..'xmm15'
('xmm0'..'xmm7' in mode 32) and 'mxcsr'. Other cases run and report as before (their SSE state is not set).
The host's own SSE state is kept by the fxsave/fxrstor around every case.

``regs`` / ``mem`` are None when an exception is reported.  Only CF PF AF ZF
SF OF DF are taken from the input flags ('rflags', 'eflags' or 'flags') and
reported in the output flags (all other bits masked to 0).  Unspecified
registers start at 0, except the stack pointer which defaults to
``DEFAULT_SP_OFFSET`` bytes into the data area.  In mode 32 the names
eax..edi (or rax..rdi, truncated) are accepted; in mode 64 eax..edi are
accepted as zero-extended rax..rdi.  Results always use the mode's names.  The whole data area is
zero-filled before every case, then the ``mem`` regions are written; after
execution the same regions are read back.

Nothing here is compiled: the stub is assembled with keystone once per
process into a fixed low (< 2 GB) RWX mapping and called through ctypes.
"""

from __future__ import annotations

import ctypes
import faulthandler
import os
import resource
import select
import signal
import struct
import threading
import time
import traceback

__all__ = [
    "run_native", "run_native_batch", "data_area", "code_address",
    "REGS64", "REGS32", "FLAGS_MASK", "DEFAULT_SP_OFFSET", "DATA_SIZE",
    "normalize_case", "initial_regs", "XMM_NAMES", "MXCSR_DEFAULT",
]

# --------------------------------------------------------------------------
# constants

REGS64 = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
          "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
REGS32 = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")
_ALIAS32 = {r64: r32 for r64, r32 in zip(REGS64, REGS32)}
_ALIAS64 = {r32: r64 for r64, r32 in zip(REGS64, REGS32)}

CF, PF, AF, ZF, SF, DF, OF = 0x1, 0x4, 0x10, 0x40, 0x80, 0x400, 0x800
FLAGS_MASK = CF | PF | AF | ZF | SF | DF | OF          # 0xcd5
_FLAGS_FIXED = 0x202                                   # reserved bit 1 + IF

USER32_CS = 0x23
USER64_CS = 0x33

# Preferred fixed addresses (below 2 GB so that they also work as
# sign-extended imm32 / disp32 in 64-bit code).
_STUB_PREF = 0x10000000
_DATA_PREF = 0x10010000
_STUB_SIZE = 0x4000
DATA_SIZE = 0x10000
DEFAULT_SP_OFFSET = DATA_SIZE - 0x100

# layout of the stub mapping (offsets)
_O_ENTRY64 = 0x000      # 64-bit-mode case: prologue (64-bit code)
_O_EPI64 = 0x100        # 64-bit-mode case: epilogue
_O_ENTRY32 = 0x200      # 32-bit-mode case: 64-bit part, far jumps to _O_PRO32
_O_PRO32 = 0x300        # 32-bit code: load state, jump to fragment
_O_EPI32 = 0x400        # 32-bit code: save state, far jump to _O_BACK64
_O_BACK64 = 0x500       # 64-bit code: restore host, return to ctypes
_O_HANDLER = 0x600      # 64-bit SA_SIGINFO signal handler
_O_XLOAD = 0x700        # 64-bit subroutine: load xmm0..xmm15 and MXCSR from _O_XIN
_O_XSAVE = 0x800        # 64-bit: save xmm0..xmm15 and MXCSR to _O_XOUT, then BACK64 (the epilogues' way out)
_O_CODE = 0x1000        # the fragment (+ appended "jmp epilogue")
_CODE_MAX = 0x1000 - 5
_O_IN = 0x2000          # 16 qword regs (REGS64 order) + qword flags
_O_OUT = 0x2100         # same layout, results (17 qwords) ...
_O_FAULT = 0x2188       # ... directly followed by the fault record:
                        #     signo, trapno, err, rip, si_addr, si_code
_O_HOST_RSP = 0x2200
_O_HOST_DS = 0x2208
_O_HOST_ES = 0x220a
_O_PTR32 = 0x2210       # m16:32 far pointer -> _O_PRO32 : 0x23
_O_PTR64 = 0x2218       # m16:32 far pointer -> _O_BACK64 : 0x33
_O_TMP = 0x2220         # scratch qword
_O_INGUEST = 0x2228     # dword: 1 while the stub / fragment runs
_O_HOST_FS = 0x2230     # fs, gs selectors (words), then fs base, gs base
_O_FXSAVE = 0x2400      # 512-byte fxsave area (16-aligned)
_O_XIN = 0x2600         # 16 xmm registers (16 bytes each, xmm0 first) + MXCSR (a qword slot) + "use" qword
_O_XOUT = 0x2800        # same layout, results
_XMM_BYTES = 16 * 16 + 8
MXCSR_DEFAULT = 0x1F80
XMM_NAMES = tuple(f"xmm{i}" for i in range(16))
_IN_BYTES = 17 * 8
_OUT_BYTES = 23 * 8     # out regs + flags + fault record

_FAULT_SIGNALS = (signal.SIGFPE, signal.SIGSEGV, signal.SIGILL, signal.SIGBUS,
                  signal.SIGTRAP)

# --------------------------------------------------------------------------
# libc helpers

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                       ctypes.c_int, ctypes.c_int, ctypes.c_long)
_libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
_libc.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong, ctypes.c_ulong)
_libc.sigaction.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
_libc.sigaltstack.argtypes = (ctypes.c_void_p, ctypes.c_void_p)

PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x01, 0x02, 0x10, 0x20
MAP_32BIT = 0x40
MAP_FIXED_NOREPLACE = 0x100000
_MAP_FAILED = ctypes.c_void_p(-1).value

SA_SIGINFO, SA_ONSTACK, SA_RESETHAND = 0x4, 0x08000000, 0x80000000


class _Sigaction(ctypes.Structure):          # glibc x86-64 struct sigaction
    _fields_ = [("sa_sigaction", ctypes.c_void_p),
                ("sa_mask", ctypes.c_uint64 * 16),
                ("sa_flags", ctypes.c_int),
                ("sa_restorer", ctypes.c_void_p)]


class _StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int),
                ("ss_size", ctypes.c_size_t)]


def _mmap(addr, size, prot, flags):
    p = _libc.mmap(addr, size, prot, flags, -1, 0)
    if p is None or p == _MAP_FAILED:
        return None
    return p


def _mmap_low(pref, size, prot):
    """Map anonymous memory at `pref` if free, else anywhere below 2 GB."""
    p = _mmap(pref, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE)
    if p is not None and p != pref:         # old kernels ignore NOREPLACE
        _libc.munmap(p, size)
        p = None
    if p is None:
        p = _mmap(None, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT)
    if p is None or p + size > 0x80000000:
        raise OSError(ctypes.get_errno(), "cannot map low memory for the native oracle")
    return p


# --------------------------------------------------------------------------
# stub assembly

def _asm(text, mode, addr):
    import keystone
    ks = keystone.Ks(keystone.KS_ARCH_X86,
                     keystone.KS_MODE_64 if mode == 64 else keystone.KS_MODE_32)
    enc, _ = ks.asm(text, addr)
    return bytes(enc)


# glibc x86-64 ucontext_t: uc_mcontext.gregs starts at byte 40
_UC_GREG = lambda i: 40 + 8 * i                        # noqa: E731
_REG_ERR, _REG_TRAPNO, _REG_RIP, _REG_EFL, _REG_CSGSFS = 19, 20, 16, 17, 18


def _have_fsgsbase():
    """RDFSBASE & co usable in user mode (AT_HWCAP2 & HWCAP2_FSGSBASE)."""
    try:
        _libc.getauxval.restype = ctypes.c_ulong
        _libc.getauxval.argtypes = (ctypes.c_ulong,)
        return bool(_libc.getauxval(26) & 2)
    except AttributeError:
        return False


def _stub_sources(S, fsgsbase=True):
    """Assembly text of the stub pieces; S = base address of the stub map.

    Memory slots are addressed through a base register loaded with an
    immediate: keystone mis-encodes some absolute ``[disp32]`` operands in
    64-bit mode (as RIP-relative with the absolute value as displacement).
    The only absolute memory operands are the ``movabs`` (moffs64) form in
    64-bit code and plain disp32 in 32-bit code.
    """
    IN, OUT = S + _O_IN, S + _O_OUT
    FL_IN, FL_OUT = IN + 16 * 8, OUT + 16 * 8
    CODE, TMP, INGUEST = S + _O_CODE, S + _O_TMP, S + _O_INGUEST
    push_host = "push rbx; push rbp; push r12; push r13; push r14; push r15"
    pop_host = "pop r15; pop r14; pop r13; pop r12; pop rbp; pop rbx"
    A = lambda x: f"{x:#x}"                                     # noqa: E731

    def load(regs, base, delta):
        return "\n".join(f"mov {r}, [{base} + {8 * i - delta}]"
                         for i, r in enumerate(regs) if i != 4)

    def save(regs, base):
        return "\n".join(f"mov [{base} + {8 * i}], {r}"
                         for i, r in enumerate(regs) if i != 0)

    # The host's FS/GS (selector and base: FS is glibc's TLS pointer) are
    # saved and restored so that a fragment that loads FS/GS cannot break
    # the host.  Needs FSGSBASE; without it they are not protected.
    HFS = S + _O_HOST_FS
    save_fs = restore_fs = ""
    if fsgsbase:
        save_fs = f"""
        mov rax, {A(HFS)}
        mov [rax], fs
        mov [rax + 2], gs
        rdfsbase rcx
        mov [rax + 8], rcx
        rdgsbase rcx
        mov [rax + 16], rcx
        """
        restore_fs = f"""
        mov rax, {A(HFS)}
        mov fs, [rax]
        mov gs, [rax + 2]
        mov rcx, [rax + 8]
        wrfsbase rcx
        mov rcx, [rax + 16]
        wrgsbase rcx
        """

    # common 64-bit entry: save callee-saved regs, x87/SSE state, rsp, ds, es
    enter_host = f"""
        {push_host}
        mov rax, {A(S + _O_FXSAVE)}
        fxsave64 [rax]
        mov rax, {A(S + _O_HOST_RSP)}
        mov [rax], rsp
        mov rax, {A(S + _O_HOST_DS)}
        mov [rax], ds
        mov [rax + 2], es
        {save_fs}
        mov rax, {A(S + _O_XLOAD)}
        call rax
        mov rax, {A(INGUEST)}
        mov dword ptr [rax], 1
    """
    src = {}
    # ---- mode 64 -----------------------------------------------------------
    src[_O_ENTRY64] = (64, f"""
        {enter_host}
        mov rsp, {A(FL_IN)}
        popfq                               /* rsp = IN + 136 */
        {load(REGS64, "rsp", 136)}
        mov rsp, [rsp + {32 - 136}]
        jmp {A(CODE)}
    """)
    src[_O_EPI64] = (64, f"""
        movabs qword ptr [{A(TMP)}], rax
        mov rax, {A(OUT)}
        {save(REGS64, "rax")}
        mov rsp, {A(FL_OUT + 8)}
        pushfq                              /* -> FL_OUT */
        mov rcx, rax
        movabs rax, qword ptr [{A(TMP)}]
        mov [rcx], rax
        jmp {A(S + _O_XSAVE)}
    """)
    # ---- mode 32 (compatibility mode) ---------------------------------------
    src[_O_ENTRY32] = (64, f"""
        {enter_host}
        mov rax, {A(S + _O_PTR32)}
        ljmp dword ptr [rax]                /* -> 0x23:PRO32 */
    """)
    src[_O_PRO32] = (32, f"""
        mov ax, ss
        mov ds, ax
        mov es, ax
        mov esp, {A(FL_IN)}
        popfd                               /* esp = IN + 132 */
        {load(REGS32, "esp", 132)}
        mov esp, [esp + {32 - 132}]
        jmp {A(CODE)}
    """)
    src[_O_EPI32] = (32, f"""
        mov dword ptr ss:[{A(TMP)}], eax
        mov ax, ss                          /* in case the fragment loaded ds */
        mov ds, ax
        mov es, ax
        mov eax, {A(OUT)}
        {save(REGS32, "eax")}
        mov esp, {A(FL_OUT + 4)}
        pushfd                              /* -> FL_OUT */
        mov ecx, dword ptr [{A(TMP)}]
        mov [eax], ecx
        mov eax, {A(S + _O_PTR64)}
        ljmp dword ptr [eax]                /* -> 0x33:BACK64 */
    """)
    # ---- common exit (also the resume point after a caught fault) -----------
    src[_O_BACK64] = (64, f"""
        cld
        mov rax, {A(S + _O_HOST_DS)}
        mov ds, [rax]
        mov es, [rax + 2]
        {restore_fs}
        mov rax, {A(S + _O_HOST_RSP)}
        mov rsp, [rax]
        mov rax, {A(INGUEST)}
        mov dword ptr [rax], 0
        mov rax, {A(S + _O_FXSAVE)}
        fxrstor64 [rax]
        {pop_host}
        ret
    """)
    # ---- SSE state: loaded on entry (a subroutine), saved on the way out ------
    XIN, XOUT = S + _O_XIN, S + _O_XOUT
    # Only for cases that name SSE state (the qword after the inputs is 1): the others keep the old, faster path.
    src[_O_XLOAD] = (64, f"""
        mov rax, {A(XIN)}
        cmp qword ptr [rax + {_XMM_BYTES}], 0
        je xload_done
        {chr(10).join(f"movdqu xmm{i}, [rax + {16 * i}]" for i in range(16))}
        ldmxcsr [rax + 256]
    xload_done:
        ret
    """)
    src[_O_XSAVE] = (64, f"""
        mov rax, {A(XIN)}
        cmp qword ptr [rax + {_XMM_BYTES}], 0
        je xsave_done
        mov rax, {A(XOUT)}
        {chr(10).join(f"movdqu [rax + {16 * i}], xmm{i}" for i in range(16))}
        stmxcsr [rax + 256]
    xsave_done:
        jmp {A(S + _O_BACK64)}
    """)
    # ---- signal handler: void h(int sig, siginfo_t *si, ucontext_t *uc) -----
    # Installed with SA_RESETHAND: if the fault did not happen inside the
    # stub/fragment it just returns, the instruction faults again and the
    # (now default) action kills the child.  Otherwise it records the fault
    # and makes sigreturn resume at BACK64 in 64-bit mode (CS = 0x33) with
    # TF / DF / AC cleared.
    src[_O_HANDLER] = (64, f"""
        mov rax, {A(INGUEST)}
        cmp dword ptr [rax], 0
        je not_ours
        mov dword ptr [rax], 0
        mov rax, {A(S + _O_FAULT)}
        mov [rax], rdi
        mov rcx, [rdx + {_UC_GREG(_REG_TRAPNO)}]
        mov [rax + 8], rcx
        mov rcx, [rdx + {_UC_GREG(_REG_ERR)}]
        mov [rax + 16], rcx
        mov rcx, [rdx + {_UC_GREG(_REG_RIP)}]
        mov [rax + 24], rcx
        mov rcx, [rsi + 16]
        mov [rax + 32], rcx
        movsxd rcx, dword ptr [rsi + 8]
        mov [rax + 40], rcx
        mov rcx, {A(S + _O_BACK64)}
        mov [rdx + {_UC_GREG(_REG_RIP)}], rcx
        mov word ptr [rdx + {_UC_GREG(_REG_CSGSFS)}], {USER64_CS}
        mov rcx, {~(0x100 | 0x400 | 0x40000) & 0xFFFFFFFF:#x}
        and [rdx + {_UC_GREG(_REG_EFL)}], rcx
    not_ours:
        ret
    """)
    return src


class _State:
    def __init__(self):
        self.stub = _mmap_low(_STUB_PREF, _STUB_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC)
        self.data = _mmap_low(_DATA_PREF, DATA_SIZE, PROT_READ | PROT_WRITE)
        self.assembled = False

    def assemble(self):
        if self.assembled:
            return
        S = self.stub
        self.fsgsbase = _have_fsgsbase()
        for off, (mode, text) in _stub_sources(S, self.fsgsbase).items():
            code = _asm(text, mode, S + off)
            assert len(code) <= 0x100, (hex(off), len(code))
            ctypes.memmove(S + off, code, len(code))
        ctypes.memmove(S + _O_PTR32, struct.pack("<IH", S + _O_PRO32, USER32_CS), 6)
        ctypes.memmove(S + _O_PTR64, struct.pack("<IH", S + _O_XSAVE, USER64_CS), 6)
        proto = ctypes.CFUNCTYPE(None)
        self.entry = {64: proto(S + _O_ENTRY64), 32: proto(S + _O_ENTRY32)}
        self.epi = {64: S + _O_EPI64, 32: S + _O_EPI32}
        self.assembled = True


_state = None
_lock = threading.Lock()


def _get_state(assemble=True):
    global _state
    with _lock:
        if _state is None:
            _state = _State()
        if assemble:
            _state.assemble()
        return _state


def data_area(mode=64):
    """(address, size) of the host buffer that memory operands must live in.

    The same buffer (below 2 GB) serves modes 32 and 64."""
    if mode not in (32, 64):
        raise ValueError("native oracle supports modes 32 and 64")
    return _get_state(assemble=False).data, DATA_SIZE


def code_address(mode=64):
    """Address the fragment is copied to (useful for RIP-relative operands)."""
    if mode not in (32, 64):
        raise ValueError("native oracle supports modes 32 and 64")
    return _get_state(assemble=False).stub + _O_CODE


# --------------------------------------------------------------------------
# case handling

def normalize_case(case):
    """-> (code: bytes, mode: int, regs: dict, mem: dict)"""
    if isinstance(case, dict):
        code, mode = case["code"], case["mode"]
        regs, mem = case.get("regs") or {}, case.get("mem") or {}
    else:
        code, mode = case[0], case[1]
        regs = (case[2] if len(case) > 2 else None) or {}
        mem = (case[3] if len(case) > 3 else None) or {}
    return bytes(code), int(mode), regs, mem


def initial_regs(mode, regs, sp_default):
    """Full initial register vector (ints in REGS64/REGS32 order) and the
    flags value (masked to FLAGS_MASK)."""
    names = REGS64 if mode == 64 else REGS32
    width = (1 << mode) - 1
    vals = {n: 0 for n in names}
    vals[names[4]] = sp_default
    flags = 0
    for k, v in regs.items():
        k = k.lower()
        if k in ("rflags", "eflags", "flags"):
            flags = int(v)
            continue
        w = width
        if mode == 32 and k in _ALIAS32:
            k = _ALIAS32[k]
        elif mode == 64 and k in _ALIAS64:
            k, w = _ALIAS64[k], 0xFFFFFFFF          # 'eax' in mode 64: zero-extended
        if k not in vals:
            raise KeyError(f"unknown register {k!r} for mode {mode}")
        vals[k] = int(v) & w
    return [vals[n] for n in names], flags & FLAGS_MASK


class _Prepared:
    __slots__ = ("mode", "inblob", "xmmblob", "simd", "codeblob", "writes", "reads", "roff")


_NO_XMM = bytes(_XMM_BYTES + 8)          # input blob of a case without SSE state: its "use" qword is 0
_XMM_INDEX = {n: i for i, n in enumerate(XMM_NAMES)}


def _split_sse(regs):
    """(regs without SSE names, xmm/mxcsr input blob, whether the case named SSE state)."""
    xmm = [0] * 16
    mxcsr = MXCSR_DEFAULT
    rest, simd = {}, False
    if not any(k[:1] in "xXmM" for k in regs):          # the common case, cheaply: no SSE name at all
        return regs, _NO_XMM, False
    for k, v in regs.items():
        kl = k.lower()
        if kl in _XMM_INDEX:
            xmm[_XMM_INDEX[kl]] = int(v) & ((1 << 128) - 1)
            simd = True
        elif kl == "mxcsr":
            mxcsr = int(v) & 0xFFFF            # reserved bits would make LDMXCSR fault
            simd = True
        else:
            rest[k] = v
    blob = b"".join(x.to_bytes(16, "little") for x in xmm) + struct.pack("<QQ", mxcsr, 1)
    return rest, blob, simd


def _prepare(case, st, roff):
    code, mode, regs, mem = normalize_case(case)
    if mode not in (32, 64):
        raise ValueError("native oracle supports modes 32 and 64 (use unicorn_oracle for 16)")
    if len(code) > _CODE_MAX:
        raise ValueError("code fragment too long")
    data, size = st.data, DATA_SIZE
    regs, xmmblob, simd = _split_sse(regs)
    vals, flags = initial_regs(mode, regs, data + DEFAULT_SP_OFFSET)
    vals = vals + [0] * (16 - len(vals))
    p = _Prepared()
    p.mode = mode
    p.inblob = struct.pack("<17Q", *vals, flags | _FLAGS_FIXED)
    p.xmmblob, p.simd = xmmblob, simd
    codeaddr = st.stub + _O_CODE
    rel = st.epi[mode] - (codeaddr + len(code) + 5)
    p.codeblob = code + b"\xe9" + struct.pack("<i", rel)       # jmp epilogue
    p.writes, p.reads = [], []
    p.roff = roff
    off = roff + _OUT_BYTES + _XMM_BYTES
    for addr, b in mem.items():
        b = bytes(b)
        if not (data <= addr and addr + len(b) <= data + size):
            raise ValueError(f"mem region {addr:#x}+{len(b)} outside data_area "
                             f"{data:#x}+{size:#x}")
        p.writes.append((addr, b))
        p.reads.append((addr, len(b), off))
        off += len(b)
    return p, off


def _signame(sig):
    try:
        return signal.Signals(sig).name
    except ValueError:
        return sig


def _exc_result(name, vector=None, addr=None):
    return {"regs": None, "mem": None, "exception": name,
            "vector": vector, "fault_addr": addr}


def _parse(p, buf, base):
    o = p.roff - base
    vals = struct.unpack_from("<23Q", buf, o)
    if vals[17]:                                    # caught fault
        return _exc_result(_signame(vals[17]), vals[18], vals[21])
    if p.mode == 64:
        regs = dict(zip(REGS64, vals))
        regs["rflags"] = vals[16] & FLAGS_MASK
    else:
        regs = {n: v & 0xFFFFFFFF for n, v in zip(REGS32, vals)}
        regs["eflags"] = vals[16] & FLAGS_MASK
    if p.simd:
        x = o + _OUT_BYTES
        for i in range(16 if p.mode == 64 else 8):
            regs[XMM_NAMES[i]] = int.from_bytes(buf[x + 16 * i:x + 16 * i + 16], "little")
        regs["mxcsr"] = struct.unpack_from("<Q", buf, x + 256)[0] & 0xFFFFFFFF
    mem = {}
    for addr, n, off in p.reads:
        o = off - base
        mem[addr] = bytes(buf[o:o + n])
    return {"regs": regs, "mem": mem, "exception": None,
            "vector": None, "fault_addr": None}


# --------------------------------------------------------------------------
# the child

def _install_handlers(st, signals):
    sa = _Sigaction()
    sa.sa_sigaction = st.stub + _O_HANDLER
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND
    for s in signals:
        if _libc.sigaction(int(s), ctypes.byref(sa), None) != 0:
            raise OSError(ctypes.get_errno(), "sigaction failed")


def _child_setup(st, catch_faults):
    faulthandler.disable()
    for s in _FAULT_SIGNALS + (signal.SIGSYS,):
        signal.signal(s, signal.SIG_DFL)
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass
    _libc.prctl(4, 0, 0, 0, 0)              # PR_SET_DUMPABLE = 0: no core dumps
    ctypes.memset(st.stub + _O_FAULT, 0, 6 * 8)
    if catch_faults:
        size = 1 << 18
        alt = _mmap(None, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        ss = _StackT(alt, 0, size)
        if alt is None or _libc.sigaltstack(ctypes.byref(ss), None) != 0:
            raise OSError(ctypes.get_errno(), "sigaltstack failed")
        _install_handlers(st, _FAULT_SIGNALS)


def _child_main(st, prepared, start, res, catch_faults):
    try:
        _child_setup(st, catch_faults)
        memmove, memset = ctypes.memmove, ctypes.memset
        data = st.data
        slot_in, slot_out = st.stub + _O_IN, st.stub + _O_OUT
        xin, xout = st.stub + _O_XIN, st.stub + _O_XOUT
        xlast = None
        code = st.stub + _O_CODE
        entry = st.entry
        fault = ctypes.c_uint64.from_address(st.stub + _O_FAULT)
        counter = ctypes.c_uint64.from_address(res)
        ctypes.c_uint64.from_address(res + 8).value = 1        # ready
        for i in range(start, len(prepared)):
            p = prepared[i]
            memmove(slot_in, p.inblob, _IN_BYTES)
            if p.xmmblob is not xlast:          # SSE inputs: rewritten only when they change
                memmove(xin, p.xmmblob, _XMM_BYTES + 8)
                xlast = p.xmmblob
            memmove(code, p.codeblob, len(p.codeblob))
            memset(data, 0, DATA_SIZE)
            for addr, b in p.writes:
                memmove(addr, b, len(b))
            entry[p.mode]()
            memmove(res + p.roff, slot_out, _OUT_BYTES)
            if p.simd:
                memmove(res + p.roff + _OUT_BYTES, xout, _XMM_BYTES)
            if fault.value:
                _install_handlers(st, (fault.value,))      # SA_RESETHAND re-arm
                fault.value = 0
            else:
                for addr, n, off in p.reads:
                    memmove(res + off, addr, n)
            counter.value = i + 1
        os._exit(0)
    except BaseException:
        try:
            traceback.print_exc()
        finally:
            os._exit(70)


def _run_child(st, prepared, start, res, timeout, catch_faults):
    """Run cases start.. in a child.  Returns (n_done, exception_or_None)."""
    counter = ctypes.c_uint64.from_address(res)
    ready = ctypes.c_uint64.from_address(res + 8)
    counter.value = start
    ready.value = 0
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:                                           # child
        os.close(rfd)
        _child_main(st, prepared, start, res, catch_faults)
        os._exit(71)                                        # not reached
    os.close(wfd)
    killed = False
    try:
        last, last_t = start, time.monotonic()
        was_ready = False
        while True:
            r, _, _ = select.select([rfd], [], [], min(timeout, 0.2))
            if r:
                break                               # EOF: the child exited
            now = time.monotonic()
            if not was_ready:                       # the clock starts after setup
                if ready.value:
                    was_ready, last_t = True, now
                elif now - last_t > max(30.0, timeout):
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    raise RuntimeError("native oracle child did not start")
                continue
            cur = counter.value
            if cur != last:
                last, last_t = cur, now
            elif now - last_t > timeout and cur < len(prepared):
                os.kill(pid, signal.SIGKILL)
                killed = True
                break
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
    finally:
        os.close(rfd)
    done = counter.value
    if not ready.value:
        raise RuntimeError("native oracle child failed during setup")
    if done == len(prepared):
        return done, None                       # all results are in
    if killed:
        return done, "TIMEOUT"
    if os.WIFSIGNALED(status):
        return done, _signame(os.WTERMSIG(status))
    code = os.WEXITSTATUS(status)
    if code != 0 or done != len(prepared):
        raise RuntimeError(f"native oracle child failed (exit status {code}) "
                           f"at case {done}")
    return done, None


def run_native_batch(cases, timeout=1.0, catch_faults=True):
    """Run many cases in a forked child (see the module docstring).

    ``timeout``: seconds without progress after which the running case is
    reported as 'TIMEOUT' (the child is killed and a new one continues)."""
    cases = list(cases)
    if not cases:
        return []
    st = _get_state()
    off = 16                                    # header: counter, ready flag
    prepared = []
    for c in cases:
        p, off = _prepare(c, st, off)
        prepared.append(p)
    total = (off + 0xFFF) & ~0xFFF
    res = _mmap(None, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS)
    if res is None:
        raise OSError(ctypes.get_errno(), "mmap of the result buffer failed")
    try:
        results = [None] * len(prepared)
        start = 0
        while start < len(prepared):
            done, exc = _run_child(st, prepared, start, res, timeout, catch_faults)
            if done > start:
                lo = prepared[start].roff
                buf = ctypes.string_at(res + lo, off - lo)
                for i in range(start, done):
                    results[i] = _parse(prepared[i], buf, lo)
            if exc is None:
                break
            results[done] = _exc_result(exc)
            start = done + 1
        return results
    finally:
        _libc.munmap(res, total)


def run_native(code, mode, regs=None, mem=None, timeout=1.0):
    """Run one fragment; see the module docstring for the result format."""
    return run_native_batch([(code, mode, regs or {}, mem)], timeout=timeout)[0]
