"""What the bench/ scripts read from pyinfra and wrk: remote commands of a run,
counted from its own `--debug` log; operation times; requests per second.

pyinfra's SSH connector logs each command as it starts it ("Running command
on HOST: ...") and each upload ("Attempting upload of SRC to DEST"); facts
say what they are ("Getting fact: files.File (path=...)"). A command's text
may span lines; only the first line of each entry starts with the marker.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


def run_stamped(argv: list[str], cwd: Path, env: dict | None = None, timeout: float = 3600):
    """Run a command; (seconds, exit code, stderr lines each stamped with its arrival time)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stamped = [(time.perf_counter() - started, line) for line in proc.stderr]
    proc.wait(timeout=timeout)
    return time.perf_counter() - started, proc.returncode, stamped


ANSI = re.compile(r"\x1b\[[0-9;]*m")
COMMAND = re.compile(r"^\s*\[pyinfra\.connectors\.\w+\] Running command on (?P<host>[^:\s]+): ")
UPLOAD = re.compile(r"^\s*\[pyinfra\.connectors\.\w+\] Attempting upload of ")
FACT = re.compile(r"^\s*\[pyinfra\.api\.facts\] Getting fact: (?P<fact>[\w.]+)")


@dataclass
class CommandCount:
    commands: Counter = field(default_factory=Counter)  # host -> remote commands run
    uploads: int = 0  # file uploads (SFTP), over all hosts
    facts: Counter = field(default_factory=Counter)  # fact name -> reads, over all hosts

    @property
    def total(self) -> int:
        return sum(self.commands.values())

    def per_host(self) -> float:
        return self.total / len(self.commands) if self.commands else 0.0


def count_commands(log: str) -> CommandCount:
    """What a `pyinfra --debug` run's stderr says it ran on the hosts."""
    count = CommandCount()
    for raw in log.splitlines():
        line = ANSI.sub("", raw)
        if match := COMMAND.match(line):
            count.commands[match["host"]] += 1
        elif UPLOAD.match(line):
            count.uploads += 1
        elif match := FACT.match(line):
            count.facts[match["fact"]] += 1
    return count


# --- operation timing from pyinfra's normal output, each line stamped as it arrived ----------------

OP_START = re.compile(r"^--> Starting operation: (?P<name>.+?)\s*$")
OPS_END = re.compile(r"^--> (Results|Disconnecting)")
# ensure_packages' operations (groundwork.packages) and the PGDG list refresh; "Install
# release ..." is the app's own pip install, not apt.
APT_OP = re.compile(r"\| (Install (?!release )|Refresh apt package lists)")


def op_durations(stamped: list[tuple[float, str]]) -> list[tuple[str, float]]:
    """(operation name, seconds) in run order, from (seconds, stderr line) pairs of a
    one-host run: an operation lasts until the next one starts, the last until the results."""
    durations: list[tuple[str, float]] = []
    current: tuple[str, float] | None = None
    for at, raw in stamped:
        line = ANSI.sub("", raw).strip()
        start = OP_START.match(line)
        if start or OPS_END.match(line):
            if current is not None:
                durations.append((current[0], at - current[1]))
                current = None
            if start:
                current = (start["name"], at)
    return durations


def split_apt(durations: list[tuple[str, float]]) -> tuple[float, float]:
    """(seconds in apt operations, seconds in all other operations)."""
    apt = sum(s for name, s in durations if APT_OP.search(name))
    return apt, sum(s for _, s in durations) - apt


# --- wrk -----------------------------------------------------------------------------------------------

REQUESTS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
ERRORS = re.compile(r"Socket errors:.*")


def parse_wrk(output: str) -> dict:
    """{'rps': requests/s, 'bad': non-2xx/3xx responses, 'errors': wrk's socket error line or None}."""
    rps = REQUESTS.search(output)
    bad = NON_2XX.search(output)
    errors = ERRORS.search(output)
    return {"rps": float(rps.group(1)) if rps else 0.0, "bad": int(bad.group(1)) if bad else 0,
            "errors": errors.group(0) if errors else None}


# --- where a run's wall time goes -------------------------------------------------------------------

PHASES = (("start", "--> Connecting to hosts"), ("connect", "--> Preparing operation files"),
          ("plan", "--> Beginning operation run"), ("execute", "--> Results"))


def phases(stamped: list[tuple[float, str]], wall: float) -> dict[str, float]:
    """Seconds in each phase of a pyinfra run: start (Python, inventory), connect,
    plan (deploy files, facts they read), execute (operations), end (results, disconnect)."""
    marks = {}
    for at, raw in stamped:
        line = ANSI.sub("", raw).strip()
        for name, marker in PHASES:
            if name not in marks and line.startswith(marker):
                marks[name] = at
    out, previous = {}, 0.0
    for name, _ in PHASES:
        if name in marks:
            out[name] = marks[name] - previous
            previous = marks[name]
    out["end"] = wall - previous
    return out
