"""Port 0x92 (fast A20, fast reset) with the shared A20 gate; POST port 0x80; debug console; isa-debug-exit."""

import pytest

from devices.bus import Bus
from devices.debug import DebugCon, IsaDebugExit, PostPort
from devices.sysctl import A20Gate, Port92


def test_port92_fast_a20_and_or_with_kbc():
    calls = []
    gate = A20Gate(calls.append, kbc=False)
    bus = Bus()
    Port92(gate).attach(bus)
    assert bus.io_read(0x92, 1) == 0x00
    bus.io_write(0x92, 1, 0x02)
    assert calls == [True] and bus.io_read(0x92, 1) == 0x02
    gate.set_kbc(True)                          # already enabled: no change to report
    bus.io_write(0x92, 1, 0x00)
    assert calls == [True] and gate.enabled     # the keyboard controller still holds A20
    gate.set_kbc(False)
    assert calls == [True, False]


def test_port92_reset_on_rising_bit0():
    resets = []
    bus = Bus()
    Port92(A20Gate(), on_reset=lambda: resets.append(1)).attach(bus)
    bus.io_write(0x92, 1, 0x01)
    bus.io_write(0x92, 1, 0x03)                 # bit 0 stays 1: no new reset
    assert len(resets) == 1
    bus.io_write(0x92, 1, 0x00)
    bus.io_write(0x92, 1, 0x01)
    assert len(resets) == 2
    assert bus.io_read(0x92, 1) == 0x01


def test_post_port():
    bus, post = Bus(), PostPort(history=3)
    post.attach(bus)
    assert bus.io_read(0x80, 1) == 0xFF
    for v in (0x10, 0x11, 0x12, 0x13):
        bus.io_write(0x80, 1, v)
    assert bus.io_read(0x80, 1) == 0x13
    assert post.count == 4 and list(post.history) == [0x11, 0x12, 0x13]
    state = post.get_state()
    bus.io_write(0x80, 1, 0x99)
    post.set_state(state)
    assert bus.io_read(0x80, 1) == 0x13 and post.count == 4 and list(post.history) == [0x11, 0x12, 0x13]


def test_debugcon_both_ports():
    out = bytearray()
    bus = Bus()
    DebugCon(out.extend).attach(bus)
    bus.io_write(0xE9, 1, ord("o"))
    bus.io_write(0x402, 1, ord("k"))
    bus.io_write(0xE9, 2, 0x4241)               # 0xEA is not the console: only 'A' arrives
    assert out == b"okA"
    assert bus.io_read(0xE9, 1) == 0xE9
    assert bus.io_read(0x402, 1) == 0xE9


@pytest.mark.parametrize("port, size, value, code", [
    (0x501, 1, 0x00, 1),
    (0x501, 1, 0x10, 0x21),
    (0x501, 1, 0x31, 0x63),
    (0x501, 2, 0x1234, 0x2469),
    (0x501, 4, 0x00010003, 0x07),               # only the two ports of the device: low 16 bits
    (0x502, 1, 0x01, 0x03),                     # either port
])
def test_isa_debug_exit_code(port, size, value, code):
    codes = []
    bus = Bus()
    IsaDebugExit(codes.append).attach(bus)
    bus.io_write(port, size, value)
    assert codes == [code]
    assert bus.io_read(0x501, 1) == 0
    assert bus.io_read(0x503, 1) == 0xFF


def test_isa_debug_exit_custom_iobase():
    codes = []
    bus = Bus()
    IsaDebugExit(codes.append, iobase=0xF4, iosize=4).attach(bus)
    bus.io_write(0xF4, 4, 0x10)
    assert codes == [0x21]
