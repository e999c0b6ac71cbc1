import os


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "conformance: full SingleStepTests 80286 vectors (325 forms x backends; slow). "
        "Deselect with -m 'not conformance'. Env: SST_LIMIT=N tests per form, SST_BACKENDS=interp,llvm[,unicorn].")


def pytest_report_header(config):
    lim = os.environ.get("SST_LIMIT")
    return f"sst80286: SST_LIMIT={lim}" if lim else None
