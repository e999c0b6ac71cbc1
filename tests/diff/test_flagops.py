"""CLC STC CMC CLD STD LAHF SAHF against the host CPU and Unicorn, modes 32 and 64, from random flags."""

from __future__ import annotations

from tests.diff.harness import Form, make_tests

FORMS = [Form(mode, op) for mode in (32, 64) for op in ("clc", "stc", "cmc", "cld", "std", "lahf", "sahf")]
FORMS += [Form(mode, "lahf\nsahf") for mode in (32, 64)]
FORMS += [Form(mode, "stc\ncmc\nlahf") for mode in (32, 64)]
test_quick, test_sweep = make_tests(FORMS)
