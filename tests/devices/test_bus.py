"""Bus: registration and overlap refusal, unassigned ports, access splitting, MMIO windows, statistics, IRQ lines."""

import pytest

from devices.bus import Bus, IrqLine


class Recorder:
    """Logs accesses; reads return 0xA0 + offset in each byte lane (so splitting is visible)."""

    def __init__(self):
        self.log = []

    def read(self, offset, size):
        self.log.append(("r", offset, size))
        return int.from_bytes(bytes((0xA0 + offset + i) & 0xFF for i in range(size)), "little")

    def write(self, offset, size, value):
        self.log.append(("w", offset, size, value))


@pytest.mark.parametrize("first, second", [
    ((0x60, 5), (0x64, 1)),         # second starts inside first
    ((0x64, 1), (0x60, 5)),         # second covers first
    ((0x20, 2), (0x1F, 2)),         # second ends inside first
    ((0x20, 2), (0x20, 2)),         # identical
])
def test_port_overlap_is_refused_naming_both(first, second):
    bus = Bus()
    bus.add_ports(*first, Recorder(), "alpha")
    with pytest.raises(ValueError, match="beta.*overlaps.*alpha"):
        bus.add_ports(*second, Recorder(), "beta")


def test_adjacent_ranges_are_fine_and_mmio_overlap_refused():
    bus = Bus()
    bus.add_ports(0x20, 2, Recorder(), "a")
    bus.add_ports(0x22, 2, Recorder(), "b")
    bus.add_ports(0x1E, 2, Recorder(), "c")
    bus.add_mmio(0xFEE00000, 0x1000, Recorder(), "lapic")
    bus.add_mmio(0xFEC00000, 0x1000, Recorder(), "ioapic")
    with pytest.raises(ValueError, match="hpet.*overlaps.*lapic"):
        bus.add_mmio(0xFEE00FFF, 0x10, Recorder(), "hpet")
    with pytest.raises(ValueError):
        bus.add_ports(0xFFFF, 2, Recorder(), "past the end")


@pytest.mark.parametrize("size, value", [(1, 0xFF), (2, 0xFFFF), (4, 0xFFFFFFFF)])
def test_unassigned_ports_read_all_ones_and_ignore_writes(size, value):
    bus = Bus()
    assert bus.io_read(0x300, size) == value
    bus.io_write(0x300, size, 0x12345678)
    assert bus.io_read(0x300, size) == value
    assert bus.io_read(0xFFFF, size) == value        # no wrap-around to port 0


def test_bad_access_size():
    bus = Bus()
    with pytest.raises(ValueError):
        bus.io_read(0x80, 3)
    with pytest.raises(ValueError):
        bus.io_write(0x80, 8, 0)
    with pytest.raises(ValueError):
        bus.mmio_read(0, 16)


def test_wide_access_to_byte_device_is_split_lowest_first():
    bus, dev = Bus(), Recorder()
    bus.add_ports(0x200, 4, dev, "dev")
    bus.io_write(0x200, 4, 0x44332211)
    assert dev.log == [("w", 0, 1, 0x11), ("w", 1, 1, 0x22), ("w", 2, 1, 0x33), ("w", 3, 1, 0x44)]
    dev.log.clear()
    assert bus.io_read(0x202, 2) == 0xA3A2
    assert dev.log == [("r", 2, 1), ("r", 3, 1)]


def test_access_within_width_goes_whole():
    bus, dev = Bus(), Recorder()
    bus.add_ports(0xCF8, 4, dev, "pci", width=4)
    bus.io_write(0xCF8, 4, 0x80000000)
    bus.io_write(0xCFA, 2, 0xBEEF)
    assert dev.log == [("w", 0, 4, 0x80000000), ("w", 2, 2, 0xBEEF)]


def test_partly_covered_access_is_cut_at_range_ends():
    bus, dev = Bus(), Recorder()
    bus.add_ports(0x101, 3, dev, "dev", width=4)
    # 0x100 unassigned (0xFF), then a 3-byte part: 2 + 1
    assert bus.io_read(0x100, 4) == 0xA2A1A0FF
    assert dev.log == [("r", 0, 2), ("r", 2, 1)]
    dev.log.clear()
    bus.io_write(0x103, 2, 0xBBAA)       # 0x103 is the device's last port, 0x104 unassigned
    assert dev.log == [("w", 2, 1, 0xAA)]


def test_outl_to_two_port_device_passes_low_16_bits():
    bus, dev = Bus(), Recorder()
    bus.add_ports(0x501, 2, dev, "exit", width=4)
    bus.io_write(0x501, 4, 0x12345678)
    assert dev.log == [("w", 0, 2, 0x5678)]


def test_mapping_offset_for_sparse_devices():
    bus, dev = Bus(), Recorder()
    bus.add_ports(0x60, 1, dev, "data")
    bus.add_ports(0x64, 1, dev, "cmd", offset=4)
    assert bus.io_read(0x64, 1) == 0xA4
    assert bus.io_read(0x60, 1) == 0xA0
    assert bus.io_read(0x61, 1) == 0xFF


def test_mmio_window_and_accesses():
    bus, dev = Bus(), Recorder()
    bus.add_mmio(0xFED00000, 0x400, dev, "hpet")
    assert bus.mmio_window(0xFED00000) is dev
    assert bus.mmio_window(0xFED003FF) is dev
    assert bus.mmio_window(0xFED00400) is None
    assert bus.mmio_window(0xFECFFFFF) is None
    m = bus.mmio_mapping(0xFED00010)
    assert (m.base, m.size, m.name) == (0xFED00000, 0x400, "hpet")
    assert bus.mmio_read(0xFED00010, 8) == int.from_bytes(bytes(range(0xB0, 0xB8)), "little")
    bus.mmio_write(0xFED00008, 4, 0x1_0000_0001)          # masked to the access size
    assert dev.log[-1] == ("w", 8, 4, 1)
    assert bus.mmio_read(0x1000, 4) == 0xFFFFFFFF
    # the last two bytes of the window (lanes 0xA0 + 0x3FE, 0xA0 + 0x3FF mod 256), then two unassigned bytes
    assert bus.mmio_read(0xFED003FE, 4) == int.from_bytes(bytes((0x9E, 0x9F, 0xFF, 0xFF)), "little")
    assert dev.log[-1] == ("r", 0x3FE, 2)


def test_stats_count_per_device():
    bus = Bus(stats=True)
    bus.add_ports(0x80, 1, Recorder(), "post")
    bus.io_write(0x80, 1, 1)
    bus.io_write(0x80, 1, 2)
    bus.io_read(0x80, 1)
    bus.io_read(0x81, 1)
    assert bus.stats() == {"(unassigned)": {"reads": 1, "writes": 0}, "post": {"reads": 1, "writes": 2}}
    assert Bus().stats() == {}


def test_irq_line_levels_and_receivers():
    line, seen = IrqLine("irq5"), []
    line.connect(seen.append)
    line.raise_()
    line.raise_()                        # no change, no call
    line.lower()
    line.set(1)
    assert seen == [True, False, True]
    seen.clear()
    line.pulse()                         # from high: falls, rises, falls
    assert seen == [False, True, False] and not line.level
    seen.clear()
    line.pulse()
    assert seen == [True, False]
    line.restore(True)                   # quiet
    assert line.level and seen == [True, False]
