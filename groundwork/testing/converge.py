"""Run a pyinfra deploy and read what it changed from pyinfra's own results.

pyinfra's `--json` output carries, per operation, the hosts on which it
changed something (`success`), did nothing (`no_change`) or failed (`error`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..paths import ROOT


@dataclass
class ConvergeResult:
    returncode: int
    stderr: str
    results: dict | None
    changed: dict[str, list[str]] = field(default_factory=dict)  # host -> changed op names
    failed: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def changed_count(self, host: str | None = None) -> int:
        if host is not None:
            return len(self.changed.get(host, []))
        return sum(len(ops) for ops in self.changed.values())

    def describe(self) -> str:
        return f"exit {self.returncode}; changed: {self.changed}; failed: {self.failed}\n{self.stderr[-3000:]}"


def converge(
    inventory: str | Path,
    deploy: str | Path,
    data: dict[str, object] | None = None,
    extra_args: list[str] | None = None,
    timeout: float = 1800,
    cwd: Path = ROOT,
    json_output: bool = True,
) -> ConvergeResult:
    """`json_output=False` when a test reads what a failing command printed:
    pyinfra's --json mode leaves commands' output out of its log."""
    pyinfra = Path(sys.executable).with_name("pyinfra")
    argv = [str(pyinfra), "-y", *(["--json"] if json_output else []), str(inventory), str(deploy)]
    for key, value in (data or {}).items():
        text = value if isinstance(value, str) else json.dumps(value)
        argv += ["--data", f"{key}={text}"]
    argv += extra_args or []
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    try:
        payload = json.loads(proc.stdout) if proc.stdout.strip() else None
    except json.JSONDecodeError:
        payload = None
    results = (payload or {}).get("results")
    result = ConvergeResult(proc.returncode, proc.stderr, results)
    for op in (results or {}).get("operations", []):
        for host in op["success"]:
            result.changed.setdefault(host, []).append(op["name"])
        for host in op["error"]:
            result.failed.setdefault(host, []).append(op["name"])
    return result
