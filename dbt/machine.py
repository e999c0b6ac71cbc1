"""The PC system VM: an i686-class CPU, RAM with the PC memory map, the ISA device set, loaders and the run loop.

    vm = PcMachine(ram_mb=32, backend="auto", serial=sys.stdout.buffer.write)
    vm.load_multiboot(kernel_bytes, cmdline="work=1000")      # or vm.load_bios(rom_bytes)
    status = vm.run()                                         # the isa-debug-exit status, or None

The run loop is where time and interrupts meet the CPU. Time is virtual by default: 2**icount_shift ns per retired
guest instruction (QEMU's ``-icount shift=N``), so a run is deterministic; ``clock="host"`` uses the host's monotonic
clock. Each slice runs translated code for as many instructions as remain until the next device deadline (the PIT's
next output edge, the RTC's periodic interrupt...), so timer interrupts arrive at exact instruction counts without
returning to Python on the hot path; a device that raises its interrupt from a port write (the UART) makes the CPU
leave at the next unit boundary instead (``request_exit``). Between slices the loop brings the devices up to the
current time and delivers a pending interrupt if EFLAGS.IF allows and no interrupt shadow (STI, MOV SS) holds it off.
HLT idles: virtual time jumps to the next deadline (host time: the loop sleeps until it).

The VM stops when the guest writes isa-debug-exit (status (value << 1) | 1, as QEMU), on a triple fault, on a reset
request (as QEMU's ``-no-reboot``), when it halts with interrupts disabled, on an unsupported feature, or when the
host interrupts ``run`` (Ctrl-C): ``stop_reason`` says which.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field

from devices import Bus, HostClock, pc_devices

from dbt.engine import STOP_HLT, Engine
from dbt.system.cpu import IF, SystemCpu, TripleFault, Unsupported
from dbt.system.mmu import SystemMemory

# While run() executes, Python's cyclic GC collects its young generation every 50,000 net allocations instead of 700:
# translation allocates many small objects that live as long as the VM (IR, decoded instructions, interpreter
# closures), and frequent collections rescanning them cost ~7% of a cold boot. The caller's setting is restored when
# run() returns; PcMachine(gc_threshold=None) leaves the collector alone.
GC_THRESHOLD = (50_000, 20, 20)
MAX_SLICE = 1 << 22          # instructions per slice when no device deadline is nearer


class VirtualClock:
    """Nanoseconds from retired guest instructions (plus idle time skipped while halted)."""

    def __init__(self, engine: Engine, shift: int = 0):
        self.engine = engine
        self.shift = shift
        self.idle_ns = 0

    def now_ns(self) -> int:
        return (self.engine.icount() << self.shift) + self.idle_ns

    def insns_until(self, deadline_ns: int) -> int:
        """Instructions to retire before the clock reaches ``deadline_ns`` (at least 1)."""
        ns = deadline_ns - self.now_ns()
        return max(1, -(-ns >> self.shift))

    def skip_to(self, deadline_ns: int) -> None:
        now = self.now_ns()
        if deadline_ns > now:
            self.idle_ns += deadline_ns - now


class _HostTime(HostClock):
    def __init__(self, ips: int):
        super().__init__()
        self.ips = ips

    def insns_until(self, deadline_ns: int) -> int:
        ns = deadline_ns - self.now_ns()
        return max(1, min(MAX_SLICE, ns * self.ips // 1_000_000_000))

    def skip_to(self, deadline_ns: int) -> None:
        ns = deadline_ns - self.now_ns()
        if ns > 0:
            time.sleep(min(ns, 50_000_000) / 1e9)


@dataclass
class MachineStats:
    interrupts: int = 0
    exceptions: int = 0
    halts: int = 0
    idle_ns: int = 0
    slices: int = 0
    vectors: dict = field(default_factory=dict)


class PcMachine:
    def __init__(self, ram_mb: int = 32, backend: str = "auto", serial=None, debugcon=None, clock: str = "virtual",
                 icount_shift: int = 0, rtc_start: int | None = None, hot_threshold: int = 50,
                 gc_threshold: tuple | None = GC_THRESHOLD, **engine_options):
        if clock not in ("virtual", "host"):
            raise ValueError(f"clock must be 'virtual' or 'host', not {clock!r}")
        self.bus = Bus(stats=True)
        self.mem = SystemMemory(ram_mb << 20, self.bus)
        self.cpu = SystemCpu(self.mem, io=self)
        self.gc_threshold = gc_threshold
        # A boot runs a lot of code a few hundred times: fast LLVM compiles (opt 0) pay off sooner than fast code.
        engine_options.setdefault("llvm_opt", 0)
        # The i686 model has no SSE and no x87 arithmetic (both #UD), so no unit ever holds an fp op: native code
        # need not carry the guest's MXCSR in the host register (less code around every helper and slow path).
        engine_options.setdefault("fpenv", False)
        self.engine = Engine(32, backend, hot_threshold=hot_threshold, memory=self.mem, helpers=self.cpu.helpers(),
                             **engine_options)
        self.cpu.attach(self.engine)
        self.clock = VirtualClock(self.engine, icount_shift) if clock == "virtual" else _HostTime(100_000_000)
        self.cpu.now_ns = self.clock.now_ns
        if rtc_start is None:
            rtc_start = int(time.time()) if clock == "host" else 1_764_000_000
        self.devs = pc_devices(self.bus, self.clock, serial_sink=serial, debugcon_sink=debugcon,
                               on_exit=self._on_exit, on_reset=self._on_reset, on_a20=self._on_a20,
                               rtc_start=rtc_start, memory_size=ram_mb << 20)
        self.devs.pic.on_intr_change = self._intr_changed
        self.cpu.intr_pending = lambda: self.devs.pic.intr
        self.exit_status: int | None = None
        self.stop_reason: str | None = None
        self.halted = False
        self._slice_end_ns = 0              # the device deadline the running slice was sized for
        self.stats = MachineStats()
        self.log = None                     # callable(str) for -d int
        self.cpu.reset()

    # Port I/O (the CPU's helpers call these) --------------------------------------------------------------------------
    def io_read(self, port: int, size: int) -> int:
        return self.bus.io_read(port, size)

    def io_write(self, port: int, size: int, value: int) -> None:
        self.bus.io_write(port, size, value)
        # A write may bring a device deadline forward (the PIT programmed with a short count): end the slice there.
        deadline = self.devs.deadline_ns()
        if deadline is not None and deadline < self._slice_end_ns:
            self.engine.request_exit()

    # Device callbacks ----------------------------------------------------------------------------------------------
    def _intr_changed(self, level: bool) -> None:
        if level:
            self.cpu.irq_check()

    def _on_exit(self, status: int) -> None:
        self.exit_status = status
        self._stop(f"guest exit through isa-debug-exit, status {status}")

    def _on_reset(self) -> None:
        self._stop("guest requested a reset (the VM stops, as QEMU with -no-reboot)")

    def _on_a20(self, enabled: bool) -> None:
        self.mem.a20_mask = 0xFFFFFFFF if enabled else 0xFFEFFFFF
        self.mem.flush_tlb()
        self.engine.remap_code()

    def _stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        self.engine.request_exit()

    # Loading -------------------------------------------------------------------------------------------------------
    def load_multiboot(self, image: bytes, cmdline: str = "", modules=(), name: str = "kernel") -> None:
        """Loads a multiboot kernel as QEMU's -kernel: the command line the kernel sees is ``name cmdline``."""
        from dbt import multiboot
        full = f"{name} {cmdline}".rstrip() if name else cmdline
        self.engine.smc_passthrough = True
        try:
            loaded = multiboot.load(image, self.mem.write_phys, self.mem.ram_size, full, modules)
        finally:
            self.engine.smc_passthrough = False
        self.cpu.set_flat_protected(loaded.entry)
        st = self.engine.state
        st["rax"], st["rbx"] = multiboot.BOOTLOADER_MAGIC, loaded.info_addr

    def load_bios(self, rom: bytes) -> None:
        """A ROM image at the top of the 4 GiB space and its last 128 KiB (or all of it) below 1 MiB; the CPU
        starts at the reset vector F000:FFF0 in real mode."""
        size = len(rom)
        if size == 0 or size % 0x1000 or size > 16 << 20:
            raise ValueError(f"BIOS image of {size} bytes: it must be a non-empty multiple of 4 KiB, at most 16 MiB")
        self.mem.add_rom((1 << 32) - size, rom)
        low = rom[-0x20000:]
        self.mem.add_rom(0x100000 - len(low), low)
        self.cpu.reset()

    # Running -------------------------------------------------------------------------------------------------------
    def run(self, max_insns: int | None = None) -> int | None:
        """Runs until the VM stops (see the module docstring); returns the isa-debug-exit status or None."""
        eng, st, cpu, devs, clock = self.engine, self.engine.state, self.cpu, self.devs, self.clock
        start = eng.icount()
        saved_gc = gc.get_threshold()
        if self.gc_threshold is not None:
            gc.set_threshold(*self.gc_threshold)
        try:
            while self.stop_reason is None:
                devs.update(clock.now_ns())
                if devs.pic.intr and cpu.can_take_interrupt():
                    vector = devs.pic.acknowledge()
                    self.halted = False
                    self.stats.interrupts += 1
                    self.stats.vectors[vector] = self.stats.vectors.get(vector, 0) + 1
                    if self.log:
                        self.log(f"interrupt vector {vector:#04x} at {st['cs']:04x}:{st['rip']:08x}")
                    cpu.interrupt(vector)
                deadline = devs.deadline_ns()
                if self.halted:
                    if not st["eflags"] & IF and not devs.pic.intr:
                        self._stop("the guest halted with interrupts disabled")
                        break
                    if deadline is None:
                        self._stop("the guest halted and no device will interrupt it")
                        break
                    self.stats.halts += 1
                    before = clock.now_ns()
                    clock.skip_to(deadline)
                    self.stats.idle_ns += clock.now_ns() - before
                    continue
                budget = MAX_SLICE if deadline is None else min(MAX_SLICE, clock.insns_until(deadline))
                if max_insns is not None:
                    left = max_insns - (eng.icount() - start)
                    if left <= 0:
                        self._stop(f"instruction limit reached ({max_insns})")
                        break
                    budget = min(budget, left)
                self.stats.slices += 1
                cpu.slice += 1
                self._slice_end_ns = deadline if deadline is not None else 1 << 62
                if eng.run(st["rip"], count=budget) == STOP_HLT:
                    self.halted = True
                else:
                    eng.sample(st["rip"])
        except TripleFault as e:
            self._stop(f"{e}: the VM stops (a PC would shut down) at {st['cs']:04x}:{st['rip']:08x}")
        except Unsupported as e:
            self._stop(f"unsupported: {e} (at {st['cs']:04x}:{st['rip']:08x})")
        except KeyboardInterrupt:
            self._stop("interrupted by the host (Ctrl-C)")
        finally:
            if self.gc_threshold is not None:
                gc.set_threshold(*saved_gc)
        eng.exit_requested = False
        return self.exit_status

    def stats_dict(self) -> dict:
        d = {"engine": self.engine.stats.as_dict(), "machine": dict(self.stats.__dict__),
             "page_walks": self.mem.stats_walks, "instructions": self.engine.icount()}
        if hasattr(self.bus, "stats"):
            d["ports"] = self.bus.stats()
        return d
