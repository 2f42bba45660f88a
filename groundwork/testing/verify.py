"""Run the verify suite (tests/verify) against an inventory, from a test."""

from __future__ import annotations

import subprocess
import sys

from ..paths import ROOT


def run_verify(*paths: str, inventory: str = "inventories/lab.py", timeout: float = 600) -> str:
    """pytest's summary line of `paths` run against `inventory`; fails the
    calling test with pytest's output when the run itself failed."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *paths, "--inventory", inventory, "-q", "-p", "no:cacheprovider"],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()[-1]


def count_tests(path: str) -> int:
    """Test functions in a verify module: what one host should run of it."""
    return sum(1 for line in (ROOT / path).read_text().splitlines() if line.startswith("def test_"))
