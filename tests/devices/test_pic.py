"""8259A pair against the datasheet: init sequence, masking, priorities, EOIs, rotation, cascade, AEOI, level mode,
poll, special mask mode, spurious IRQ 7/15, ELCR, snapshots."""

import json

import pytest

from devices.bus import Bus
from devices.pic import PicPair


def make(icw4=0x01, icw1=0x11, master_base=0x20, slave_base=0x28):
    """A PC pair programmed the usual way: cascade on IR2, 8086 mode, all unmasked."""
    bus, pic = Bus(), PicPair()
    pic.attach(bus)
    for port, base, icw3 in ((0x20, master_base, 0x04), (0xA0, slave_base, 0x02)):
        bus.io_write(port, 1, icw1)
        bus.io_write(port + 1, 1, base)
        bus.io_write(port + 1, 1, icw3)
        if icw1 & 1:
            bus.io_write(port + 1, 1, icw4)
        bus.io_write(port + 1, 1, 0x00)          # OCW1: unmask all
    return bus, pic


def eoi(bus, port=0x20):
    bus.io_write(port, 1, 0x20)


def read_isr(bus, port=0x20):
    bus.io_write(port, 1, 0x0B)
    return bus.io_read(port, 1)


def read_irr(bus, port=0x20):
    bus.io_write(port, 1, 0x0A)
    return bus.io_read(port, 1)


def test_init_sequence_and_vector():
    bus, pic = make()
    assert not pic.intr
    pic.irq(0).raise_()
    assert pic.intr
    assert pic.acknowledge() == 0x20
    assert not pic.intr
    assert read_isr(bus) == 0x01 and read_irr(bus) == 0x00
    eoi(bus)
    assert read_isr(bus) == 0


def test_single_mode_skips_icw3():
    bus, pic = Bus(), PicPair()
    pic.attach(bus)
    bus.io_write(0x20, 1, 0x13)         # ICW1: edge, single, IC4
    bus.io_write(0x21, 1, 0x40)         # ICW2
    bus.io_write(0x21, 1, 0x01)         # ICW4 (no ICW3 in single mode)
    bus.io_write(0x21, 1, 0xF7)         # OCW1: only IR3 unmasked
    assert bus.io_read(0x21, 1) == 0xF7
    pic.irq(4).pulse()
    assert not pic.intr
    pic.irq(3).pulse()
    assert pic.acknowledge() == 0x43


def test_icw1_clears_mask_and_edge_latches():
    bus, pic = make()
    bus.io_write(0x21, 1, 0xFF)
    pic.irq(5).raise_()                         # latched in IRR while masked
    bus.io_write(0x20, 1, 0x11)
    assert bus.io_read(0x21, 1) == 0x00
    assert bus.io_read(0x20, 1) == 0x00          # IRR read selected, the edge latch reset
    bus.io_write(0x21, 1, 0x20)
    bus.io_write(0x21, 1, 0x04)
    bus.io_write(0x21, 1, 0x01)
    assert not pic.intr                         # the input is still high: a new edge is needed


def test_masking_keeps_request_in_irr():
    bus, pic = make()
    bus.io_write(0x21, 1, 0x02)
    pic.irq(1).pulse()
    assert not pic.intr
    assert read_irr(bus) == 0x02
    assert bus.io_read(0x21, 1) == 0x02
    bus.io_write(0x21, 1, 0x00)
    assert pic.intr
    assert pic.acknowledge() == 0x21


def test_fixed_priority_and_nesting():
    bus, pic = make()
    pic.irq(3).pulse()
    pic.irq(1).pulse()
    assert pic.acknowledge() == 0x21            # IR1 beats IR3
    assert not pic.intr                         # IR3 is blocked by IR1 in service
    pic.irq(0).pulse()
    assert pic.intr                             # IR0 preempts IR1
    assert pic.acknowledge() == 0x20
    assert read_isr(bus) == 0x03
    eoi(bus)                                    # non-specific EOI clears the highest: IR0
    assert read_isr(bus) == 0x02 and not pic.intr
    eoi(bus)
    assert pic.acknowledge() == 0x23


def test_specific_eoi():
    bus, pic = make()
    pic.irq(4).pulse()
    pic.irq(5).pulse()
    assert pic.acknowledge() == 0x24
    bus.io_write(0x20, 1, 0x60 | 5)             # specific EOI for a level not in service: no effect on IR4
    assert read_isr(bus) == 0x10
    bus.io_write(0x20, 1, 0x60 | 4)
    assert read_isr(bus) == 0
    assert pic.acknowledge() == 0x25


def test_rotate_on_nonspecific_eoi_makes_served_level_lowest():
    bus, pic = make()
    pic.irq(0).pulse()
    assert pic.acknowledge() == 0x20
    bus.io_write(0x20, 1, 0xA0)                 # rotate on non-specific EOI: IR0 lowest, IR1 highest
    pic.irq(0).pulse()
    pic.irq(7).pulse()
    pic.irq(1).pulse()
    assert pic.acknowledge() == 0x21
    bus.io_write(0x20, 1, 0x20)
    assert pic.acknowledge() == 0x27            # order now 1..7, 0
    bus.io_write(0x20, 1, 0x20)
    assert pic.acknowledge() == 0x20


def test_set_priority_and_rotate_specific():
    bus, pic = make()
    bus.io_write(0x20, 1, 0xC0 | 4)             # set priority: IR4 lowest, IR5 highest
    pic.irq(3).pulse()
    pic.irq(6).pulse()
    assert pic.acknowledge() == 0x26
    bus.io_write(0x20, 1, 0xE0 | 6)             # rotate on specific EOI 6: IR6 lowest, IR7 highest
    pic.irq(7).pulse()
    assert pic.acknowledge() == 0x27


def test_cascade_slave_vector_via_master_ir2():
    bus, pic = make()
    pic.irq(9).pulse()
    assert pic.intr
    assert pic.pending_irq() == 9
    assert pic.acknowledge() == 0x29
    assert read_isr(bus, 0x20) == 0x04
    assert read_isr(bus, 0xA0) == 0x02
    eoi(bus, 0xA0)
    eoi(bus, 0x20)
    assert read_isr(bus, 0x20) == 0 and read_isr(bus, 0xA0) == 0


def test_slave_priority_inside_ir2():
    bus, pic = make()
    pic.irq(12).pulse()
    pic.irq(8).pulse()
    pic.irq(3).pulse()
    assert pic.acknowledge() == 0x28             # master IR2 (slave IR0) before master IR3
    eoi(bus, 0xA0)                               # the slave raises INT again for IR12
    eoi(bus, 0x20)
    assert pic.acknowledge() == 0x2C
    eoi(bus, 0xA0)
    eoi(bus, 0x20)
    assert pic.acknowledge() == 0x23


def test_masked_slave_irq_and_cascade_mask():
    bus, pic = make()
    bus.io_write(0x21, 1, 0x04)                  # mask the cascade on the master
    pic.irq(10).pulse()
    assert not pic.intr
    bus.io_write(0x21, 1, 0x00)
    assert pic.acknowledge() == 0x2A


def test_auto_eoi():
    bus, pic = make(icw4=0x03)
    pic.irq(3).pulse()
    assert pic.acknowledge() == 0x23
    assert read_isr(bus) == 0
    pic.irq(4).pulse()
    assert pic.intr                              # nothing in service blocks it
    pic.irq(11).pulse()
    assert pic.acknowledge() == 0x2B
    assert read_isr(bus, 0x20) == 0 and read_isr(bus, 0xA0) == 0


def test_spurious_irq7_with_nothing_pending():
    bus, pic = make()
    assert pic.acknowledge() == 0x27
    assert read_isr(bus) == 0


def test_spurious_irq7_when_level_request_drops_before_inta():
    bus, pic = make()
    bus.io_write(0x4D0, 1, 0x20)                 # ELCR: IRQ 5 level-triggered
    assert bus.io_read(0x4D0, 1) == 0x20
    line = pic.irq(5)
    line.raise_()
    assert pic.intr
    line.lower()
    assert not pic.intr
    assert pic.acknowledge() == 0x27
    assert read_isr(bus) == 0


def test_spurious_irq15_sets_master_ir2_in_service_only():
    bus, pic = make()
    bus.io_write(0x4D1, 1, 0x04)                 # IRQ 10 level-triggered
    pic.irq(10).raise_()
    pic.irq(10).lower()                          # the slave drops INT, the master's IR2 edge is latched
    assert pic.intr
    assert pic.acknowledge() == 0x2F
    assert read_isr(bus, 0x20) == 0x04 and read_isr(bus, 0xA0) == 0


def test_elcr_reserved_bits_read_zero():
    bus, _ = make()
    bus.io_write(0x4D0, 1, 0xFF)
    bus.io_write(0x4D1, 1, 0xFF)
    assert bus.io_read(0x4D0, 1) == 0xF8
    assert bus.io_read(0x4D1, 1) == 0xDE


def test_edge_mode_needs_a_new_edge_level_mode_does_not():
    bus, pic = make()
    pic.irq(3).raise_()
    assert pic.acknowledge() == 0x23
    eoi(bus)
    assert not pic.intr                          # still high, but no new rising edge
    pic.irq(3).lower()
    pic.irq(3).raise_()
    assert pic.intr

    bus, pic = make(icw1=0x19)                   # LTIM: level-triggered chip
    pic.irq(3).raise_()
    assert pic.acknowledge() == 0x23
    assert not pic.intr                          # blocked by its own ISR bit
    eoi(bus)
    assert pic.intr                              # the level is still there
    pic.irq(3).lower()
    assert not pic.intr
    assert read_irr(bus) == 0


def test_poll_command():
    bus, pic = make()
    bus.io_write(0x20, 1, 0x0C)                  # OCW3 poll
    assert bus.io_read(0x20, 1) == 0x00          # nothing pending
    pic.irq(6).pulse()
    bus.io_write(0x20, 1, 0x0C)
    assert bus.io_read(0x20, 1) == 0x86
    assert read_isr(bus) == 0x40                 # the poll acted as INTA
    assert bus.io_read(0x20, 1) == 0x40          # the read select (ISR) is kept after the poll


def test_special_mask_mode_lets_lower_levels_in():
    bus, pic = make()
    pic.irq(1).pulse()
    assert pic.acknowledge() == 0x21
    pic.irq(3).pulse()
    assert not pic.intr
    bus.io_write(0x21, 1, 0x02)                  # mask IR1 (in service)
    bus.io_write(0x20, 1, 0x68)                  # OCW3: set special mask mode
    assert pic.intr
    assert pic.acknowledge() == 0x23
    bus.io_write(0x20, 1, 0x48)                  # reset special mask mode
    pic.irq(4).pulse()
    assert not pic.intr                          # IR3 in service blocks IR4 again


def test_intr_change_callback():
    _bus, pic = make()
    seen = []
    pic.on_intr_change = seen.append
    pic.irq(0).pulse()
    pic.acknowledge()
    assert seen == [True, False]


def test_irq_numbers():
    pic = PicPair()
    with pytest.raises(ValueError):
        pic.irq(2)
    with pytest.raises(ValueError):
        pic.irq(16)
    assert pic.irq(15).name == "irq15"


def test_state_round_trip():
    bus, pic = make()
    bus.io_write(0x21, 1, 0x08)
    pic.irq(3).pulse()
    pic.irq(9).pulse()
    pic.irq(4).pulse()
    assert pic.acknowledge() == 0x29             # slave IR1 in service, IR3 masked, IR4 pending
    state = pic.get_state()

    eoi(bus, 0xA0)
    eoi(bus, 0x20)
    bus.io_write(0x21, 1, 0x00)
    bus.io_write(0x20, 1, 0x11)                  # even re-initialise
    pic.set_state(state)

    assert bus.io_read(0x21, 1) == 0x08
    assert read_isr(bus, 0x20) == 0x04 and read_isr(bus, 0xA0) == 0x02
    assert not pic.intr                          # IR4 blocked by IR2 in service
    eoi(bus, 0xA0)
    eoi(bus, 0x20)
    assert pic.acknowledge() == 0x24
    assert json.loads(json.dumps(state)) == state
