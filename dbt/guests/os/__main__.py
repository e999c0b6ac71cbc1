"""Write the guest OS image: ``python -m dbt.guests.os OUT.elf [--default-cmdline "work=N spin=N"]``."""

import argparse

from .build import write_kernel
from .layout import EXIT_STATUS


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dbt.guests.os", description=__doc__)
    parser.add_argument("output", help="where to write the multiboot ELF32 image")
    parser.add_argument("--default-cmdline", default=None,
                        help="arguments used when the boot loader's command line does not set them")
    args = parser.parse_args(argv)
    size = write_kernel(args.output, args.default_cmdline)
    print(f"{args.output}: {size} bytes. Boot it with: qemu-system-i386 -kernel {args.output} -append work=N -m 32 "
          f"-display none -serial stdio -monitor none -no-reboot -device isa-debug-exit,iobase=0x501,iosize=2 "
          f"(exit status {EXIT_STATUS} means success)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
