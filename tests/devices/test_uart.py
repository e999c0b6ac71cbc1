"""16550A UART against the datasheet: register reset values, DLAB, FIFO and trigger levels, interrupt priorities,
THRE semantics, character timeout, loopback and MSR deltas, OUT2 gating of the IRQ, host input, snapshots."""

import json

import pytest

from devices.bus import Bus, IrqLine
from devices.clock import ManualClock
from devices.uart import Uart16550

COM1 = 0x3F8
RBR, IER, IIR, FCR, LCR, MCR, LSR, MSR, SCR = 0, 1, 2, 2, 3, 4, 5, 6, 7


class Rig:
    def __init__(self, clock=True):
        self.out = bytearray()
        self.irq = IrqLine("irq4")
        self.clock = ManualClock() if clock else None
        self.uart = Uart16550(self.out.extend, irq=self.irq, clock=self.clock)
        self.bus = Bus()
        self.uart.attach(self.bus)

    def r(self, reg):
        return self.bus.io_read(COM1 + reg, 1)

    def w(self, reg, value):
        self.bus.io_write(COM1 + reg, 1, value)


def test_reset_values():
    rig = Rig()
    assert [rig.r(reg) for reg in (IER, IIR, LCR, MCR, LSR, MSR, SCR)] == [0, 0x01, 0, 0, 0x60, 0xB0, 0]
    rig.w(SCR, 0x5A)
    assert rig.r(SCR) == 0x5A


def test_dlab_divisor_latch():
    rig = Rig()
    rig.w(IER, 0x05)
    rig.w(LCR, 0x83)                   # DLAB, 8N1
    rig.w(RBR, 0x01)
    rig.w(IER, 0x02)
    assert rig.r(RBR) == 0x01 and rig.r(IER) == 0x02
    rig.w(LCR, 0x03)
    assert rig.r(IER) == 0x05          # the real IER was untouched
    assert rig.uart.divisor == 0x0201
    assert rig.out == b""              # a DLL write is not a transmission


def test_transmit_goes_to_sink():
    rig = Rig()
    for b in b"Hi\n":
        rig.w(RBR, b)
    assert rig.out == b"Hi\n"
    assert rig.r(LSR) & 0x60 == 0x60   # THRE and TEMT: transmission is instantaneous


def test_thre_interrupt_semantics_and_out2_gating():
    rig = Rig()
    rig.w(IER, 0x02)                   # ETBEI newly set with THR empty: pending
    assert rig.r(IIR) == 0x02          # ...and this read clears it
    assert not rig.irq.level           # OUT2 clear: the IRQ line is not driven
    assert rig.r(IIR) == 0x01
    rig.w(IER, 0x02)                   # not newly set: nothing
    assert rig.r(IIR) == 0x01
    rig.w(MCR, 0x08)                   # OUT2
    rig.w(RBR, ord("x"))               # THR write: the byte leaves, THR empty again
    assert rig.irq.level
    assert rig.r(IIR) == 0x02
    assert not rig.irq.level
    rig.w(IER, 0x00)
    rig.w(IER, 0x02)                   # newly set again
    assert rig.irq.level


def test_rx_interrupt_non_fifo():
    rig = Rig()
    rig.w(MCR, 0x08)
    rig.w(IER, 0x01)
    rig.uart.feed(b"ab")
    assert rig.irq.level
    assert rig.r(IIR) == 0x04
    assert rig.r(LSR) & 0x01
    assert rig.r(RBR) == ord("a")
    assert rig.irq.level               # the next byte moved into the holding register
    assert rig.r(RBR) == ord("b")
    assert rig.r(IIR) == 0x01 and not rig.irq.level
    assert rig.r(LSR) & 0x01 == 0
    assert rig.r(RBR) == ord("b")      # an empty RBR repeats the last byte


@pytest.mark.parametrize("fcr, level", [(0x01, 1), (0x41, 4), (0x81, 8), (0xC1, 14)])
def test_fifo_trigger_levels(fcr, level):
    rig = Rig()
    rig.w(FCR, fcr | 0x06)
    rig.w(IER, 0x01)
    rig.uart.feed(bytes(range(level - 1)))
    assert rig.r(IIR) == 0xC1          # FIFOs enabled (bits 7-6), below the trigger level
    rig.uart.feed(b"!")
    assert rig.r(IIR) == 0xC4


def test_character_timeout_through_deadline():
    rig = Rig()
    rig.w(LCR, 0x83)
    rig.w(RBR, 1)                      # divisor 1: 115200 baud
    rig.w(LCR, 0x03)                   # 8N1: 10 bits a character
    rig.w(FCR, 0x81)                   # trigger 8
    rig.w(MCR, 0x08)
    rig.w(IER, 0x01)
    rig.clock.set(1000)
    rig.uart.feed(b"abc")
    assert rig.r(IIR) == 0xC1
    # 4 characters * 10 bits * 16 clocks / 1.8432 MHz = 347222.2 ns; one character truncates to 86805 ns
    deadline = rig.uart.deadline_ns()
    assert deadline == 1000 + 4 * 86805
    rig.clock.set(deadline - 1)
    rig.uart.update(deadline - 1)
    assert not rig.irq.level
    rig.clock.set(deadline)
    rig.uart.update(deadline)
    assert rig.irq.level and rig.r(IIR) == 0xCC
    assert rig.uart.deadline_ns() is None
    assert rig.r(RBR) == ord("a")      # a read restarts the timeout
    assert rig.r(IIR) == 0xC1 and not rig.irq.level
    assert rig.uart.deadline_ns() == deadline + 4 * 86805


def test_fifo_disable_and_clear():
    rig = Rig(clock=False)
    rig.w(FCR, 0x01)
    rig.w(MCR, 0x10)                   # loopback so bytes stay in the receiver
    for b in b"xyz":
        rig.w(RBR, b)
    rig.w(FCR, 0x03)                   # clear the receive FIFO
    assert rig.r(LSR) & 0x01 == 0
    rig.w(RBR, ord("q"))
    rig.w(FCR, 0x00)                   # disabling the FIFOs clears them too
    assert rig.r(LSR) & 0x01 == 0
    assert rig.r(IIR) & 0xC0 == 0


def test_host_input_is_never_overrun():
    rig = Rig()
    rig.w(FCR, 0x07)
    data = bytes(range(40))
    rig.uart.feed(data)
    got = bytearray()
    while rig.r(LSR) & 0x01:
        got.append(rig.r(RBR))
    assert bytes(got) == data
    assert rig.r(LSR) & 0x02 == 0


def test_loopback_modem_lines_and_deltas():
    rig = Rig()
    assert rig.r(MSR) == 0xB0          # host side: CTS, DSR, DCD
    rig.w(MCR, 0x13)                   # loopback + DTR + RTS: CTS, DSR; DCD drops (OUT2 off)
    assert rig.r(MSR) == 0x30 | 0x08   # DDCD
    assert rig.r(MSR) == 0x30
    rig.w(MCR, 0x14)                   # OUT1 -> RI; DTR, RTS off
    assert rig.r(MSR) == 0x40 | 0x03   # DCTS, DDSR
    rig.w(MCR, 0x10)                   # RI falls: TERI
    assert rig.r(MSR) == 0x04
    rig.w(MCR, 0x18)                   # OUT2 -> DCD
    assert rig.r(MSR) == 0x80 | 0x08


def test_loopback_data_and_irq_gated_off():
    rig = Rig()
    rig.w(MCR, 0x18)                   # loopback with OUT2 set
    rig.w(IER, 0x01)
    rig.w(RBR, 0x42)
    assert rig.out == b""              # nothing reaches the host
    assert rig.r(IIR) == 0x04          # the interrupt is identified...
    assert not rig.irq.level           # ...but the OUT2 pin is forced inactive in loopback
    assert rig.r(RBR) == 0x42
    rig.uart.feed(b"h")                # host input waits while in loopback
    assert rig.r(LSR) & 0x01 == 0
    rig.w(MCR, 0x08)
    assert rig.irq.level and rig.r(RBR) == ord("h")


def test_interrupt_priorities():
    rig = Rig(clock=False)
    rig.w(MCR, 0x10)
    rig.w(IER, 0x0F)
    rig.r(IIR)                         # consume the THRE from enabling ETBEI
    rig.w(MCR, 0x11)                   # DTR -> DSR: a modem status change
    rig.w(RBR, 1)
    rig.w(RBR, 2)                      # overrun of the 1-byte holding register (FIFOs off)
    assert rig.r(IIR) == 0x06          # receiver line status first
    assert rig.r(LSR) == 0x60 | 0x02 | 0x01
    assert rig.r(IIR) == 0x04          # then received data
    assert rig.r(RBR) == 2             # the 16450 holding register was overwritten
    assert rig.r(IIR) == 0x02          # then THR empty (cleared by this read)
    assert rig.r(IIR) == 0x00          # then modem status
    rig.r(MSR)
    assert rig.r(IIR) == 0x01


def test_uart_parameters():
    irq = IrqLine("irq3")
    bus, out = Bus(), []
    Uart16550(out.append, irq=irq, base=0x2F8, name="com2").attach(bus)
    bus.io_write(0x2F8, 1, ord("2"))
    assert out == [b"2"]
    assert bus.io_read(0x3F8, 1) == 0xFF


def test_state_round_trip():
    rig = Rig()
    rig.w(LCR, 0x80)
    rig.w(RBR, 3)
    rig.w(LCR, 0x1B)
    rig.w(FCR, 0x47)
    rig.w(MCR, 0x0B)
    rig.w(IER, 0x05)
    rig.w(SCR, 0x77)
    rig.uart.feed(bytes(range(20)))     # 16 in the FIFO, 4 waiting
    rig.r(RBR)
    state = rig.uart.get_state()
    assert json.loads(json.dumps(state)) == state

    rig.w(FCR, 0x00)
    rig.w(MCR, 0x10)
    rig.w(LCR, 0x00)
    rig.w(SCR, 0)
    rig.uart.set_state(state)
    assert rig.irq.level
    assert [rig.r(reg) for reg in (IER, IIR, LCR, MCR, SCR)] == [0x05, 0xC4, 0x1B, 0x0B, 0x77]
    rig.w(LCR, 0x9B)
    assert rig.r(RBR) == 3
    rig.w(LCR, 0x1B)
    got = bytearray()
    while rig.r(LSR) & 0x01:
        got.append(rig.r(RBR))
    assert bytes(got) == bytes(range(1, 20))
