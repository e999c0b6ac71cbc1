"""The optimization passes and the pipeline that runs them on every translated unit.

Each pass is one module with ``run(unit) -> bool`` (True when it changed the unit); passes rewrite ``unit.ops`` and
keep it valid on their own (tests run the verifier after each). ``optimize`` runs ``PIPELINE`` in order, round after
round, until it reaches a fixed point or ``max_rounds`` rounds: forwarding state (loadelim) makes constants, folding
makes duplicates and dead values, and removing them frees more stores. On lifted blocks two rounds are typical.

Passes, in pipeline order:
- ``loadelim``: a ``get``/``getl`` after a ``put``/``get`` of the same slot reuses the known value; redundant puts go;
- ``constfold``: constant folding and algebraic simplification of pure ops, constant conditional branches/exits;
- ``copyprop``: common subexpression elimination of pure ops within a label segment, with value renaming;
- ``deadstore``: a ``put``/``putl`` overwritten before anything can observe it goes;
- ``dce``: unused pure values and state reads, unreachable ops, unused labels and jumps to the next op go.
"""

from __future__ import annotations

from ir.passes import constfold, copyprop, dce, deadstore, loadelim
from ir.verify import VerifyError, verify

PIPELINE = [loadelim, constfold, copyprop, deadstore, dce]


def _name(p) -> str:
    return p.__name__.rsplit(".", 1)[-1]


def optimize(unit, verify_each: bool = False, max_rounds: int = 4) -> None:
    """Run the pipeline to a fixed point (at most ``max_rounds`` times over); with ``verify_each``, verify after every
    pass. Every pass is idempotent (a second run right after the first changes nothing; the tests check it), so the
    loop stops as soon as each pass has run once since the last change made by another pass."""
    clean: set = set()  # passes that would change nothing now
    for i in range(max_rounds * len(PIPELINE)):
        p = PIPELINE[i % len(PIPELINE)]
        if p.run(unit):
            clean = {p}
        else:
            clean.add(p)
        if verify_each:
            try:
                verify(unit)
            except VerifyError as e:
                raise VerifyError(f"after {_name(p)}: {e}") from e
        if len(clean) == len(PIPELINE):
            return
