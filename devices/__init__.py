"""Device models and the bus they sit on (ports, MMIO windows, IRQ lines). Devices import nothing from dbt, ir or
backends: a device sees only the bus protocol ``read(offset, size) -> int`` / ``write(offset, size, value)``.

(The devices of the system VM arrive with the system-mode work; this package holds the protocol's home.)
"""
