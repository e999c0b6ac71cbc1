"""EMMS: the end of MMX code (SDM Vol. 2 EMMS). It marks all eight x87 registers empty (tag word 0xFFFF) and sets
FSW.TOP = 0 (as every MMX instruction does: SDM Vol. 1 Table 9-2, and the host CPU), leaving the register contents
and everything else as they are. Every other MMX instruction is lifted with its SSE
counterpart (``dbt/lifters/sse_*.py``, register classes in ``dbt.lift.mmx``).
"""

from __future__ import annotations

from dbt.lift import lifter
from dbt.lift.mmx import TAGS_EMPTY, require_mmx, transition


@lifter("EMMS")
def lift_emms(ctx):
    require_mmx(ctx)
    transition(ctx, TAGS_EMPTY)
