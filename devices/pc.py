"""The standard PC device set on one bus, wired together: ``pc_devices(bus, clock, ...) -> PcDevices``.

Ports: PIC pair 0x20-0x21 / 0xA0-0xA1 (+ ELCR 0x4D0-0x4D1), PIT 0x40-0x43, port B 0x61, i8042 0x60 / 0x64, CMOS/RTC
0x70-0x71, POST 0x80, port A 0x92, COM1 0x3F8-0x3FF, debug console 0xE9 and 0x402, isa-debug-exit 0x501-0x502.
IRQs: PIT channel 0 -> IRQ 0, keyboard -> IRQ 1, COM1 -> IRQ 4, RTC -> IRQ 8, aux (mouse) port -> IRQ 12.

``PcDevices`` also gathers the time protocol of the timed devices (``deadline_ns``/``update``) and whole-set
snapshots (``get_state``/``set_state``: one plain dict keyed by device name).

How a machine drives it:

- Time: the ``clock`` handed in is the machine's (virtual time from executed instructions, or ``HostClock``). Before
  running guest code, ask ``pc.deadline_ns()``; run at most until then (a time slice ending there), then call
  ``pc.update(clock.now_ns())``. A deadline at or before now means "update now". Device register accesses bring their
  own device up to ``clock.now_ns()`` by themselves, so port I/O helpers need no extra call.
- Interrupts: ``pc.pic.intr`` is the INTR pin. When it is high and the guest can take an interrupt (IF=1, instruction
  boundary, no interrupt shadow), run the INTA cycle ``vector = pc.pic.acknowledge()`` and deliver ``vector``.
  ``pc.pic.on_intr_change = callback`` tells the machine the moment INTR changes (e.g. from an I/O helper or an
  update), so it can leave translated code early. HLT waits until ``intr`` (advance virtual time to the deadline).
- NMI: ``pc.cmos.nmi_masked`` is the PC's NMI mask (no NMI source is modelled).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from devices.cmos import Cmos
from devices.debug import DebugCon, IsaDebugExit, PostPort
from devices.i8042 import I8042
from devices.pic import PicPair
from devices.pit import Pit8254
from devices.portb import PortB
from devices.sysctl import A20Gate, Port92
from devices.uart import Uart16550

Sink = Callable[[bytes], None]


@dataclass
class PcDevices:
    """The devices of one PC, registered on ``bus``."""

    bus: object
    clock: object
    pic: PicPair
    pit: Pit8254
    portb: PortB
    uart: Uart16550
    cmos: Cmos
    a20: A20Gate
    kbc: I8042
    port92: Port92
    post: PostPort
    debugcon: DebugCon
    debug_exit: IsaDebugExit
    timed: list = field(default_factory=list)

    def __post_init__(self):
        self.timed = [self.pit, self.uart, self.cmos]

    def devices(self) -> dict:
        """Name -> device, every device that carries state (the keys of ``get_state``)."""
        return {"pic": self.pic, "pit": self.pit, "portb": self.portb, "uart": self.uart, "cmos": self.cmos,
                "a20": self.a20, "kbc": self.kbc, "port92": self.port92, "post": self.post,
                "debugcon": self.debugcon, "debug_exit": self.debug_exit}

    def deadline_ns(self) -> int | None:
        """The earliest deadline of the timed devices (may be <= now: then update at once), or None."""
        deadlines = [d for d in (dev.deadline_ns() for dev in self.timed) if d is not None]
        return min(deadlines) if deadlines else None

    def update(self, now_ns: int) -> None:
        """Bring every timed device up to ``now_ns`` (raising the IRQs of what happened)."""
        for dev in self.timed:
            dev.update(now_ns)

    def get_state(self) -> dict:
        return {name: dev.get_state() for name, dev in self.devices().items()}

    def set_state(self, state: dict) -> None:
        for name, dev in self.devices().items():
            dev.set_state(state[name])


def pc_devices(bus, clock, *, serial_sink: Sink | None = None, debugcon_sink: Sink | None = None,
               on_exit: Callable[[int], None] | None = None, on_reset: Callable[[], None] | None = None,
               on_a20: Callable[[bool], None] | None = None, rtc_start: datetime | int = 946684800,
               memory_size: int | None = None, a20_enabled: bool = True) -> PcDevices:
    """Create the standard PC set, register it on ``bus`` and wire its IRQs.

    ``rtc_start``: the RTC's time at clock time now (datetime or Unix seconds, UTC; default 2000-01-01 00:00:00).
    ``memory_size``: RAM bytes for the CMOS memory-size bytes (None leaves them 0). ``a20_enabled``: the A20 state at
    power-on (the keyboard controller's output port bit 1).
    """
    pic = PicPair()
    pit = Pit8254(clock, irq0=pic.irq(0))
    a20 = A20Gate(on_a20, kbc=a20_enabled)
    devs = PcDevices(
        bus=bus, clock=clock, pic=pic, pit=pit, portb=PortB(pit, clock),
        uart=Uart16550(serial_sink, irq=pic.irq(4), clock=clock),
        cmos=Cmos(clock, irq=pic.irq(8), start=rtc_start, memory_size=memory_size),
        a20=a20, kbc=I8042(a20, on_reset, irq1=pic.irq(1), irq12=pic.irq(12)),
        port92=Port92(a20, on_reset), post=PostPort(), debugcon=DebugCon(debugcon_sink),
        debug_exit=IsaDebugExit(on_exit))
    for dev in devs.devices().values():
        if hasattr(dev, "attach"):
            dev.attach(bus)
    return devs
