"""The signal frame as the kernel lays it out, read back from guest memory after delivery (hand-checked offsets of
struct rt_sigframe / ucontext / sigcontext / siginfo), and rt_sigreturn restoring registers, flags, the mask and the
state that is kept on the host side (MXCSR here; vector registers once the CPU state has them)."""

import struct

import pytest

from dbt.linux.mm import STACK_SIZE, STACK_TOP
from dbt.linux.process import Process
from dbt.linux.signals import SA_ONSTACK, SA_RESTORER, SA_SIGINFO, SIGUSR1, Action, siginfo
from dbt.memory import PERM_R, PERM_W

GREGS = ["r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rdi", "rsi", "rbp", "rbx", "rdx", "rax", "rcx",
         "rsp"]


@pytest.fixture
def proc():
    p = Process(["/nonexistent"], env={}, backend="interp")
    p.mem.map(STACK_TOP - STACK_SIZE, STACK_SIZE, PERM_R | PERM_W)
    st = p.state
    for i, r in enumerate(GREGS):
        st[r] = 0x1000 + i
    st["rsp"] = STACK_TOP - 0x1003           # unaligned on purpose
    st["rip"] = 0x401234
    st.unpack_flags(0x202 | 1 | 0x400)       # IF, CF, DF
    st["mxcsr"] = 0x1F80
    return p


def test_frame_layout_and_handler_registers(proc):
    st, sigs = proc.state, proc.signals
    sigs.blocked = 1 << 4
    act = Action(0x402000, SA_SIGINFO | SA_RESTORER, 0x403000, 1 << 1)
    assert sigs.setup_frame(SIGUSR1, siginfo(SIGUSR1, 0, pid=77, uid=5), act, (14, 6, 0xdead))
    frame = st["rsp"]
    assert (frame + 8) % 16 == 0 and frame + 440 <= STACK_TOP - 0x1003 - 128     # below the red zone
    mem = proc.mem
    assert struct.unpack("<Q", mem.read(frame, 8))[0] == 0x403000                   # pretcode = restorer
    uc = frame + 8
    assert struct.unpack("<QQ", mem.read(uc, 16)) == (6, 0)                         # uc_flags, uc_link
    assert struct.unpack("<Qi4xQ", mem.read(uc + 16, 24)) == (0, 2, 0)              # uc_stack: SS_DISABLE
    g = struct.unpack("<23Q", mem.read(uc + 40, 184))
    assert list(g[:16]) == [0x1000 + i for i in range(15)] + [STACK_TOP - 0x1003]
    assert g[16] == 0x401234 and g[17] == 0x603                                     # rip, eflags
    assert g[18] == 0x33 | (0x2B << 48)                                             # cs, gs, fs, ss
    assert g[19:23] == (6, 14, 1 << 4, 0xdead)                                      # err, trapno, oldmask, cr2
    assert struct.unpack("<Q", mem.read(uc + 40 + 184, 8))[0] == 0                  # fpstate
    assert struct.unpack("<Q", mem.read(uc + 296, 8))[0] == 1 << 4                  # uc_sigmask
    info = frame + 312
    assert struct.unpack("<iiiiiI", mem.read(info, 24)) == (SIGUSR1, 0, 0, 0, 77, 5)
    assert (st["rdi"], st["rsi"], st["rdx"], st["rax"]) == (SIGUSR1, info, uc, 0)
    assert st["rip"] == 0x402000 and st["df"] == 0 and st["cf"] == 1
    assert sigs.blocked == (1 << 4) | (1 << 1) | (1 << (SIGUSR1 - 1))


def test_sigreturn_restores_everything(proc):
    st, sigs = proc.state, proc.signals
    before = {r: st[r] for r in GREGS + ["rip"]}
    act = Action(0x402000, SA_SIGINFO | SA_RESTORER, 0x403000, 0)
    assert sigs.setup_frame(SIGUSR1, siginfo(SIGUSR1, 0), act, (0, 0, 0))
    frame = st["rsp"]
    # the handler runs: clobbers registers and MXCSR, edits the saved RBX in the frame, then RET pops pretcode
    for r in GREGS:
        st[r] = 0xBAD
    st["mxcsr"] = 0x9FC0
    proc.mem.write(frame + 8 + 40 + 8 * 11, struct.pack("<Q", 0x5555))
    st["rsp"] = frame + 8
    sigs.sigreturn()
    assert st["rbx"] == 0x5555
    assert {r: st[r] for r in GREGS + ["rip"] if r != "rbx"} == {r: v for r, v in before.items() if r != "rbx"}
    assert st.pack_flags() & 0xFFF == 0x603 and st["mxcsr"] == 0x1F80 and sigs.blocked == 0


def test_onstack_frame_and_missing_restorer(proc):
    st, sigs = proc.state, proc.signals
    alt = STACK_TOP - STACK_SIZE
    assert sigs._set_altstack(alt, 0, 0x4000) == 0
    assert sigs.setup_frame(SIGUSR1, siginfo(SIGUSR1, 0), Action(0x402000, SA_RESTORER | SA_ONSTACK, 0x403000), (0, 0, 0))
    assert alt < st["rsp"] < alt + 0x4000
    assert not sigs.setup_frame(SIGUSR1, siginfo(SIGUSR1, 0), Action(0x402000, 0, 0), (0, 0, 0))   # no SA_RESTORER
