"""Differential tests: the ``diff`` marker (the big sweep) and its default deselection.

``pytest tests/diff`` runs the quick selection (``DBT_DIFF_QUICK`` cases per form, default 50); ``pytest tests/diff
-m diff`` runs the sweep (``DBT_DIFF_CASES`` cases per form, default 1000); ``DBT_DIFF_SWEEP=1`` runs both.
Every test is parametrized by backend: ``-k interp`` or ``-k llvm`` selects one.
"""

from __future__ import annotations

import os


def pytest_configure(config):
    config.addinivalue_line("markers", "diff: the big differential sweep (DBT_DIFF_CASES cases per form)")


def pytest_collection_modifyitems(config, items):
    if "diff" in (config.getoption("-m") or "") or os.environ.get("DBT_DIFF_SWEEP", "") not in ("", "0"):
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("diff") is not None else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
