"""Backends execute IR units: ``interp`` (the reference) and ``llvm`` (native code through llvmlite).

Both follow one protocol: ``prepare(unit)`` returns a runnable whose ``run(state, memory)`` executes the unit once
against a state slot array and a memory object, recording the exit in the state (see backends.interp).
Neither knows anything about x86.
"""
