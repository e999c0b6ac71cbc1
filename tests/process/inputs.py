"""Deterministic input files for the busybox and host-program tests (seeded, so every run sees the same bytes)."""

from __future__ import annotations

import random
from pathlib import Path

WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau "
         "upsilon phi chi psi omega Apple apple APPLE banana Cherry 42 7 1000 -3 3.25").split()


def make_inputs(directory: Path) -> Path:
    """Write the input files into ``directory`` (created if needed) and return it."""
    rnd = random.Random(20261127)
    directory.mkdir(parents=True, exist_ok=True)
    lines = [" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(0, 12))) for _ in range(400)]
    (directory / "words.txt").write_text("\n".join(lines) + "\n")
    (directory / "numbers.txt").write_text("".join(f"{rnd.randint(-10**6, 10**6)}\n" for _ in range(1000)))
    rows = [f"{rnd.choice(['north', 'south', 'east', 'west'])},{rnd.choice(WORDS[:12])},{rnd.randint(1, 999)}"
            for _ in range(300)]
    (directory / "table.csv").write_text("\n".join(rows) + "\n")
    # Half random bytes (incompressible), half repetitive text: gzip's both paths.
    data = bytes(rnd.getrandbits(8) for _ in range(96 * 1024)) + b"".join(
        f"record {i:06d} {WORDS[i % len(WORDS)]}\n".encode() for i in range(4000))
    (directory / "data.bin").write_bytes(data)
    return directory
