"""Intel 8042 keyboard controller with an attached AT keyboard (PC ports 0x60 data, 0x64 status/command; IRQ 1, 12).

Status (read 0x64): bit 0 output buffer full, 1 input buffer full (always 0: commands complete at once), 2 system
flag (command byte bit 2; set by the 0xAA self-test), 3 last write was a command (0x64), 4 keyboard not inhibited
(always 1), 5 output byte comes from the auxiliary port, 6-7 timeout/parity errors (0).

Controller commands (write 0x64): 0x20-0x3F read internal RAM (0x20: command byte), 0x60-0x7F write it (next data
byte), 0xA7/0xA8 disable/enable the aux port, 0xA9 aux interface test (0x00), 0xAA self-test (0x55), 0xAB keyboard
interface test (0x00), 0xAD/0xAE disable/enable the keyboard, 0xC0 read input port, 0xD0/0xD1 read/write the output
port (bit 0: 0 asserts the CPU reset, calling ``on_reset()``; bit 1: A20 gate), 0xD2/0xD3 write the keyboard/aux output
buffer (the next data byte comes back as if the device sent it), 0xD4 write to the aux device, 0xDD/0xDF A20 off/on,
0xE0 read test inputs, 0xF0-0xFF pulse output port bits 0-3 where the command bit is 0 (0xFE pulses reset).
Unknown commands are ignored.

Keyboard commands (write 0x60 with no controller command pending): 0xFF reset (0xFA, 0xAA), 0xF2 identify (0xFA,
0xAB, 0x41 with translation on, else 0x83), 0xF4/0xF5 enable/disable scanning, 0xF6 defaults, 0xEE echo, 0xED LEDs,
0xF0 scan code set, 0xF3 typematic (each 0xFA, then 0xFA for the parameter byte; 0xF0 0 also answers the set, 2),
anything else 0xFE (resend).

Departures: no mouse is attached: 0xD4 commands are answered with 0xFE from the aux port. The controller's scan code
translation is not performed: ``feed(data)`` takes bytes exactly as the guest will read them from port 0x60. IRQ 1 (or
IRQ 12 for aux bytes) is high while a byte waits in the output buffer and its interrupt is enabled in the command
byte; reading port 0x60 drops the line before the next queued byte raises it again, giving one edge per byte.
"""

from __future__ import annotations

from collections.abc import Callable

from devices.bus import IrqLine

ST_OBF, ST_SYS, ST_CMD, ST_UNLOCKED, ST_AUX = 0x01, 0x04, 0x08, 0x10, 0x20
CB_KBD_INT, CB_AUX_INT, CB_SYS, CB_KBD_OFF, CB_AUX_OFF, CB_XLATE = 0x01, 0x02, 0x04, 0x10, 0x20, 0x40
OUT_RESET, OUT_A20 = 0x01, 0x02
ACK, RESEND, SELF_TEST_OK = 0xFA, 0xFE, 0xAA

KBD_PARAM_COMMANDS = (0xED, 0xF0, 0xF3)


class I8042:
    """8042 + keyboard. Bus device: offset 0 is port 0x60, offset 4 is port 0x64 (register with ``attach``)."""

    def __init__(self, a20=None, on_reset: Callable[[], None] | None = None, irq1: IrqLine | None = None,
                 irq12: IrqLine | None = None, base: int = 0x60):
        self.a20 = a20                      # an A20Gate (devices.sysctl) or None
        self.on_reset = on_reset
        self.irq1 = irq1
        self.irq12 = irq12
        self.base = base
        self.ram = [0] * 32                 # ram[0] is the command byte
        self.ram[0] = CB_KBD_INT | CB_AUX_OFF | CB_XLATE
        self.outport = 0xCD | (OUT_A20 if a20 is None or a20.kbc else 0)
        self.queue: list[list[int]] = []    # output buffer and what waits behind it: [byte, from aux]
        self.last = 0                       # last byte read from 0x60
        self.pending: int | None = None     # controller command waiting for its data byte
        self.kbd_pending: int | None = None  # keyboard command waiting for its parameter
        self.scanning = True
        self.last_was_cmd = False
        self._commands = {0xA7: self._aux_off, 0xA8: self._aux_on, 0xA9: self._reply0, 0xAA: self._self_test,
                          0xAB: self._reply0, 0xAD: self._kbd_off, 0xAE: self._kbd_on, 0xC0: self._read_input,
                          0xD0: self._read_output, 0xDD: self._a20_off, 0xDF: self._a20_on, 0xE0: self._reply0}
        self._data_commands = {0xD1: self._write_output, 0xD2: self._echo_kbd, 0xD3: self._echo_aux,
                               0xD4: self._to_aux}
        self._kbd_commands = {0xFF: self._kbd_reset, 0xF2: self._kbd_identify, 0xF4: self._kbd_enable,
                              0xF5: self._kbd_disable, 0xF6: self._kbd_defaults, 0xEE: self._kbd_echo}

    def attach(self, bus) -> None:
        bus.add_ports(self.base, 1, self, "i8042-data")
        bus.add_ports(self.base + 4, 1, self, "i8042-cmd", offset=4)

    @property
    def command_byte(self) -> int:
        return self.ram[0]

    # -- output buffer and IRQs ---------------------------------------------------------------------------------

    def _push(self, *data: int, aux: bool = False) -> None:
        for b in data:
            self.queue.append([b & 0xFF, int(aux)])
        self._update_irq()

    def _update_irq(self) -> None:
        head = self.queue[0] if self.queue else None
        cb = self.ram[0]
        if self.irq1 is not None:
            self.irq1.set(head is not None and not head[1] and bool(cb & CB_KBD_INT))
        if self.irq12 is not None:
            self.irq12.set(head is not None and bool(head[1]) and bool(cb & CB_AUX_INT))

    def status(self) -> int:
        value = ST_UNLOCKED | (self.ram[0] & CB_SYS) | (ST_CMD if self.last_was_cmd else 0)
        if self.queue:
            value |= ST_OBF | (ST_AUX if self.queue[0][1] else 0)
        return value

    def feed(self, data: bytes) -> None:
        """Host key input: scan code bytes, queued while the keyboard scans and its interface is enabled."""
        if self.scanning and not self.ram[0] & CB_KBD_OFF:
            self._push(*data)

    # -- controller commands ------------------------------------------------------------------------------------

    def _command(self, value: int) -> None:
        if 0x20 <= value < 0x40:
            self._push(self.ram[value & 0x1F])
        elif 0x60 <= value < 0x80 or value in self._data_commands:
            self.pending = value
        elif value >= 0xF0:
            self._pulse(value & 0x0F)
        elif value in self._commands:
            self._commands[value]()

    def _reply0(self) -> None:
        self._push(0x00)

    def _self_test(self) -> None:
        self.ram[0] |= CB_SYS
        self._push(0x55)

    def _aux_off(self) -> None:
        self.ram[0] |= CB_AUX_OFF

    def _aux_on(self) -> None:
        self.ram[0] &= ~CB_AUX_OFF

    def _kbd_off(self) -> None:
        self.ram[0] |= CB_KBD_OFF

    def _kbd_on(self) -> None:
        self.ram[0] &= ~CB_KBD_OFF

    def _read_input(self) -> None:
        self._push(0x80)                    # bit 7: keyboard not inhibited

    def _read_output(self) -> None:
        self._push(self.outport)

    def _a20_off(self) -> None:
        self._write_output(self.outport & ~OUT_A20)

    def _a20_on(self) -> None:
        self._write_output(self.outport | OUT_A20)

    def _write_output(self, value: int) -> None:
        self.outport = value & 0xFF
        if self.a20 is not None:
            self.a20.set_kbc(bool(value & OUT_A20))
        if not value & OUT_RESET and self.on_reset is not None:
            self.on_reset()

    def _pulse(self, keep: int) -> None:
        """0xF0-0xFF: output port bits 0-3 whose command bit is 0 are pulsed low for about 6 us."""
        if not keep & OUT_RESET and self.on_reset is not None:
            self.on_reset()

    def _echo_kbd(self, value: int) -> None:
        self._push(value)

    def _echo_aux(self, value: int) -> None:
        self._push(value, aux=True)

    def _to_aux(self, value: int) -> None:
        self._push(RESEND, aux=True)        # no mouse attached

    # -- keyboard -----------------------------------------------------------------------------------------------

    def _keyboard(self, value: int) -> None:
        if self.kbd_pending is not None:
            cmd, self.kbd_pending = self.kbd_pending, None
            self._push(ACK)
            if cmd == 0xF0 and value == 0:
                self._push(2)
            return
        if value in KBD_PARAM_COMMANDS:
            self.kbd_pending = value
            self._push(ACK)
        elif value in self._kbd_commands:
            self._kbd_commands[value]()
        else:
            self._push(RESEND)

    def _kbd_reset(self) -> None:
        self.scanning = True
        self._push(ACK, SELF_TEST_OK)

    def _kbd_identify(self) -> None:
        self._push(ACK, 0xAB, 0x41 if self.ram[0] & CB_XLATE else 0x83)

    def _kbd_enable(self) -> None:
        self.scanning = True
        self._push(ACK)

    def _kbd_disable(self) -> None:
        self.scanning = False
        self._push(ACK)

    def _kbd_defaults(self) -> None:
        self._push(ACK)

    def _kbd_echo(self) -> None:
        self._push(0xEE)

    # -- bus protocol -------------------------------------------------------------------------------------------

    def read(self, offset: int, size: int) -> int:
        if offset == 4:
            return self.status()
        if self.queue:
            self.last = self.queue.pop(0)[0]
            for line in (self.irq1, self.irq12):
                if line is not None:
                    line.lower()
            self._update_irq()
        return self.last

    def write(self, offset: int, size: int, value: int) -> None:
        value &= 0xFF
        if offset == 4:
            self.last_was_cmd = True
            self.pending = None
            self._command(value)
        else:
            self.last_was_cmd = False
            cmd, self.pending = self.pending, None
            if cmd is None:
                self._keyboard(value)
            elif cmd in self._data_commands:
                self._data_commands[cmd](value)
            else:
                self.ram[cmd & 0x1F] = value
        self._update_irq()

    def get_state(self) -> dict:
        return {"ram": list(self.ram), "outport": self.outport, "queue": [list(q) for q in self.queue],
                "last": self.last, "pending": self.pending, "kbd_pending": self.kbd_pending,
                "scanning": int(self.scanning), "last_was_cmd": int(self.last_was_cmd),
                "irq1": int(self.irq1.level) if self.irq1 is not None else 0,
                "irq12": int(self.irq12.level) if self.irq12 is not None else 0}

    def set_state(self, state: dict) -> None:
        self.ram = list(state["ram"])
        self.outport = state["outport"]
        self.queue = [list(q) for q in state["queue"]]
        self.last = state["last"]
        self.pending = state["pending"]
        self.kbd_pending = state["kbd_pending"]
        self.scanning = bool(state["scanning"])
        self.last_was_cmd = bool(state["last_was_cmd"])
        for line, key in ((self.irq1, "irq1"), (self.irq12, "irq12")):
            if line is not None:
                line.restore(state[key])
