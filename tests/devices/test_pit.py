"""8254 PIT against the datasheet: modes 0-5, access modes, latch and read-back, BCD, count 0, gate and OUT2 through
port 0x61, and interrupts at exactly the programmed rate in virtual time."""

import json
from fractions import Fraction

import pytest

from devices.bus import Bus, IrqLine
from devices.clock import ManualClock
from devices.pit import Pit8254
from devices.portb import PortB

F = 1193182


def tick_ns(k):
    """The first whole ns at which k input-clock ticks have passed (ceil of k / F seconds)."""
    exact = Fraction(k * 10**9, F)
    return int(exact) + (exact.denominator != 1)


class Rig:
    def __init__(self):
        self.clock = ManualClock()
        self.line = IrqLine("irq0")
        self.rises = 0
        self.line.connect(self._edge)
        self.bus = Bus()
        self.pit = Pit8254(self.clock, irq0=self.line)
        self.pit.attach(self.bus)
        assert self.line.level               # OUT starts high
        self.rises = 0
        self.portb = PortB(self.pit, self.clock)
        self.portb.attach(self.bus)

    def _edge(self, level):
        self.rises += level

    def at(self, k):
        """Move the clock to tick k."""
        self.clock.set(tick_ns(k))

    def program(self, channel, mode, count, rw=3, bcd=0):
        self.bus.io_write(0x43, 1, channel << 6 | rw << 4 | mode << 1 | bcd)
        if rw & 1:
            self.bus.io_write(0x40 + channel, 1, count & 0xFF)
        if rw & 2:
            self.bus.io_write(0x40 + channel, 1, count >> 8)

    def latch(self, channel):
        self.bus.io_write(0x43, 1, channel << 6)
        return self.bus.io_read(0x40 + channel, 1) | self.bus.io_read(0x40 + channel, 1) << 8

    def run_until(self, end_ns):
        """The machine's loop: jump to each deadline and update there."""
        while (d := self.pit.deadline_ns()) is not None and d <= end_ns:
            self.clock.set(max(d, self.clock.now_ns()))
            self.pit.update(self.clock.now_ns())
        self.clock.set(end_ns)
        self.pit.update(end_ns)


@pytest.mark.parametrize("mode", [2, 3])
@pytest.mark.parametrize("divisor, seconds, expected", [
    (11932, 1, 99),          # 1193182 / 11932 = 99.998...
    (1193, 1, 1000),         # 1000.15...
    (0, 1, 18),              # count 0 = 65536: 18.206...
    (2, Fraction(1, 1000), 596),    # 1193.182 ticks in 1 ms -> 1193 ticks -> 596 periods
])
def test_periodic_rate_is_exact_in_virtual_time(mode, divisor, seconds, expected):
    rig = Rig()
    rig.program(0, mode, divisor)
    rig.run_until(int(seconds * 10**9))
    assert rig.rises == expected
    assert rig.pit.channels[0].edges == expected


def test_mode2_first_deadline_and_edge_timing():
    rig = Rig()
    rig.program(0, 2, 11932)
    first = tick_ns(11932)
    assert rig.pit.deadline_ns() == first == 10000151     # 11932 / 1.193182 MHz = 10000150.9 ns
    rig.clock.set(first - 1)
    rig.pit.update(first - 1)
    assert rig.rises == 0
    rig.clock.set(first)
    rig.pit.update(first)
    assert rig.rises == 1
    assert rig.pit.deadline_ns() == tick_ns(2 * 11932)


def test_late_update_merges_edges_into_one_pulse():
    rig = Rig()
    rig.program(0, 2, 100)
    rig.at(1050)
    rig.pit.update(rig.clock.now_ns())
    assert rig.rises == 1
    assert rig.pit.channels[0].edges == 10
    assert rig.pit.deadline_ns() == tick_ns(1100)


def test_mode0_terminal_count():
    rig = Rig()
    rig.program(0, 0, 1000)
    assert not rig.line.level
    assert rig.pit.deadline_ns() == tick_ns(1000)
    rig.at(250)
    assert rig.latch(0) == 750
    rig.at(999)
    rig.pit.update(rig.clock.now_ns())
    assert rig.rises == 0 and not rig.line.level
    rig.at(1000)
    rig.pit.update(rig.clock.now_ns())
    assert rig.rises == 1 and rig.line.level
    assert rig.pit.deadline_ns() is None          # one shot: OUT stays high
    rig.at(1003)
    assert rig.latch(0) == 0xFFFD                 # the counter keeps wrapping down
    rig.program(0, 0, 10)                         # a new count: OUT low again
    assert not rig.line.level


def test_mode0_first_byte_stops_counting():
    rig = Rig()
    rig.program(0, 0, 100)
    rig.at(50)
    rig.bus.io_write(0x40, 1, 0x20)               # LSB only: counting stops, OUT low
    rig.at(500)
    rig.pit.update(rig.clock.now_ns())
    assert rig.rises == 0
    rig.bus.io_write(0x40, 1, 0x00)               # MSB: count 0x20 loaded at tick 500
    rig.at(532)
    rig.pit.update(rig.clock.now_ns())
    assert rig.rises == 1


def test_mode3_square_wave_readback_and_levels():
    rig = Rig()
    rig.program(0, 3, 1000)
    rig.at(100)
    assert rig.latch(0) == 800 and rig.line.level          # first half: high, counting down by 2
    rig.at(600)
    assert rig.latch(0) == 800
    rig.pit.update(rig.clock.now_ns())
    assert not rig.line.level                              # second half: low
    rig.at(1000)
    rig.pit.update(rig.clock.now_ns())
    assert rig.line.level and rig.rises == 1               # OUT was already high at programming: no edge then


def test_mode4_strobe():
    rig = Rig()
    rig.program(0, 4, 100)
    assert rig.pit.deadline_ns() == tick_ns(101)
    rig.at(100)
    rig.pit.update(rig.clock.now_ns())
    assert not rig.line.level                               # low for one tick at terminal count
    rig.at(101)
    rig.pit.update(rig.clock.now_ns())
    assert rig.line.level
    assert rig.pit.channels[0].edges == 1


def test_new_count_in_mode2_waits_for_end_of_period():
    rig = Rig()
    rig.program(0, 2, 1000)
    rig.at(300)
    rig.program(0, 2, 500, rw=3)                  # rewrites the control word: restarts with 500
    rig.run_until(tick_ns(300 + 1000))
    assert rig.pit.channels[0].edges == 2         # ticks 800 and 1300

    rig = Rig()
    rig.program(0, 2, 1000)
    rig.at(300)
    rig.bus.io_write(0x40, 1, 500 & 0xFF)         # count only: takes effect at tick 1000
    rig.bus.io_write(0x40, 1, 500 >> 8)
    rig.run_until(tick_ns(1999))
    assert rig.pit.channels[0].edges == 2         # ticks 1000 and 1500
    assert rig.pit.deadline_ns() == tick_ns(2000)


def test_access_modes_lobyte_hibyte():
    rig = Rig()
    rig.program(0, 2, 0x40, rw=1)                 # LSB only: N = 0x40
    rig.run_until(tick_ns(0x40 * 3))
    assert rig.pit.channels[0].edges == 3
    rig = Rig()
    rig.program(0, 2, 0x0200, rw=2)               # MSB only: N = 0x200
    rig.run_until(tick_ns(0x200 * 2))
    assert rig.pit.channels[0].edges == 2
    rig.at(0x200 * 2 + 0x10)
    assert rig.bus.io_read(0x40, 1) == 0x01       # MSB of 0x1F0, every read


def test_live_read_lohi_and_latch_holds():
    rig = Rig()
    rig.program(0, 0, 0x1234)
    rig.at(0x34)
    rig.bus.io_write(0x43, 1, 0x00)               # latch channel 0 at count 0x1200
    rig.at(0x100)
    assert rig.bus.io_read(0x40, 1) == 0x00
    rig.bus.io_write(0x43, 1, 0x00)               # a second latch before the read completes is ignored
    assert rig.bus.io_read(0x40, 1) == 0x12
    assert rig.bus.io_read(0x40, 1) == 0x34       # live now: 0x1234 - 0x100 = 0x1134
    assert rig.bus.io_read(0x40, 1) == 0x11


def test_read_back_status_then_count():
    rig = Rig()
    rig.bus.io_write(0x43, 1, 0x30)               # channel 0, lohi, mode 0
    rig.bus.io_write(0x43, 1, 0xE2)               # read-back: status only, channel 0
    assert rig.bus.io_read(0x40, 1) == 0x70       # OUT 0, NULL COUNT 1, lohi, mode 0, binary
    rig.program(0, 2, 1000)
    rig.at(10)
    rig.bus.io_write(0x43, 1, 0xC2)               # read-back: count and status, channel 0
    assert rig.bus.io_read(0x40, 1) == 0xB4       # OUT 1, count loaded, lohi, mode 2
    assert rig.bus.io_read(0x40, 1) | rig.bus.io_read(0x40, 1) << 8 == 990
    rig.bus.io_write(0x43, 1, 0xDA)               # count only for channels 0 and 2 (bits 1 and 3)
    assert rig.pit.channels[2].count_latch is not None and rig.pit.channels[1].count_latch is None
    assert rig.bus.io_read(0x43, 1) == 0xFF


def test_bcd_counting():
    rig = Rig()
    rig.program(0, 2, 0x0100, bcd=1)              # BCD 100
    rig.at(30)
    assert rig.latch(0) == 0x0070
    rig.run_until(tick_ns(1000))
    assert rig.pit.channels[0].edges == 10
    rig = Rig()
    rig.program(0, 2, 0, bcd=1)                   # BCD 0 = 10000
    rig.run_until(tick_ns(20000))
    assert rig.pit.channels[0].edges == 2


def test_port61_gate_and_out2_mode0():
    rig = Rig()
    rig.bus.io_write(0x61, 1, 0x00)               # gate 2 low
    rig.program(2, 0, 100)
    rig.at(500)
    assert rig.bus.io_read(0x61, 1) & 0x20 == 0   # gate low: mode 0 does not count
    rig.bus.io_write(0x61, 1, 0x01)
    rig.at(599)
    assert rig.bus.io_read(0x61, 1) & 0x21 == 0x01
    rig.at(600)
    assert rig.bus.io_read(0x61, 1) & 0x20 == 0x20


def test_port61_mode2_gate_low_forces_out_high_and_restarts():
    rig = Rig()
    rig.bus.io_write(0x61, 1, 0x01)
    rig.program(2, 2, 10)
    rig.at(9)
    assert rig.bus.io_read(0x61, 1) & 0x20 == 0   # the one low tick of mode 2
    rig.bus.io_write(0x61, 1, 0x00)
    assert rig.bus.io_read(0x61, 1) & 0x20 == 0x20
    rig.at(50)
    rig.bus.io_write(0x61, 1, 0x01)               # rising gate reloads: low again 9 ticks later
    rig.at(59)
    assert rig.bus.io_read(0x61, 1) & 0x20 == 0


def test_port61_mode1_and_mode5_trigger_on_gate():
    for mode, low_from, low_to in ((1, 10, 110), (5, 110, 111)):
        rig = Rig()
        rig.bus.io_write(0x61, 1, 0x00)
        rig.program(2, mode, 100)
        rig.at(5)
        assert rig.bus.io_read(0x61, 1) & 0x20        # waiting for a trigger: OUT high
        rig.at(10)
        rig.bus.io_write(0x61, 1, 0x01)               # trigger
        rig.at(low_from - 1 if mode == 5 else low_from)
        assert rig.bus.io_read(0x61, 1) & 0x20 == (0x20 if mode == 5 else 0)
        rig.at(low_to - 1 if mode == 1 else low_from)
        assert rig.bus.io_read(0x61, 1) & 0x20 == 0
        rig.at(low_to)
        assert rig.bus.io_read(0x61, 1) & 0x20 == 0x20


def test_port61_bits_and_refresh_toggle():
    rig = Rig()
    rig.bus.io_write(0x61, 1, 0xFF)
    assert rig.bus.io_read(0x61, 1) & 0xCF == 0x0F   # bits 0-3 read back, 6-7 read 0
    assert rig.portb.speaker_on
    rig.at(17)
    assert rig.bus.io_read(0x61, 1) & 0x10 == 0
    rig.at(18)
    assert rig.bus.io_read(0x61, 1) & 0x10 == 0x10
    rig.at(36)
    assert rig.bus.io_read(0x61, 1) & 0x10 == 0


def test_state_round_trip():
    rig = Rig()
    rig.program(0, 2, 1000)
    rig.bus.io_write(0x61, 1, 0x01)
    rig.program(2, 3, 300)
    rig.run_until(tick_ns(1500))
    rig.bus.io_write(0x43, 1, 0x00)                   # latch channel 0 at count 500: part of the state
    saved_ns, state = rig.clock.now_ns(), rig.pit.get_state()
    assert json.loads(json.dumps(state)) == state
    rig.program(0, 0, 7)                              # mutate everything, then load the snapshot into a twin
    rig.program(2, 2, 9)

    twin = Rig()
    twin.clock.set(saved_ns)
    twin.pit.set_state(state)
    assert twin.bus.io_read(0x40, 1) == 500 & 0xFF    # the latch survived
    assert twin.bus.io_read(0x40, 1) == 500 >> 8
    twin.run_until(tick_ns(5500))
    assert twin.pit.channels[0].edges == 5            # ticks 1000 (before the snapshot), 2000 .. 5000
    assert twin.rises == 4
    twin.at(5600)
    assert twin.latch(2) == 200                       # mode 3, N=300: p = 5600 % 300 = 200, low half, 300 - 2*50
