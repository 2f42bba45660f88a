"""Scheduled re-converge: run a deploy unattended, one run at a time, and report drift.

    groundwork converge inventories/prod.py [deploys/full.py] [--dry-run] [--report FILE] [--lock FILE]

pyinfra runs with `--json`; its stdout is the only source of what changed.
Per operation it lists the hosts on which it changed something (`success`),
did nothing (`no_change`) or failed (`error`); a dry run (`--dry`) lists
instead the hosts on which it would change something (`hosts_with_change`)
and those where it runs only if an earlier operation changes
(`hosts_with_conditional_change`: restarts and reloads behind `_if`).

A dry run must leave out `-y`: with `-y` pyinfra skips change detection
and its dry plan names no host at all.

The report carries operation *names* only, never pyinfra's `name` field:
that one has the operation's arguments appended when it was given no name,
and arguments may hold secrets.

After the run, each host it reached gets its outcome as Prometheus metrics
(groundwork_converge.prom, groundwork.metrics): a second pyinfra run of
deploys/converge_metrics.py, one command per host, handed the values in
GROUNDWORK_CONVERGE_METRICS. It is bounded, its failure changes no exit
status, and it is not part of the drift report.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .lock import (
    DEFAULT_LOCK,
    HELD_FD_ENV,
    LOCK_ENV,
    LockHeld,
    acquire_lock,
    release_lock,
)
from .metrics import CONVERGE_VALUES_ENV, TEXTFILE_DIR
from .paths import ROOT

# Exit statuses of `groundwork converge` (docs/scheduled.md). Failure wins
# over drift: a run that repaired one host and failed on another exits 1.
EXIT_CLEAN = 0
EXIT_FAILED = 1
EXIT_USAGE = 2  # argparse's too: a --limit that names no host
EXIT_DRIFT = 3
EXIT_LOCKED = 4

DEFAULT_DEPLOY = "deploys/full.py"
METRICS_DEPLOY = ROOT / "deploys" / "converge_metrics.py"
METRICS_TIMEOUT = 60.0  # seconds the metrics write may take, all hosts together

# pyinfra prefixes a host's log lines with "[name] "; these are the ones that
# say the host is out of the run.
_HOST_ERROR = re.compile(r"^\s*\[(?P<host>[^\]\s]+)\]\s+(?:Error(?!\s*\(ignored)|Could not connect)", re.MULTILINE)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# pyinfra logs "[name] Connected" for each host it reached.
_CONNECTED = re.compile(r"^\s*\[(?P<host>[^\]\s]+)\]\s+Connected\b", re.MULTILINE)


@dataclass
class HostDrift:
    name: str
    changed: list[str] = field(default_factory=list)  # in a dry run: would change
    conditional: list[str] = field(default_factory=list)  # dry run only
    failed_operations: list[str] = field(default_factory=list)
    unchanged: int | None = None  # real runs only: the dry plan leaves no-change operations out
    failed: bool = False
    reason: str | None = None

    @property
    def status(self) -> str:
        if self.failed:
            return "failed"
        return "drift" if self.changed else "clean"

    def as_dict(self) -> dict:
        counts = {"changed": len(self.changed), "failed": len(self.failed_operations)}
        if self.unchanged is not None:
            counts["unchanged"] = self.unchanged
        else:
            counts["conditional"] = len(self.conditional)
        out = {"status": self.status, "counts": counts, "changed": self.changed,
               "failed_operations": self.failed_operations}
        if self.unchanged is None:
            out["conditional"] = self.conditional
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass
class DriftReport:
    dry_run: bool
    returncode: int  # pyinfra's
    hosts: dict[str, HostDrift]
    payload_found: bool

    @property
    def exit_status(self) -> int:
        # No host at all is a mistyped inventory, not a converged fleet.
        if self.returncode != 0 or not self.hosts or any(h.failed for h in self.hosts.values()):
            return EXIT_FAILED
        return EXIT_DRIFT if any(h.changed for h in self.hosts.values()) else EXIT_CLEAN

    def changed(self) -> dict[str, list[str]]:
        return {name: list(h.changed) for name, h in self.hosts.items() if h.changed}

    def failed(self) -> dict[str, list[str]]:
        return {name: list(h.failed_operations) for name, h in self.hosts.items() if h.failed_operations}

    def summary_lines(self) -> list[str]:
        if not self.hosts:
            return ["FAILED, no host: the inventory names none (see pyinfra's log)"]
        return [summary_line(h, self.dry_run) for h in self.hosts.values()]

    def as_dict(self, **extra) -> dict:
        return {
            "version": 1,
            **extra,
            "dry_run": self.dry_run,
            "exit_status": self.exit_status,
            "pyinfra_exit_status": self.returncode,
            "hosts": {name: h.as_dict() for name, h in self.hosts.items()},
        }


def op_name(op: dict) -> str:
    """The operation's given name(s), without the arguments pyinfra may append."""
    return " / ".join(op["names"])


def parse_payload(stdout: str) -> dict | None:
    """pyinfra's --json document, or None when it stopped before printing one."""
    try:
        payload = json.loads(stdout) if stdout.strip() else None
    except json.JSONDecodeError:
        return None
    return payload if isinstance(payload, dict) else None


def read_report(
    payload: dict | None, returncode: int, *, dry_run: bool, log: str = "", hosts: list[str] | tuple = (),
) -> DriftReport:
    """Per host what changed (or would), what failed, and whether the host is out.

    `hosts` (the inventory's) lets a host that never reached the results,
    e.g. one that could not be connected to, show up as failed.
    """
    drift: dict[str, HostDrift] = {}

    def get(name: str) -> HostDrift:
        return drift.setdefault(name, HostDrift(name))

    for name in hosts:
        get(name)
    results = (payload or {}).get("results")
    if results is not None:
        for op in results.get("operations", []):
            for name in op.get("success", []):
                get(name).changed.append(op_name(op))
            for name in op.get("no_change", []):
                h = get(name)
                h.unchanged = (h.unchanged or 0) + 1
            for name in op.get("error", []):
                h = get(name)
                h.failed_operations.append(op_name(op))
                h.failed, h.reason = True, "an operation failed"
        for name in results.get("failed_hosts", []):
            h = get(name)
            if not h.failed:
                h.failed, h.reason = True, "dropped from the run (see pyinfra's log)"
        for h in drift.values():
            if h.unchanged is None:
                h.unchanged = 0
    elif payload is not None:
        for op in payload.get("plan", []):
            for name in op.get("hosts_with_change", []):
                get(name).changed.append(op_name(op))
            for name in op.get("hosts_with_conditional_change", []):
                get(name).conditional.append(op_name(op))

    for name in sorted(set(_HOST_ERROR.findall(_ANSI.sub("", log)))):
        h = get(name)
        if not h.failed:
            h.failed, h.reason = True, "pyinfra logged an error for it (see its log)"
    if returncode != 0 and not any(h.failed for h in drift.values()):
        # pyinfra stopped without naming a host (invalid settings, a deploy
        # error, no host left): none of them is known to be converged.
        for h in drift.values():
            h.failed, h.reason = True, f"pyinfra exited {returncode} (see its log)"
    return DriftReport(dry_run, returncode, drift, payload is not None)


def summary_line(h: HostDrift, dry_run: bool) -> str:
    """One line per host for the journal: status, counts, operation names."""
    names = "; ".join(h.changed)
    if h.failed:
        failed = f": {'; '.join(h.failed_operations)}" if h.failed_operations else ""
        done = f"; {len(h.changed)} changed before ({names})" if h.changed and not dry_run else ""
        return f"{h.name}: FAILED, {h.reason}{failed}{done}"
    if h.changed:
        verb = "would change" if dry_run else "repaired"
        return f"{h.name}: drift, {len(h.changed)} operation(s) {verb}: {names}"
    rest = "" if h.unchanged is None else f" ({h.unchanged} operations unchanged)"
    return f"{h.name}: no drift{rest}"


def reached_hosts(log: str) -> set[str]:
    """The hosts pyinfra connected to, read from its log."""
    return set(_CONNECTED.findall(_ANSI.sub("", log)))


def metric_values(result: DriftReport, reached: set[str]) -> dict[str, dict[str, int]]:
    """Per host the run reached: success 1/0 and drift 1/0 (repaired, or in a dry run would change).

    A host it did not reach is left out: it keeps its old file, and the
    metrics' timestamp ages until an alert says no converge reached it.
    """
    return {name: {"success": 0 if h.failed else 1, "drift": 1 if h.changed else 0}
            for name, h in result.hosts.items() if name in reached}


def write_metrics(inventory: str | os.PathLike, values: dict[str, dict[str, int]], timestamp: float, *,
                  cwd: str | os.PathLike, timeout: float = METRICS_TIMEOUT) -> str:
    """groundwork_converge.prom on each host in `values`, by one small pyinfra run; returns a line
    saying how it went. Never raises for a host or a run that fails: the converge's status stands."""
    if not values:
        return "metrics: no host reached, none written"
    hosts = sorted(values)
    env = {CONVERGE_VALUES_ENV: json.dumps({"timestamp": int(timestamp), "hosts": values})}
    argv = pyinfra_argv(inventory, METRICS_DEPLOY, json_output=False, extra_args=["--limit", ",".join(hosts)])
    started = time.time()
    try:
        returncode, _, stderr = run_pyinfra(argv, cwd=cwd, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return f"metrics: NOT written, the write took more than {timeout:.0f}s (stopped)"
    except OSError as exc:
        return f"metrics: NOT written, pyinfra did not start ({type(exc).__name__})"
    took = time.time() - started
    failed = sorted(set(_HOST_ERROR.findall(_ANSI.sub("", stderr))) & set(hosts))
    if returncode == 0 and not failed:
        return f"metrics: done on {len(hosts)} host(s) in {took:.1f}s (written where {TEXTFILE_DIR} exists)"
    if not failed:
        failed = hosts
    return (f"metrics: NOT written to {', '.join(failed)} (pyinfra exited {returncode}); "
            f"done on {len(hosts) - len(failed)} other host(s) in {took:.1f}s")


def pyinfra_argv(inventory: str | os.PathLike, deploy: str | os.PathLike, *, dry_run: bool = False,
                 json_output: bool = True, data: dict | None = None, extra_args: list[str] | None = None) -> list[str]:
    pyinfra = Path(sys.executable).with_name("pyinfra")
    # --dry without -y: -y would switch off the change detection a dry run reports.
    mode = ["--dry"] if dry_run else ["-y"]
    argv = [str(pyinfra), *mode, *(["--json"] if json_output else []), str(inventory), str(deploy)]
    for key, value in (data or {}).items():
        text = value if isinstance(value, str) else json.dumps(value)
        argv += ["--data", f"{key}={text}"]
    return argv + (extra_args or [])


def run_pyinfra(argv: list[str], *, cwd: str | os.PathLike, timeout: float | None = None,
                echo_log: IO[str] | None = None, pass_fds: tuple[int, ...] = (),
                env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run pyinfra; returns (exit status, stdout, stderr). With `echo_log`,
    pyinfra's log is copied there line by line as it comes (for the journal)."""
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            pass_fds=pass_fds, env={**os.environ, **(env or {})})
    log: list[str] = []
    document: list[str] = []

    def pump_log() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line)
            if echo_log is not None:
                echo_log.write(line)
                echo_log.flush()

    def read_document() -> None:
        assert proc.stdout is not None
        document.append(proc.stdout.read())

    # Both pipes drained at once: pyinfra prints its JSON only at the end,
    # and a document larger than the pipe would block it otherwise.
    readers = [threading.Thread(target=f, daemon=True) for f in (pump_log, read_document)]
    for reader in readers:
        reader.start()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    finally:
        for reader in readers:
            reader.join()
    stdout = "".join(document)
    return proc.returncode, stdout, "".join(log)


def limited_to(host: str, groups, patterns: list[str]) -> bool:
    """pyinfra's --limit: a host name or group name, glob patterns allowed."""
    return any(fnmatch.fnmatch(name, p) for p in patterns for name in (host, *groups))


def inventory_groups(inventory: str | os.PathLike, cwd: str | os.PathLike) -> dict[str, tuple[str, ...]]:
    """Each host's groups, read as pyinfra reads them (no connection)."""
    from pyinfra.api import State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    with ctx_state.use(State()):
        return {h.name: tuple(h.groups) for h in make_inventory(str(inventory), cwd=str(cwd))}


def inventory_hosts(inventory: str | os.PathLike, cwd: str | os.PathLike) -> list[str]:
    """The inventory's host names, read as pyinfra reads them (no connection)."""
    from pyinfra.api import State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    with ctx_state.use(State()):
        return [h.name for h in make_inventory(str(inventory), cwd=str(cwd))]


def converge(inventory: str, deploy: str = DEFAULT_DEPLOY, *, dry_run: bool = False, report: str | None = None,
             lock: str = DEFAULT_LOCK, cwd: str | os.PathLike | None = None, timeout: float | None = None,
             out: IO[str] | None = None, log: IO[str] | None = None, limit: list[str] | None = None,
             metrics: bool = True) -> int:
    """`groundwork converge`: one locked pyinfra run, its drift per host; returns the exit status.

    With `metrics`, then each host it reached gets groundwork_converge.prom (write_metrics)."""
    out, log = out or sys.stdout, log or sys.stderr
    cwd = Path(cwd or Path.cwd())
    try:
        lock_fd = acquire_lock(lock)
    except LockHeld as exc:
        print(f"groundwork converge: {exc}; not starting", file=out, flush=True)
        return EXIT_LOCKED
    try:
        try:
            hosts = inventory_hosts(inventory, cwd)
        except Exception as exc:  # pyinfra itself reports a broken inventory below
            print(f"groundwork converge: could not list the inventory's hosts ({type(exc).__name__})", file=log)
            hosts = []
        extra_args: list[str] = []
        if limit:
            patterns = [p for value in limit for p in value.split(",") if p]
            groups = inventory_groups(inventory, cwd)
            hosts = [h for h in hosts if limited_to(h, groups.get(h, ()), patterns)]
            if not hosts:
                print(f"groundwork converge: --limit {','.join(patterns)} matches no host of {inventory}; "
                      "not starting", file=out, flush=True)
                return EXIT_USAGE
            extra_args = ["--limit", ",".join(hosts)]
        started = time.time()
        returncode, stdout, stderr = run_pyinfra(
            pyinfra_argv(inventory, deploy, dry_run=dry_run, extra_args=extra_args), cwd=cwd, timeout=timeout,
            echo_log=log,
            pass_fds=(lock_fd,),  # pyinfra keeps the lock should this process die first
            env={LOCK_ENV: str(lock), HELD_FD_ENV: str(lock_fd)},  # its deploy finds the lock held for it
        )
        result = read_report(parse_payload(stdout), returncode, dry_run=dry_run, log=stderr, hosts=hosts)
        finished = time.time()
        mode = "dry run" if dry_run else "run"
        for line in result.summary_lines():
            print(f"groundwork converge ({mode}): {line}", file=out)
        print(f"groundwork converge ({mode}): exit {result.exit_status} "
              f"({_STATUS_WORDS[result.exit_status]}) in {finished - started:.1f}s", file=out, flush=True)
        if report:
            document = result.as_dict(
                inventory=str(inventory), deploy=str(deploy),
                started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                duration_seconds=round(finished - started, 1),
            )
            write_report(Path(report), document)
        if metrics:
            # Still under the lock, which this run does not touch: no converge starts in between.
            line = write_metrics(inventory, metric_values(result, reached_hosts(stderr)), finished, cwd=cwd)
            print(f"groundwork converge ({mode}): {line}", file=out, flush=True)
        return result.exit_status
    finally:
        release_lock(lock_fd)


_STATUS_WORDS = {EXIT_CLEAN: "no drift", EXIT_DRIFT: "drift", EXIT_FAILED: "failed"}


def write_report(path: Path, document: dict) -> None:
    """Whole or not at all: a monitor reading it mid-run sees the last report."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(tmp, path)
