"""Intel 8254 programmable interval timer (PC ports 0x40-0x43, 1.193182 MHz input clock).

Three counters. Channel 0's OUT drives IRQ 0 (an ``IrqLine``; the 8259 latches each rising edge), channel 1 is the
legacy DRAM refresh timer (its OUT is not wired), channel 2's GATE and OUT belong to port 0x61 (``devices.portb``).

Time comes only from the injected clock: the counters are functions of the input-clock tick count
``ticks = now_ns * 1193182 // 10**9`` (1193182 Hz, the rate PC software assumes; the crystal's 105/88 MHz is
1193181.8 Hz). The division truncates: tick k happens at the first whole nanosecond at or after its exact time.
Nothing runs between accesses: every register access first brings the counters up to ``clock.now_ns()``, and the
machine calls ``update(now_ns)`` when virtual time reaches ``deadline_ns()``, the time of the next rising edge of an
OUT that drives a line (a deadline at or before now means edges are waiting: update at once). Several edges that pass
between two updates reach the line as one pulse (as the 8259's single IRR latch would merge them); ``channel.edges``
counts them all.

Modelled: modes 0-5, lobyte / hibyte / lobyte-then-hibyte access, BCD counting, the counter latch command and the
read-back command (count and/or status latches, status first), the NULL COUNT status bit, GATE semantics (modes 0/4
pause, 1/5 trigger on a rising edge, 2/3 stop with OUT high and restart on a rising edge), a new count in modes 2/3
taking effect at the end of the current period, count 0 meaning 65536 (10000 in BCD).

Rate: in modes 2 and 3 with count N the rising edges of OUT fall on ticks ``start + k*N`` (k >= 1), where ``start``
is the tick in which the count was written; so from a count written at time 0 exactly ``floor(ticks(T) / N)`` =
``floor(T * 1193182 / 1e9 / N)`` edges have happened by time T.

Departures: the count is loaded in the tick it is written (the real part loads on the next clock edge, so OUT timings
here are one tick early); in mode 3 a new count takes effect at the end of the period, not of the half-period; odd
counts in mode 3 read back as on the 8254 only approximately (N-1, N-3, ... in each half); a count of 1 in modes 2
and 3 (illegal on the 8254) behaves as 2; reading port 0x43 returns 0xFF. OUT is undefined at power-on; here it
starts high (the level a mode 2 or 3 control word sets), so the first programming of a periodic mode adds no edge and
exactly the edges of the formula above reach IRQ 0 (a mode 0 control word drives OUT low, and a later mode 2/3 control
word raises it again: that edge is real and reaches the line).
"""

from __future__ import annotations

from devices.bus import IrqLine

PIT_HZ = 1_193_182
NS_PER_S = 1_000_000_000


def ns_to_ticks(ns: int) -> int:
    return ns * PIT_HZ // NS_PER_S


def ticks_to_ns(ticks: int) -> int:
    """The first whole nanosecond at which ``ns_to_ticks`` reaches ``ticks``."""
    return -(-ticks * NS_PER_S // PIT_HZ)


def to_bcd(v: int) -> int:
    return int(str(v), 16)


def from_bcd(v: int) -> int:
    """4-digit BCD to binary; invalid digits (A-F) count as their binary value, as a down-counter would treat them."""
    return ((v >> 12) & 0xF) * 1000 + ((v >> 8) & 0xF) * 100 + ((v >> 4) & 0xF) * 10 + (v & 0xF)


class PitChannel:
    """One 8254 counter. Times are input-clock ticks; ``t`` is always 'now'."""

    _FIELDS = ("mode", "mode_bits", "rw", "bcd", "cr", "reload", "start", "frozen", "pending", "gate", "idle_out",
               "loaded_at", "write_hi", "lsb", "read_hi", "count_latch", "status_latch", "last_tick", "edges")

    def __init__(self, index: int, line: IrqLine | None = None, gate: bool = True):
        self.index = index
        self.line = line
        self.mode = 0
        self.mode_bits = 0
        self.rw = 3
        self.bcd = False
        self.cr: int | None = None      # last count written (as N: 1..65536), None before the first
        self.reload = 0x10000           # N of the counting in progress
        self.start: int | None = None   # tick where d = 0; None: not counting (no count, no trigger, gate low in 2/3)
        self.frozen: int | None = None  # modes 0/4 with GATE low: elapsed ticks at the pause
        self.pending: list[int] | None = None   # modes 2/3: [switch tick, N] for a count written while counting
        self.gate = gate
        self.idle_out = True            # OUT while not counting (power-on: high, see the module docstring)
        self.loaded_at: int | None = None   # tick the count reached the counting element; None: NULL COUNT
        self.write_hi = False
        self.lsb = 0
        self.read_hi = False
        self.count_latch: int | None = None
        self.status_latch: int | None = None
        self.last_tick = 0              # edges up to this tick have been delivered to the line
        self.edges = 0

    # -- the counting element as a function of time -------------------------------------------------------------

    @property
    def modulus(self) -> int:
        return 10000 if self.bcd else 0x10000

    def _elapsed(self, t: int) -> int | None:
        if self.start is None:
            return None
        return self.frozen if self.frozen is not None else t - self.start

    def _count_out(self, t: int) -> tuple[int, bool]:
        """(counting element, OUT) at tick t; the count in 1..N (N reads back as 0 when N is the modulus)."""
        d = self._elapsed(t)
        if d is None:
            return self.reload, self.idle_out
        n, mode = self.reload, self.mode
        if mode == 2:
            p = d % n
            return n - p, p != n - 1
        if mode == 3:
            p = d % n
            high = (n + 1) // 2
            if p < high:
                return (n & ~1) - 2 * p, True
            return (n & ~1) - 2 * (p - high), False
        count = (n - d) % self.modulus
        if mode in (0, 1):
            return count, d >= n
        return count, d != n               # modes 4 and 5: one tick low at the terminal count

    def out(self, t: int) -> bool:
        return self._count_out(t)[1]

    def count(self, t: int) -> int:
        return self._count_out(t)[0] % self.modulus

    def _edge_count(self, a: int, b: int) -> int:
        """Rising edges of OUT in ticks (a, b] of the current counting segment."""
        if self.start is None or self.frozen is not None or b <= a:
            return 0
        s, n = self.start, self.reload
        if self.mode in (2, 3):
            return max(b - s, 0) // n - max(a - s, 0) // n
        edge = s + n + (1 if self.mode in (4, 5) else 0)
        return 1 if a < edge <= b else 0

    def next_edge(self, t: int) -> int | None:
        """The first tick after t with a rising edge of OUT (None if none is scheduled)."""
        if self.start is None or self.frozen is not None:
            return None
        s, n = self.start, self.reload
        if self.mode in (2, 3):
            return s + ((t - s) // n + 1) * n if t >= s else s + n
        edge = s + n + (1 if self.mode in (4, 5) else 0)
        return edge if edge > t else None

    def sync(self, t: int) -> None:
        """Deliver the edges of ticks (last_tick, t] to the line and leave it at OUT(t)."""
        t = max(t, self.last_tick)
        a, n = self.last_tick, 0
        if self.pending is not None and self.pending[0] <= t:
            switch, count = self.pending
            n += self._edge_count(a, switch)
            self.reload, self.start, self.pending, a = count, switch, None, switch
        n += self._edge_count(a, t)
        self.last_tick = t
        self.edges += n
        if self.line is not None:
            if n:
                self.line.set(False)
                self.line.set(True)
            self.line.set(self.out(t))

    # -- programming ----------------------------------------------------------------------------------------------

    def control(self, t: int, value: int) -> None:
        self.sync(t)
        self.rw = (value >> 4) & 3
        self.mode_bits = (value >> 1) & 7
        self.mode = self.mode_bits - 4 if self.mode_bits >= 6 else self.mode_bits
        self.bcd = bool(value & 1)
        self.start = self.frozen = self.pending = None
        self.idle_out = self.mode != 0
        self.loaded_at = None
        self.write_hi = self.read_hi = False
        self.count_latch = self.status_latch = None
        self.sync(t)

    def write_count(self, t: int, value: int) -> None:
        self.sync(t)
        if self.rw == 1:
            self._load(t, value)
        elif self.rw == 2:
            self._load(t, value << 8)
        elif not self.write_hi:
            self.lsb, self.write_hi = value, True
            if self.mode == 0:              # mode 0: writing the first byte stops the count, OUT low
                self.start = self.frozen = None
                self.idle_out = False
                self.sync(t)
        else:
            self.write_hi = False
            self._load(t, self.lsb | value << 8)

    def _load(self, t: int, raw: int) -> None:
        n = (from_bcd(raw) if self.bcd else raw) or self.modulus
        if self.mode in (2, 3):
            n = max(n, 2)
        self.cr = n
        mode = self.mode
        if mode in (0, 4):
            self.reload, self.start, self.loaded_at = n, t, t
            self.frozen = None if self.gate else 0
        elif mode in (1, 5):
            self.loaded_at = None           # loaded into the counting element by the next trigger
        elif self.start is None:            # modes 2/3, first count since the control word
            self.reload, self.loaded_at = n, t
            self.start = t if self.gate else None
        else:                               # modes 2/3 while counting: at the end of the current period
            switch = self.start + ((t - self.start) // self.reload + 1) * self.reload
            self.pending, self.loaded_at = [switch, n], switch - 1
        self.sync(t)

    def set_gate(self, t: int, level: bool) -> None:
        self.sync(t)
        level = bool(level)
        if level == self.gate:
            return
        self.gate = level
        mode = self.mode
        if mode in (0, 4):
            if self.start is not None:
                if not level:
                    self.frozen = t - self.start
                elif self.frozen is not None:
                    self.start, self.frozen = t - self.frozen, None
        elif level and self.cr is not None:     # rising edge: modes 1/5 trigger, modes 2/3 restart
            if mode in (2, 3) and self.pending is not None:
                self.pending = None
            self.reload, self.start, self.loaded_at = self.cr, t, t
        elif not level and mode in (2, 3):
            self.start = self.pending = None
            self.idle_out = True
        self.sync(t)

    def latch_count(self, t: int) -> None:
        if self.count_latch is None:
            self.count_latch = self._encode(self.count(t))

    def latch_status(self, t: int) -> None:
        if self.status_latch is None:
            null = self.loaded_at is None or t <= self.loaded_at
            self.status_latch = (self.out(t) << 7) | (null << 6) | (self.rw << 4) | (self.mode_bits << 1) | self.bcd

    def _encode(self, count: int) -> int:
        return to_bcd(count) if self.bcd else count

    def read(self, t: int) -> int:
        self.sync(t)
        if self.status_latch is not None:
            value, self.status_latch = self.status_latch, None
            return value
        latched = self.count_latch is not None
        value = self.count_latch if latched else self._encode(self.count(t))
        if self.rw == 1:
            hi, done = False, True
        elif self.rw == 2:
            hi, done = True, True
        else:
            hi = self.read_hi
            self.read_hi = not hi
            done = hi
        if latched and done:
            self.count_latch = None
        return (value >> 8) & 0xFF if hi else value & 0xFF

    def get_state(self) -> dict:
        state = {f: getattr(self, f) for f in self._FIELDS}
        for f in ("bcd", "gate", "idle_out", "write_hi", "read_hi"):
            state[f] = int(state[f])
        state["pending"] = None if self.pending is None else list(self.pending)
        return state

    def set_state(self, state: dict) -> None:
        for f in self._FIELDS:
            setattr(self, f, state[f])
        for f in ("bcd", "gate", "idle_out", "write_hi", "read_hi"):
            setattr(self, f, bool(state[f]))
        self.pending = None if state["pending"] is None else list(state["pending"])
        if self.line is not None:
            self.line.restore(self.out(self.last_tick))


class Pit8254:
    """The three-channel 8254 as a bus device: offsets 0-2 are the counters, 3 the control word register."""

    def __init__(self, clock, irq0: IrqLine | None = None, base: int = 0x40):
        self.clock = clock
        self.base = base
        self.channels = [PitChannel(0, irq0), PitChannel(1), PitChannel(2)]
        t = self._now()
        for ch in self.channels:
            ch.last_tick = t
            if ch.line is not None:
                ch.line.set(ch.out(t))

    def attach(self, bus) -> None:
        bus.add_ports(self.base, 4, self, "pit")

    def _now(self) -> int:
        return ns_to_ticks(self.clock.now_ns())

    # -- bus protocol -------------------------------------------------------------------------------------------

    def read(self, offset: int, size: int) -> int:
        if offset == 3:
            return 0xFF
        return self.channels[offset].read(self._now())

    def write(self, offset: int, size: int, value: int) -> None:
        value &= 0xFF
        t = self._now()
        if offset < 3:
            self.channels[offset].write_count(t, value)
            return
        sc = value >> 6
        if sc == 3:
            for i, ch in enumerate(self.channels):
                if value & (2 << i):
                    if not value & 0x10:
                        ch.latch_status(t)
                    if not value & 0x20:
                        ch.latch_count(t)
        elif value & 0x30 == 0:
            self.channels[sc].latch_count(t)
        else:
            self.channels[sc].control(t, value)

    # -- time ---------------------------------------------------------------------------------------------------

    def deadline_ns(self) -> int | None:
        """When the next rising edge of an OUT that drives a line happens (channel 0 on the PC)."""
        best = None
        for ch in self.channels:
            if ch.line is not None:
                e = ch.next_edge(ch.last_tick)
                if e is not None and (best is None or e < best):
                    best = e
        return None if best is None else ticks_to_ns(best)

    def update(self, now_ns: int) -> None:
        t = ns_to_ticks(now_ns)
        for ch in self.channels:
            if ch.line is not None:
                ch.sync(t)

    # -- channel 2 as port 0x61 sees it -------------------------------------------------------------------------

    def set_gate(self, channel: int, level: bool) -> None:
        self.channels[channel].set_gate(self._now(), level)

    def out(self, channel: int) -> bool:
        ch, t = self.channels[channel], self._now()
        ch.sync(t)
        return ch.out(t)

    def get_state(self) -> dict:
        return {"channels": [ch.get_state() for ch in self.channels]}

    def set_state(self, state: dict) -> None:
        for ch, s in zip(self.channels, state["channels"]):
            ch.set_state(s)
