"""The optimization passes and the pipeline that runs them on every translated unit.

Each pass is one module with ``run(unit) -> bool`` (True when it changed the unit); passes rewrite ``unit.ops`` and
never need the verifier's help to stay valid. ``optimize`` runs ``PIPELINE`` in order, round after round, until a
round changes nothing (at most ``max_rounds``): forwarding state makes constants, folding makes duplicates and dead
values, and removing dead values frees more stores.
"""

from __future__ import annotations

from ir.passes import constfold, copyprop, dce, deadstore, loadelim
from ir.verify import VerifyError, verify

PIPELINE = [loadelim, constfold, copyprop, deadstore, dce]


def _name(p) -> str:
    return p.__name__.rsplit(".", 1)[-1]


def optimize(unit, verify_each: bool = False, max_rounds: int = 4) -> None:
    """Run the pipeline to a fixed point (bounded); with ``verify_each``, verify after every pass."""
    for _ in range(max_rounds):
        changed = False
        for p in PIPELINE:
            changed |= p.run(unit)
            if verify_each:
                try:
                    verify(unit)
                except VerifyError as e:
                    raise VerifyError(f"after {_name(p)}: {e}") from e
        if not changed:
            return
