"""Debug ports: the POST code port 0x80, the Bochs/QEMU debug console (0xE9, 0x402) and QEMU's isa-debug-exit.

``PostPort`` (0x80): keeps the last value written, a count of writes and the most recent ``history`` values (Linux
writes port 0x80 for I/O delays, so an unbounded list would grow without end). On the PC, 0x80 is a spare DMA page
register and reads return the last value written; before any write it reads 0xFF.

``DebugCon``: each byte written goes to the injected ``sink(bytes)``; reads return ``readback`` (0xE9, as Bochs's
port E9 hack and QEMU's ``-debugcon`` do). One device may be registered at both 0xE9 and 0x402 (``attach``). Wider
writes arrive byte by byte (the bus splits them for this 1-byte device), lowest byte first.

``IsaDebugExit`` (QEMU's ``-device isa-debug-exit,iobase=0x501,iosize=2``): a write of value v, of whatever width
reaches the device, ends the VM with exit code ``(v << 1) | 1`` via the injected ``on_exit(code)``; a guest can thus
never report 0. The device accepts accesses up to 4 bytes, so ``outw`` passes 16 bits; an access that runs past the
device's ports is cut at its end by the bus (``outl`` to a 2-port device at 0x501 passes the low 16 bits), as in
QEMU. The code is passed whole: a host process exit status keeps only its low 8 bits. Reads return 0.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable


class PostPort:
    """Port 0x80: last POST code, write count and a bounded history."""

    def __init__(self, port: int = 0x80, history: int = 256):
        self.port = port
        self.last: int | None = None
        self.count = 0
        self.history: deque[int] = deque(maxlen=history)

    def attach(self, bus) -> None:
        bus.add_ports(self.port, 1, self, "post")

    def read(self, offset: int, size: int) -> int:
        return 0xFF if self.last is None else self.last

    def write(self, offset: int, size: int, value: int) -> None:
        self.last = value & 0xFF
        self.count += 1
        self.history.append(self.last)

    def get_state(self) -> dict:
        return {"last": self.last, "count": self.count, "history": list(self.history)}

    def set_state(self, state: dict) -> None:
        self.last, self.count = state["last"], state["count"]
        self.history.clear()
        self.history.extend(state["history"])


class DebugCon:
    """A write-only byte console; reads return ``readback``."""

    def __init__(self, sink: Callable[[bytes], None] | None = None, ports: tuple[int, ...] = (0xE9, 0x402),
                 readback: int = 0xE9):
        self.sink = sink
        self.ports = ports
        self.readback = readback

    def attach(self, bus) -> None:
        for port in self.ports:
            bus.add_ports(port, 1, self, f"debugcon-{port:x}")

    def read(self, offset: int, size: int) -> int:
        return self.readback

    def write(self, offset: int, size: int, value: int) -> None:
        if self.sink is not None:
            self.sink(bytes((value & 0xFF,)))

    def get_state(self) -> dict:
        return {}

    def set_state(self, state: dict) -> None:
        pass


class IsaDebugExit:
    """QEMU isa-debug-exit: writing v calls ``on_exit((v << 1) | 1)``."""

    def __init__(self, on_exit: Callable[[int], None] | None = None, iobase: int = 0x501, iosize: int = 2):
        self.on_exit = on_exit
        self.iobase = iobase
        self.iosize = iosize

    def attach(self, bus) -> None:
        bus.add_ports(self.iobase, self.iosize, self, "isa-debug-exit", width=4)

    @staticmethod
    def exit_code(value: int) -> int:
        return (value << 1) | 1

    def read(self, offset: int, size: int) -> int:
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        if self.on_exit is not None:
            self.on_exit(self.exit_code(value))

    def get_state(self) -> dict:
        return {}

    def set_state(self, state: dict) -> None:
        pass
