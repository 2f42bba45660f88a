"""Run a pyinfra deploy and read what it changed from pyinfra's own results.

pyinfra's `--json` output is read by groundwork.converge, the one parser of it
(`groundwork converge` uses the same).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import converge as scheduled
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
        return (f"exit {self.returncode}; changed: {self.changed}; failed: {self.failed}\n"
                f"{first_error(self.stderr)}{self.stderr[-3000:]}")


def first_error(stderr: str, lines: int = 30) -> str:
    """pyinfra's output from the first error on, which the tail of a long run no longer shows."""
    out = stderr.splitlines()
    for i, line in enumerate(out):
        if "Error" in line or "Traceback" in line:
            return "first error:\n" + "\n".join(out[max(0, i - 3): i + lines]) + "\n...\n"
    return ""


def converge(
    inventory: str | Path,
    deploy: str | Path,
    data: dict[str, object] | None = None,
    extra_args: list[str] | None = None,
    timeout: float = 1800,
    cwd: Path = ROOT,
    json_output: bool = True,
    env: dict[str, str] | None = None,
) -> ConvergeResult:
    """`json_output=False` when a test reads what a failing command printed:
    pyinfra's --json mode leaves commands' output out of its log."""
    argv = scheduled.pyinfra_argv(inventory, deploy, json_output=json_output, data=data, extra_args=extra_args)
    returncode, stdout, stderr = scheduled.run_pyinfra(argv, cwd=cwd, timeout=timeout, env=env)
    payload = scheduled.parse_payload(stdout)
    report = scheduled.read_report(payload, returncode, dry_run=False)
    results = (payload or {}).get("results")
    return ConvergeResult(returncode, stderr, results, report.changed(), report.failed())
