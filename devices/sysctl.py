"""The A20 gate and system control port A (port 0x92, "fast A20 and reset").

``A20Gate`` combines the two PC sources of the A20 line, as PIIX-class chipsets do: A20 is enabled when the keyboard
controller's output port bit 1 OR port 0x92 bit 1 is set. It calls the injected ``on_a20(enabled)`` whenever the
combined level changes (the machine then changes its address mask and flushes what depends on it).

``Port92``: bit 1 drives the fast A20 source; a 0 -> 1 transition of bit 0 requests a CPU reset through the injected
``on_reset()``. All bits read back as written (bit 3, the power-on password lock, is stored only).
"""

from __future__ import annotations

from collections.abc import Callable


class A20Gate:
    """A20 = keyboard-controller source OR fast (port 0x92) source."""

    def __init__(self, on_a20: Callable[[bool], None] | None = None, kbc: bool = True, fast: bool = False):
        self.on_a20 = on_a20
        self.kbc = kbc
        self.fast = fast

    @property
    def enabled(self) -> bool:
        return self.kbc or self.fast

    def _set(self, attr: str, level: bool) -> None:
        before = self.enabled
        setattr(self, attr, bool(level))
        if self.enabled != before and self.on_a20 is not None:
            self.on_a20(self.enabled)

    def set_kbc(self, level: bool) -> None:
        self._set("kbc", level)

    def set_fast(self, level: bool) -> None:
        self._set("fast", level)

    def get_state(self) -> dict:
        return {"kbc": int(self.kbc), "fast": int(self.fast)}

    def set_state(self, state: dict) -> None:
        self.kbc, self.fast = bool(state["kbc"]), bool(state["fast"])


class Port92:
    """System control port A: fast A20 (bit 1) and fast reset (bit 0, on a rising edge)."""

    def __init__(self, a20: A20Gate, on_reset: Callable[[], None] | None = None, port: int = 0x92):
        self.a20 = a20
        self.on_reset = on_reset
        self.port = port
        self.value = 0x02 if a20.fast else 0

    def attach(self, bus) -> None:
        bus.add_ports(self.port, 1, self, "port92")

    def read(self, offset: int, size: int) -> int:
        return self.value

    def write(self, offset: int, size: int, value: int) -> None:
        old, self.value = self.value, value & 0xFF
        self.a20.set_fast(bool(value & 2))
        if value & 1 and not old & 1 and self.on_reset is not None:
            self.on_reset()

    def get_state(self) -> dict:
        return {"value": self.value}

    def set_state(self, state: dict) -> None:
        self.value = int(state["value"])
