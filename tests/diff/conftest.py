"""Differential tests: the ``diff`` marker (the big sweep: ``DBT_DIFF_CASES`` cases per form, default 1000).

The unmarked tests are the quick selection (``DBT_DIFF_QUICK`` cases per form, default 50): ``-m "not diff"`` runs
only them; CI runs both. Every test is parametrized by backend: ``-k interp`` or ``-k llvm`` selects one.
"""

from __future__ import annotations


def pytest_configure(config):
    config.addinivalue_line("markers", "diff: the big differential sweep (DBT_DIFF_CASES cases per form)")
