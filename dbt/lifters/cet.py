"""CET instructions on a CPU without CET (CPUID.(EAX=7,ECX=0):EDX.IBT = 0 and ECX.CET_SS = 0).

ENDBR64/ENDBR32 (indirect-branch targets: glibc and gcc -fcf-protection put them at function entries) and
RDSSPD/RDSSPQ are encoded in the hint-NOP space: without CET they are NOPs, and RDSSP leaves its destination as it
was, which is how the C library detects that shadow stacks are off (it zeroes the register first). INCSSPD/INCSSPQ
are outside the NOP space and raise #UD without CET: they have no lifter, so the driver's #UD applies (SDM Vol. 2
ENDBR64, RDSSPD/RDSSPQ, INCSSPD/INCSSPQ).
"""

from __future__ import annotations

from dbt.lift import lifter


@lifter("ENDBR64", "ENDBR32", "RDSSPD", "RDSSPQ")
def lift_cet_nop(ctx):
    pass
