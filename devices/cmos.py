"""Motorola MC146818 real-time clock and CMOS RAM (PC ports 0x70 index, 0x71 data; IRQ 8).

Port 0x70 selects one of 128 bytes (bits 6-0); its bit 7 is the PC's NMI mask (``nmi_masked``). Port 0x70 is
write-only: reading it returns 0xFF.

Registers: 0 seconds, 1 seconds alarm, 2 minutes, 3 minutes alarm, 4 hours, 5 hours alarm, 6 day of week (Sunday = 1),
7 day of month, 8 month, 9 year (00-99), 0x32 century (the PC/AT convention, same format as the others), then
status A (UIP bit 7, divider bits 6-4, rate select bits 3-0), B (SET bit 7, PIE 6, AIE 5, UIE 4, SQWE 3, DM 2 binary,
24/12 bit 1, DSE 0), C (IRQF 7, PF 6, AF 5, UF 4; read-only, cleared by reading) and D (VRT bit 7, always 1). The other
bytes are plain battery-backed RAM; ``memory_size`` fills the PC BIOS memory-size bytes (0x15-0x18, 0x30-0x31,
0x34-0x35) and the checksum over 0x10-0x2D at 0x2E-0x2F.

Time: the clock reads ``start`` (a datetime or Unix seconds, UTC) at clock time ``clock.now_ns()`` of construction and
advances with the injected clock; while SET is 1 the registers are frozen and writes to them change the frozen time,
which starts running again when SET is cleared; a write to a time register while SET is 0 changes the running time
(the sub-second phase is kept). Registers read in BCD or binary and in 12-hour (bit 7 = PM) or 24-hour form per B.

Interrupts (IRQ line = IRQF): the periodic flag PF at the rate of A's rate select (32768 >> (RS - 1) Hz; RS 1 and 2
give 256 and 128 Hz), the update-ended flag UF once a second, the alarm flag AF when the time matches the alarms
(an alarm byte with bits 7-6 = 11 matches anything). Flags are set whether or not they are enabled; the line rises
when a set flag is enabled and stays up until C is read. ``deadline_ns`` gives the next periodic or once-a-second
event while an enabled flag could raise the line; ``update(now_ns)`` delivers events up to ``now_ns``.

Departures: the time is kept in binary internally, so changing B's DM or 24/12 bit converts the registers (the real
chip does not, and requires software to rewrite them) and an impossible date written by software is clamped to a real
one; the periodic phase counts from construction or from the last divider reset (A bits 6-4 leaving 11x); the
periodic and update interrupts run only with the 32.768 kHz divider setting (A bits 6-4 = 010), though the time
itself always advances; UIP is 1 during the last 244 us of each second (the update itself is instantaneous); the
alarm is checked at the latest second boundary of each update, so the machine must honour ``deadline_ns`` (one
deadline per second while AIE is set) for no alarm second to be skipped. Daylight saving (DSE) and the square-wave
output are not modelled.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devices.bus import IrqLine

NS = 1_000_000_000
RTC_HZ = 32768
UIP_NS = 244_000

REG_A, REG_B, REG_C, REG_D, REG_CENTURY = 0x0A, 0x0B, 0x0C, 0x0D, 0x32
B_SET, B_PIE, B_AIE, B_UIE, B_DM, B_24H = 0x80, 0x40, 0x20, 0x10, 0x04, 0x02
C_IRQF, C_PF, C_AF, C_UF = 0x80, 0x40, 0x20, 0x10
DIVIDER_32K = 0b010

# register -> index into the time fields [sec, min, hour, wday, mday, month, year]
TIME_REGS = {0x00: 0, 0x02: 1, 0x04: 2, 0x06: 3, 0x07: 4, 0x08: 5, 0x09: 6, REG_CENTURY: 6}
ALARM_REGS = ((0x01, 0x00), (0x03, 0x02), (0x05, 0x04))       # (alarm register, time register)


def _bcd(v: int) -> int:
    return ((v // 10) % 10) << 4 | (v % 10)


def _unbcd(v: int) -> int:
    return (v >> 4) * 10 + (v & 0xF)


def _fields_of(dt: datetime) -> list[int]:
    return [dt.second, dt.minute, dt.hour, dt.isoweekday() % 7 + 1, dt.day, dt.month, dt.year]


def _datetime_of(f: list[int]) -> datetime:
    """The fields as a datetime, each clamped to its valid range."""
    year = min(max(f[6], 1), 9999)
    month = min(max(f[5], 1), 12)
    day = min(max(f[4], 1), 31)
    while True:
        try:
            return datetime(year, month, day, min(f[2], 23), min(f[1], 59), min(f[0], 59))
        except ValueError:
            day -= 1


def period_ticks(rate: int) -> int | None:
    """Periodic interrupt period in 32768 Hz ticks for rate select ``rate`` (None: off)."""
    if rate == 0:
        return None
    return 1 << (rate + 6) if rate < 3 else 1 << (rate - 1)


class Cmos:
    """RTC + 128 bytes of CMOS RAM as a bus device: offset 0 index (0x70), offset 1 data (0x71)."""

    def __init__(self, clock, irq: IrqLine | None = None, start: datetime | int = 946684800, base: int = 0x70,
                 memory_size: int | None = None):
        self.clock = clock
        self.irq = irq
        self.base = base
        self.index = 0
        self.nmi_masked = False
        self.ram = bytearray(128)
        self.ram[REG_A] = 0x26              # 32.768 kHz divider, 1024 Hz periodic rate
        self.ram[REG_B] = B_24H             # 24-hour, BCD
        if isinstance(start, int):
            start = datetime.fromtimestamp(start, tz=UTC).replace(tzinfo=None)
        self.base_fields = _fields_of(start)
        self.base_ns = clock.now_ns()
        self.frozen: list[int] | None = None    # fields held while SET = 1
        self.flags = 0                          # C register bits PF/AF/UF
        self.synced_ns = self.base_ns
        self.divider_ns = self.base_ns          # origin of the periodic phase
        if memory_size is not None:
            self.set_memory_size(memory_size)
        self._time_encoders = {0: self._enc, 1: self._enc, 2: self._enc_hour, 3: self._enc, 4: self._enc,
                               5: self._enc, 6: self._enc}

    def attach(self, bus) -> None:
        bus.add_ports(self.base, 2, self, "cmos")

    def set_memory_size(self, size: int) -> None:
        """Fill the BIOS memory-size bytes for ``size`` bytes of RAM, and the standard checksum."""
        kb = size // 1024
        base_kb = min(kb, 640)
        ext_kb = min(max(kb - 1024, 0), 0xFFFF)
        above16 = min(max(size - (16 << 20), 0) // (64 << 10), 0xFFFF)
        for reg, value in ((0x15, base_kb), (0x17, ext_kb), (0x30, ext_kb), (0x34, above16)):
            self.ram[reg], self.ram[reg + 1] = value & 0xFF, value >> 8
        checksum = sum(self.ram[0x10:0x2E]) & 0xFFFF
        self.ram[0x2E], self.ram[0x2F] = checksum >> 8, checksum & 0xFF

    # -- time ---------------------------------------------------------------------------------------------------

    @property
    def binary(self) -> bool:
        return bool(self.ram[REG_B] & B_DM)

    @property
    def hour24(self) -> bool:
        return bool(self.ram[REG_B] & B_24H)

    def fields(self, now: int | None = None) -> list[int]:
        """[sec, min, hour (0-23), weekday (Sunday = 1), day, month, year] as of ``now``."""
        if self.frozen is not None:
            return list(self.frozen)
        now = self.clock.now_ns() if now is None else now
        start = _datetime_of(self.base_fields)
        dt = start + timedelta(seconds=(now - self.base_ns) // NS)
        days = (dt.date() - start.date()).days
        f = _fields_of(dt)
        f[3] = (self.base_fields[3] - 1 + days) % 7 + 1
        return f

    def _enc(self, v: int) -> int:
        return v if self.binary else _bcd(v)

    def _dec(self, v: int) -> int:
        return v if self.binary else _unbcd(v)

    def _enc_hour(self, h: int) -> int:
        if self.hour24:
            return self._enc(h)
        return self._enc(h % 12 or 12) | (0x80 if h >= 12 else 0)

    def _dec_hour(self, v: int) -> int:
        if self.hour24:
            return self._dec(v)
        return self._dec(v & 0x7F) % 12 + (12 if v & 0x80 else 0)

    def _read_time(self, reg: int) -> int:
        f = self.fields()
        if reg == REG_CENTURY:
            return self._enc(f[6] // 100)
        i = TIME_REGS[reg]
        return self._time_encoders[i](f[i] % 100 if i == 6 else f[i])

    def _write_time(self, reg: int, value: int) -> None:
        now = self.clock.now_ns()
        f = self.fields(now)
        i = TIME_REGS[reg]
        if reg == REG_CENTURY:
            f[6] = self._dec(value) * 100 + f[6] % 100
        elif i == 6:
            f[6] = f[6] // 100 * 100 + self._dec(value)
        elif i == 2:
            f[2] = self._dec_hour(value)
        else:
            f[i] = self._dec(value)
        if self.frozen is not None:
            self.frozen = f
        else:
            self.base_fields, self.base_ns = f, now - (now - self.base_ns) % NS

    # -- flags and the interrupt line ---------------------------------------------------------------------------

    @property
    def _running(self) -> bool:
        return (self.ram[REG_A] >> 4) & 7 == DIVIDER_32K

    def _periodic_index(self, t: int, period: int) -> int:
        return (t - self.divider_ns) * RTC_HZ // NS // period

    def _second_index(self, t: int) -> int:
        return (t - self.base_ns) // NS

    def _sync(self, now: int) -> None:
        a = self.synced_ns
        if now <= a:
            return
        self.synced_ns = now
        if not self._running:
            return
        period = period_ticks(self.ram[REG_A] & 0x0F)
        if period is not None and self._periodic_index(now, period) > self._periodic_index(a, period):
            self.flags |= C_PF
        if self.frozen is None and self._second_index(now) > self._second_index(a):
            self.flags |= C_UF
            if self._alarm_matches(now):
                self.flags |= C_AF

    def _alarm_matches(self, now: int) -> bool:
        f = self.fields(now)
        for alarm_reg, time_reg in ALARM_REGS:
            alarm = self.ram[alarm_reg]
            if alarm & 0xC0 == 0xC0:
                continue
            i = TIME_REGS[time_reg]
            if self._time_encoders[i](f[i]) != alarm:
                return False
        return True

    def _irqf(self) -> bool:
        return bool(self.flags & self.ram[REG_B] & (C_PF | C_AF | C_UF))     # B's enables sit at C's flag bits

    def _update_irq(self) -> None:
        if self.irq is not None:
            self.irq.set(self._irqf())

    def deadline_ns(self) -> int | None:
        """The next periodic tick (PIE) or second boundary (UIE/AIE) that could raise the line, or None."""
        b = self.ram[REG_B]
        if not self._running or self._irqf():
            return None
        best = None
        period = period_ticks(self.ram[REG_A] & 0x0F)
        if b & B_PIE and period is not None:
            k = self._periodic_index(self.synced_ns, period) + 1
            best = self.divider_ns + -(-k * period * NS // RTC_HZ)
        if b & (B_UIE | B_AIE) and self.frozen is None:
            second = self.base_ns + (self._second_index(self.synced_ns) + 1) * NS
            best = second if best is None else min(best, second)
        return best

    def update(self, now_ns: int) -> None:
        self._sync(now_ns)
        self._update_irq()

    # -- registers ----------------------------------------------------------------------------------------------

    def _read_reg(self, reg: int) -> int:
        if reg in TIME_REGS:
            return self._read_time(reg)
        if reg == REG_A:
            frac = (self.clock.now_ns() - self.base_ns) % NS
            uip = self.frozen is None and self._running and frac >= NS - UIP_NS
            return (self.ram[REG_A] & 0x7F) | (0x80 if uip else 0)
        if reg == REG_C:
            value = self.flags | (C_IRQF if self._irqf() else 0)
            self.flags = 0
            return value
        if reg == REG_D:
            return 0x80
        return self.ram[reg]

    def _write_reg(self, reg: int, value: int) -> None:
        if reg in TIME_REGS:
            self._write_time(reg, value)
        elif reg == REG_A:
            now = self.clock.now_ns()
            if (self.ram[REG_A] >> 5) & 3 == 3 and (value >> 5) & 3 != 3:
                self.divider_ns = now           # divider chain reset released
            self.ram[REG_A] = value & 0x7F
        elif reg == REG_B:
            self._write_b(value)
        elif reg not in (REG_C, REG_D):
            self.ram[reg] = value

    def _write_b(self, value: int) -> None:
        now = self.clock.now_ns()
        old = self.ram[REG_B]
        if value & B_SET:
            value &= ~B_UIE
            if not old & B_SET:
                self.frozen = self.fields(now)
        elif old & B_SET:
            self.base_fields, self.base_ns, self.frozen = self.frozen, now, None
        self.ram[REG_B] = value

    # -- bus protocol -------------------------------------------------------------------------------------------

    def read(self, offset: int, size: int) -> int:
        if offset == 0:
            return 0xFF
        self._sync(self.clock.now_ns())
        value = self._read_reg(self.index)
        self._update_irq()
        return value

    def write(self, offset: int, size: int, value: int) -> None:
        value &= 0xFF
        if offset == 0:
            self.index = value & 0x7F
            self.nmi_masked = bool(value & 0x80)
            return
        self._sync(self.clock.now_ns())
        self._write_reg(self.index, value)
        self._update_irq()

    def get_state(self) -> dict:
        return {"index": self.index, "nmi_masked": int(self.nmi_masked), "ram": list(self.ram),
                "base_fields": list(self.base_fields), "base_ns": self.base_ns,
                "frozen": None if self.frozen is None else list(self.frozen), "flags": self.flags,
                "synced_ns": self.synced_ns, "divider_ns": self.divider_ns,
                "irq": int(self.irq.level) if self.irq is not None else 0}

    def set_state(self, state: dict) -> None:
        self.index = state["index"]
        self.nmi_masked = bool(state["nmi_masked"])
        self.ram = bytearray(state["ram"])
        self.base_fields = list(state["base_fields"])
        self.base_ns = state["base_ns"]
        self.frozen = None if state["frozen"] is None else list(state["frozen"])
        self.flags = state["flags"]
        self.synced_ns = state["synced_ns"]
        self.divider_ns = state["divider_ns"]
        if self.irq is not None:
            self.irq.restore(state["irq"])
