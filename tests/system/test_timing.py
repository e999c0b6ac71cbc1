"""Time and device interrupts in the PC system VM: PIT channel 0 interrupts at the programmed rate in virtual time
(with the CPU idling in HLT and with it busy), and UART output driven by its transmitter-empty interrupt.

Virtual time is 1 ns per guest instruction (icount shift 0) plus the time skipped while halted; the TSC counts that
time at 1 GHz, so the guest measures its interrupts' spacing itself. Expected values come from the 8254 datasheet:
the input clock is 1.193182 MHz and mode 2 with divisor N gives one IRQ 0 edge every N input ticks, i.e. every
N / 1.193182 us, so consecutive interrupts are floor or ceil(N * 1e9 / 1193182) ns apart (ticks are whole).
"""

import pytest

from dbt.machine import PcMachine
from tests.system import asm
from tests.system.test_cpu import PIC_INIT
from tests.system.test_guest_qemu import needs_qemu

PIT_HZ = 1_193_182
SAMPLES = 12

# IRQ 0 handler: store the TSC's low dword at VALS + 4 * n (n at VALS + 0xF0), EOI; after SAMPLES interrupts, finish.
PIT_HANDLER = f"""
irq0:
    push eax
    push ecx
    push edx
    rdtsc
    mov ecx, dword ptr [VALS + 0xF0]
    mov dword ptr [VALS + ecx*4], eax
    inc ecx
    mov dword ptr [VALS + 0xF0], ecx
    mov al, 0x20
    out 0x20, al
    cmp ecx, {SAMPLES:#x}
    jae irq0_done
    pop edx
    pop ecx
    pop eax
    iretd
irq0_done:
    cli
    jmp finish
"""


def pit_kernel(divisor: int, busy: bool):
    wait = "spin:\n    inc esi\n    jmp spin\n" if busy else "idle:\n    hlt\n    jmp idle\n"
    body = f"""
test:
{PIC_INIT}
    mov eax, 0x20
    mov ebx, irq0
    mov ecx, 0x00088E00
    call set_gate
    mov al, 0xFE
    out 0x21, al
    mov al, 0x34
    out 0x43, al
    mov al, {divisor & 0xFF:#x}
    out 0x40, al
    mov al, {divisor >> 8:#x}
    out 0x40, al
    xor esi, esi
    sti
{wait}
{PIT_HANDLER}
"""
    return asm.build(body)


def run_kernel(kernel, backend: str, max_insns: int, **options):
    con = bytearray()
    vm = PcMachine(16, backend=backend, debugcon=con.extend, **options)
    vm.load_multiboot(kernel.image)
    status = vm.run(max_insns)
    return asm.parse(status, bytes(con), stop_reason=vm.stop_reason, vm=vm)


@pytest.mark.parametrize("busy", [False, True], ids=["hlt", "busy"])
@pytest.mark.parametrize("divisor", [1193, 11932, 500])
@pytest.mark.parametrize("backend", ["interp", "llvm"])
def test_pit_interrupts_at_the_programmed_rate(backend, divisor, busy):
    # 32 ns per instruction (icount shift 5) keeps the busy loop short: 10 ms of virtual time is 312,500 instructions.
    o = run_kernel(pit_kernel(divisor, busy), backend, 8_000_000, icount_shift=5)
    assert o.status == 1, o.stop_reason
    stamps = o.vals[:SAMPLES]
    period = divisor * 1e9 / PIT_HZ
    gaps = [(b - a) & 0xFFFFFFFF for a, b in zip(stamps, stamps[1:])]
    # Idle: time jumps to each deadline, exact to the nanosecond. Busy: the interrupt is taken at the first
    # instruction boundary at or after the deadline, i.e. within one instruction (32 ns) of it.
    slack = 1 if not busy else 32
    for gap in gaps:
        assert abs(gap - period) <= slack + 1, (gaps, period)
    # No drift: the span of all the gaps is exact to that slack.
    assert abs(sum(gaps) - (SAMPLES - 1) * period) <= slack + 1, (sum(gaps), (SAMPLES - 1) * period)


MESSAGE = b"interrupt-driven output: 16550A THRE\r\n"

# Interrupt-driven transmit: the IRQ 4 handler reads IIR (which clears a THR-empty interrupt) and writes the next byte
# to THR (which re-arms it); after the last byte it clears IER.ETBEI. The first 16 IIR values seen are stored from VALS + 0x80.
UART_BODY = f"""
test:
{PIC_INIT}
    mov eax, 0x24
    mov ebx, irq4
    mov ecx, 0x00088E00
    call set_gate
    mov al, 0xEF
    out 0x21, al
    mov dx, 0x3FB
    mov al, 0x83
    out dx, al
    mov dx, 0x3F8
    mov al, 1
    out dx, al
    mov dx, 0x3F9
    xor al, al
    out dx, al
    mov dx, 0x3FB
    mov al, 3
    out dx, al
    mov dx, 0x3FC
    mov al, 0x0B
    out dx, al
    xor edi, edi
    sti
    mov dx, 0x3F9
    mov al, 2
    out dx, al
wait_tx:
    hlt
    cmp dword ptr [VALS + 0xF4], 0
    je wait_tx
    cli
    mov dword ptr [VALS + 0xF8], edi
    jmp finish
irq4:
    push eax
    push edx
    mov dx, 0x3FA
    in al, dx
    movzx eax, al
    cmp edi, 0x10
    jae irq4_count
    mov dword ptr [VALS + 0x80 + edi*4], eax
irq4_count:
    inc edi
    and al, 0x0F
    cmp al, 2
    jne irq4_eoi
    mov edx, dword ptr [VALS + 0xFC]
    cmp edx, {len(MESSAGE):#x}
    jae irq4_last
    movzx eax, byte ptr [message + edx]
    inc edx
    mov dword ptr [VALS + 0xFC], edx
    mov dx, 0x3F8
    out dx, al
    jmp irq4_eoi
irq4_last:
    mov dx, 0x3F9
    xor al, al
    out dx, al
    mov dword ptr [VALS + 0xF4], 1
irq4_eoi:
    mov al, 0x20
    out 0x20, al
    pop edx
    pop eax
    iretd
message:
    .byte {", ".join(f"{c:#x}" for c in MESSAGE)}
"""


def run_uart(runner: str):
    kernel = asm.build(UART_BODY)
    if runner == "qemu":
        return asm.run(kernel, "qemu"), None
    serial = bytearray()
    con = bytearray()
    vm = PcMachine(16, backend=runner, serial=serial.extend, debugcon=con.extend)
    vm.load_multiboot(kernel.image)
    status = vm.run(2_000_000)
    return asm.parse(status, bytes(con), stop_reason=vm.stop_reason, vm=vm), bytes(serial)


@pytest.mark.parametrize("backend", ["interp", "llvm"])
def test_uart_interrupt_driven_output(backend):
    o, serial = run_uart(backend)
    assert o.status == 1, o.stop_reason
    assert serial == MESSAGE
    n = o.vals[0xF8 // 4]
    # One THR-empty interrupt when ETBEI is set (THR already empty), then one per byte written.
    assert n == len(MESSAGE) + 1
    iirs = o.vals[0x80 // 4:0x80 // 4 + min(n, 16)]
    assert all(v & 0x0F == 0x02 for v in iirs), [hex(v) for v in iirs]   # IIR: THR empty, interrupt pending
    assert o.vm.stats.vectors.get(0x24) == n


@needs_qemu
def test_uart_interrupt_count_matches_qemu():
    q, _ = run_uart("qemu")
    o, _ = run_uart("llvm")
    assert q.status == o.status == 1
    assert q.vals[0xF8 // 4] == o.vals[0xF8 // 4]
    assert [v & 0x0F for v in q.vals[0x80 // 4:0x80 // 4 + 16]] == [v & 0x0F for v in o.vals[0x80 // 4:0x80 // 4 + 16]]
