"""Device models and the bus they sit on (ports, MMIO windows, IRQ lines). Devices import nothing from dbt, ir or
backends: a device sees only the bus protocol ``read(offset, size) -> int`` / ``write(offset, size, value)``.

Every device carries its state for snapshots (``get_state() -> dict`` of plain JSON-able data, ``set_state(dict)``);
host I/O (console sinks, input, exit/reset/A20 callbacks) and time (a clock with ``now_ns()``) are injected; nothing is
module-level mutable state, so many VMs run in one process.

Modules: ``bus`` (Bus, IrqLine), ``clock`` (ManualClock, HostClock), ``pic`` (8259A pair + ELCR), ``pit`` (8254),
``portb`` (port 0x61), ``uart`` (16550A), ``cmos`` (MC146818 RTC + CMOS RAM), ``i8042`` (keyboard controller),
``sysctl`` (A20 gate, port 0x92), ``debug`` (POST 0x80, debug console, isa-debug-exit), ``pc`` (the wired PC set).
"""

from devices.bus import Bus, IrqLine, Mapping
from devices.clock import HostClock, ManualClock
from devices.cmos import Cmos
from devices.debug import DebugCon, IsaDebugExit, PostPort
from devices.i8042 import I8042
from devices.pc import PcDevices, pc_devices
from devices.pic import Pic8259, PicPair
from devices.pit import PIT_HZ, Pit8254
from devices.portb import PortB
from devices.sysctl import A20Gate, Port92
from devices.uart import Uart16550

__all__ = ["I8042", "PIT_HZ", "A20Gate", "Bus", "Cmos", "DebugCon", "HostClock", "IrqLine", "IsaDebugExit",
           "ManualClock", "Mapping", "PcDevices", "Pic8259", "PicPair", "Pit8254", "Port92", "PortB", "PostPort",
           "Uart16550", "pc_devices"]
