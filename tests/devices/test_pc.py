"""The wired PC set: port map, IRQ routing through the 8259 pair to vectors, host callbacks, the machine's time
loop (deadline_ns/update) and whole-set snapshots."""

import json
from datetime import datetime

from devices import Bus, ManualClock, pc_devices

MASTER, SLAVE = 0x08, 0x70            # the BIOS vector bases


class Host:
    def __init__(self):
        self.serial, self.debug, self.exits, self.resets, self.a20 = bytearray(), bytearray(), [], 0, []

    def reset(self):
        self.resets += 1


def make(**kw):
    host, clock, bus = Host(), ManualClock(), Bus(stats=True)
    pc = pc_devices(bus, clock, serial_sink=host.serial.extend, debugcon_sink=host.debug.extend,
                    on_exit=host.exits.append, on_reset=host.reset, on_a20=host.a20.append,
                    rtc_start=datetime(2024, 1, 2, 3, 4, 5), memory_size=64 << 20, **kw)
    for port, base, icw3 in ((0x20, MASTER, 4), (0xA0, SLAVE, 2)):
        for p, v in ((port, 0x11), (port + 1, base), (port + 1, icw3), (port + 1, 0x01), (port + 1, 0x00)):
            bus.io_write(p, 1, v)
    return pc, bus, clock, host


def eoi(bus, slave=False):
    if slave:
        bus.io_write(0xA0, 1, 0x20)
    bus.io_write(0x20, 1, 0x20)


def machine_run(pc, clock, end_ns, on_intr):
    """What the machine does: run to the next deadline, update, take interrupts."""
    while (d := pc.deadline_ns()) is not None and d <= end_ns:
        clock.set(max(d, clock.now_ns()))
        pc.update(clock.now_ns())
        while pc.pic.intr:
            on_intr(pc.pic.acknowledge())
    clock.set(end_ns)
    pc.update(end_ns)


def test_pit_timer_reaches_vector_8_at_100hz():
    pc, bus, clock, _ = make()
    bus.io_write(0x43, 1, 0x34)
    bus.io_write(0x40, 1, 11932 & 0xFF)
    bus.io_write(0x40, 1, 11932 >> 8)
    vectors = []

    def isr(v):
        vectors.append(v)
        eoi(bus)

    machine_run(pc, clock, 1_000_000_000, isr)
    assert vectors == [MASTER + 0] * 99           # floor(1193182 / 11932)


def test_uart_irq4_and_rtc_irq8_vectors():
    pc, bus, clock, host = make()
    bus.io_write(0x3F9, 1, 0x02)                  # ETBEI
    assert not pc.pic.intr                        # OUT2 still clear
    bus.io_write(0x3FC, 1, 0x08)
    assert pc.pic.acknowledge() == MASTER + 4
    assert bus.io_read(0x3FA, 1) == 0x02
    eoi(bus)
    bus.io_write(0x3F9, 1, 0x00)
    bus.io_write(0x3F8, 1, ord("!"))              # no THRE interrupt with ETBEI clear
    assert host.serial == b"!" and not pc.pic.intr

    bus.io_write(0x70, 1, 0x0B)
    bus.io_write(0x71, 1, 0x42)                   # PIE at 1024 Hz
    got = []

    def isr(v):
        got.append(v)
        bus.io_write(0x70, 1, 0x0C)
        bus.io_read(0x71, 1)
        eoi(bus, slave=v >= SLAVE)

    machine_run(pc, clock, 10_000_000, isr)
    assert got == [SLAVE + 0] * 10                # 10 ms at 1024 Hz: 10.24


def test_keyboard_irq1_and_host_callbacks():
    pc, bus, _, host = make()
    bus.io_write(0x60, 1, 0xFF)
    assert pc.pic.acknowledge() == MASTER + 1
    assert bus.io_read(0x60, 1) == 0xFA
    eoi(bus)
    assert pc.pic.acknowledge() == MASTER + 1     # the second byte is a new edge
    assert pc.a20.enabled
    bus.io_write(0x64, 1, 0xDD)
    assert host.a20 == [False]
    bus.io_write(0x92, 1, 0x02)
    assert host.a20 == [False, True]
    bus.io_write(0x64, 1, 0xFE)
    bus.io_write(0x92, 1, 0x03)
    assert host.resets == 2
    bus.io_write(0xE9, 1, ord("d"))
    bus.io_write(0x402, 1, ord("e"))
    assert host.debug == b"de"
    bus.io_write(0x501, 1, 0x10)
    assert host.exits == [0x21]
    bus.io_write(0x80, 1, 0x55)
    assert pc.post.last == 0x55


def test_port_map_and_cmos_memory():
    _, bus, _, _ = make()
    assert bus.io_read(0x2F8, 1) == 0xFF          # no COM2
    assert bus.io_read(0x61, 1) & 0x0F == 0
    bus.io_write(0x70, 1, 0x35)
    assert bus.io_read(0x71, 1) == 0x03           # 48 MB above 16 MB = 768 x 64 KB = 0x0300
    bus.io_write(0x70, 1, 0x04)
    assert bus.io_read(0x71, 1) == 0x03           # 03:04:05 in BCD
    names = {m.name for m in bus.port_mappings()}
    assert {"pic-master", "pic-slave", "elcr", "pit", "portb", "com1", "cmos", "i8042-data", "i8042-cmd",
            "port92", "post", "debugcon-e9", "debugcon-402", "isa-debug-exit"} == names
    assert bus.stats()["pic-master"]["writes"] == 5


def test_whole_set_snapshot():
    pc, bus, clock, _ = make()
    bus.io_write(0x43, 1, 0x34)
    bus.io_write(0x40, 1, 0x00)
    bus.io_write(0x40, 1, 0x10)                   # 4096 ticks
    bus.io_write(0x3FC, 1, 0x08)
    bus.io_write(0x3F9, 1, 0x01)
    pc.uart.feed(b"xy")
    clock.set(2_000_000)
    pc.update(clock.now_ns())                     # IRQ 0 edge at 3.43 ms not yet; IRQ 4 pending
    state = pc.get_state()
    assert json.loads(json.dumps(state)) == state

    twin, tbus, tclock, _ = make()
    tclock.set(2_000_000)
    twin.set_state(state)
    assert twin.pic.intr and twin.pic.acknowledge() == MASTER + 4
    assert tbus.io_read(0x3F8, 1) == ord("x")
    assert twin.deadline_ns() == pc.deadline_ns() == 3432838     # 4096e9 / 1193182 = 3432837.57, rounded up
