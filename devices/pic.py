"""Intel 8259A programmable interrupt controllers, cascaded as in the PC/AT, and the PIIX ELCR.

``Pic8259`` is one chip (two ports: A0=0 and A0=1). ``PicPair`` is the PC arrangement: master at 0x20-0x21, slave at
0xA0-0xA1, the slave's INT output wired to master input IR2; it owns the 16 input lines (``irq(n)``), the CPU side
(``intr``, ``acknowledge()``, ``on_intr_change``) and the edge/level control registers (ELCR) at 0x4D0-0x4D1.

Modelled from the 8259A datasheet: the ICW1-ICW4 initialisation sequence, OCW1 (mask), every OCW2 command (non-specific
and specific EOI, rotate on either, rotate in automatic-EOI mode set/clear, set priority), OCW3 (read IRR/ISR select,
poll command, special mask mode), edge-triggered and level-triggered inputs (ICW1 LTIM for the whole chip, or ELCR per
input), fully nested priorities with rotation, automatic EOI (ICW4 AEOI), and the default IR7 answer of an INTA cycle
that finds no request (the "spurious" IRQ 7 / IRQ 15, for which no ISR bit is set).

Departures and simplifications:

- Edge mode: the rising edge sets the IRR latch and the latch stays set until the INTA cycle (or re-initialisation),
  even if the input falls first; on the real part a request that falls before INTA yields the default IR7. This is
  what makes ``IrqLine.pulse()`` work for edge-triggered ISA sources. Level mode: IRR follows the input level.
- Only the 8086/88 mode (ICW4 uPM=1) is modelled: the vector is ICW2 with its low 3 bits replaced by the level;
  MCS-80/85 call-address formats and the ICW1 ADI interval are ignored. Buffered mode and special fully nested mode
  (ICW4 BUF, SFNM) are accepted and stored, but SFNM does not change priority resolution.
- ICW1 clears ISR as well as IMR (the datasheet leaves ISR unspecified; emulators and BIOSes expect it clear); edge
  latches are reset, so an input that is already high must fall and rise again to request.
- ``irq(2)`` is not available: master IR2 is the cascade input driven by the slave (ISA IRQ 2 is routed to IRQ 9).
"""

from __future__ import annotations

from collections.abc import Callable

from devices.bus import IrqLine

_PRIORITY_SPAN = range(8)

# ELCR bits that must stay 0: IRQ 0, 1, 2 (master) and 8, 13 (slave) are always edge-triggered.
ELCR_MASKS = (0xF8, 0xDE)


class Pic8259:
    """One 8259A. Bus device with two ports: offset 0 (A0=0) and offset 1 (A0=1)."""

    _STATE_FIELDS = ("irr", "isr", "imr", "inputs", "base", "init_step", "single", "need_icw4", "ltim", "icw3",
                     "aeoi", "rotate_aeoi", "sfnm", "buffered", "lowest", "read_isr", "poll", "special_mask", "elcr",
                     "output")

    def __init__(self, name: str, on_output: Callable[[bool], None] | None = None):
        self.name = name
        self.on_output = on_output
        self.irr = 0            # interrupt request register
        self.isr = 0            # in-service register
        self.imr = 0xFF         # interrupt mask register (all masked until programmed)
        self.inputs = 0         # last level seen on each IR input
        self.base = 0           # ICW2 vector base (low 3 bits zero)
        self.init_step = 0      # 0 ready; 2, 3, 4: the ICW expected next on A0=1
        self.single = False     # ICW1 SNGL
        self.need_icw4 = False  # ICW1 IC4
        self.ltim = False       # ICW1 LTIM: every input level-triggered
        self.icw3 = 0
        self.aeoi = False
        self.rotate_aeoi = False
        self.sfnm = False
        self.buffered = 0
        self.lowest = 7         # the level with the lowest priority; lowest + 1 has the highest
        self.read_isr = False   # OCW3 RIS: A0=0 reads ISR instead of IRR
        self.poll = False       # OCW3 P: the next A0=0 read is a poll
        self.special_mask = False
        self.elcr = 0           # per-input level-trigger bits (ELCR)
        self.output = False     # INT pin
        self._ocw2 = {
            0b000: self._ocw2_clear_rotate_aeoi, 0b001: self._ocw2_eoi, 0b010: self._ocw2_nop,
            0b011: self._ocw2_specific_eoi, 0b100: self._ocw2_set_rotate_aeoi, 0b101: self._ocw2_rotate_eoi,
            0b110: self._ocw2_set_priority, 0b111: self._ocw2_rotate_specific_eoi,
        }
        self._icw = {2: self._icw2, 3: self._icw3, 4: self._icw4}

    # -- inputs and priority resolution -------------------------------------------------------------------------

    @property
    def level_mask(self) -> int:
        """Inputs that are level-triggered (LTIM or ELCR)."""
        return 0xFF if self.ltim else self.elcr

    def set_input(self, n: int, level: bool) -> None:
        bit = 1 << n
        if level:
            if (self.level_mask & bit) or not (self.inputs & bit):
                self.irr |= bit
            self.inputs |= bit
        else:
            self.inputs &= ~bit
            if self.level_mask & bit:
                self.irr &= ~bit
        self._update()

    def _sync_level_irr(self) -> None:
        lm = self.level_mask
        self.irr = (self.irr & ~lm) | (self.inputs & lm)

    def _first(self, bits: int) -> int | None:
        """The highest-priority level set in ``bits``."""
        if bits:
            start = self.lowest + 1
            for i in _PRIORITY_SPAN:
                n = (start + i) & 7
                if bits >> n & 1:
                    return n
        return None

    def _priority(self, n: int) -> int:
        return (n - self.lowest - 1) & 7        # 0 is the highest priority

    def pending(self) -> int | None:
        """The level INT is raised for: the highest unmasked request above every (unmasked, in SMM) ISR level."""
        req = self._first(self.irr & ~self.imr)
        if req is None:
            return None
        in_service = self._first(self.isr & ~self.imr if self.special_mask else self.isr)
        if in_service is not None and self._priority(req) >= self._priority(in_service):
            return None
        return req

    def _update(self) -> None:
        level = self.pending() is not None
        if level != self.output:
            self.output = level
            if self.on_output is not None:
                self.on_output(level)

    def inta(self) -> int | None:
        """The INTA cycle on this chip: the level being acknowledged, or None (the caller answers IR7)."""
        n = self.pending()
        if n is None:
            return None
        bit = 1 << n
        if not self.level_mask & bit:
            self.irr &= ~bit
        if self.aeoi:
            if self.rotate_aeoi:
                self.lowest = n
        else:
            self.isr |= bit
        self._update()
        return n

    # -- command words ------------------------------------------------------------------------------------------

    def _icw1(self, value: int) -> None:
        self.init_step = 2
        self.need_icw4 = bool(value & 0x01)
        self.single = bool(value & 0x02)
        self.ltim = bool(value & 0x08)
        self.imr = 0
        self.isr = 0
        self.irr = 0
        self._sync_level_irr()
        self.lowest = 7
        self.special_mask = False
        self.read_isr = False
        self.poll = False
        if not self.need_icw4:
            self.aeoi = self.rotate_aeoi = self.sfnm = False
            self.buffered = 0
        self._update()

    def _icw2(self, value: int) -> None:
        self.base = value & 0xF8
        self.init_step = 0 if self.single and not self.need_icw4 else (4 if self.single else 3)

    def _icw3(self, value: int) -> None:
        self.icw3 = value
        self.init_step = 4 if self.need_icw4 else 0

    def _icw4(self, value: int) -> None:
        self.aeoi = bool(value & 0x02)
        self.buffered = (value >> 2) & 3
        self.sfnm = bool(value & 0x10)
        self.init_step = 0

    def _ocw3(self, value: int) -> None:
        if value & 0x02:
            self.read_isr = bool(value & 0x01)
        self.poll = bool(value & 0x04)
        if value & 0x40:
            self.special_mask = bool(value & 0x20)
            self._update()

    def _eoi_level(self, n: int | None, rotate: bool) -> None:
        if n is not None:
            self.isr &= ~(1 << n)
            if rotate:
                self.lowest = n
        self._update()

    def _ocw2_eoi(self, level: int) -> None:
        self._eoi_level(self._first(self.isr), False)

    def _ocw2_rotate_eoi(self, level: int) -> None:
        self._eoi_level(self._first(self.isr), True)

    def _ocw2_specific_eoi(self, level: int) -> None:
        self._eoi_level(level, False)

    def _ocw2_rotate_specific_eoi(self, level: int) -> None:
        self._eoi_level(level, True)

    def _ocw2_set_priority(self, level: int) -> None:
        self.lowest = level
        self._update()

    def _ocw2_set_rotate_aeoi(self, level: int) -> None:
        self.rotate_aeoi = True

    def _ocw2_clear_rotate_aeoi(self, level: int) -> None:
        self.rotate_aeoi = False

    def _ocw2_nop(self, level: int) -> None:
        pass

    # -- bus protocol -------------------------------------------------------------------------------------------

    def read(self, offset: int, size: int) -> int:
        if offset & 1:
            return self.imr
        if self.poll:
            self.poll = False
            n = self.inta()
            return 0 if n is None else 0x80 | n
        return self.isr if self.read_isr else self.irr

    def write(self, offset: int, size: int, value: int) -> None:
        value &= 0xFF
        if offset & 1:
            if self.init_step:
                self._icw[self.init_step](value)
            else:
                self.imr = value
                self._update()
        elif value & 0x10:
            self._icw1(value)
        elif value & 0x08:
            self._ocw3(value)
        else:
            self._ocw2[value >> 5](value & 7)

    def get_state(self) -> dict:
        return {f: int(getattr(self, f)) if isinstance(getattr(self, f), bool) else getattr(self, f)
                for f in self._STATE_FIELDS}

    def set_state(self, state: dict) -> None:
        for f in self._STATE_FIELDS:
            old = getattr(self, f)
            setattr(self, f, bool(state[f]) if isinstance(old, bool) else int(state[f]))


class Elcr:
    """PIIX edge/level control registers: offset 0 (port 0x4D0) for IRQ 0-7, offset 1 (0x4D1) for IRQ 8-15."""

    def __init__(self, chips: tuple[Pic8259, Pic8259]):
        self._chips = chips

    def read(self, offset: int, size: int) -> int:
        return self._chips[offset & 1].elcr

    def write(self, offset: int, size: int, value: int) -> None:
        chip = self._chips[offset & 1]
        chip.elcr = value & ELCR_MASKS[offset & 1]
        chip._sync_level_irr()
        chip._update()

    def get_state(self) -> dict:
        return {"elcr": [c.elcr for c in self._chips]}

    def set_state(self, state: dict) -> None:
        for chip, v in zip(self._chips, state["elcr"]):
            chip.elcr = int(v)


class PicPair:
    """The PC/AT master + slave 8259A pair. ``intr`` is the INTR pin; ``acknowledge()`` is the INTA cycle."""

    CASCADE_IRQ = 2

    def __init__(self, master_base: int = 0x20, slave_base: int = 0xA0, elcr_base: int | None = 0x4D0):
        self.master_base, self.slave_base, self.elcr_base = master_base, slave_base, elcr_base
        self.on_intr_change: Callable[[bool], None] | None = None
        self.master = Pic8259("pic-master", on_output=self._master_output)
        self._lines = [IrqLine(f"irq{n}") for n in range(16)]
        self.slave = Pic8259("pic-slave", on_output=self._lines[self.CASCADE_IRQ].set)
        self.elcr = Elcr((self.master, self.slave))
        self._lines[self.CASCADE_IRQ].name = "irq2 (cascade from the slave)"
        for n, line in enumerate(self._lines):
            chip = self.master if n < 8 else self.slave
            line.connect(lambda level, chip=chip, pin=n & 7: chip.set_input(pin, level))

    def attach(self, bus) -> None:
        bus.add_ports(self.master_base, 2, self.master, "pic-master")
        bus.add_ports(self.slave_base, 2, self.slave, "pic-slave")
        if self.elcr_base is not None:
            bus.add_ports(self.elcr_base, 2, self.elcr, "elcr")

    def irq(self, n: int) -> IrqLine:
        """The input line for ISA IRQ ``n`` (0-15, not 2)."""
        if not 0 <= n < 16:
            raise ValueError(f"IRQ {n} does not exist on the 8259 pair (0-15)")
        if n == self.CASCADE_IRQ:
            raise ValueError("IRQ 2 is the cascade input of the master 8259 (ISA IRQ 2 devices use IRQ 9)")
        return self._lines[n]

    @property
    def intr(self) -> bool:
        return self.master.output

    def _master_output(self, level: bool) -> None:
        if self.on_intr_change is not None:
            self.on_intr_change(level)

    def _is_cascade(self, n: int) -> bool:
        return not self.master.single and bool(self.master.icw3 >> n & 1)

    def acknowledge(self) -> int:
        """The INTA cycle: the vector the pair puts on the bus. With no request it is the master's IR7 vector
        (spurious IRQ 7); a cascade request the slave no longer has gives the slave's IR7 vector (spurious IRQ 15,
        with the master's IR2 in service)."""
        n = self.master.inta()
        if n is None:
            return self.master.base | 7
        if self._is_cascade(n):
            s = self.slave.inta()
            return self.slave.base | (7 if s is None else s)
        return self.master.base | n

    def pending_irq(self) -> int | None:
        """The ISA IRQ number an INTA would deliver now (None if INTR is low); does not change state."""
        n = self.master.pending()
        if n is None:
            return None
        if self._is_cascade(n):
            s = self.slave.pending()
            return None if s is None else 8 + s
        return n

    def get_state(self) -> dict:
        return {"master": self.master.get_state(), "slave": self.slave.get_state(),
                "lines": [int(line.level) for line in self._lines]}

    def set_state(self, state: dict) -> None:
        before = self.intr
        self.master.set_state(state["master"])
        self.slave.set_state(state["slave"])
        for line, level in zip(self._lines, state["lines"]):
            line.restore(level)
        if self.intr != before and self.on_intr_change is not None:
            self.on_intr_change(self.intr)
