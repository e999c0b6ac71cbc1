"""National Semiconductor 16550A UART (PC COM1 at 0x3F8 on IRQ 4 by default; base and IRQ are parameters).

Registers (offset, DLAB): 0 RBR/THR (DLAB=1: DLL), 1 IER (DLAB=1: DLM), 2 IIR/FCR, 3 LCR, 4 MCR, 5 LSR, 6 MSR, 7 SCR.

Modelled from the datasheet: the divisor latch; FIFO enable and clear (16-byte receive FIFO with trigger levels 1, 4,
8 and 14); interrupt identification with its four priorities (receiver line status > received data available /
character timeout > THR empty > modem status); THRE interrupt semantics (pending whenever the THR becomes empty and
when ETBEI is newly set while it is empty; cleared by an IIR read that reports it, or by a THR write); LSR error bits
cleared by reading LSR; MSR delta bits cleared by reading MSR; loopback (MCR bit 4: THR feeds the receiver, MCR
DTR/RTS/OUT1/OUT2 appear as DSR/CTS/RI/DCD). As on the PC, the IRQ line is driven only while MCR OUT2 is set; in
loopback the OUT2 pin is forced inactive, so no IRQ reaches the PIC (the interrupt still shows in IIR).

Host side: bytes written to THR go to the injected ``sink(bytes)`` at once. ``feed(data)`` queues host input; the
receive FIFO is filled from that queue as the guest empties it, so host input behaves as if the link had perfect flow
control and is never overrun (overruns happen only in loopback). Line settings (baud rate, parity) do not alter the
bytes; parity, framing and break errors never occur.

Time: transmission is instantaneous (THR and the transmitter are empty again right after a THR write, so THRE and TEMT
always read 1 and a THR write with ETBEI set re-raises the THRE interrupt at once). The character timeout interrupt
(FIFO mode, data below the trigger level, nothing received or read for 4 character times at the programmed baud rate
and frame size) uses the injected clock through ``deadline_ns``/``update``; without a clock it is pending as soon as
data sits below the trigger level.
"""

from __future__ import annotations

from collections.abc import Callable

from devices.bus import IrqLine

FIFO_SIZE = 16
TRIGGER_LEVELS = (1, 4, 8, 14)
UART_CLOCK_HZ = 1_843_200

IER_RDA, IER_THRE, IER_RLS, IER_MS = 1, 2, 4, 8
LSR_DR, LSR_OE, LSR_PE, LSR_FE, LSR_BI, LSR_THRE, LSR_TEMT = 1, 2, 4, 8, 16, 32, 64
LSR_ERRORS = LSR_OE | LSR_PE | LSR_FE | LSR_BI
MCR_DTR, MCR_RTS, MCR_OUT1, MCR_OUT2, MCR_LOOP = 1, 2, 4, 8, 16
MSR_CTS, MSR_DSR, MSR_RI, MSR_DCD = 0x10, 0x20, 0x40, 0x80

IIR_NONE, IIR_MS, IIR_THRE, IIR_RDA, IIR_RLS, IIR_TIMEOUT = 0x01, 0x00, 0x02, 0x04, 0x06, 0x0C


class Uart16550:
    """A 16550A. ``sink(bytes)`` receives transmitted bytes; ``feed(bytes)`` supplies received ones."""

    _FIELDS = ("ier", "lcr", "mcr", "scr", "dll", "dlm", "fifo_enabled", "trigger", "rbr", "lsr_errors", "msr_delta",
               "thre_pending", "last_rx_ns", "synced_ns")

    def __init__(self, sink: Callable[[bytes], None] | None = None, irq: IrqLine | None = None, clock=None,
                 base: int = 0x3F8, name: str = "com1", modem_lines: int = MSR_CTS | MSR_DSR | MSR_DCD):
        self.sink = sink
        self.irq = irq
        self.clock = clock
        self.base = base
        self.name = name
        self.modem_lines = modem_lines      # MSR status bits the host side presents outside loopback
        self.ier = 0
        self.lcr = 0
        self.mcr = 0
        self.scr = 0
        self.dll, self.dlm = 0x0C, 0        # 9600 baud
        self.fifo_enabled = False
        self.trigger = 1
        self.rbr = 0                        # last byte read (what RBR shows when empty)
        self.rx: list[int] = []             # receive FIFO (holding register when FIFOs are off)
        self.backlog = bytearray()          # host input not yet received
        self.lsr_errors = 0
        self.msr_delta = 0
        self.thre_pending = False
        self.last_rx_ns = 0                 # last receive or RBR read, for the character timeout
        self.synced_ns = 0                  # the time of the last update (timeouts up to here are delivered)
        self._msr_lines = self._lines()
        self._readers = {0: self._read_rbr, 1: self._read_ier, 2: self._read_iir, 3: self._read_lcr,
                         4: self._read_mcr, 5: self._read_lsr, 6: self._read_msr, 7: self._read_scr}
        self._writers = {0: self._write_thr, 1: self._write_ier, 2: self._write_fcr, 3: self._write_lcr,
                         4: self._write_mcr, 5: self._write_ignored, 6: self._write_ignored, 7: self._write_scr}

    def attach(self, bus) -> None:
        bus.add_ports(self.base, 8, self, self.name)

    # -- helpers ------------------------------------------------------------------------------------------------

    def _now(self) -> int:
        return self.clock.now_ns() if self.clock is not None else 0

    @property
    def loopback(self) -> bool:
        return bool(self.mcr & MCR_LOOP)

    @property
    def divisor(self) -> int:
        return (self.dlm << 8 | self.dll) or 0x10000

    def char_ns(self) -> int:
        """One character time at the programmed baud rate: start + data + parity + stop bits."""
        bits = 1 + 5 + (self.lcr & 3) + (1 if self.lcr & 8 else 0) + (2 if self.lcr & 4 else 1)
        return bits * self.divisor * 16 * 1_000_000_000 // UART_CLOCK_HZ

    def _capacity(self) -> int:
        return FIFO_SIZE if self.fifo_enabled else 1

    def _lines(self) -> int:
        if not self.loopback:
            return self.modem_lines & 0xF0
        m = self.mcr
        return ((m & MCR_RTS) and MSR_CTS) | ((m & MCR_DTR) and MSR_DSR) | ((m & MCR_OUT1) and MSR_RI) \
            | ((m & MCR_OUT2) and MSR_DCD)

    def _update_msr(self) -> None:
        new = self._lines()
        old, self._msr_lines = self._msr_lines, new
        changed = old ^ new
        delta = (changed >> 4) & 0b1011                 # DCTS, DDSR, DDCD
        if old & MSR_RI and not new & MSR_RI:           # TERI: RI trailing edge
            delta |= 0b0100
        self.msr_delta |= delta

    def _receive(self, byte: int) -> None:
        if len(self.rx) >= self._capacity():
            self.lsr_errors |= LSR_OE
            if not self.fifo_enabled:
                self.rx[0] = byte               # the 16450 holding register is overwritten
        else:
            self.rx.append(byte)
        self.last_rx_ns = self._now()

    def _refill(self) -> None:
        if self.loopback:
            return
        room = self._capacity() - len(self.rx)
        if room > 0 and self.backlog:
            chunk = self.backlog[:room]
            del self.backlog[:room]
            self.rx.extend(chunk)
            self.last_rx_ns = self._now()

    def _timed_out(self) -> bool:
        if not (self.fifo_enabled and 0 < len(self.rx) < self.trigger):
            return False
        if self.clock is None:
            return True
        return self._now() - self.last_rx_ns >= 4 * self.char_ns()

    def _interrupt(self) -> int:
        """The IIR interrupt identification (bits 3-0) of the highest-priority pending interrupt."""
        ier = self.ier
        if ier & IER_RLS and self.lsr_errors:
            return IIR_RLS
        if ier & IER_RDA and self.rx:
            if len(self.rx) >= (self.trigger if self.fifo_enabled else 1):
                return IIR_RDA
            if self._timed_out():
                return IIR_TIMEOUT
        if ier & IER_THRE and self.thre_pending:
            return IIR_THRE
        if ier & IER_MS and self.msr_delta:
            return IIR_MS
        return IIR_NONE

    def _update_irq(self) -> None:
        if self.irq is not None:
            gate = self.mcr & MCR_OUT2 and not self.loopback
            self.irq.set(bool(gate) and self._interrupt() != IIR_NONE)

    # -- registers ----------------------------------------------------------------------------------------------

    def _read_rbr(self) -> int:
        if self.rx:
            self.rbr = self.rx.pop(0)
            self._refill()
        self.last_rx_ns = self._now()
        return self.rbr

    def _read_ier(self) -> int:
        return self.ier

    def _read_iir(self) -> int:
        iid = self._interrupt()
        if iid == IIR_THRE:
            self.thre_pending = False
        return iid | (0xC0 if self.fifo_enabled else 0)

    def _read_lcr(self) -> int:
        return self.lcr

    def _read_mcr(self) -> int:
        return self.mcr

    def _read_lsr(self) -> int:
        value = LSR_THRE | LSR_TEMT | (LSR_DR if self.rx else 0) | self.lsr_errors
        self.lsr_errors = 0
        return value

    def _read_msr(self) -> int:
        value = self._msr_lines | self.msr_delta
        self.msr_delta = 0
        return value

    def _read_scr(self) -> int:
        return self.scr

    def _write_thr(self, value: int) -> None:
        if self.loopback:
            self._receive(value)
        elif self.sink is not None:
            self.sink(bytes((value,)))
        self.thre_pending = True            # the byte left at once: THR is empty again

    def _write_ier(self, value: int) -> None:
        if value & IER_THRE and not self.ier & IER_THRE:
            self.thre_pending = True        # ETBEI newly set with THR empty
        self.ier = value & 0x0F

    def _write_fcr(self, value: int) -> None:
        enable = bool(value & 1)
        if enable != self.fifo_enabled:
            self.rx.clear()
        self.fifo_enabled = enable
        if enable:
            if value & 2:
                self.rx.clear()
            self.trigger = TRIGGER_LEVELS[value >> 6]
        self.last_rx_ns = self._now()
        self._refill()

    def _write_lcr(self, value: int) -> None:
        self.lcr = value

    def _write_mcr(self, value: int) -> None:
        was_loop = self.loopback
        self.mcr = value & 0x1F
        self._update_msr()
        if was_loop and not self.loopback:
            self._refill()

    def _write_scr(self, value: int) -> None:
        self.scr = value

    def _write_ignored(self, value: int) -> None:
        pass

    # -- bus protocol -------------------------------------------------------------------------------------------

    def read(self, offset: int, size: int) -> int:
        offset &= 7
        if self.lcr & 0x80 and offset < 2:
            value = self.dlm if offset else self.dll
        else:
            value = self._readers[offset]()
        self._update_irq()
        return value

    def write(self, offset: int, size: int, value: int) -> None:
        offset &= 7
        value &= 0xFF
        if self.lcr & 0x80 and offset < 2:
            if offset:
                self.dlm = value
            else:
                self.dll = value
        else:
            self._writers[offset](value)
        self._update_irq()

    # -- host side and time -------------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Host input: queue ``data`` for the receiver (raises the RX interrupt when the FIFO level says so)."""
        self.backlog += data
        self._refill()
        self._update_irq()

    def deadline_ns(self) -> int | None:
        """When the character timeout of data waiting below the trigger level fires (None if it cannot)."""
        if self.clock is None or not (self.fifo_enabled and self.ier & IER_RDA and 0 < len(self.rx) < self.trigger):
            return None
        when = self.last_rx_ns + 4 * self.char_ns()
        return when if when > self.synced_ns else None

    def update(self, now_ns: int) -> None:
        self.synced_ns = max(self.synced_ns, now_ns)
        self._update_irq()

    def get_state(self) -> dict:
        state = {f: getattr(self, f) for f in self._FIELDS}
        state["fifo_enabled"] = int(self.fifo_enabled)
        state["thre_pending"] = int(self.thre_pending)
        state.update(rx=list(self.rx), backlog=list(self.backlog), msr_lines=self._msr_lines,
                     irq=int(self.irq.level) if self.irq is not None else 0)
        return state

    def set_state(self, state: dict) -> None:
        for f in self._FIELDS:
            setattr(self, f, state[f])
        self.fifo_enabled = bool(state["fifo_enabled"])
        self.thre_pending = bool(state["thre_pending"])
        self.rx = list(state["rx"])
        self.backlog = bytearray(state["backlog"])
        self._msr_lines = state["msr_lines"]
        if self.irq is not None:
            self.irq.restore(state["irq"])
