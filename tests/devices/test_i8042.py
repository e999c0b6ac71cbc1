"""8042 keyboard controller and keyboard: status bits, self-test, command byte, interface enables, output port (A20,
reset), pulse commands, keyboard commands and IRQ 1 edges, aux echo on IRQ 12, snapshots."""

import json

import pytest

from devices.bus import Bus, IrqLine
from devices.i8042 import I8042
from devices.sysctl import A20Gate


class Rig:
    def __init__(self, a20_on=True):
        self.resets, self.a20_calls, self.rises1, self.rises12 = 0, [], 0, 0
        self.a20 = A20Gate(self.a20_calls.append, kbc=a20_on)
        self.irq1, self.irq12 = IrqLine("irq1"), IrqLine("irq12")
        self.irq1.connect(lambda level: setattr(self, "rises1", self.rises1 + level))
        self.irq12.connect(lambda level: setattr(self, "rises12", self.rises12 + level))
        self.kbc = I8042(self.a20, self._reset, irq1=self.irq1, irq12=self.irq12)
        self.bus = Bus()
        self.kbc.attach(self.bus)

    def _reset(self):
        self.resets += 1

    def status(self):
        return self.bus.io_read(0x64, 1)

    def cmd(self, value, data=None):
        self.bus.io_write(0x64, 1, value)
        if data is not None:
            self.bus.io_write(0x60, 1, data)

    def drain(self):
        out = []
        while self.status() & 0x01:
            out.append(self.bus.io_read(0x60, 1))
        return out


def test_status_and_self_test():
    rig = Rig()
    assert rig.status() == 0x10                        # keyboard not inhibited, nothing else
    rig.cmd(0xAA)
    assert rig.status() == 0x10 | 0x08 | 0x04 | 0x01   # command written, system flag, output full
    assert rig.drain() == [0x55]
    rig.cmd(0xAB)
    assert rig.drain() == [0x00]


def test_command_byte_read_write():
    rig = Rig()
    rig.cmd(0x20)
    assert rig.drain() == [0x61]                       # kbd IRQ, aux disabled, translation
    rig.cmd(0x60, 0x47)
    assert rig.status() & 0x0C == 0x04                 # system flag from bit 2; last write was data
    rig.cmd(0x20)
    assert rig.drain() == [0x47]
    rig.cmd(0xAD)
    rig.cmd(0x20)
    assert rig.drain() == [0x57]
    rig.cmd(0xAE)
    rig.cmd(0xA8)
    rig.cmd(0x20)
    assert rig.drain() == [0x47]


def test_output_port_a20_and_reset():
    rig = Rig()
    rig.cmd(0xD0)
    assert rig.drain() == [0xCF]                       # reset inactive (1), A20 on
    rig.cmd(0xD1, 0xCD)                                # A20 off
    assert rig.a20_calls == [False] and not rig.a20.enabled
    rig.cmd(0xDF)
    assert rig.a20_calls == [False, True]
    rig.cmd(0xDD)
    assert rig.a20_calls == [False, True, False]
    rig.cmd(0xD0)
    assert rig.drain() == [0xCD]
    assert rig.resets == 0
    rig.cmd(0xD1, 0xCE)                                # bit 0 cleared: CPU reset
    assert rig.resets == 1


@pytest.mark.parametrize("command, resets", [(0xFE, 1), (0xF0, 1), (0xFC, 1), (0xFF, 0), (0xFD, 0), (0xF1, 0)])
def test_pulse_output_port(command, resets):
    rig = Rig()
    rig.cmd(command)
    assert rig.resets == resets


def test_keyboard_reset_sends_ack_and_bat_with_one_edge_per_byte():
    rig = Rig()
    rig.bus.io_write(0x60, 1, 0xFF)
    assert rig.irq1.level and rig.rises1 == 1
    assert rig.bus.io_read(0x60, 1) == 0xFA
    assert rig.rises1 == 2                             # line dropped and rose for the queued 0xAA
    assert rig.bus.io_read(0x60, 1) == 0xAA
    assert not rig.irq1.level
    assert rig.bus.io_read(0x60, 1) == 0xAA            # empty buffer repeats the last byte
    assert rig.status() & 0x01 == 0


@pytest.mark.parametrize("sequence, replies", [
    ([0xF2], [0xFA, 0xAB, 0x41]),                      # identify, translated
    ([0xEE], [0xEE]),                                  # echo
    ([0xED, 0x07], [0xFA, 0xFA]),                      # LEDs + parameter
    ([0xF0, 0x00], [0xFA, 0xFA, 0x02]),                # get scan code set
    ([0xF3, 0x20], [0xFA, 0xFA]),                      # typematic
    ([0x01], [0xFE]),                                  # unknown: resend
    ([0xF5, 0xF4], [0xFA, 0xFA]),
])
def test_keyboard_commands(sequence, replies):
    rig = Rig()
    for b in sequence:
        rig.bus.io_write(0x60, 1, b)
    assert rig.drain() == replies


def test_identify_untranslated_and_irq1_disabled():
    rig = Rig()
    rig.cmd(0x60, 0x00)                                # no IRQs, no translation
    rig.bus.io_write(0x60, 1, 0xF2)
    assert not rig.irq1.level
    assert rig.drain() == [0xFA, 0xAB, 0x83]


def test_host_keys_respect_scanning_and_interface():
    rig = Rig()
    rig.kbc.feed(b"\x1e\x9e")
    assert rig.drain() == [0x1E, 0x9E]
    rig.cmd(0xAD)
    rig.kbc.feed(b"\x1e")
    assert rig.drain() == []
    rig.cmd(0xAE)
    rig.bus.io_write(0x60, 1, 0xF5)
    rig.drain()
    rig.kbc.feed(b"\x1e")
    assert rig.drain() == []


def test_aux_echo_and_no_mouse():
    rig = Rig()
    rig.cmd(0x60, 0x03)                                # both IRQs on
    rig.cmd(0xD3, 0x5A)
    assert rig.status() & 0x21 == 0x21                 # output full, from aux
    assert rig.irq12.level and not rig.irq1.level
    assert rig.drain() == [0x5A]
    rig.cmd(0xD4, 0xFF)                                # to the (absent) mouse
    assert rig.drain() == [0xFE]
    rig.cmd(0xD2, 0x33)                                # as if from the keyboard
    assert rig.irq1.level and rig.drain() == [0x33]


def test_state_round_trip():
    rig = Rig()
    rig.cmd(0x60, 0x45)
    rig.bus.io_write(0x60, 1, 0xFF)                    # FA AA queued
    rig.bus.io_read(0x60, 1)
    rig.cmd(0xD1)                                      # waiting for its data byte
    state = rig.kbc.get_state()
    assert json.loads(json.dumps(state)) == state
    rig.bus.io_write(0x60, 1, 0xCF)
    rig.drain()
    rig.cmd(0x60, 0x00)
    rig.kbc.set_state(state)
    assert rig.irq1.level
    rig.bus.io_write(0x60, 1, 0xCD)                    # completes the restored 0xD1: A20 off
    assert rig.a20_calls == [False]
    assert rig.drain() == [0xAA]
    rig.cmd(0x20)
    assert rig.drain() == [0x45]
