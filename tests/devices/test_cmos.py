"""MC146818 RTC/CMOS against the datasheet: BCD/binary and 12/24-hour formats, date rollover, NMI mask bit,
status registers (UIP, SET, C clear-on-read, D), periodic/update/alarm interrupts at their rates, memory-size bytes,
snapshots."""

import json
from datetime import datetime

import pytest

from devices.bus import Bus, IrqLine
from devices.clock import ManualClock
from devices.cmos import Cmos

S = 1_000_000_000
LEAP_EVE = datetime(2024, 2, 29, 23, 59, 58)          # a Thursday


class Rig:
    def __init__(self, start=LEAP_EVE, **kw):
        self.clock = ManualClock(5 * S)
        self.irq = IrqLine("irq8")
        self.rises = 0
        self.irq.connect(self._edge)
        self.cmos = Cmos(self.clock, irq=self.irq, start=start, **kw)
        self.bus = Bus()
        self.cmos.attach(self.bus)

    def _edge(self, level):
        self.rises += level

    def r(self, reg):
        self.bus.io_write(0x70, 1, reg)
        return self.bus.io_read(0x71, 1)

    def w(self, reg, value):
        self.bus.io_write(0x70, 1, reg)
        self.bus.io_write(0x71, 1, value)

    def time(self):
        return [self.r(reg) for reg in (0, 2, 4, 6, 7, 8, 9, 0x32)]

    def later(self, ns):
        self.clock.advance(ns)


def test_bcd_24h_default_and_rollover_into_march():
    rig = Rig()
    assert rig.r(0x0A) == 0x26 and rig.r(0x0B) == 0x02 and rig.r(0x0D) == 0x80
    assert rig.time() == [0x58, 0x59, 0x23, 5, 0x29, 0x02, 0x24, 0x20]
    rig.later(2 * S)
    assert rig.time() == [0x00, 0x00, 0x00, 6, 0x01, 0x03, 0x24, 0x20]


def test_unix_seconds_start_and_year_2000_default():
    rig = Rig(start=946684800)                        # 2000-01-01 00:00:00, a Saturday
    assert rig.time() == [0, 0, 0, 7, 0x01, 0x01, 0x00, 0x20]


@pytest.mark.parametrize("b, hour", [
    (0x06, 0x17),        # binary, 24h: 23
    (0x02, 0x23),        # BCD, 24h
    (0x00, 0x91),        # BCD, 12h: 11 PM
    (0x04, 0x8B),        # binary, 12h: 11 PM
])
def test_hour_formats(b, hour):
    rig = Rig()
    rig.w(0x0B, b)
    assert rig.r(4) == hour


@pytest.mark.parametrize("start, bcd12", [
    (datetime(2024, 1, 1, 0, 30), 0x12),              # 12 AM
    (datetime(2024, 1, 1, 12, 30), 0x92),             # 12 PM
    (datetime(2024, 1, 1, 1, 30), 0x01),
])
def test_twelve_hour_midnight_and_noon(start, bcd12):
    rig = Rig(start=start)
    rig.w(0x0B, 0x00)
    assert rig.r(4) == bcd12


def test_binary_mode_fields():
    rig = Rig()
    rig.w(0x0B, 0x06)
    assert rig.time() == [58, 59, 23, 5, 29, 2, 24, 20]


def test_index_port_and_nmi_mask():
    rig = Rig()
    rig.bus.io_write(0x70, 1, 0x80 | 0x0D)
    assert rig.cmos.nmi_masked
    assert rig.bus.io_read(0x71, 1) == 0x80
    rig.bus.io_write(0x70, 1, 0x0D)
    assert not rig.cmos.nmi_masked
    assert rig.bus.io_read(0x70, 1) == 0xFF           # write-only
    rig.w(0x40, 0x5A)
    rig.w(0x7F, 0xA5)
    assert rig.r(0x40) == 0x5A and rig.r(0x7F) == 0xA5
    rig.w(0x0D, 0x00)                                 # D is read-only
    assert rig.r(0x0D) == 0x80


def test_uip_in_the_last_244_us():
    rig = Rig()
    rig.later(S - 244_001)
    assert rig.r(0x0A) & 0x80 == 0
    rig.later(1)
    assert rig.r(0x0A) & 0x80
    rig.later(244_000)
    assert rig.r(0x0A) & 0x80 == 0 and rig.r(0) == 0x59


def test_set_freezes_and_writes_set_the_time():
    rig = Rig()
    rig.w(0x0B, 0x82 | 0x10)                          # SET (and UIE, which SET clears)
    assert rig.r(0x0B) == 0x82
    rig.later(5 * S)
    assert rig.r(0) == 0x58                           # frozen
    for reg, value in ((0, 0x30), (2, 0x15), (4, 0x08), (7, 0x04), (8, 0x07), (9, 0x99), (0x32, 0x19)):
        rig.w(reg, value)
    rig.later(3 * S)
    assert rig.r(0) == 0x30
    rig.w(0x0B, 0x02)                                 # release: runs from the written time
    rig.later(S + S // 2)
    assert rig.time()[:3] == [0x31, 0x15, 0x08]
    assert rig.time()[4:] == [0x04, 0x07, 0x99, 0x19]


def test_write_while_running_keeps_the_second_phase():
    rig = Rig()
    rig.later(S // 2)
    rig.w(2, 0x10)                                    # minutes := 10 at 23:10:58.5
    rig.later(S // 2)
    assert rig.r(0) == 0x59 and rig.r(2) == 0x10
    rig.w(0x0B, 0x00)
    rig.w(4, 0x81)                                    # 12-hour write: 1 PM
    rig.w(0x0B, 0x06)
    assert rig.r(4) == 13


def test_status_c_clears_on_read_and_periodic_flag_without_enable():
    rig = Rig()
    assert rig.r(0x0C) == 0x00
    rig.later(S // 1024 + 1)                          # one 1024 Hz period: PF set, PIE off: no IRQF
    assert rig.r(0x0C) == 0x40
    assert rig.r(0x0C) == 0x00
    assert rig.rises == 0


def run(rig, seconds_ns, read_c=True):
    """The machine's loop: go to each deadline, update; the guest's ISR reads C."""
    end = rig.clock.now_ns() + seconds_ns
    while (d := rig.cmos.deadline_ns()) is not None and d <= end:
        rig.clock.set(max(d, rig.clock.now_ns()))
        rig.cmos.update(rig.clock.now_ns())
        if read_c and rig.irq.level:
            rig.r(0x0C)
    rig.clock.set(end)
    rig.cmos.update(end)


@pytest.mark.parametrize("rate, ns, expected", [
    (6, S, 1024),
    (15, S, 2),
    (1, S, 256),
    (2, S, 128),
    (3, S // 100, 81),        # 8192 Hz for 10 ms: 81.92
    (0, S, 0),
])
def test_periodic_interrupt_rate(rate, ns, expected):
    rig = Rig()
    rig.w(0x0A, 0x20 | rate)
    rig.w(0x0B, 0x42)                                 # PIE
    run(rig, ns)
    assert rig.rises == expected


def test_first_periodic_deadline_1024hz():
    rig = Rig()
    rig.w(0x0B, 0x42)
    assert rig.cmos.deadline_ns() == 5 * S + 976563  # 32 / 32768 s = 976562.5 ns, rounded up


def test_line_stays_up_until_c_is_read():
    rig = Rig()
    rig.w(0x0B, 0x42)
    run(rig, S // 10, read_c=False)
    assert rig.rises == 1 and rig.irq.level
    assert rig.cmos.deadline_ns() is None
    assert rig.r(0x0C) == 0xC0
    assert not rig.irq.level


def test_update_ended_interrupt_once_a_second():
    rig = Rig()
    rig.w(0x0B, 0x12)                                 # UIE
    run(rig, 10 * S)
    assert rig.rises == 10


def test_alarm_with_dont_care_bytes():
    rig = Rig(start=datetime(2024, 5, 5, 10, 0, 0))
    rig.w(1, 0x05)                                    # second 05
    rig.w(3, 0xC0)                                    # any minute
    rig.w(5, 0xFF)                                    # any hour
    rig.w(0x0B, 0x22)                                 # AIE
    run(rig, 4 * S + S // 2)
    assert rig.rises == 0
    run(rig, S)
    assert rig.rises == 1
    run(rig, 2 * 60 * S)                              # 10:01:05, 10:02:05
    assert rig.rises == 3


@pytest.mark.parametrize("size, expected, checksum", [
    # 640 KB base = 0x0280; 31 MB extended = 31744 KB = 0x7C00; 16 MB above 16 MB = 256 x 64 KB = 0x0100
    (32 << 20, [0x80, 0x02, 0x00, 0x7C, 0x00, 0x7C, 0x00, 0x01], 0x80 + 0x02 + 0x7C),
    # 127 MB extended does not fit 16 bits: 0xFFFF; 112 MB above 16 MB = 1792 x 64 KB = 0x0700
    (128 << 20, [0x80, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x07], 0x80 + 0x02 + 0xFF + 0xFF),
])
def test_memory_size_bytes(size, expected, checksum):
    rig = Rig(memory_size=size)
    assert [rig.r(i) for i in (0x15, 0x16, 0x17, 0x18, 0x30, 0x31, 0x34, 0x35)] == expected
    assert rig.r(0x2E) << 8 | rig.r(0x2F) == checksum    # sum of 0x10-0x2D, big-endian


def test_state_round_trip():
    rig = Rig()
    rig.w(0x0B, 0x46)                                 # binary, PIE
    rig.w(0x50, 0x99)
    rig.bus.io_write(0x70, 1, 0x80 | 0x0C)
    rig.later(S // 2)
    state = rig.cmos.get_state()
    assert json.loads(json.dumps(state)) == state

    rig.w(0x0B, 0x02)
    rig.w(0x50, 0)
    rig.w(0, 0x11)
    rig.cmos.set_state(state)
    assert rig.cmos.nmi_masked
    assert rig.bus.io_read(0x71, 1) == 0xC0           # index 0x0C restored; PF pending with PIE: IRQF
    assert rig.r(0x50) == 0x99 and rig.r(0x0B) == 0x46
    rig.later(S // 2)
    assert rig.time() == [59, 59, 23, 5, 29, 2, 24, 20]   # 1 s after the start, in binary
