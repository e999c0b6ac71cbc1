"""Acceptance tests of the system CPU (dbt/system, dbt/lifters/system*.py and the system paths of the other lifters):
exceptions, paging, privilege changes, far transfers, descriptor instructions, CPUID/MSRs, I/O permission, external
interrupts and the interrupt shadow, single-step, triple faults, real mode from the reset vector and back from
protected mode, and the multiboot hand-over. Sections numbered 1-5 are the issue's acceptance list.

Each test boots a small kernel (tests/system/asm.py) that does one thing and reports the frames its handlers saw and
the values it measured. Every test runs on the ``interp`` and ``llvm`` backends (some on ``auto`` too, with loops
long enough to be compiled) and, where ``qemu-system-i386`` is installed, under QEMU: the same expectations, written
from the Intel SDM (Vol. 3 chapters 4-6 unless said), hold for QEMU, which checks the test kernels themselves.
Where QEMU departs from the SDM the expectation says so (``runner == "qemu"``, ``QEMU_DEPARTS``) and our VM is held
to the SDM.
"""

from __future__ import annotations

import struct

import pytest

from tests.system import asm
from tests.system.asm import ESP0, STACK0, USTACK, build, catch, descriptor, gate, lcall, ljmp

needs_qemu = pytest.mark.skipif(asm.QEMU is None, reason="qemu-system-i386 is not installed")
RUNNERS = ["interp", "llvm", pytest.param("qemu", marks=needs_qemu)]
RUNNERS_AUTO = ["interp", "llvm", "auto", pytest.param("qemu", marks=needs_qemu)]

RF, IF, TF, IOPL3 = 1 << 16, 1 << 9, 1 << 8, 3 << 12
FL = 0x8D7                      # CF PF AF ZF SF OF and the fixed bit 1: set before each faulting instruction
SET_FL = f"push {FL:#x}\npopfd"


def outcome(kernel, runner, status=1, **kw):
    o = asm.run(kernel, runner, **kw)
    assert o.status == status, f"status {o.status} ({o.stop_reason}); records: {o.recs}"
    return o


def pushed_flags(runner: str, flags: int, fault: bool) -> int:
    """The EFLAGS image a handler finds. SDM Vol. 3 17.3.1.1: for any fault-class exception (except an instruction
    breakpoint) the RF value pushed is 1; for traps and interrupts it is EFLAGS.RF (0 here). QEMU pushes RF = 0."""
    return flags | (RF if fault and runner != "qemu" else 0)


def check_frame(rec, vector, eip, err=None, cs=0x08, eflags=FL, user_esp=None, user_ss=0x23):
    """The record of a handler entered through an interrupt gate at ring 0: the frame is [error code,] EIP, CS,
    EFLAGS (and the interrupted SS:ESP after a privilege change); ESP at entry is the old stack top (STACK0, or
    TSS.ESP0 after a change from ring 3) less the frame."""
    assert rec.vector == vector, rec
    words = ([err] if err is not None else []) + [eip, cs, eflags]
    if user_esp is not None:
        words += [user_esp, user_ss]
    assert list(rec.frame[:len(words)]) == words, (f"frame {[hex(w) for w in rec.frame[:len(words)]]} != "
                                                   f"{[hex(w) for w in words]}")
    top = ESP0 if user_esp is not None else STACK0
    assert rec.esp == top - 4 * len(words)
    assert rec.ss == 0x10 and rec.cs == 0x08
    # an interrupt gate clears IF, TF, NT, RF (and VM) in the handler
    assert rec.eflags == eflags & ~(IF | TF | RF | (1 << 14)), hex(rec.eflags)


# ---- 1. every exception vector, with and without an error code; #DF, EXT, #TS, unsupported features ------------------

def _case(body, labels=("f", "after"), gdt=None):
    return build(f"test:\n{catch('after')}\n{body}\nafter:\n    jmp finish\n", labels=labels, gdt=gdt)


NOT_PRESENT_DATA = descriptor(0, 0xFFFFF, 0x12)           # P = 0, DPL 0, writable data
EXEC_ONLY_CODE = descriptor(0, 0xFFFFF, 0x98)             # P, DPL 0, execute-only code


VECTOR_CASES = {
    # #DE (0), a fault: the saved EIP is the DIV's own address, no error code.
    "de_div": (0, None, True, "mov ecx, 0\nmov eax, 1\nxor edx, edx\n" + SET_FL + "\nf: div ecx", None),
    # #DE from IDIV overflow (-2^31 / -1), also a fault.
    "de_idiv": (0, None, True, "mov eax, 0x80000000\ncdq\nmov ecx, -1\n" + SET_FL + "\nf: idiv ecx", None),
    # #DB (1) from INT1/ICEBP (F1): a trap, the saved EIP is the next instruction's.
    "db_icebp": (1, None, False, SET_FL + "\nf: .byte 0xF1", None),
    # #BP (3) from INT3 (CC): a trap.
    "bp_int3": (3, None, False, SET_FL + "\nf: .byte 0xCC", None),
    # #OF (4) from INTO with OF = 1: a trap (the first INTO, with OF = 0, does nothing).
    "of_into": (4, None, False, "push 2\npopfd\ninto\n" + SET_FL + "\nf: into", None),
    # #BR (5) from BOUND with the index above the upper bound: a fault.
    "br_bound": (5, None, True, "mov eax, 6\n" + SET_FL + "\nf: bound eax, qword ptr [bounds]\njmp finish\n"
                 "bounds: .long 0, 5", None),
    # #UD (6) from UD2: a fault.
    "ud_ud2": (6, None, True, SET_FL + "\nf: ud2", None),
    # #NM (7) from FNINIT with CR0.TS = 1: a fault.
    "nm_ts": (7, None, True, "mov eax, cr0\nor eax, 8\nmov cr0, eax\n" + SET_FL + "\nf: fninit", None),
    # #NM from FNINIT with CR0.EM = 1.
    "nm_em": (7, None, True, "mov eax, cr0\nor eax, 4\nmov cr0, eax\n" + SET_FL + "\nf: fninit", None),
    # #NM from FWAIT only when CR0.TS and CR0.MP are both set (the first FWAIT, TS without MP, runs).
    "nm_fwait": (7, None, True, "mov eax, cr0\nor eax, 8\nmov cr0, eax\nfwait\nor eax, 2\nmov cr0, eax\n" + SET_FL +
                 "\nf: fwait", None),
    # #UD for MOV CS (8E /1).
    "ud_mov_cs": (6, None, True, "mov eax, 8\n" + SET_FL + "\nf: .byte 0x8E, 0xC8", None),
    # #NP (11) loading DS with a not-present data segment: error code = the selector (index, TI; RPL cleared).
    "np_data": (11, 0x40, True, "mov eax, 0x40\n" + SET_FL + "\nf: mov ds, eax", {0x40: NOT_PRESENT_DATA}),
    # #NP for INT n through a not-present gate: error code = vector * 8 + 2 (IDT bit; EXT = 0 for INT n).
    "np_gate": (11, 0x41 * 8 + 2, True, "mov eax, 0x41\nmov ebx, after\nmov ecx, 0x00080E00\ncall set_gate\n"
                + SET_FL + "\nf: int 0x41", None),
    # #SS (12) loading SS with a not-present writable data segment: error code = the selector.
    "ss_load": (12, 0x48, True, "mov eax, 0x48\n" + SET_FL + "\nf: mov ss, eax", {0x48: NOT_PRESENT_DATA}),
    # #GP (13), a selector beyond the GDT limit: error code = the selector.
    "gp_gdt_limit": (13, 0x1000, True, "mov eax, 0x1003\n" + SET_FL + "\nf: mov ds, eax", None),
    # #GP loading DS with an execute-only code segment.
    "gp_exec_only": (13, 0x50, True, "mov eax, 0x50\n" + SET_FL + "\nf: mov es, eax", {0x50: EXEC_ONLY_CODE}),
    # #GP loading DS with a system descriptor (the TSS).
    "gp_ds_tss": (13, 0x28, True, "mov eax, 0x28\n" + SET_FL + "\nf: mov ds, eax", None),
    # #GP loading DS through the LDT while LDTR is null: error code = the selector (TI set).
    "gp_ldt_null": (13, 0x44, True, "mov eax, 0x44\n" + SET_FL + "\nf: mov ds, eax", None),
    # #NP: a far JMP to a not-present code segment.
    "np_ljmp": (11, 0x68, True, SET_FL + "\nf: " + ljmp(0x68, "after"), {0x68: descriptor(0, 0xFFFFF, 0x1A)}),
    # #GP loading DS with RPL 3 > DPL 0.
    "gp_rpl": (13, 0x10, True, "mov eax, 0x13\n" + SET_FL + "\nf: mov ds, eax", None),
    # #GP(0) loading SS with the null selector.
    "gp_null_ss": (13, 0, True, "xor eax, eax\n" + SET_FL + "\nf: mov ss, eax", None),
    # #GP(0) setting CR0.PG with CR0.PE clear.
    "gp_cr0_pg": (13, 0, True, "mov eax, 0x80000010\n" + SET_FL + "\nf: mov cr0, eax", None),
    # #GP: LTR of a busy TSS (the one the prelude loaded): error code = the selector.
    "gp_ltr_busy": (13, 0x28, True, "mov eax, 0x28\n" + SET_FL + "\nf: ltr ax", None),
    # #GP: LLDT of a descriptor that is not an LDT (a code segment): error code = the selector.
    "gp_lldt_code": (13, 0x08, True, "mov eax, 0x08\n" + SET_FL + "\nf: lldt ax", None),
    # #GP: MOV SS with RPL 3 != CPL 0: error code = the selector.
    "gp_ss_rpl": (13, 0x10, True, "mov eax, 0x13\n" + SET_FL + "\nf: mov ss, eax", None),
    # #GP(0) setting CR0.NW with CR0.CD clear (MOV CRn: "an attempt to write 1 to NW while CD = 0").
    "gp_cr0_nw": (13, 0, True, "mov eax, cr0\nand eax, 0x9FFFFFFF\nor eax, 0x20000000\n" + SET_FL +
                  "\nf: mov cr0, eax", None),
    # #GP(0) setting a reserved CR4 bit (bit 15).
    "gp_cr4": (13, 0, True, "mov eax, 0x8000\n" + SET_FL + "\nf: mov cr4, eax", None),
    # #GP(0) for RDMSR of an MSR that does not exist.
    "gp_rdmsr": (13, 0, True, "mov ecx, 0x12345\n" + SET_FL + "\nf: rdmsr", None),
    # #GP: a far JMP to a data segment: error code = the selector.
    "gp_ljmp_data": (13, 0x10, True, SET_FL + "\nf: " + ljmp(0x10, "after"), None),
    # #GP: INT n whose gate lies beyond the IDT limit: error code = vector * 8 + 2.
    "gp_idt_limit": (13, 0x40 * 8 + 2, True, "mov word ptr [idt_ptr], 0x1FF\n.byte 0x0F, 0x01, 0x1D\n"
                     ".long idt_ptr\n" + SET_FL + "\nf: int 0x40", None),
    # #PF (14) reading a not-present page at ring 0: error code 0 (P = 0, read, supervisor), CR2 = the address.
    "pf_read": (14, 0, True, "call paging_on\nmov dword ptr [PT0 + 0x1000], 0\n" + SET_FL +
                "\nf: mov eax, dword ptr [0x400123]", None),
}


QEMU_DEPARTS = {"db_icebp": "QEMU 7.2 raises #UD for F1 (its ICEBP decoding is compiled out, WANT_ICEBP)",
                "gp_rdmsr": "QEMU's TCG reads unknown MSRs as 0 instead of raising #GP",
                "gp_cr4": "QEMU 7.2 hangs re-running a MOV CR4 that sets a reserved bit",
                "gp_cr0_nw": "QEMU 7.2 accepts CR0.NW = 1 with CD = 0",
                "gp_cr0_pg": "QEMU 7.2 accepts CR0.PG = 1 with PE = 0 (and then triple-faults)"}


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("case", sorted(VECTOR_CASES))
def test_exception_vector(case, runner):
    if runner == "qemu" and case in QEMU_DEPARTS:
        pytest.skip(QEMU_DEPARTS[case])
    vector, err, fault, body, gdt = VECTOR_CASES[case]
    k = _case(body, gdt=gdt)
    o = outcome(k, runner)
    assert len(o.recs) == 1, o.recs
    rec = o.recs[0]
    eip = k.labels["f"] if fault else k.labels["after"]
    check_frame(rec, vector, eip, err, eflags=pushed_flags(runner, FL, fault))
    if vector == 14:
        assert rec.cr2 == 0x400123


@pytest.mark.parametrize("runner", RUNNERS)
def test_int_n_to_an_error_code_vector_pushes_no_error_code(runner):
    """INT 13 / INT 14 (software) deliver through the #GP/#PF gates without an error code (SDM 6.12.1: only the
    processor's exceptions push one); a trap: the saved EIP follows the INT."""
    k = build(f"test:\n{catch('after1')}\n{SET_FL}\nint 13\nafter1:\n{catch('after2')}\n{SET_FL}\nint 14\n"
              "after2:\njmp finish", labels=("after1", "after2"))
    o = outcome(k, runner)
    assert len(o.recs) == 2
    check_frame(o.recs[0], 13, k.labels["after1"], None)
    check_frame(o.recs[1], 14, k.labels["after2"], None)


@pytest.mark.parametrize("runner", RUNNERS)
def test_double_fault_from_a_not_present_gate(runner):
    """#DE whose gate is not present: the #NP met while delivering it is contributory after contributory, so the CPU
    delivers #DF with error code 0 (SDM table 6-5). The SDM leaves the saved CS:EIP of #DF undefined; like QEMU, the
    VM saves the faulting DIV's address."""
    k = _case("xor eax, eax\nxor ebx, ebx\nmov ecx, 0x00080E00\ncall set_gate\nxor ecx, ecx\n" + SET_FL +
              "\nf: div ecx")
    o = outcome(k, runner)
    assert len(o.recs) == 1, o.recs
    check_frame(o.recs[0], 8, k.labels["f"], 0, eflags=FL)


@pytest.mark.parametrize("runner", RUNNERS)
def test_double_fault_from_a_page_fault_while_delivering_a_page_fault(runner):
    """A #PF whose IDT gate lies on a not-present page: reading the gate page-faults again, a page fault after a page
    fault is #DF(0) (table 6-5), and CR2 holds the second fault's address (the gate's). The IDT is placed so that the
    #DF gate (vector 8) is on the page below, which is present."""
    idt = 0x400000 - 100                       # gate 8 at 0x3FFFDC (present page), gate 14 at 0x40000C (not present)
    body = f"""
    call paging_on
    mov esi, idt
    add esi, 64
    mov eax, dword ptr [esi]
    mov dword ptr [{idt + 64:#x}], eax
    mov eax, dword ptr [esi + 4]
    mov dword ptr [{idt + 68:#x}], eax
    mov dword ptr [PT0 + 0x1000], 0
    mov dword ptr [new_idt + 2], {idt:#x}
    .byte 0x0F, 0x01, 0x1D
    .long new_idt
    {SET_FL}
f:  mov eax, dword ptr [0x400800]
    jmp finish
.align 4
new_idt: .short 0x7FF
    .long 0
"""
    k = _case(body)
    o = outcome(k, runner)
    assert len(o.recs) == 1, o.recs
    check_frame(o.recs[0], 8, k.labels["f"], 0, eflags=FL)
    assert o.recs[0].cr2 == idt + 14 * 8


@pytest.mark.parametrize("runner", RUNNERS)
def test_fault_delivering_an_exception_sets_ext(runner):
    """#UD whose gate is not present, at ring 0: #UD is benign, so the #NP met while delivering it is delivered
    itself (table 6-5), with error code 6 * 8 + IDT (2) + EXT (1) = 0x33: EXT is set because the event being
    delivered was an exception, not INT n (SDM 6.13). QEMU never sets EXT: it pushes 0x32."""
    k = _case("mov eax, 6\nxor ebx, ebx\nmov ecx, 0x00080E00\ncall set_gate\n" + SET_FL + "\nf: ud2")
    o = outcome(k, runner)
    assert len(o.recs) == 1, o.recs
    check_frame(o.recs[0], 11, k.labels["f"], 0x32 if runner == "qemu" else 0x33,
                eflags=pushed_flags(runner, FL, True))


def _ring3_case(body3, setup0="", labels=("f", "after"), gdt=None):
    """``setup0`` at ring 0, then ``body3`` at ring 3 (flat CS 0x1B, SS:ESP 0x23:USTACK, EFLAGS 2); the expected
    fault resumes at ``after`` at ring 0; ``int 0xF0`` from ring 3 ends the kernel."""
    return build(f"test:\n{setup0}\n{catch('after')}\nmov eax, ring3\njmp to_ring3\nring3:\n{body3}\nint 0xF0\n"
                 f"after:\n    jmp finish\n", labels=labels, gdt=gdt)


RING1_GATE_40 = "mov eax, 0x40\nmov ebx, finish\nmov ecx, 0x0031EE00\ncall set_gate"   # INT 0x40: DPL 3, to ring 1


@pytest.mark.parametrize("runner", RUNNERS)
def test_ts_bad_ss_in_the_tss_for_int_n(runner):
    """INT 0x40 from ring 3 through a gate to a ring-1 code segment: the TSS's SS1 is 0x11, whose descriptor has
    DPL 0 != 1, so the stack switch raises #TS with the SS1 selector as error code, EXT = 0 (INT n). The #TS is a
    fault of the INT: the frame (through the ring-0 #TS gate) holds its EIP and the user SS:ESP."""
    k = _ring3_case(SET_FL + "\nf: int 0x40", RING1_GATE_40 + "\nmov dword ptr [tss + 16], 0x11")
    o = outcome(k, runner)
    assert len(o.recs) == 1, o.recs
    check_frame(o.recs[0], 10, k.labels["f"], 0x10, cs=0x1B, eflags=pushed_flags(runner, FL, True),
                user_esp=USTACK)


@pytest.mark.parametrize("runner", RUNNERS)
def test_ts_while_delivering_an_exception_sets_ext(runner):
    """UD2 at ring 3 whose gate leads to ring 1 with a bad SS1: #TS(0x10 | EXT) = 0x11, since an exception was being
    delivered (SDM 6.13). QEMU does not set EXT (0x10)."""
    setup = "mov eax, 6\nmov ebx, finish\nmov ecx, 0x00318E00\ncall set_gate\nmov dword ptr [tss + 16], 0x11"
    k = _ring3_case(SET_FL + "\nf: ud2", setup)
    o = outcome(k, runner)
    assert len(o.recs) == 1, o.recs
    check_frame(o.recs[0], 10, k.labels["f"], 0x10 if runner == "qemu" else 0x11, cs=0x1B,
                eflags=pushed_flags(runner, FL, True), user_esp=USTACK)


@pytest.mark.parametrize("runner", RUNNERS)
def test_stack_switch_to_a_not_present_ss(runner):
    """INT 0x40 from ring 3 to ring 1, TSS.SS1 = 0x39 whose descriptor is not present: SDM Vol. 2 INT n raises
    #SS(SS1 selector), EXT = 0 for INT n. QEMU raises #TS instead."""
    setup = RING1_GATE_40 + "\nand byte ptr [gdt + 0x3D], 0x7F"
    k = _ring3_case(SET_FL + "\nf: int 0x40", setup)
    o = outcome(k, runner)
    assert len(o.recs) == 1, o.recs
    check_frame(o.recs[0], 10 if runner == "qemu" else 12, k.labels["f"], 0x38, cs=0x1B,
                eflags=pushed_flags(runner, FL, True), user_esp=USTACK)


@pytest.mark.parametrize("runner", RUNNERS)
def test_gp_int_n_through_a_gate_of_lower_dpl(runner):
    """INT 0x41 from ring 3 through a DPL 0 gate: #GP(0x41 * 8 + 2), a fault of the INT."""
    k = _ring3_case(SET_FL + "\nf: int 0x41")
    o = outcome(k, runner)
    check_frame(o.recs[0], 13, k.labels["f"], 0x41 * 8 + 2, cs=0x1B, eflags=pushed_flags(runner, FL, True),
                user_esp=USTACK)


@pytest.mark.parametrize("runner", RUNNERS)
def test_software_interrupts_at_ring3_through_dpl0_gates(runner):
    """INT3 and INTO are software interrupts: through a DPL 0 gate from ring 3 they raise #GP(vector * 8 + 2) as a
    fault of the instruction (unlike INT1, and unlike the exceptions they name)."""
    k = build(f"""
test:
    {catch('next')}
    mov eax, r3a
    jmp to_ring3
next:
    {catch('after')}
    mov eax, r3b
    jmp to_ring3
r3a:
    {SET_FL}
f:  .byte 0xCC
r3b:
    {SET_FL}
g:  into
after:
    jmp finish
""", labels=("f", "g"))
    o = outcome(k, runner)
    assert len(o.recs) == 2
    check_frame(o.recs[0], 13, k.labels["f"], 3 * 8 + 2, cs=0x1B, eflags=pushed_flags(runner, FL, True),
                user_esp=USTACK)
    check_frame(o.recs[1], 13, k.labels["g"], 4 * 8 + 2, cs=0x1B, eflags=pushed_flags(runner, FL, True),
                user_esp=USTACK)


@pytest.mark.parametrize("runner", RUNNERS)
def test_icebp_skips_the_gate_dpl_check(runner):
    """INT1 (F1) from ring 3 reaches the DPL 0 #DB gate: unlike INT n, INT1 makes no gate DPL check (SDM Vol. 2
    INT n: "does not apply to INT1"). A trap: the saved EIP is the next instruction's."""
    if runner == "qemu":
        pytest.skip(QEMU_DEPARTS["db_icebp"])
    k = _ring3_case(SET_FL + "\nf: .byte 0xF1\nnext: nop", labels=("f", "next"))
    o = outcome(k, runner)
    check_frame(o.recs[0], 1, k.labels["next"], None, cs=0x1B, eflags=FL, user_esp=USTACK)


IRET_BAD = {
    # (CS popped by IRETD at ring 0, vector, error code): a null CS is #GP(0); a data segment as CS #GP(selector);
    # a not-present code segment #NP(selector); a ring-3 CS with RPL 0 != DPL 3 is #GP(selector)
    "null_cs": (0x00, 13, 0),
    "data_cs": (0x10, 13, 0x10),
    "not_present_cs": (0x68, 11, 0x68),
    "rpl_below_dpl": (0x18, 13, 0x18),
}


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("case", sorted(IRET_BAD))
def test_iret_with_a_bad_cs(case, runner):
    sel, vector, err = IRET_BAD[case]
    body = f"""
    push {FL:#x}
    push {sel:#x}
    push 0
    {SET_FL}
f:  iretd
"""
    k = _case(body, gdt={0x68: descriptor(0, 0xFFFFF, 0x1A)})
    o = outcome(k, runner)
    assert len(o.recs) == 1, o.recs
    rec = o.recs[0]
    assert rec.vector == vector and rec.frame[:4] == (err, k.labels["f"], 0x08, pushed_flags(runner, FL, True))
    assert rec.esp == STACK0 - 12 - 16                 # the three dwords IRET did not pop, then the frame


@pytest.mark.parametrize("runner", RUNNERS)
def test_faulting_segment_loads_leave_registers_unchanged(runner):
    """LDS EAX with a not-present selector is #NP(selector) and leaves EAX (seen by the handler) and DS as they were;
    POP DS of a selector beyond the GDT is #GP(selector) and leaves ESP unchanged: the frame sits below the popped
    selector (a fault restores the state before the instruction). LSS ESP loads SS:ESP together."""
    body = f"""
test:
    mov dword ptr [ptr_np], 0x12345678
    mov word ptr [ptr_np + 4], 0x40
    mov dword ptr [ptr_ok], {STACK0 - 0x100:#x}
    mov word ptr [ptr_ok + 4], 0x10
    mov eax, 0x11111111
    mov ebx, ptr_np
    {catch('next')}
    {SET_FL}
f:  lds eax, [ebx]
next:
    mov eax, ds
    mov dword ptr [VALS], eax
    {catch('next2')}
    push 0x1003
    {SET_FL}
g:  .byte 0x1F
next2:
    mov ebx, ptr_ok
    lss esp, [ebx]
    mov dword ptr [VALS + 4], esp
    mov eax, ss
    mov dword ptr [VALS + 8], eax
    mov esp, STACK0
    jmp finish
.align 4
ptr_np: .long 0, 0
ptr_ok: .long 0, 0
"""
    k = build(body, labels=("f", "g"), gdt={0x40: NOT_PRESENT_DATA})
    o = outcome(k, runner)
    assert len(o.recs) == 2, o.recs
    check_frame(o.recs[0], 11, k.labels["f"], 0x40, eflags=pushed_flags(runner, FL, True))
    assert o.recs[0].eax == 0x11111111
    assert o.recs[1].vector == 13 and o.recs[1].frame[:4] == (0x1000, k.labels["g"], 0x08,
                                                              pushed_flags(runner, FL, True))
    assert o.recs[1].esp == STACK0 - 4 - 16                   # the pushed selector is still on the stack
    assert o.vals[:3] == [0x10, STACK0 - 0x100, 0x10]


UNSUPPORTED = {
    # a task gate in the IDT
    "task_gate": ("mov eax, 0x40\nmov ebx, 0\nmov ecx, 0x00288500\ncall set_gate\nint 0x40", "task gate"),
    # a far JMP to a TSS
    "jmp_tss": (ljmp(0x28, "0"), "task switching"),
    # IRET with NT set
    "iret_nt": ("pushfd\nor dword ptr [esp], 0x4000\npopfd\niretd", "NT"),
    # IRET to virtual-8086 mode
    "iret_vm86": ("push 0\npush 0\npush 0\npush 0\npush 0\npush 0x20002\npush 0\npush 0\niretd",
                  "virtual-8086"),
}


@pytest.mark.parametrize("runner", ["interp", "llvm"])
@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_unsupported_features_stop_the_vm(case, runner):
    body, words = UNSUPPORTED[case]
    o = asm.run(build(f"test:\n{body}\njmp finish\n"), runner)
    assert o.status is None
    assert o.stop_reason.startswith("unsupported: ") and words in o.stop_reason, o.stop_reason

# ---- 2. page faults from ring 3 and ring 0; paging -------------------------------------------------------------------

PTE_400 = "PT0 + 0x1000"              # the PTE of linear 0x400000 (identity mapped, P|W|U, by paging_on)
PF_CASES = {
    # name: (ring, setup at ring 0 after paging_on, faulting access, error code (P W U bits), CR2)
    # a read of a not-present page at ring 0: P = 0, W = 0, U = 0
    "r0_read_not_present": (0, f"mov dword ptr [{PTE_400}], 0", "mov eax, dword ptr [0x400010]", 0, 0x400010),
    # a write to a not-present page at ring 0: W = 1
    "r0_write_not_present": (0, f"mov dword ptr [{PTE_400}], 0", "mov dword ptr [0x400ffc], eax", 2, 0x400FFC),
    # a write to a read-only page at ring 0 with CR0.WP = 1: P = 1, W = 1
    "r0_write_read_only_wp": (0, (f"mov dword ptr [{PTE_400}], 0x400005\nmov eax, cr0\nor eax, 0x10000\n"
                                  "mov cr0, eax"), "mov byte ptr [0x400001], al", 3, 0x400001),
    # a read of a supervisor page at ring 3: P = 1, U = 1
    "r3_read_supervisor": (3, f"mov dword ptr [{PTE_400}], 0x400003", "mov eax, dword ptr [0x400100]", 5,
                           0x400100),
    # a write to a read-only user page at ring 3: P, W, U (whatever CR0.WP)
    "r3_write_read_only": (3, f"mov dword ptr [{PTE_400}], 0x400005", "mov dword ptr [0x400200], eax", 7, 0x400200),
    # a write to a not-present page at ring 3: W, U
    "r3_write_not_present": (3, f"mov dword ptr [{PTE_400}], 0", "mov word ptr [0x400300], ax", 6, 0x400300),
    # the PDE's U/S = 0 makes the whole 4 MiB supervisor even where the PTE says user: P, U
    "r3_read_pde_supervisor": (3, "mov dword ptr [PD + 4], PT0 + 0x1003", "mov eax, dword ptr [0x400400]", 5,
                               0x400400),
    # an instruction fetch from a not-present page at ring 3: U (no I/D bit without NX); the saved EIP is the target
    "r3_fetch_not_present": (3, f"mov dword ptr [{PTE_400}], 0", "mov eax, 0x400000\njmp eax", 4, 0x400000),
}


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("case", sorted(PF_CASES))
def test_page_fault(case, runner):
    ring, setup, access, err, cr2 = PF_CASES[case]
    fetch = access.startswith("mov eax, 0x400000\njmp")
    if ring == 0:
        k = _case(f"call paging_on\n{setup}\n{SET_FL}\nf: {access}")
    else:
        k = _ring3_case(f"{SET_FL}\nf: {access}", f"call paging_on\n{setup}")
    o = outcome(k, runner)
    assert len(o.recs) == 1, o.recs
    rec = o.recs[0]
    eip = cr2 if fetch else k.labels["f"] + (5 if fetch else 0)
    if fetch:
        # the JMP completed: the fault belongs to the instruction at the target, with the flags the MOV/JMP left
        check_frame(rec, 14, eip, err, cs=0x1B, eflags=pushed_flags(runner, FL, True), user_esp=USTACK)
    elif ring == 0:
        check_frame(rec, 14, eip, err, eflags=pushed_flags(runner, FL, True))
    else:
        check_frame(rec, 14, eip, err, cs=0x1B, eflags=pushed_flags(runner, FL, True), user_esp=USTACK)
    assert rec.cr2 == cr2


@pytest.mark.parametrize("runner", RUNNERS)
def test_cr0_wp(runner):
    """CR0.WP = 0: ring 0 writes a read-only page; WP = 1: the same write is a #PF with P and W set (error 3)."""
    body = f"""
    call paging_on
    mov dword ptr [{PTE_400}], 0x400005
    mov dword ptr [0x400010], 0x1234
    mov eax, dword ptr [0x400010]
    mov dword ptr [VALS], eax
    mov eax, cr0
    or eax, 0x10000
    mov cr0, eax
    {SET_FL}
f:  mov dword ptr [0x400010], 0x5678
"""
    k = _case(body)
    o = outcome(k, runner)
    assert o.vals[0] == 0x1234
    assert len(o.recs) == 1
    check_frame(o.recs[0], 14, k.labels["f"], 3, eflags=pushed_flags(runner, FL, True))
    assert o.recs[0].cr2 == 0x400010


@pytest.mark.parametrize("runner", RUNNERS)
def test_accessed_and_dirty_bits(runner):
    """A read sets A in the PDE and the PTE; a write sets D in the PTE too (SDM 4.8). paging_on leaves A = D = 0."""
    body = """
test:
    call paging_on
    mov eax, dword ptr [0x400010]
    mov eax, dword ptr [PT0 + 0x1000]
    mov dword ptr [VALS], eax
    mov eax, dword ptr [PD + 4]
    mov dword ptr [VALS + 4], eax
    mov dword ptr [0x401020], 1
    mov eax, dword ptr [PT0 + 0x1004]
    mov dword ptr [VALS + 8], eax
    mov byte ptr [0x400011], 2
    mov eax, dword ptr [PT0 + 0x1000]
    mov dword ptr [VALS + 12], eax
    mov eax, dword ptr [PT0 + 0x1008]
    mov dword ptr [VALS + 16], eax
    jmp finish
"""
    o = outcome(build(body), runner)
    assert o.vals[:5] == [0x400027, asm.PT0 + 0x1027, 0x401067, 0x400067, 0x402007]


@pytest.mark.parametrize("runner", RUNNERS)
def test_pse_4mb_pages(runner):
    """With CR4.PSE, a PDE with PS = 1 maps 4 MiB: linear 8 MiB + x is physical x; the access sets A and D in that
    PDE. A not-present 4 MiB entry faults like any other (#PF, error 2 for a write)."""
    body = f"""
test:
    mov eax, cr4
    or eax, 0x10
    mov cr4, eax
    call paging_on
    mov dword ptr [PD + 8], 0x87
    mov dword ptr [0xA50000], 0xCAFEBABE
    mov eax, dword ptr [0x250000]
    mov dword ptr [VALS], eax
    mov eax, dword ptr [PD + 8]
    mov dword ptr [VALS + 4], eax
    {catch('after')}
    {SET_FL}
f:  mov dword ptr [0xC00004], eax
after:
    jmp finish
"""
    k = build(body, labels=("f",))
    o = outcome(k, runner)
    assert o.vals[:2] == [0xCAFEBABE, 0xE7]
    assert len(o.recs) == 1
    check_frame(o.recs[0], 14, k.labels["f"], 2, eflags=pushed_flags(runner, FL, True))
    assert o.recs[0].cr2 == 0xC00004


@pytest.mark.parametrize("runner", RUNNERS)
def test_invlpg_data(runner):
    """A PTE changed to another frame: after INVLPG of the page (or a CR3 reload) reads come from the new frame."""
    body = f"""
test:
    call paging_on
    mov dword ptr [0x250000], 0x11111111
    mov dword ptr [0x251000], 0x22222222
    mov dword ptr [0x252000], 0x33333333
    mov dword ptr [{PTE_400}], 0x250007
    invlpg [0x400000]
    mov eax, dword ptr [0x400000]
    mov dword ptr [VALS], eax
    mov dword ptr [{PTE_400}], 0x251007
    invlpg [0x400000]
    mov eax, dword ptr [0x400000]
    mov dword ptr [VALS + 4], eax
    mov dword ptr [{PTE_400}], 0x252007
    mov eax, cr3
    mov cr3, eax
    mov eax, dword ptr [0x400000]
    mov dword ptr [VALS + 8], eax
    jmp finish
"""
    o = outcome(build(body), runner)
    assert o.vals[:3] == [0x11111111, 0x22222222, 0x33333333]


@pytest.mark.parametrize("runner", RUNNERS_AUTO)
def test_invlpg_code(runner):
    """Code at a linear page whose frame changes: after INVLPG, a call to the same linear address runs the new
    frame's code (translations are found by linear pc; the VM must not run the old frame's). Each routine is
    called often enough to be compiled on ``auto``."""
    body = f"""
test:
    call paging_on
    mov esi, code_a
    mov edi, 0x250000
    mov ecx, 8
    cld
    rep movsb byte ptr es:[edi], byte ptr [esi]
    mov esi, code_b
    mov edi, 0x251000
    mov ecx, 8
    rep movsb byte ptr es:[edi], byte ptr [esi]
    mov dword ptr [{PTE_400}], 0x250007
    invlpg [0x400000]
    xor ebx, ebx
    mov ecx, 100
loop_a:
    mov eax, 0x400000
    call eax
    add ebx, eax
    dec ecx
    jnz loop_a
    mov dword ptr [VALS], ebx
    mov dword ptr [{PTE_400}], 0x251007
    invlpg [0x400000]
    xor ebx, ebx
    mov ecx, 100
loop_b:
    mov eax, 0x400000
    call eax
    add ebx, eax
    dec ecx
    jnz loop_b
    mov dword ptr [VALS + 4], ebx
    jmp finish
code_a:
    mov eax, 1
    ret
    nop
    nop
code_b:
    mov eax, 2
    ret
    nop
    nop
"""
    o = outcome(build(body), runner)
    assert o.vals[:2] == [100, 200]


@pytest.mark.parametrize("runner", RUNNERS_AUTO)
def test_cr3_switch_changes_the_code_at_a_linear_address(runner):
    """Two address spaces map linear 0x400000 to frames holding different routines; the code is called often in each
    (compiled on ``auto``), switching CR3 back and forth: each call runs the code of the current space."""
    body = f"""
test:
    call paging_on
    mov byte ptr [0x250000], 0xB8
    mov dword ptr [0x250001], 1
    mov byte ptr [0x250005], 0xC3
    mov byte ptr [0x251000], 0xB8
    mov dword ptr [0x251001], 100
    mov byte ptr [0x251005], 0xC3
    mov esi, PD
    mov edi, 0x310000
    mov ecx, 1024
    cld
    rep movsd dword ptr es:[edi], dword ptr [esi]
    mov esi, PT0 + 0x1000
    mov edi, 0x311000
    mov ecx, 1024
    rep movsd dword ptr es:[edi], dword ptr [esi]
    mov dword ptr [0x310004], 0x311007
    mov dword ptr [{PTE_400}], 0x250007
    mov dword ptr [0x311000], 0x251007
    mov eax, PD
    mov cr3, eax
    xor ebx, ebx
    mov ebp, 60
again:
    mov eax, 0x400000
    call eax
    add ebx, eax
    mov eax, 0x310000
    mov cr3, eax
    mov eax, 0x400000
    call eax
    add ebx, eax
    mov eax, PD
    mov cr3, eax
    dec ebp
    jnz again
    mov dword ptr [VALS], ebx
    jmp finish
"""
    o = outcome(build(body), runner)
    assert o.vals[0] == 60 * (1 + 100)


@pytest.mark.parametrize("runner", RUNNERS_AUTO)
def test_supervisor_page_cached_at_ring0_faults_at_ring3(runner):
    """A supervisor page read often at ring 0 (its translation in the TLB, compiled on ``auto``), then read at
    ring 3: #PF with P and U set (the TLB holds one privilege's rights, or the check is redone)."""
    body = f"""
test:
    call paging_on
    mov dword ptr [{PTE_400}], 0x400003
    mov ecx, 100
warm:
    mov eax, dword ptr [0x400040]
    dec ecx
    jnz warm
    {catch('after')}
    mov eax, ring3
    jmp to_ring3
ring3:
    {SET_FL}
f:  mov eax, dword ptr [0x400040]
after:
    jmp finish
"""
    k = build(body, labels=("f",))
    o = outcome(k, runner)
    assert len(o.recs) == 1, o.recs
    check_frame(o.recs[0], 14, k.labels["f"], 5, cs=0x1B, eflags=pushed_flags(runner, FL, True), user_esp=USTACK)
    assert o.recs[0].cr2 == 0x400040


@pytest.mark.parametrize("runner", RUNNERS)
def test_fetch_fault_of_an_instruction_crossing_into_a_not_present_page(runner):
    """MOV EAX, imm32 at 0x3FFFFE whose last 3 bytes lie on the not-present page 0x400000: #PF with CR2 = 0x400000
    (the first byte the fetch could not reach), the saved EIP the instruction's start, error code 0 (ring 0, read;
    no I/D bit without NX)."""
    body = f"""
test:
    call paging_on
    mov byte ptr [0x3FFFFE], 0xB8
    mov byte ptr [0x3FFFFF], 0x78
    mov dword ptr [{PTE_400}], 0
    {catch('after')}
    {SET_FL}
    mov eax, 0x3FFFFE
    jmp eax
after:
    jmp finish
"""
    o = outcome(build(body), runner)
    assert len(o.recs) == 1, o.recs
    check_frame(o.recs[0], 14, 0x3FFFFE, 0, eflags=pushed_flags(runner, FL, True))
    assert o.recs[0].cr2 == 0x400000


@pytest.mark.parametrize("runner", RUNNERS_AUTO)
def test_page_fault_in_the_middle_of_rep_movsd(runner):
    """REP MOVSD whose source runs into a not-present page after 3 dwords: #PF with CR2 = the first unreadable
    address, the saved EIP the REP MOVSD's, and ECX/ESI/EDI telling the 3 moves done (SDM Vol. 2 REP: a fault
    leaves the registers at the element that faulted)."""
    body = f"""
test:
    call paging_on
    mov dword ptr [{PTE_400}], 0
    {catch('after')}
    mov esi, 0x3FFFF4
    mov edi, 0x250000
    mov ecx, 10
    cld
    {SET_FL}
f:  rep movsd dword ptr es:[edi], dword ptr [esi]
after:
    mov dword ptr [VALS], ecx
    mov dword ptr [VALS + 4], esi
    mov dword ptr [VALS + 8], edi
    jmp finish
"""
    k = build(body, labels=("f",))
    o = outcome(k, runner)
    assert len(o.recs) == 1, o.recs
    check_frame(o.recs[0], 14, k.labels["f"], 0, eflags=pushed_flags(runner, FL, True))
    assert o.recs[0].cr2 == 0x400000
    assert o.vals[:3] == [7, 0x400000, 0x25000C]


@pytest.mark.parametrize("runner", RUNNERS_AUTO)
def test_code_modified_through_another_linear_alias(runner):
    """Two linear pages (0x400000, 0x401000) map one frame holding a routine (MOV EAX, imm32; RET); after calls
    through the first alias, a write through the second changes the immediate: the next call runs the new code
    (translations are tracked by frame). Each phase calls 60 times, enough to compile on ``auto``."""
    body = f"""
test:
    call paging_on
    mov byte ptr [0x250000], 0xB8
    mov dword ptr [0x250001], 1
    mov byte ptr [0x250005], 0xC3
    mov dword ptr [{PTE_400}], 0x250007
    mov dword ptr [PT0 + 0x1004], 0x250007
    xor ebx, ebx
    mov ecx, 60
loop_a:
    mov eax, 0x400000
    call eax
    add ebx, eax
    dec ecx
    jnz loop_a
    mov dword ptr [0x401001], 2
    mov ecx, 60
loop_b:
    mov eax, 0x400000
    call eax
    add ebx, eax
    dec ecx
    jnz loop_b
    mov dword ptr [VALS], ebx
    jmp finish
"""
    o = outcome(build(body), runner)
    assert o.vals[0] == 60 * 1 + 60 * 2


@pytest.mark.parametrize("runner", RUNNERS_AUTO)
def test_precise_state_at_a_fault_in_hot_code(runner):
    """A loop whose block faults (#PF) after changing registers, 80 times (compiled on ``auto``): each time the
    handler resumes with the registers as they were before the faulting instruction (ECX counted, ESI not yet)."""
    body = f"""
test:
    call paging_on
    mov dword ptr [{PTE_400}], 0
    xor ecx, ecx
    xor edi, edi
again:
    {catch('resume')}
    mov esi, 7
    inc ecx
    lea edx, [ecx + ecx]
f:  mov esi, dword ptr [0x400000]
    mov esi, 99
resume:
    add edi, esi
    add edi, edx
    cmp ecx, 80
    jne again
    mov dword ptr [VALS], ecx
    mov dword ptr [VALS + 4], edi
    jmp finish
"""
    k = build(body, labels=("f",))
    o = outcome(k, runner)
    assert o.vals[:2] == [80, 80 * 7 + sum(2 * i for i in range(1, 81))]
    assert len(o.recs) == 80
    assert all(r.frame[:2] == (0, k.labels["f"]) and r.cr2 == 0x400000 for r in o.recs)

# ---- 3. privilege changes: INT and IRET, gates, far transfers, SYSENTER/SYSEXIT --------------------------------------

@pytest.mark.parametrize("runner", RUNNERS_AUTO)
def test_int_from_ring3_and_iret_back(runner):
    """INT 0x40 from ring 3 through a DPL 3 interrupt gate to ring 0: the handler runs on SS:ESP = TSS.SS0:ESP0 and
    finds EIP, CS, EFLAGS, the user ESP and SS pushed; IRET returns to ring 3 with the user SS:ESP. The handler
    leaves DS = 0x10 (DPL 0): IRET to ring 3 makes it null (SDM IRET, return to outer privilege)."""
    body = f"""
test:
    mov eax, 0x40
    mov ebx, h40
    mov ecx, 0x0008EE00
    call set_gate
    mov eax, ring3
    jmp to_ring3
ring3:
    {SET_FL}
    mov dword ptr [VALS + 0x40], esp
f:  int 0x40
back:
    mov edx, ds
    pushfd
    pop eax
    mov ecx, 0x23
    mov ds, ecx
    mov dword ptr [VALS + 0x44], eax
    mov dword ptr [VALS + 0x48], esp
    mov eax, cs
    mov dword ptr [VALS + 0x4C], eax
    mov eax, ss
    mov dword ptr [VALS + 0x50], eax
    mov dword ptr [VALS + 0x54], edx
    int 0xF0
h40:
    mov dword ptr [VALS], esp
    mov eax, ss
    mov dword ptr [VALS + 4], eax
    mov eax, cs
    mov dword ptr [VALS + 8], eax
    pushfd
    pop eax
    mov dword ptr [VALS + 12], eax
    mov esi, esp
    mov edi, VALS + 16
    mov ecx, 5
    cld
    rep movsd dword ptr es:[edi], dword ptr [esi]
    mov eax, 0x10
    mov ds, eax
    iretd
"""
    k = build(body, labels=("back",))
    o = outcome(k, runner)
    v = o.vals
    assert o.recs == []
    assert v[0] == ESP0 - 20 and v[1] == 0x10 and v[2] == 0x08       # the TSS's ring-0 stack, ring-0 CS
    assert v[3] == FL                                                 # IF, TF, NT, RF clear in the handler
    assert v[4:9] == [k.labels["back"], 0x1B, FL, USTACK, 0x23]      # EIP CS EFLAGS ESP SS (a trap: no RF)
    assert v[0x10] == USTACK                                          # the user ESP before INT
    assert v[0x11] == FL and v[0x12] == USTACK                        # back in ring 3: flags, stack as before
    assert v[0x13] == 0x1B and v[0x14] == 0x23
    assert v[0x15] == 0                                               # DS (DPL 0) nulled by IRET to ring 3


@pytest.mark.parametrize("runner", RUNNERS)
def test_trap_gate_keeps_if_and_interrupt_gate_clears_it(runner):
    """With IF = 1 (every IRQ masked), INT 0x41 through a trap gate enters its handler with IF = 1, INT 0x42 through
    an interrupt gate with IF = 0; both push EFLAGS with IF = 1."""
    body = f"""
test:
    mov eax, 0x41
    mov ebx, isr_65
    mov ecx, 0x00088F00
    call set_gate
    {catch('after1')}
    push {FL | IF:#x}
    popfd
    int 0x41
after1:
    {catch('after2')}
    push {FL | IF:#x}
    popfd
    int 0x42
after2:
    cli
    jmp finish
"""
    k = build(body, labels=("after1", "after2"))
    o = outcome(k, runner)
    assert [r.vector for r in o.recs] == [0x41, 0x42]
    assert o.recs[0].frame[:3] == (k.labels["after1"], 0x08, FL | IF)
    assert o.recs[0].eflags == FL | IF
    assert o.recs[1].frame[:3] == (k.labels["after2"], 0x08, FL | IF)
    assert o.recs[1].eflags == FL


@pytest.mark.parametrize("runner", RUNNERS)
def test_16bit_interrupt_gate(runner):
    """A 16-bit interrupt gate (type 6): the CPU pushes FLAGS, CS and IP as words (6 bytes) and enters the handler at
    the gate's 16-bit offset (into a code segment based at 0x100000, so the offset fits). The handler returns with a
    far JMP: a 16-bit IRET could not return to an EIP above 64 KiB."""
    body = f"""
test:
    mov eax, 0x40
    mov ebx, h16
    sub ebx, 0x100000
    mov ecx, 0x00708600
    call set_gate
    mov dword ptr [VALS + 0x40], esp
    {SET_FL}
    int 0x40
back:
    mov dword ptr [VALS + 0x44], esp
    jmp finish
h16:
    mov dword ptr [VALS], esp
    mov eax, dword ptr [esp]
    mov dword ptr [VALS + 4], eax
    movzx eax, word ptr [esp + 4]
    mov dword ptr [VALS + 8], eax
    add esp, 6
    {ljmp(0x08, "back")}
"""
    k = build(body, labels=("back", "h16"), gdt={0x70: descriptor(0x100000, 0xFFFF, 0x9A, flags=0x4)})
    o = outcome(k, runner)
    assert o.recs == []
    back = k.labels["back"]
    assert o.vals[0] == STACK0 - 6
    assert o.vals[1] == (back & 0xFFFF) | 0x08 << 16 and o.vals[2] == FL
    assert o.vals[0x10] == o.vals[0x11] == STACK0


@pytest.mark.parametrize("runner", RUNNERS)
def test_iret_at_ring3_keeps_if_and_iopl(runner):
    """IRET at CPL 3 (IOPL 0) to ring 3: the popped IF and IOPL are ignored, the arithmetic flags are loaded."""
    body = """
    push 0x3ED7
    mov eax, cs
    push eax
    mov eax, back
    push eax
    iretd
back:
    pushfd
    pop dword ptr [VALS]
"""
    o = outcome(_ring3_case(body, labels=()), runner)
    assert o.recs == [] and o.vals[0] == 0x0CD7 & ~IF | 0x2


CALL_GATE = gate(0x08, 0, 0xEC, params=1)      # 32-bit call gate, DPL 3, one dword parameter; offset set at run time


@pytest.mark.parametrize("runner", RUNNERS_AUTO)
def test_call_gate_to_ring0_and_retf_back(runner):
    """A far CALL from ring 3 through a DPL 3 call gate (selector 0x43) to ring 0: the CPU switches to
    TSS.SS0:ESP0, pushes the caller's SS and ESP, copies the gate's one dword parameter, then pushes CS and EIP
    (SDM Vol. 3 5.8.5). RETF 4 returns to ring 3 and drops the parameter from both stacks."""
    body = f"""
test:
    mov eax, cg
    mov word ptr [gdt + 0x40], ax
    shr eax, 16
    mov word ptr [gdt + 0x46], ax
    mov eax, ring3
    jmp to_ring3
ring3:
    push 0xABCD1234
    {lcall(0x43)}
back:
    mov dword ptr [VALS + 0x40], esp
    mov eax, cs
    mov dword ptr [VALS + 0x44], eax
    mov eax, ss
    mov dword ptr [VALS + 0x48], eax
    int 0xF0
cg:
    mov dword ptr [VALS], esp
    mov eax, ss
    mov dword ptr [VALS + 4], eax
    mov eax, cs
    mov dword ptr [VALS + 8], eax
    mov esi, esp
    mov edi, VALS + 16
    mov ecx, 5
    cld
    rep movsd dword ptr es:[edi], dword ptr [esi]
    retf 4
"""
    k = build(body, labels=("back",), gdt={0x40: CALL_GATE})
    o = outcome(k, runner)
    v = o.vals
    assert o.recs == []
    assert v[0] == ESP0 - 20 and v[1] == 0x10 and v[2] == 0x08
    assert v[4:9] == [k.labels["back"], 0x1B, 0xABCD1234, USTACK - 4, 0x23]     # EIP CS param ESP SS
    assert v[0x10] == USTACK and v[0x11] == 0x1B and v[0x12] == 0x23


@pytest.mark.parametrize("runner", RUNNERS)
def test_far_jmp_through_a_call_gate(runner):
    """JMP through a call gate never changes privilege (SDM Vol. 3 5.8.6): at ring 0 through a gate to ring-0 code
    it jumps to the gate's offset (the instruction's offset is ignored); at ring 3 through a DPL 3 gate to
    non-conforming ring-0 code it is #GP(code selector)."""
    body = f"""
test:
    mov eax, target
    mov word ptr [gdt + 0x40], ax
    shr eax, 16
    mov word ptr [gdt + 0x46], ax
    {ljmp(0x40, "0x12345678")}
    jmp finish
target:
    mov eax, cs
    mov dword ptr [VALS], eax
    {catch('after')}
    mov eax, ring3
    jmp to_ring3
ring3:
    {SET_FL}
f:  {ljmp(0x43, "0")}
after:
    jmp finish
"""
    k = build(body, labels=("f",), gdt={0x40: CALL_GATE})
    o = outcome(k, runner)
    assert o.vals[0] == 0x08
    assert len(o.recs) == 1
    check_frame(o.recs[0], 13, k.labels["f"], 0x08, cs=0x1B, eflags=pushed_flags(runner, FL, True), user_esp=USTACK)


@pytest.mark.parametrize("runner", RUNNERS)
def test_far_call_and_retf_at_the_same_privilege(runner):
    """A far CALL at ring 0 to another code selector pushes CS and EIP (32-bit) and RETF returns."""
    body = f"""
test:
    mov dword ptr [VALS + 0x40], esp
    {lcall(0x70, "callee")}
back:
    mov dword ptr [VALS + 0x44], esp
    mov eax, cs
    mov dword ptr [VALS + 0x48], eax
    jmp finish
callee:
    mov eax, cs
    mov dword ptr [VALS], eax
    mov eax, dword ptr [esp]
    mov dword ptr [VALS + 4], eax
    mov eax, dword ptr [esp + 4]
    mov dword ptr [VALS + 8], eax
    mov dword ptr [VALS + 12], esp
    retf
"""
    k = build(body, labels=("back",), gdt={0x70: asm.FLAT_CODE0})
    o = outcome(k, runner)
    assert o.vals[:4] == [0x70, k.labels["back"], 0x08, STACK0 - 8]
    assert o.vals[0x10:0x13] == [STACK0, STACK0, 0x08]


@pytest.mark.parametrize("runner", RUNNERS)
def test_retf_to_ring3_nulls_inaccessible_data_segments(runner):
    """RETF from ring 0 to a ring-3 CS pops EIP, CS, ESP, SS and switches to ring 3; DS (DPL 0) becomes null, ES
    (DPL 3) stays (SDM RET: return to outer privilege level)."""
    body = """
test:
    mov eax, 0x23
    mov es, eax
    push 0x23
    push USTACK - 0x10
    push 0x1B
    mov eax, ring3
    push eax
    retf
ring3:
    mov eax, ds
    mov ecx, es
    mov edx, 0x23
    mov ds, edx
    mov dword ptr [VALS], eax
    mov dword ptr [VALS + 4], ecx
    mov dword ptr [VALS + 8], esp
    mov eax, cs
    mov dword ptr [VALS + 12], eax
    mov eax, ss
    mov dword ptr [VALS + 16], eax
    int 0xF0
"""
    o = outcome(build(body), runner)
    assert o.recs == []
    assert o.vals[:5] == [0, 0x23, USTACK - 0x10, 0x1B, 0x23]


@pytest.mark.parametrize("runner", RUNNERS)
def test_conforming_code_keeps_cpl(runner):
    """A far JMP from ring 3 to a DPL 0 conforming code segment is allowed (DPL <= CPL) and keeps CPL 3: CS.RPL
    becomes 3 (SDM Vol. 3 5.8.1.2), so a privileged instruction there is still #GP(0)."""
    body = f"""
test:
    {catch('after')}
    mov eax, ring3
    jmp to_ring3
ring3:
    {ljmp(0x58, "conf")}
conf:
    mov eax, cs
    mov dword ptr [VALS], eax
    {SET_FL}
f:  cli
after:
    jmp finish
"""
    k = build(body, labels=("f",), gdt={0x58: CONFORMING_CODE})
    o = outcome(k, runner)
    assert o.vals[0] == 0x5B
    assert len(o.recs) == 1
    check_frame(o.recs[0], 13, k.labels["f"], 0, cs=0x5B, eflags=pushed_flags(runner, FL, True), user_esp=USTACK)


SYSENTER_ESP = 0x1C0000


@pytest.mark.parametrize("runner", RUNNERS)
def test_sysenter_sysexit(runner):
    """WRMSR/RDMSR of IA32_SYSENTER_CS/ESP/EIP (174h-176h); SYSENTER from ring 3 enters CS = SYSENTER_CS (0x08),
    SS = CS + 8, ESP = SYSENTER_ESP, EIP = SYSENTER_EIP with IF, RF and VM cleared; SYSEXIT returns to
    CS = SYSENTER_CS + 16 | 3, SS = SYSENTER_CS + 24 | 3, EIP = EDX, ESP = ECX (SDM Vol. 2 SYSENTER, SYSEXIT)."""
    body = f"""
test:
    xor edx, edx
    mov ecx, 0x174
    mov eax, 0x08
    wrmsr
    mov ecx, 0x175
    mov eax, {SYSENTER_ESP:#x}
    wrmsr
    mov ecx, 0x176
    mov eax, sys_entry
    wrmsr
    mov ecx, 0x174
    rdmsr
    mov dword ptr [VALS], eax
    mov dword ptr [VALS + 4], edx
    mov ecx, 0x175
    rdmsr
    mov dword ptr [VALS + 8], eax
    mov ecx, 0x176
    rdmsr
    mov dword ptr [VALS + 12], eax
    mov eax, ring3
    jmp to_ring3
ring3:
    mov ecx, esp
    sub ecx, 0x40
    mov edx, back
    {SET_FL}
    sysenter
back:
    pushfd
    pop dword ptr [VALS + 0x50]
    mov dword ptr [VALS + 0x40], esp
    mov eax, cs
    mov dword ptr [VALS + 0x44], eax
    mov eax, ss
    mov dword ptr [VALS + 0x48], eax
    int 0xF0
sys_entry:
    mov dword ptr [VALS + 0x20], esp
    mov eax, cs
    mov dword ptr [VALS + 0x24], eax
    mov eax, ss
    mov dword ptr [VALS + 0x28], eax
    pushfd
    pop eax
    mov dword ptr [VALS + 0x2C], eax
    sysexit
"""
    k = build(body, labels=("sys_entry", "back"))
    o = outcome(k, runner)
    v = o.vals
    assert o.recs == []
    assert v[0:4] == [0x08, 0, SYSENTER_ESP, k.labels["sys_entry"]]
    assert v[8:12] == [SYSENTER_ESP, 0x08, 0x10, FL]
    assert v[0x10:0x13] == [USTACK - 0x40, 0x1B, 0x23]
    assert v[0x14] == FL


@pytest.mark.parametrize("runner", RUNNERS)
def test_sysenter_with_a_null_cs_and_sysexit_at_ring3_are_gp(runner):
    """SYSENTER with IA32_SYSENTER_CS = 0 and SYSEXIT at CPL 3 both raise #GP(0)."""
    body = f"""
    xor eax, eax
    xor edx, edx
    mov ecx, 0x174
    wrmsr
    {catch('next')}
    mov eax, ring3
    jmp to_ring3
next:
    {catch('after')}
    mov eax, ring3b
    jmp to_ring3
ring3:
    {SET_FL}
f:  sysenter
ring3b:
    {SET_FL}
g:  sysexit
"""
    k = build("test:\n" + body + "\nafter:\n    jmp finish\n", labels=("f", "g"))
    o = outcome(k, runner)
    assert len(o.recs) == 2, o.recs
    for rec, label in zip(o.recs, ("f", "g")):
        check_frame(rec, 13, k.labels[label], 0, cs=0x1B, eflags=pushed_flags(runner, FL, True), user_esp=USTACK)

# ---- 4. a triple fault -----------------------------------------------------------------------------------------------

TRIPLE = """
test:
    mov word ptr [idt_ptr], 0
    .byte 0x0F, 0x01, 0x1D
    .long idt_ptr
f:  ud2
"""


@pytest.mark.parametrize("runner", RUNNERS)
def test_triple_fault_stops_the_vm(runner):
    """UD2 with an IDT limit of 0: #UD's gate is beyond the limit (#GP), so is #GP's (#GP while delivering #GP:
    #DF), so is #DF's: a triple fault. The VM stops and says why; the host process carries on (a second VM runs).
    QEMU with -no-reboot exits with status 0 and no output."""
    k = build(TRIPLE, labels=("f",))
    o = asm.run(k, runner)
    assert o.recs == [] and o.raw == b""
    if runner == "qemu":
        assert o.status == 0
        return
    assert o.status is None
    assert "triple fault" in o.stop_reason, o.stop_reason
    assert f"0008:{k.labels['f']:08x}" in o.stop_reason
    again = outcome(build("test:\n    mov dword ptr [VALS], 7\n    jmp finish\n"), runner)
    assert again.vals[0] == 7

# ---- descriptor instructions: LAR, LSL, VERR, VERW, ARPL, LLDT, SGDT... ----------------------------------------------

CONFORMING_CODE = descriptor(0, 0xFFFFF, 0x9E)             # DPL 0, conforming, readable
SMALL_DATA = descriptor(0x12000, 0x1234, 0x92, flags=0x4)  # byte-granular limit 0x1234, DPL 0


INT_GATE_IN_GDT = gate(0x08, 0, 0x8E)                      # an interrupt gate: not valid for LAR/LSL
INSPECT_GDT = {0x40: CALL_GATE, 0x48: INT_GATE_IN_GDT, 0x50: EXEC_ONLY_CODE, 0x58: CONFORMING_CODE,
               0x60: SMALL_DATA}


def _inspect(op: str, sel: int, slot: int) -> str:
    """``op`` on selector ``sel``; VALS[2*slot] = the destination (preset 0x11111111), VALS[2*slot+1] = ZF."""
    if op in ("lar", "lsl"):
        do = f"mov eax, 0x11111111\n{op} eax, ecx"
    else:
        do = f"{op} cx"
    return (f"mov ecx, {sel:#x}\n{do}\nsetz dl\nmovzx edx, dl\nmov dword ptr [VALS + {8 * slot:#x}], eax\n"
            f"mov dword ptr [VALS + {8 * slot + 4:#x}], edx")


# (op, selector, CPL, expected destination or None when ZF = 0 leaves it unchanged / it has none, expected ZF)
# LAR: the access rights are dword 1 of the descriptor AND 00F0FF00H (type, S, DPL, P, AVL, D/B, G; SDM leaves
# bits 19:16 undefined, 0 here as in QEMU); LSL: the limit in bytes (G applied).
INSPECT = [
    ("lar", 0x10, 0, 0x00C09300, 1),        # flat data, accessed (DS was loaded from it)
    ("lar", 0x00, 0, None, 0),              # null selector
    ("lar", 0x1000, 0, None, 0),            # beyond the GDT limit
    ("lar", 0x28, 0, 0x00008B00, 1),        # the busy 32-bit TSS
    ("lar", 0x40, 0, 0x0000EC00, 1),        # a call gate is valid for LAR (its parameter count is masked off)
    ("lar", 0x48, 0, None, 0),              # an interrupt gate is not
    ("lsl", 0x10, 0, 0xFFFFFFFF, 1),
    ("lsl", 0x28, 0, asm.TSS_LIMIT, 1),
    ("lsl", 0x60, 0, 0x1234, 1),
    ("lsl", 0x40, 0, None, 0),              # no limit in a gate
    ("verr", 0x08, 0, None, 1),             # readable code
    ("verw", 0x08, 0, None, 0),             # code is never writable
    ("verr", 0x50, 0, None, 0),             # execute-only code
    ("verw", 0x10, 0, None, 1),
    ("verr", 0x28, 0, None, 0),             # system segment
    ("lar", 0x08, 3, None, 0),              # DPL 0 < CPL 3: invisible at ring 3
    ("lar", 0x1B, 3, 0x00C0FB00, 1),        # ring-3 code, accessed (IRET to ring 3 loaded CS; SDM 3.4.5.1)
    ("verw", 0x10, 3, None, 0),
    ("verw", 0x23, 3, None, 1),
    ("lar", 0x58, 3, 0x00C09E00, 1),        # conforming code: no privilege check
    ("verr", 0x58, 3, None, 1),
    ("lar", 0x13, 0, None, 0),              # RPL 3 > DPL 0 of a data segment, at CPL 0: invisible
]


@pytest.mark.parametrize("runner", RUNNERS)
def test_lar_lsl_verr_verw(runner):
    ring0 = [_inspect(op, sel, i) for i, (op, sel, cpl, _, _) in enumerate(INSPECT) if cpl == 0]
    ring3 = [_inspect(op, sel, i) for i, (op, sel, cpl, _, _) in enumerate(INSPECT) if cpl == 3]
    body = "\n".join(ring0) + "\nmov eax, ring3\njmp to_ring3\nring3:\n" + "\n".join(ring3) + "\nint 0xF0\n"
    o = outcome(build("test:\n" + body, gdt=INSPECT_GDT), runner)
    assert o.recs == []
    for i, (op, sel, cpl, value, zf) in enumerate(INSPECT):
        got, got_zf = o.vals[2 * i], o.vals[2 * i + 1]
        assert got_zf == zf, f"{op} {sel:#x} at CPL {cpl}: ZF {got_zf}"
        if op in ("lar", "lsl"):
            want = value if zf else 0x11111111
            if runner == "qemu" and (op, sel) == ("lar", 0x1B):
                want &= ~0x100                  # QEMU does not set the accessed bit of a CS loaded by IRET
            assert got == want, f"{op} {sel:#x} at CPL {cpl}: {got:#x} != {want:#x}"


@pytest.mark.parametrize("runner", RUNNERS)
def test_arpl(runner):
    """ARPL raises the destination's RPL to the source's and sets ZF; else ZF = 0 and no change."""
    body = """
test:
    mov eax, 0x10
    mov ecx, 0x23
    arpl ax, cx
    setz dl
    mov dword ptr [VALS], eax
    mov byte ptr [VALS + 4], dl
    mov eax, 0x13
    mov ecx, 0x21
    arpl ax, cx
    setz dl
    mov dword ptr [VALS + 8], eax
    mov byte ptr [VALS + 12], dl
    jmp finish
"""
    o = outcome(build(body), runner)
    assert o.vals[:4] == [0x13, 1, 0x13, 0]


@pytest.mark.parametrize("runner", RUNNERS)
def test_ldt_segment(runner):
    """LLDT of an LDT descriptor; a data segment in the LDT (selector 0x04 | TI, base 0x200000) loads into ES and
    addresses memory from its base; SLDT reads the LDTR back."""
    body = """
test:
    mov dword ptr [ldt], 0
    mov dword ptr [ldt + 4], 0
    mov dword ptr [ldt + 8], 0x0000FFFF
    mov dword ptr [ldt + 12], 0x00CF9220
    mov eax, ldt
    mov word ptr [gdt + 0x7A], ax
    shr eax, 16
    mov byte ptr [gdt + 0x7C], al
    mov byte ptr [gdt + 0x7F], ah
    mov eax, 0x78
    lldt ax
    sldt ecx
    mov dword ptr [VALS + 0x40], ecx
    mov eax, 0x0C
    mov es, eax
    mov dword ptr es:[0x44], 0x600DF00D
    mov eax, dword ptr [VALS + 0x44]
    mov dword ptr [VALS], eax
    mov eax, 0x10
    mov es, eax
    jmp finish
.align 8
ldt:
    .long 0, 0, 0, 0
"""
    o = outcome(build(body, gdt={0x78: (0x000F, 0x00008200)}), runner)
    assert o.recs == []
    assert o.vals[0x10] == 0x78 and o.vals[0] == 0x600DF00D and o.vals[0x11] == 0x600DF00D


@pytest.mark.parametrize("runner", RUNNERS)
def test_unprivileged_system_reads_at_ring3(runner):
    """SGDT, SIDT, SLDT, STR and SMSW are not privileged (no UMIP on an i686): at ring 3 they store GDTR, IDTR, the
    LDTR and TR selectors and the low word of CR0 (PE, ET: 0011h). (SGDT/SIDT as bytes: Keystone adds a 66h.)"""
    body = """
    .byte 0x0F, 0x01, 0x05
    .long VALS
    .byte 0x0F, 0x01, 0x0D
    .long VALS + 8
    sldt eax
    mov dword ptr [VALS + 16], eax
    str eax
    mov dword ptr [VALS + 20], eax
    smsw eax
    and eax, 0xFFFF
    mov dword ptr [VALS + 24], eax
"""
    k = build(f"test:\nmov eax, ring3\njmp to_ring3\nring3:\n{body}\nint 0xF0\n", labels=("gdt", "idt"))
    o = outcome(k, runner)
    assert o.recs == []
    raw = b"".join(v.to_bytes(4, "little") for v in o.vals[:7])
    limit_g, base_g = struct.unpack_from("<HI", raw, 0)
    limit_i, base_i = struct.unpack_from("<HI", raw, 8)
    assert (limit_g, base_g, limit_i, base_i) == (8 * asm.GDT_SLOTS - 1, k.labels["gdt"], 0x7FF, k.labels["idt"])
    assert o.vals[4:7] == [0, 0x28, 0x11]

# ---- CPUID, MSRs, the TSC --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("runner", ["interp", "llvm"])
def test_cpuid_i686_features(runner):
    """CPUID leaf 1 EDX: FPU (0), PSE (3), TSC (4), MSR (5), CX8 (8), SEP (11), CMOV (15) set, and nothing the
    system CPU does not model: no PAE (6), APIC (9), PGE (13), no SSE; leaf 80000001h EDX: no long mode (29).
    (QEMU's qemu32 model differs, so it is no oracle here.)"""
    body = """
test:
    mov eax, 1
    cpuid
    mov dword ptr [VALS], eax
    mov dword ptr [VALS + 4], edx
    mov dword ptr [VALS + 8], ecx
    mov eax, 0x80000000
    cpuid
    mov dword ptr [VALS + 12], eax
    mov eax, 0x80000001
    cpuid
    mov dword ptr [VALS + 16], edx
    xor eax, eax
    cpuid
    mov dword ptr [VALS + 20], ebx
    mov dword ptr [VALS + 24], edx
    mov dword ptr [VALS + 28], ecx
    mov eax, 4
    xor ecx, ecx
    cpuid
    mov dword ptr [VALS + 32], eax
    jmp finish
"""
    o = outcome(build(body), runner)
    # the system CPU keeps its own vendor and has no cache leaf (the flat user modes' model claims Intel's)
    assert struct.pack("<3I", *o.vals[5:8]) == b"DBTpyDBTpyVM" and o.vals[8] == 0
    edx = o.vals[1]
    for bit in (0, 3, 4, 5, 8, 11, 15):
        assert edx >> bit & 1, f"CPUID.1:EDX bit {bit} clear ({edx:#x})"
    for bit in (6, 9, 13, 23, 25, 26):                  # ... and no MMX (23)
        assert not edx >> bit & 1, f"CPUID.1:EDX bit {bit} set ({edx:#x})"
    if o.vals[3] >= 0x80000001:
        assert not o.vals[4] >> 29 & 1


@pytest.mark.parametrize("runner", RUNNERS)
def test_tsc_msr(runner):
    """WRMSR to IA32_TIME_STAMP_COUNTER (10h) sets the counter RDTSC and RDMSR then read, counting on from there
    (SDM Vol. 3 17.17). QEMU's TCG ignores the write."""
    if runner == "qemu":
        pytest.skip("QEMU 7.2's TCG does not apply WRMSR to the TSC")
    body = """
test:
    xor eax, eax
    mov edx, 1
    mov ecx, 0x10
    wrmsr
    rdtsc
    mov dword ptr [VALS], eax
    mov dword ptr [VALS + 4], edx
    mov ecx, 0x10
    rdmsr
    mov dword ptr [VALS + 8], eax
    mov dword ptr [VALS + 12], edx
    jmp finish
"""
    o = outcome(build(body), runner)
    lo1, hi1, lo2, hi2 = o.vals[:4]
    assert hi1 == hi2 == 1 and lo1 <= lo2 < 0x10000000


@pytest.mark.parametrize("runner", RUNNERS)
def test_cr4_tsd_makes_rdtsc_privileged(runner):
    """CR4.TSD = 1: RDTSC at ring 3 is #GP(0); at ring 0 it still works."""
    k = _ring3_case(f"{SET_FL}\nf: rdtsc", "mov eax, cr4\nor eax, 4\nmov cr4, eax\nrdtsc")
    o = outcome(k, runner)
    assert len(o.recs) == 1
    check_frame(o.recs[0], 13, k.labels["f"], 0, cs=0x1B, eflags=pushed_flags(runner, FL, True), user_esp=USTACK)

@pytest.mark.parametrize("runner", RUNNERS)
def test_x87_control_state(runner):
    """The x87 state an OS saves: FNINIT (FCW 037Fh, FSW 0), FLDCW/FNSTCW, FNSTSW AX, FNSAVE (the 32-bit layout:
    FCW, FSW, full tag word FFFFh, zero pointers, then re-initializes) and FRSTOR (SDM Vol. 1 8.1.10)."""
    body = """
test:
    fninit
    fnstsw ax
    mov dword ptr [VALS], eax
    fnstcw word ptr [VALS + 4]
    fldcw word ptr [cw]
    fnstcw word ptr [VALS + 8]
    fnsave [buf]
    fnstcw word ptr [VALS + 12]
    frstor [buf]
    fnstcw word ptr [VALS + 16]
    mov esi, buf
    mov edi, VALS + 0x20
    mov ecx, 7
    cld
    rep movsd dword ptr es:[edi], dword ptr [esi]
    jmp finish
cw: .short 0x027F
.align 4
buf: .fill 108, 1, 0xEE
"""
    o = outcome(build(body), runner)
    v = o.vals
    assert v[0] & 0xFFFF == 0 and v[1] == 0x037F and v[2] == 0x027F and v[3] == 0x037F and v[4] == 0x027F
    assert [w & 0xFFFF for w in v[8:11]] == [0x027F, 0, 0xFFFF]
    if runner != "qemu":                   # only control instructions ran: no FPU instruction/operand pointer
        assert v[11:15] == [0, 0, 0, 0]    # (QEMU records FLDCW's address)


# ---- I/O permission, IOPL and privileged instructions at ring 3 ------------------------------------------------------

IO_BITMAP = "tss + 0x68"


@pytest.mark.parametrize("runner", RUNNERS)
def test_io_permission_bitmap(runner):
    """At CPL 3 > IOPL 0, IN/OUT consult the TSS I/O bitmap (SDM Vol. 1 19.5.2): port 0x21 (the master PIC's mask)
    denied -> #GP(0); its bit cleared -> OUT and IN AL work (the mask reads back); IN AX also needs port 0x22's
    bit -> #GP(0)."""
    body = f"""
test:
    {catch('step2')}
    mov eax, r3_denied
    jmp to_ring3
step2:
    and byte ptr [{IO_BITMAP} + 4], 0xFD
    mov dword ptr [resume_eip], step3
    mov dword ptr [resume_esp], esp
    mov eax, r3_allowed
    jmp to_ring3
step3:
    jmp finish
r3_denied:
    {SET_FL}
f1: in al, 0x21
r3_allowed:
    mov al, 0xFD
    mov dx, 0x21
    out dx, al
    in al, 0x21
    mov byte ptr [VALS], al
    mov al, 0xFF
    out 0x21, al
    {SET_FL}
f2: in ax, 0x21
"""
    k = build(body, labels=("f1", "f2"))
    o = outcome(k, runner)
    assert o.vals[0] == 0xFD
    assert len(o.recs) == 2
    for rec, label in zip(o.recs, ("f1", "f2")):
        check_frame(rec, 13, k.labels[label], 0, cs=0x1B, eflags=pushed_flags(runner, FL, True), user_esp=USTACK)


@pytest.mark.parametrize("runner", RUNNERS)
def test_iopl3_allows_io_and_cli_at_ring3(runner):
    """With IOPL = 3, ring 3 may use every port whatever the bitmap, and CLI/STI (SDM Vol. 2 CLI: CPL <= IOPL)."""
    body = """
test:
    push 0x23
    push USTACK
    push 0x3202
    push 0x1B
    mov eax, ring3
    push eax
    mov ecx, 0x23
    mov ds, ecx
    mov es, ecx
    iretd
ring3:
    mov al, 0xF7
    out 0xA1, al
    in al, 0xA1
    mov byte ptr [VALS], al
    mov al, 0xFF
    out 0xA1, al
    cli
    pushfd
    pop dword ptr [VALS + 4]
    int 0xF0
"""
    o = outcome(build(body), runner)
    assert o.recs == []
    assert o.vals[:2] == [0xF7, 0x3002]


RING3_GP = {
    # instruction at ring 3 with IOPL 0 -> #GP(0) (SDM Vol. 2: the IOPL check of CLI/STI, CPL 0 for the others)
    "cli": "cli",
    "sti": "sti",
    "hlt": "hlt",
    "mov_cr0": "mov eax, cr0",
    "mov_to_cr3": "mov cr3, eax",
    "lgdt": ".byte 0x0F, 0x01, 0x15\n.long gdt_ptr",
    "lidt": ".byte 0x0F, 0x01, 0x1D\n.long idt_ptr",
    "ltr": "ltr ax",
    "invlpg": "invlpg [0x1000]",
    "rdmsr": "rdmsr",
    "wrmsr": "wrmsr",
    "clts": "clts",
    "out": "out 0xE9, al",
    "mov_dr7": "mov eax, dr7",
    "wbinvd": "wbinvd",
    "lmsw": "lmsw ax",
}


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("case", sorted(RING3_GP))
def test_privileged_instruction_at_ring3(case, runner):
    k = _ring3_case(f"mov eax, 0x28\n{SET_FL}\nf: {RING3_GP[case]}")
    o = outcome(k, runner)
    assert len(o.recs) == 1, o.recs
    check_frame(o.recs[0], 13, k.labels["f"], 0, cs=0x1B, eflags=pushed_flags(runner, FL, True), user_esp=USTACK)


@pytest.mark.parametrize("runner", RUNNERS)
def test_popf_at_ring3_keeps_if_and_iopl(runner):
    """POPF at CPL 3 > IOPL: IF and IOPL are left as they were, without a fault; the arithmetic flags change."""
    k = _ring3_case("push 0x3ED7\npopfd\npushfd\npop dword ptr [VALS]", labels=())
    o = outcome(k, runner, status=1)
    assert o.recs == []
    assert o.vals[0] == 0x0CD7 & ~IF | 0x2                # 0x3ED7 less IOPL (0x3000) and IF (0x200)

# ---- external interrupts: the STI shadow, POPF, HLT, ring 3, the PIT -------------------------------------------------

PIC_INIT = """
    mov al, 0x11
    out 0x20, al
    out 0xA0, al
    mov al, 0x20
    out 0x21, al
    mov al, 0x28
    out 0xA1, al
    mov al, 4
    out 0x21, al
    mov al, 2
    out 0xA1, al
    mov al, 1
    out 0x21, al
    out 0xA1, al
    mov al, 0xFF
    out 0xA1, al
"""


UART_IRQ4 = """
    mov al, 0xEF
    out 0x21, al
    mov dx, 0x3FC
    mov al, 0x08
    out dx, al
    mov dx, 0x3F9
    mov al, 0x02
    out dx, al
    mov al, 0x0A
    out 0x20, al
wait_irr:
    in al, 0x20
    test al, 0x10
    jz wait_irr
"""


@pytest.mark.parametrize("runner", RUNNERS_AUTO)
def test_sti_interrupt_shadow(runner):
    """IRQ 4 is pending while IF = 0 (the PICs at 0x20/0x28, only IRQ 4 open; the UART's THR-empty interrupt
    enabled with OUT2 set). STI: the interrupt (vector 0x24) is taken only after the next instruction, so the frame's
    EIP is the instruction after the one following STI (SDM Vol. 2 STI)."""
    body = f"""
test:
    {PIC_INIT}
    {UART_IRQ4}
    {catch('after')}
    {SET_FL}
    sti
f:  mov ebx, 1
g:  mov ecx, 2
    mov edx, 3
    mov esi, 4
    mov edi, 5
    nop
    nop
after:
    cli
    jmp finish
"""
    k = build(body, labels=("f", "g"))
    o = outcome(k, runner)
    assert len(o.recs) == 1, o.recs
    check_frame(o.recs[0], 0x24, k.labels["g"], None, eflags=FL | IF)


@pytest.mark.parametrize("runner", RUNNERS)
def test_sti_hlt_wakes_on_a_pending_interrupt(runner):
    """STI; HLT with IRQ 4 pending: the shadow lets HLT start, the interrupt wakes it; the saved EIP follows HLT."""
    body = f"""
test:
    {PIC_INIT}
    {UART_IRQ4}
    {catch('after')}
    sti
f:  hlt
g:  nop
    cli
    jmp finish
after:
    cli
    jmp finish
"""
    k = build(body, labels=("f", "g"))
    o = outcome(k, runner)
    assert len(o.recs) == 1, o.recs
    assert o.recs[0].vector == 0x24 and o.recs[0].frame[:2] == (k.labels["g"], 0x08)


@pytest.mark.parametrize("runner", RUNNERS_AUTO)
def test_popf_setting_if_takes_a_pending_interrupt_at_once(runner):
    """POPF that sets IF has no interrupt shadow (unlike STI): a pending IRQ is taken right after it, the saved EIP
    is the next instruction's."""
    body = f"""
test:
    {PIC_INIT}
    {UART_IRQ4}
    {catch('after')}
    push {FL | IF:#x}
    popfd
f:  mov ebx, 1
    mov ecx, 2
    mov edx, 3
    cli
    jmp finish
after:
    cli
    jmp finish
"""
    k = build(body, labels=("f",))
    o = outcome(k, runner)
    assert len(o.recs) == 1, o.recs
    check_frame(o.recs[0], 0x24, k.labels["f"], None, eflags=FL | IF)


@pytest.mark.parametrize("runner", RUNNERS_AUTO)
def test_external_interrupt_from_ring3(runner):
    """A hardware interrupt (UART IRQ 4, vector 0x24) taken at ring 3 with IF = 1: no gate DPL check (the gate is
    DPL 0), the stack switch to TSS.SS0:ESP0, the user SS:ESP pushed, the saved EIP the next instruction's."""
    body = f"""
test:
    {PIC_INIT}
    {UART_IRQ4}
    {catch('after')}
    push 0x23
    push USTACK
    push {FL | IF:#x}
    push 0x1B
    mov eax, ring3
    push eax
    mov ecx, 0x23
    mov ds, ecx
    mov es, ecx
    iretd
ring3:
    nop
spin:
    jmp spin
after:
    jmp finish
"""
    k = build(body, labels=("ring3", "spin"))
    o = outcome(k, runner)
    assert len(o.recs) == 1, o.recs
    rec = o.recs[0]
    # the interrupt is taken at the first instruction boundary after IRET (IF = 1 from the frame)
    check_frame(rec, 0x24, k.labels["ring3"], None, cs=0x1B, eflags=FL | IF, user_esp=USTACK)


@pytest.mark.parametrize("runner", RUNNERS)
def test_not_present_gate_for_an_external_interrupt(runner):
    """IRQ 4 (vector 0x24) whose gate is not present: #NP with error code 0x24 * 8 + IDT (2) + EXT (1), EXT because
    an external event was being delivered; the saved EIP is where the interrupt arrived (QEMU: no EXT)."""
    body = f"""
test:
    {PIC_INIT}
    {UART_IRQ4}
    mov eax, 0x24
    xor ebx, ebx
    mov ecx, 0x00080E00
    call set_gate
    {catch('after')}
    {SET_FL}
    sti
    nop
g:  nop
after:
    cli
    jmp finish
"""
    k = build(body, labels=("g",))
    o = outcome(k, runner)
    assert len(o.recs) == 1, o.recs
    check_frame(o.recs[0], 11, k.labels["g"], 0x24 * 8 + 2 + (0 if runner == "qemu" else 1),
                eflags=pushed_flags(runner, FL | IF, True))           # #NP is a fault: RF = 1


PIT_IRQ0 = """
    mov al, 0xFE
    out 0x21, al
    mov al, 0x30
    out 0x43, al
    mov al, 2
    out 0x40, al
    xor al, al
    out 0x40, al
    mov al, 0x0A
    out 0x20, al
    xor ecx, ecx
wait_pit:
    inc ecx
    in al, 0x20
    test al, 1
    jz wait_pit
    mov dword ptr [VALS], ecx
"""


@pytest.mark.parametrize("runner", ["interp", "llvm"])
def test_pit_interrupt_requested_on_time_while_polling(runner):
    """PIT channel 0 in mode 0 with a count of 2 (about 1.7 us) raises IRQ 0; a loop polling the PIC's IRR sees it
    after a few hundred iterations (at 1 ns per instruction), not after the rest of a 4M-instruction time slice."""
    o = outcome(build(f"test:\n{PIC_INIT}\n{PIT_IRQ0}\njmp finish\n"), runner, max_insns=200_000)
    assert 0 < o.vals[0] < 10_000, o.vals[0]


@needs_qemu
def test_pit_interrupt_requested_on_time_while_polling_qemu():
    """The same kernel under QEMU, whose clock is the host's: the loop ends (how soon depends on the host)."""
    o = outcome(build(f"test:\n{PIC_INIT}\n{PIT_IRQ0}\njmp finish\n"), "qemu")
    assert 0 < o.vals[0] < 10_000_000, o.vals[0]

# ---- single-step (EFLAGS.TF) -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("runner", RUNNERS_AUTO)
def test_single_step(runner):
    """POPF sets TF: no trap after that POPF, then #DB (a trap: the saved EIP is the next instruction's) after each
    instruction, a taken jump included (the saved EIP is its target), until a POPF that clears TF, which traps once
    more (TF was set when it began) with TF clear in the saved EFLAGS (SDM Vol. 3 17.3.1.4). The #DB handler (an
    interrupt gate: TF clear inside it) logs the saved EIP and EFLAGS and returns with IRET, which restores TF."""
    body = """
test:
    mov eax, 1
    mov ebx, db_h
    mov ecx, 0x00088E00
    call set_gate
    mov edi, VALS
    pushfd
    or dword ptr [esp], 0x100
    popfd
s1: mov eax, 5
s2: add eax, 1
s3: jmp s5
    nop
s5: pushfd
s6: and dword ptr [esp], 0xFFFFFEFF
s7: popfd
s8: mov dword ptr [VALS + 0x80], edi
    jmp finish
db_h:
    mov eax, dword ptr [esp]
    mov dword ptr [edi], eax
    mov eax, dword ptr [esp + 8]
    mov dword ptr [edi + 4], eax
    add edi, 8
    iretd
"""
    k = build(body, labels=("s1", "s2", "s3", "s5", "s6", "s7", "s8"))
    o = outcome(k, runner)
    lab = k.labels
    steps = [lab["s2"], lab["s3"], lab["s5"], lab["s6"], lab["s7"], lab["s8"]]
    assert o.vals[0:2 * len(steps):2] == steps, [hex(v) for v in o.vals[:14]]
    assert all(f & TF for f in o.vals[1:2 * len(steps) - 2:2]) and not o.vals[2 * len(steps) - 1] & TF
    assert o.vals[0x20] == asm.VALS + 8 * len(steps)           # no trap after s8


@pytest.mark.parametrize("runner", RUNNERS)
def test_single_step_over_int_n(runner):
    """With TF set, INT n clears TF: no trap after the INT, none inside its handler, none after the handler's IRET
    (TF was clear when it began); the IRET restores TF, so the instruction after the INT traps (SDM 17.3.1.4)."""
    body = """
test:
    mov eax, 1
    mov ebx, db_h
    mov ecx, 0x00088E00
    call set_gate
    mov eax, 0x40
    mov ebx, h40
    call set_gate
    mov edi, VALS
    pushfd
    or dword ptr [esp], 0x100
    popfd
s1: int 0x40
s2: nop
s3: pushfd
s4: and dword ptr [esp], 0xFFFFFEFF
s5: popfd
s6: mov dword ptr [VALS + 0x80], edi
    jmp finish
h40:
    mov ebx, 1
    mov ebx, 2
    iretd
db_h:
    mov eax, dword ptr [esp]
    mov dword ptr [edi], eax
    add edi, 4
    iretd
"""
    k = build(body, labels=("s3", "s4", "s5", "s6"))
    o = outcome(k, runner)
    steps = [k.labels[n] for n in ("s3", "s4", "s5", "s6")]
    assert o.vals[:len(steps)] == steps, [hex(v) for v in o.vals[:8]]
    assert o.vals[0x20] == asm.VALS + 4 * len(steps)

# ---- 5. real mode: a ROM from the reset vector, the IVT, back from protected mode, unreal mode -----------------------

ROM_REAL = """
    cli
    mov al, 1
    out 0x80, al
    mov dx, 0xE9
    mov al, 0x52
    out dx, al
    smsw ax
    out dx, al
    mov ax, cs
    mov al, ah
    out dx, al
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7000
    mov word ptr [0x100], int40
    mov word ptr [0x102], 0xF000
    int 0x40
    mov ax, cs
    mov ds, ax
    lgdt [0x3000]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    .byte 0x66, 0xEA
    .long 0xF1000
    .short 0x08
int40:
    push ax
    push dx
    mov dx, 0xE9
    mov al, 0x49
    out dx, al
    pop dx
    pop ax
    iret
"""


ROM_PM32 = """
    mov eax, 0x10
    mov ds, eax
    mov es, eax
    mov ss, eax
    mov esp, 0x90000
    mov al, 2
    out 0x80, al
    mov dx, 0xE9
    mov al, 0x50
    out dx, al
    mov eax, cr0
    out dx, al
    mov dword ptr [0x200000], 0x12345678
    mov eax, dword ptr [0x200000]
    shr eax, 24
    out dx, al
    mov byte ptr [0x10005], 0x58
    .byte 0xEA
    .long 0x2000
    .short 0x18
"""


ROM_PM16 = """
    mov ax, 0x20
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov eax, cr0
    and al, 0xFE
    mov cr0, eax
    .byte 0xEA
    .short rm2
    .short 0xF000
rm2:
    xor ax, ax
    mov ss, ax
    mov sp, 0x7000
    mov ax, 0x1000
    mov ds, ax
    mov dx, 0xE9
    mov al, 0x72
    out dx, al
    mov al, byte ptr [5]
    out dx, al
    int 0x40
    mov al, 3
    out 0x80, al
    mov dx, 0x501
    mov al, 0x21
    out dx, al
    hlt
"""


ROM_GDT = """
    .short 0x27
    .long 0xF3008
    .short 0
    .long 0, 0
    .long 0x0000FFFF, 0x00CF9A00
    .long 0x0000FFFF, 0x00CF9200
    .long 0x0000FFFF, 0x00009A0F
    .long 0x0000FFFF, 0x00009200
"""


ROM_RESET = """
    .byte 0xEA
    .short 0
    .short 0xF000
"""


def _rom():
    return asm.build_rom([(0x0000, 16, 0x0000, ROM_REAL), (0x1000, 32, 0xF1000, ROM_PM32),
                          (0x2000, 16, 0x2000, ROM_PM16), (0x3000, 32, 0xF3000, ROM_GDT),
                          (0xFFF0, 16, 0xFFF0, ROM_RESET)])


@pytest.mark.parametrize("runner", RUNNERS_AUTO)
def test_rom_from_the_reset_vector(runner):
    """The CPU starts at F000:FFF0 in real mode with CS base FFFF0000 (SDM Vol. 3 9.1.4): the reset vector's far
    JMP F000:0000 runs the ROM's low alias. Real mode: MSW = 0010h (ET), CS = F000h, INT 40h through the IVT. LGDT,
    CR0.PE, a far JMP to a 32-bit flat segment: CR0 = 11h, memory above 1 MiB. A far JMP to a 16-bit segment
    (base F0000h), CR0.PE cleared, a far JMP back to real mode: segment arithmetic (1000h:0005h) and the IVT again.
    Debug console: R 10 F0 I | P 11 12 | r X I; POST codes 1, 2, 3; exit status (21h << 1) | 1."""
    o = asm.run_rom(_rom(), runner)
    assert o.status == 0x43, (o.status, o.stop_reason, o.raw)
    assert o.raw == b"R\x10\xf0IP\x11\x12rXI"
    if runner != "qemu":
        vm = o.vm
        assert list(vm.devs.post.history) == [1, 2, 3]
        st = vm.engine.state
        assert st["cr0"] & 1 == 0 and st["cs"] == 0xF000 and st["cs_base"] == 0xF0000


ROM_REAL_EXC = """
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7000
    mov word ptr [0x00], de_h
    mov word ptr [0x02], 0xF000
    mov word ptr [0x0C], bp_h
    mov word ptr [0x0E], 0xF000
    mov word ptr [0x18], ud_h
    mov word ptr [0x1A], 0xF000
    mov word ptr [0x34], gp_h
    mov word ptr [0x36], 0xF000
    mov dx, 0xE9
    xor bx, bx
    mov ax, 1
f0: div bl
f3: .byte 0xCC
f6: ud2
f13: mov ax, word ptr [0xFFFF]
    mov dx, 0x501
    mov al, 0x22
    out dx, al
    hlt
de_h:
    mov al, 0x44
    jmp report
bp_h:
    mov al, 0x42
    jmp report_trap
ud_h:
    mov al, 0x55
    jmp report
gp_h:
    mov al, 0x47
report:
    push bp
    mov bp, sp
    out dx, al
    mov ax, word ptr [bp + 2]
    out dx, al
    mov al, ah
    out dx, al
    mov ax, word ptr [bp + 6]
    out dx, al
    mov ax, word ptr [bp + 2]
    mov si, ax
    mov al, byte ptr cs:[si]
    cmp al, 0xA1
    je skip3
    add word ptr [bp + 2], 2
    pop bp
    iret
skip3:
    add word ptr [bp + 2], 3
    pop bp
    iret
report_trap:
    push bp
    mov bp, sp
    out dx, al
    mov ax, word ptr [bp + 2]
    out dx, al
    mov al, ah
    out dx, al
    mov ax, word ptr [bp + 6]
    out dx, al
    pop bp
    iret
labels:
    .short f0, f3, f6, f13
"""


@pytest.mark.parametrize("runner", RUNNERS)
def test_real_mode_exceptions_through_the_ivt(runner):
    """Real mode: #DE (DIV by 0, a fault: the saved IP is the DIV's), #BP (INT3, a trap: the next IP), #UD (UD2, a
    fault) and a word read at offset FFFFh, which runs past the 64 KiB limit: interrupt 13 (SDM Vol. 3 20.1.4).
    Each handler reports the vector's letter, the saved IP and the low byte of the saved FLAGS (46h: ZF and PF from
    XOR BX, BX; IRET restores them each time). QEMU ignores real-mode segment limits, so it shows no 'G'."""
    code = asm.assemble(ROM_REAL_EXC, 16, 0)
    f0, f3, f6, f13 = struct.unpack_from("<4H", code, len(code) - 8)
    rom = asm.build_rom([(0, 16, 0, ROM_REAL_EXC), (0xFFF0, 16, 0xFFF0, ROM_RESET)])
    o = asm.run_rom(rom, runner)
    assert o.status == 0x45, (o.status, o.stop_reason, o.raw)
    want = [(b"D", f0), (b"B", f3 + 1), (b"U", f6)] + ([] if runner == "qemu" else [(b"G", f13)])
    assert o.raw == b"".join(letter + struct.pack("<HB", ip, 0x46) for letter, ip in want)


ROM_REAL_IDTR = """
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7000
    mov word ptr [0x1100], h40
    mov word ptr [0x1102], 0xF000
    mov word ptr [0x1000], h0
    mov word ptr [0x1002], 0xF000
    mov word ptr [0x100], bad
    mov word ptr [0x102], 0xF000
    mov word ptr [0x0], bad
    mov word ptr [0x2], 0xF000
    mov ax, cs
    mov ds, ax
    lidt [ivt_ptr]
    xor ax, ax
    mov ds, ax
    mov dx, 0xE9
    int 0x40
    xor bl, bl
    div bl
    mov dx, 0x501
    mov al, 0x22
    out dx, al
    hlt
h40:
    mov al, 0x41
    out dx, al
    iret
h0:
    mov al, 0x30
    out dx, al
    push bp
    mov bp, sp
    add word ptr [bp + 2], 2
    pop bp
    iret
bad:
    mov al, 0x58
    out dx, al
    mov dx, 0x501
    mov al, 0x7F
    out dx, al
    hlt
ivt_ptr:
    .short 0x3FF
    .long 0x1000
"""


@pytest.mark.parametrize("runner", RUNNERS)
def test_real_mode_ivt_follows_idtr(runner):
    """Real mode takes interrupt vectors from IDTR.base + 4 * n, not from 0 (SDM Vol. 3 20.1.4: LIDT can move the
    IVT): after LIDT with base 1000h, INT 40h and #DE use the entries at 1100h and 1000h."""
    rom = asm.build_rom([(0, 16, 0, ROM_REAL_IDTR), (0xFFF0, 16, 0xFFF0, ROM_RESET)])
    o = asm.run_rom(rom, runner)
    assert (o.status, o.raw) == (0x45, b"A0"), o.stop_reason


REAL_IRET_IF_STUB = """
pm16:
    mov ax, 0x78
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov eax, cr0
    and al, 0xFE
    mov cr0, eax
    .byte 0xEA
    .short real
    .short 0x0800
real:
    mov ax, cs
    mov ds, ax
    lidt [ivt_ptr]
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7000
    mov word ptr [0x90], irq4
    mov word ptr [0x92], 0x0800
    mov dx, 0xE9
    pushf
    pop ax
    or ax, 0x200
    push ax
    push cs
    push target
    iret
target:
    nop
    nop
    cli
    mov al, 0x4E
    out dx, al
    mov dx, 0x501
    mov al, 0x22
    out dx, al
    hlt
irq4:
    mov al, 0x49
    out dx, al
    push bp
    mov bp, sp
    mov ax, word ptr [bp + 2]
    out dx, al
    mov al, ah
    out dx, al
    pop bp
    mov dx, 0x3F9
    xor al, al
    out dx, al
    mov al, 0x20
    out 0x20, al
    mov dx, 0xE9
    iret
ivt_ptr:
    .short 0x3FF
    .long 0
labels:
    .short target
"""


REAL_MODE_GDT = {0x70: descriptor(0x8000, 0xFFFF, 0x9A, flags=0), 0x78: descriptor(0, 0xFFFF, 0x92, flags=0)}


def _to_real_mode(stub: str, setup: str = "", gdt: dict | None = None) -> tuple:
    """A kernel that runs ``setup`` in protected mode, copies ``stub`` (16-bit code) to 0x8000 and enters it through
    a 16-bit code segment (0x70, base 0x8000); the stub leaves protected mode itself. (kernel, stub bytes)"""
    code = asm.assemble(stub, 16, 0)
    data = ", ".join(f"{b:#x}" for b in code)
    body = f"""
test:
    {setup}
    mov esi, stub_bytes
    mov edi, 0x8000
    mov ecx, {len(code)}
    cld
    rep movsb byte ptr es:[edi], byte ptr [esi]
    {ljmp(0x70, "0")}
stub_bytes:
    .byte {data}
"""
    return build(body, gdt=REAL_MODE_GDT | (gdt or {})), code


@pytest.mark.parametrize("runner", RUNNERS_AUTO)
def test_real_mode_iret_setting_if_takes_a_pending_interrupt(runner):
    """From the multiboot kernel to real mode (a 16-bit protected-mode segment, CR0.PE cleared, a far JMP to
    0800:xxxx, LIDT of the real-mode IVT). IRQ 4 pending (vector 0x24), IF = 0: an IRET whose FLAGS image has IF = 1
    lets the interrupt in right after it; the handler reports the saved IP (the IRET's target) before the target's
    CLI runs."""
    k, code = _to_real_mode(REAL_IRET_IF_STUB, PIC_INIT + UART_IRQ4)
    target = struct.unpack_from("<H", code, len(code) - 2)[0]
    o = asm.run(k, runner)
    assert o.status == 0x45, (o.status, o.stop_reason, o.raw)
    assert o.raw == b"I" + struct.pack("<H", target) + b"N"


UNREAL_STUB = """
pm16:
    mov ax, 0x80
    mov ds, ax
    mov es, ax
    mov ax, 0x78
    mov ss, ax
    mov eax, cr0
    and al, 0xFE
    mov cr0, eax
    .byte 0xEA
    .short real
    .short 0x0800
real:
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7000
    mov word ptr [0x34], gp_h
    mov word ptr [0x36], 0x0800
    mov esi, 0x200000
    mov eax, dword ptr [esi]
    mov dx, 0xE9
    out dx, al
    mov al, ah
    out dx, al
    mov dword ptr [esi + 4], 0x600DF00D
    mov eax, dword ptr [esi + 4]
    shr eax, 16
    out dx, al
    mov dx, 0x501
    mov al, 0x22
    out dx, al
    hlt
gp_h:
    mov dx, 0xE9
    mov al, 0x47
    out dx, al
    mov dx, 0x501
    mov al, 0x7F
    out dx, al
    hlt
"""


@pytest.mark.parametrize("runner", RUNNERS)
def test_unreal_mode(runner):
    """"Unreal" (big real) mode, which boot loaders and BIOSes use: DS loaded in protected mode with a 4 GiB limit
    keeps that limit in its descriptor cache after the return to real mode (loading DS there changes only the
    selector and base), so a 32-bit offset above 64 KiB works instead of raising interrupt 13."""
    setup = "mov dword ptr [VALS], 0xBEEF"
    k, _ = _to_real_mode(UNREAL_STUB, setup, gdt={0x80: descriptor(0, 0xFFFFF, 0x92, flags=0x8)})
    o = asm.run(k, runner)
    assert (o.status, o.raw) == (0x45, b"\xef\xbe\x0d"), o.stop_reason

# ---- the multiboot hand-over -----------------------------------------------------------------------------------------

MULTIBOOT_PROBE = """
test:
    mov eax, dword ptr [boot_eax]
    mov dword ptr [VALS], eax
    mov eax, dword ptr [boot_eflags]
    mov dword ptr [VALS + 4], eax
    mov eax, dword ptr [boot_cr0]
    mov dword ptr [VALS + 8], eax
    mov esi, dword ptr [boot_ebx]
    mov edi, VALS + 0x10
    mov ecx, 13
    cld
    rep movsd dword ptr es:[edi], dword ptr [esi]
    mov ebx, dword ptr [boot_ebx]
    mov esi, dword ptr [ebx + 16]
    mov edi, VALS + 0x44
    mov ecx, 16
    rep movsd dword ptr es:[edi], dword ptr [esi]
    mov esi, dword ptr [ebx + 48]
    mov edi, VALS + 0x84
    mov ecx, 24
    rep movsd dword ptr es:[edi], dword ptr [esi]
    jmp finish
"""


@pytest.mark.parametrize("runner", RUNNERS)
def test_multiboot_handover(runner):
    """The state a multiboot loader hands over (Multiboot 0.6.96 3.2): EAX = 2BADB002h, protected mode without
    paging, IF = 0; the info structure at EBX: flags 24Fh (mem, boot device, cmdline, mods, mmap, loader name),
    mem_lower = 639 KiB, mem_upper = RAM - 1 MiB - 128 KiB (the BIOS's top, as QEMU/SeaBIOS report it), boot device
    8000FFFFh, no modules, the command line ("<image> <args>"), and a memory map whose first entries are 639 KiB of
    RAM, the EBDA, and RAM from 1 MiB."""
    o = outcome(build(MULTIBOOT_PROBE), runner, cmdline="alpha=1 beta")
    v = o.vals
    assert v[0] == 0x2BADB002
    assert not v[1] & IF and v[2] & 0x80000001 == 1
    flags, mem_lower, mem_upper, boot_device, _, mods_count = v[0x4:0xA]
    assert flags == 0x24F and mem_lower == 639 and mem_upper == 16 * 1024 - 1024 - 128
    assert boot_device == 0x8000FFFF and mods_count == 0
    cmdline = b"".join(w.to_bytes(4, "little") for w in v[0x11:0x21]).split(b"\0")[0]
    assert cmdline.split(b" ", 1)[1] == b"alpha=1 beta"
    mmap_length = v[0x4 + 11]
    entries = [tuple(v[0x21 + 6 * i:0x21 + 6 * i + 6]) for i in range(min(4, mmap_length // 24))]
    ram = [(e[1], e[3], e[5]) for e in entries]          # (base low, length low, type)
    assert ram[:2] == [(0, 0x9FC00, 1), (0x9FC00, 0x400, 2)]
    assert (0x100000, 16 * 1024 * 1024 - 0x100000 - 0x20000, 1) in ram


ROM_A20 = """
    cli
    xor ax, ax
    mov ds, ax
    mov byte ptr [0], 0x11
    mov ax, 0xFFFF
    mov es, ax
    mov dx, 0xE9
kbc_wait1:
    in al, 0x64
    test al, 2
    jnz kbc_wait1
    mov al, 0xD1
    out 0x64, al
kbc_wait2:
    in al, 0x64
    test al, 2
    jnz kbc_wait2
    mov al, 0xDD
    out 0x60, al
kbc_wait3:
    in al, 0x64
    test al, 2
    jnz kbc_wait3
    in al, 0x92
    and al, 0xFD
    out 0x92, al
    mov byte ptr es:[0x10], 0x5A
    mov al, byte ptr [0]
    out dx, al
    in al, 0x92
    or al, 2
    out 0x92, al
    mov byte ptr es:[0x10], 0xA5
    mov al, byte ptr [0]
    out dx, al
    mov al, byte ptr es:[0x10]
    out dx, al
    mov dx, 0x501
    mov al, 0x22
    out dx, al
    hlt
"""


@pytest.mark.parametrize("runner", RUNNERS_AUTO)
def test_a20_gate(runner):
    """With A20 masked (the keyboard controller's output port bit 1 and port 92h bit 1 both clear), FFFF:0010 is
    physical 0 (the 8086 wrap); with A20 on again (port 92h) it is 100000h."""
    rom = asm.build_rom([(0, 16, 0, ROM_A20), (0xFFF0, 16, 0xFFF0, ROM_RESET)])
    o = asm.run_rom(rom, runner)
    assert (o.status, o.raw) == (0x45, b"\x5a\x5a\xa5"), o.stop_reason


@pytest.mark.parametrize("runner", RUNNERS)
def test_single_step_through_rep_movsb(runner):
    """With TF set, REP MOVSB traps after each iteration with the saved EIP on the REP itself (ECX counting down),
    then after its last iteration with the next instruction's EIP (SDM Vol. 3 17.3.1.4, as QEMU)."""
    body = """
test:
    mov eax, 1
    mov ebx, db_h
    mov ecx, 0x00088E00
    call set_gate
    mov dword ptr [VALS + 0x80], 0
    mov esi, 0x250000
    mov edi, 0x260000
    mov ecx, 3
    pushfd
    or dword ptr [esp], 0x100
    popfd
s1: cld
s2: rep movsb byte ptr es:[edi], byte ptr [esi]
s3: pushfd
    and dword ptr [esp], 0xFFFFFEFF
    popfd
    jmp finish
db_h:
    push ebx
    mov ebx, dword ptr [VALS + 0x80]
    mov eax, dword ptr [esp + 4]
    mov dword ptr [VALS + ebx*4], eax
    mov dword ptr [VALS + 0x40 + ebx*4], ecx
    inc ebx
    mov dword ptr [VALS + 0x80], ebx
    pop ebx
    iretd
"""
    k = build(body, labels=("s2", "s3"))
    o = outcome(k, runner)
    s2, s3 = k.labels["s2"], k.labels["s3"]
    assert o.vals[:4] == [s2, s2, s2, s3] and o.vals[0x10:0x14] == [3, 2, 1, 0]
