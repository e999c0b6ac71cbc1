"""System control port B (port 0x61) of the PC/AT and its successors.

Bits (read/write unless noted):

====  ===================================================================================================
0     GATE of PIT channel 2
1     speaker data enable (AND-ed with PIT OUT2 to drive the speaker; stored only, there is no sound)
2     parity check (PCI SERR#) disable; stored
3     channel check (IOCHK#) disable; stored
4     read-only: refresh request toggle, flips once per DRAM refresh period
5     read-only: PIT channel 2 OUT
6, 7  read-only: IOCHK# and SERR# status; always 0 (no such errors are modelled)
====  ===================================================================================================

The refresh toggle is derived from the clock: it flips every 18 PIT input ticks (15.085 us, the period that PIT
channel 1 is programmed with for refresh on the AT), independent of how channel 1 is actually programmed.
"""

from __future__ import annotations

from devices.pit import ns_to_ticks

REFRESH_TICKS = 18


class PortB:
    """Port 0x61: channel 2 gate and output, speaker enable, refresh toggle."""

    def __init__(self, pit, clock, port: int = 0x61):
        self.pit = pit
        self.clock = clock
        self.port = port
        self.value = 0                  # bits 0-3 as last written

    def attach(self, bus) -> None:
        bus.add_ports(self.port, 1, self, "portb")

    def read(self, offset: int, size: int) -> int:
        refresh = (ns_to_ticks(self.clock.now_ns()) // REFRESH_TICKS) & 1
        return (self.value & 0x0F) | (refresh << 4) | (int(self.pit.out(2)) << 5)

    def write(self, offset: int, size: int, value: int) -> None:
        self.value = value & 0x0F
        self.pit.set_gate(2, bool(value & 1))

    @property
    def speaker_on(self) -> bool:
        """Speaker enabled with the gate open (the speaker would sound OUT2)."""
        return self.value & 3 == 3

    def get_state(self) -> dict:
        return {"value": self.value}

    def set_state(self, state: dict) -> None:
        self.value = int(state["value"])
