"""The system VM's memory: a PC physical address map behind i386 paging, seen through the same software TLB.

``SystemMemory`` keeps the ``Memory`` interface (linear addresses in, guest faults out) that translated code, the
interpreter and the helpers use, and changes what a linear address means:

- **Paging** (CR0.PG): two-level 32-bit paging with 4 KiB pages and, when CR4.PSE is set, 4 MiB pages (PDE.PS).
  Each access is checked against U/S and R/W of both levels for the current privilege (CPL 3 = user), with CR0.WP
  deciding whether supervisor writes honour R/W. The walk sets the accessed bit of the PDE and PTE, and the dirty bit of
  the final entry on a write. A refused access raises ``MemoryFault`` as a #PF whose error code has P (protection
  violation vs not present), W/R and U/S (SDM Vol. 3 4.7); the engine puts its address in CR2. Without NX or SMEP the
  I/D bit is never set. Without paging, linear = physical.
- **Physical map**: RAM from 0 up to its size, with the PC hole at 640 KiB-1 MiB (VGA window and ROM area: reads
  all ones, writes ignored, unless a ROM is mapped there); ROM images (read-only, writes ignored); MMIO windows of the
  device bus; everything else unassigned (reads all ones, writes ignored). The A20 gate masks physical bit 20.
- **TLB**: the native TLB caches a linear page for the current privilege only, so the CPU flushes it when CPL
  changes, on CR3/CR0/CR4 writes and A20 changes, and drops one page on INVLPG. A write tag is given only to RAM pages
  whose dirty bit is already set (the first write walks again and sets it) and that hold no translated code. A Python
  dict (``_xl``) is the same cache for the interpreter and helpers.
- **Code tracking** is by physical page (the frame), so a write through any alias of a code page invalidates its
  translations.

Departures: segment limits are not checked in protected mode (as QEMU's TCG); there is no PAE, PGE (global pages)
or NX; page-table entries are read from RAM only.
"""

from __future__ import annotations

import ctypes
import mmap

from dbt.memory import (INVALID_TAG, PAGE, PF_PRESENT, PF_USER, PF_WRITE, TLB_ADDEND, TLB_EXEC, TLB_READ, TLB_SIZE,
                        TLB_WRITE, Memory, MemoryFault, Region)

CR0_PE, CR0_WP, CR0_PG = 1, 1 << 16, 1 << 31
CR4_PSE = 1 << 4
PTE_P, PTE_W, PTE_U, PTE_A, PTE_D, PDE_PS = 1, 2, 4, 0x20, 0x40, 0x80
HOLE_START, HOLE_END = 0xA0000, 0x100000
RWX = 7


class _Open:
    """Unassigned physical memory (and writes to ROM): reads all ones, writes are dropped."""

    def __getitem__(self, s: slice) -> bytes:
        return b"\xff" * (s.stop - s.start)

    def __setitem__(self, s: slice, data) -> None:
        pass


class _Mmio:
    """A device's MMIO window as a byte-sliceable buffer: slices become device reads and writes."""

    def __init__(self, bus, base: int):
        self.bus, self.base = bus, base

    def __getitem__(self, s: slice) -> bytes:
        n = s.stop - s.start
        return self.bus.mmio_read(self.base + s.start, n).to_bytes(n, "little")

    def __setitem__(self, s: slice, data) -> None:
        self.bus.mmio_write(self.base + s.start, len(data), int.from_bytes(data, "little"))


class _Phys:
    """One physical page's backing: ``buf`` sliced at ``base``; ``host`` for direct access (None: slow path only);
    ``ram``: ordinary writable memory."""

    __slots__ = ("base", "buf", "host", "ram", "rom")

    def __init__(self, buf, base, host=None, ram=False, rom=None):
        self.buf, self.base, self.host, self.ram, self.rom = buf, base, host, ram, rom


class SystemMemory(Memory):
    def __init__(self, ram_size: int, bus=None):
        super().__init__(0xFFFFFFFF)
        if ram_size % PAGE or ram_size < 2 << 20:
            raise ValueError(f"RAM size {ram_size:#x} must be a multiple of 4 KiB and at least 2 MiB")
        if ram_size > 3 << 30:
            raise ValueError("RAM above 3 GiB needs PAE, which this MMU does not model")
        self.ram_size = ram_size
        self.ram = mmap.mmap(-1, ram_size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self.ram_host = ctypes.addressof(ctypes.c_char.from_buffer(self.ram))
        self.regions.append(Region(0, ram_size, RWX, self.ram, self.ram_host))
        self.roms: list[tuple[int, int, mmap.mmap, int]] = []      # (start, size, buffer, host address)
        self.bus = bus
        self.state = None               # the CpuState whose CR0/CR3/CR4 and CPL (tbflags) drive translation
        self.a20_mask = 0xFFFFFFFF
        self._open = _Phys(_Open(), 0)
        # One TLB per privilege class (supervisor, user), native and Python (linear page -> (frame, _Phys, readable,
        # writable)): a CPL change switches tables instead of flushing.
        self._tlbs = [self.tlb, (ctypes.c_uint64 * (TLB_SIZE * 4))()]
        ctypes.memset(self._tlbs[1], 0xFF, ctypes.sizeof(self._tlbs[1]))
        self._xls = [{}, {}]
        self._xl = self._xls[0]
        self.user_tlb = False
        self._frames: dict[int, _Phys] = {}
        self.stats_walks = 0

    # Physical map ------------------------------------------------------------------------------------------------
    def add_rom(self, start: int, data: bytes) -> None:
        """Maps a read-only image at physical ``start`` (page aligned; its size is rounded up to pages)."""
        size = (len(data) + PAGE - 1) & ~(PAGE - 1)
        if start % PAGE or start + size > 1 << 32:
            raise ValueError(f"ROM at {start:#x} (+{size:#x}) must be page aligned and below 4 GiB")
        buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        buf[:len(data)] = data
        self.roms.append((start, size, buf, ctypes.addressof(ctypes.c_char.from_buffer(buf))))
        self._frames.clear()
        self.flush_tlb()

    def phys_page(self, ppage: int) -> _Phys:
        p = self._frames.get(ppage)
        if p is None:
            p = self._frames[ppage] = self._phys_page(ppage)
        return p

    def _phys_page(self, ppage: int) -> _Phys:
        addr = ppage * PAGE
        for start, size, buf, host in self.roms:
            if start <= addr < start + size:
                return _Phys(buf, addr - start, host + addr - start, rom=True)
        if self.bus is not None:
            win = self.bus.mmio_window(addr)
            if win is not None:
                return _Phys(_Mmio(self.bus, addr), 0)
        if addr < self.ram_size and not HOLE_START <= addr < HOLE_END:
            return _Phys(self.ram, addr, self.ram_host + addr, ram=True)
        return self._open

    def read_phys(self, addr: int, size: int) -> bytes:
        out = bytearray()
        while size:
            n = min(size, PAGE - addr % PAGE)
            p = self.phys_page((addr & self.a20_mask) // PAGE)
            out += p.buf[p.base + addr % PAGE:p.base + addr % PAGE + n]
            addr, size = addr + n, size - n
        return bytes(out)

    def write_phys(self, addr: int, data: bytes) -> None:
        """Writes physical memory as the host (loaders): ROMs are written too; translated code is invalidated."""
        pos = 0
        while pos < len(data):
            a = addr + pos
            n = min(len(data) - pos, PAGE - a % PAGE)
            ppage = (a & self.a20_mask) // PAGE
            p = self.phys_page(ppage)
            if ppage in self.code_pages and self.on_code_write is not None:
                self.on_code_write(ppage)
            p.buf[p.base + a % PAGE:p.base + a % PAGE + n] = data[pos:pos + n]
            pos += n

    def _pt_load(self, addr: int) -> int:
        addr &= self.a20_mask
        if addr + 4 <= self.ram_size and not HOLE_START <= addr < HOLE_END:
            return int.from_bytes(self.ram[addr:addr + 4], "little")
        return int.from_bytes(self.read_phys(addr, 4), "little")

    def _pt_store(self, addr: int, value: int) -> None:
        p = self.phys_page((addr & self.a20_mask) // PAGE)
        if p.ram:
            o = p.base + addr % PAGE
            p.buf[o:o + 4] = value.to_bytes(4, "little")

    # Translation -------------------------------------------------------------------------------------------------
    def walk(self, linear: int, write: bool, user: bool, update: bool = True):
        """linear -> (physical page, user may write, supervisor may write, dirty) or raises the #PF."""
        st = self.state
        cr0 = st["cr0"]
        if not cr0 & CR0_PG:
            return (linear & self.a20_mask) // PAGE, True, True, True
        self.stats_walks += 1
        err = (PF_WRITE if write else 0) | (PF_USER if user else 0)
        pde_addr = (st["cr3"] & 0xFFFFF000) + ((linear >> 22) << 2)
        pde = self._pt_load(pde_addr)
        if not pde & PTE_P:
            raise MemoryFault(linear, write=write, vector=14).with_error(err)
        big = pde & PDE_PS and st["cr4"] & CR4_PSE
        if big:
            pte, pte_addr = pde, pde_addr
            u = pde & PTE_U
            w = pde & PTE_W
            frame = (pde & 0xFFC00000) // PAGE + ((linear >> 12) & 0x3FF)
        else:
            pte_addr = (pde & 0xFFFFF000) + (((linear >> 12) & 0x3FF) << 2)
            pte = self._pt_load(pte_addr)
            if not pte & PTE_P:
                raise MemoryFault(linear, write=write, vector=14).with_error(err)
            u = pde & pte & PTE_U
            w = pde & pte & PTE_W
            frame = pte >> 12
        user_w = bool(u and w)
        sup_w = bool(w or not cr0 & CR0_WP)
        if (user and not u) or (write and not (user_w if user else sup_w)):
            raise MemoryFault(linear, write=write, vector=14).with_error(err | PF_PRESENT)
        if update:
            if not pde & PTE_A:
                self._pt_store(pde_addr, pde | PTE_A)
                if big:
                    pte |= PTE_A
            if not big and not pte & PTE_A or (write and not pte & PTE_D):
                pte |= PTE_A | (PTE_D if write else 0)
                self._pt_store(pte_addr, pte)
        return frame & (self.a20_mask >> 12), user_w, sup_w, bool(pte & PTE_D)

    def _user(self) -> bool:
        return (self.state["tbflags"] >> 6) & 3 == 3

    def set_privilege(self, user: bool) -> None:
        """CPL changed: use the TLBs of the new privilege class (user = CPL 3)."""
        if user == self.user_tlb:
            return
        self.user_tlb = user
        self.tlb = self._tlbs[user]
        self.tlb_address = ctypes.addressof(self.tlb)
        self._xl = self._xls[user]
        if self.on_tlb_switch is not None:
            self.on_tlb_switch(self.tlb_address)

    def _translate(self, addr: int, write: bool, user: bool | None = None):
        """(physical page, _Phys) for an access at linear ``addr`` with the current (or the given) privilege."""
        page = addr // PAGE
        if user is None:
            user = self._user()
        xl = self._xls[user]                 # supervisor accesses from ring 3 (IDT, TSS, frames) are cached too
        e = xl.get(page)
        if e is not None and (not write or e[3]):
            return e[0], e[1]
        frame, user_w, sup_w, dirty = self.walk(addr, write, user)
        phys = self.phys_page(frame)
        may_write = (user_w if user else sup_w) and dirty and phys.ram
        xl[page] = (frame, phys, True, may_write)
        return frame, phys

    def _page(self, addr: int, need: int, write=False, fetch=False):
        if need == 0:                    # the host's view (API mem_read/mem_write): no checks, no A/D updates
            try:
                frame = self.walk(addr, False, False, update=False)[0]
            except MemoryFault:
                raise MemoryFault(addr, write=write) from None
            p = self.phys_page(frame)
        else:
            frame, p = self._translate(addr, write)
        if write and p.rom:
            p = self._open
        return p, p.base, RWX

    def write(self, addr: int, data: bytes, check_code: bool = True, need: int = 2) -> None:
        addr &= self.addr_mask
        size = len(data)
        if addr % PAGE + size > PAGE:
            super().write(addr, data, check_code, need)
            return
        p, base, _ = self._page(addr, need, write=True)
        if check_code and self.code_pages:
            frame = self._frame_of(addr, need)
            m = self.code_pages.get(frame)
            off = addr % PAGE
            if m is not None and any(m[off:off + size]):
                self.on_code_write(frame)
        off = base + addr % PAGE
        p.buf[off:off + size] = data

    def _frame_of(self, addr: int, need: int) -> int:
        if need and self.state is not None:
            e = self._xl.get(addr // PAGE)
            if e is not None:
                return e[0]
        return self.walk(addr, False, False, update=False)[0]

    # Supervisor accesses (descriptor tables, TSS, interrupt frames) ----------------------------------------------------
    def load_priv(self, addr: int, size: int, user: bool = False) -> int:
        """Reads with an explicit privilege (implicit supervisor accesses from any CPL); not cached in the TLB."""
        addr &= self.addr_mask
        o = addr % PAGE
        if o + size <= PAGE:                 # within one page (descriptors, stack slots): no assembling
            p = self._translate(addr, False, user)[1]
            o += p.base
            return int.from_bytes(p.buf[o:o + size], "little")
        out = bytearray()
        while size:
            n = min(size, PAGE - addr % PAGE)
            frame, p = self._translate(addr, False, user)
            o = p.base + addr % PAGE
            out += p.buf[o:o + n]
            addr, size = (addr + n) & self.addr_mask, size - n
        return int.from_bytes(out, "little")

    def store_priv(self, addr: int, size: int, value: int, user: bool = False) -> None:
        data = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        addr &= self.addr_mask
        # check every page first, so a faulting store writes nothing
        targets = []
        pos = 0
        while pos < size:
            a = (addr + pos) & self.addr_mask
            n = min(size - pos, PAGE - a % PAGE)
            frame, p = self._translate(a, True, user)
            targets.append((a, frame, p, pos, n))
            pos += n
        for a, frame, p, pos, n in targets:
            m = self.code_pages.get(frame)
            if m is not None and any(m[a % PAGE:a % PAGE + n]) and self.on_code_write is not None:
                self.on_code_write(frame)
            if p.rom:
                continue
            o = p.base + a % PAGE
            p.buf[o:o + n] = data[pos:pos + n]

    # TLB -----------------------------------------------------------------------------------------------------------
    def flush_tlb(self) -> None:
        if not hasattr(self, "_xls"):
            super().flush_tlb()
            return
        for t in self._tlbs:
            ctypes.memset(t, 0xFF, ctypes.sizeof(t))
        for x in self._xls:
            x.clear()

    def invlpg(self, linear: int) -> None:
        page = (linear & self.addr_mask) // PAGE
        i = (page & (TLB_SIZE - 1)) * 4
        for t, x in zip(self._tlbs, self._xls):
            x.pop(page, None)
            for k in range(3):
                t[i + k] = INVALID_TAG

    def fill_tlb(self, page: int) -> None:
        e = self._xl.get(page)
        if e is None:
            return
        frame, phys, readable, writable = e
        if phys.host is None:
            return                         # MMIO and unassigned memory always take the slow path
        i = (page & (TLB_SIZE - 1)) * 4
        tag = page * PAGE
        t = self.tlb
        t[i + TLB_READ] = tag
        t[i + TLB_WRITE] = tag if writable and frame not in self.code_pages else INVALID_TAG
        t[i + TLB_EXEC] = tag
        t[i + TLB_ADDEND] = (phys.host - tag) & ((1 << 64) - 1)

    # Code tracking (by frame) --------------------------------------------------------------------------------------
    def code_page(self, page: int) -> int:
        try:
            return self.walk(page * PAGE, False, False, update=False)[0]
        except MemoryFault:
            return -1 - page               # unmapped now: a key that no frame write will match

    def mark_code(self, linear: int, length: int) -> None:
        a, end = linear, linear + length
        while a < end:
            frame = self.code_page(a // PAGE)
            stop = min(end, (a // PAGE + 1) * PAGE)
            m = self.code_pages.get(frame)
            if m is None:
                m = self.code_pages[frame] = bytearray(PAGE)
                self.flush_tlb()           # every alias of the frame must lose its write tag
            m[a % PAGE:stop % PAGE or PAGE] = b"\1" * (stop - a)
            a = stop

    def clear_code(self, page: int) -> None:
        if self.code_pages.pop(page, None) is not None:
            self.flush_tlb()

    def host_address(self, addr: int, size: int) -> int | None:
        return None

    def fetch_error(self, fault: MemoryFault) -> int:
        return fault.error                 # from the walk: P, U/S (no I/D bit without NX)
