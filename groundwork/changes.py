"""Restart or reload a service when its config changed — even a run later.

pyinfra's `_if=op.did_change` restarts a service in the same run that changed
its config; if that run dies in between, the next run sees no change and the
service keeps running the old config. Here each watched config operation is
followed at once by an operation that leaves a marker on the host
(/var/lib/groundwork/pending/<service>.<action>); `apply()` restarts when a
marker was written in this run *or* left by an earlier one, and removes it
only after the checker and the restart succeeded.

    nginx = ServiceChanges("nginx", action="reload", check="nginx -t")
    watched_upload(nginx, files.template, ...)
    ...
    nginx.apply()

A restart is done when the service answers (`ready`, polled for at most
`timeout` seconds), not when systemctl returns. When the checker refuses the
new config, or the service does not answer within the bound, the previous
version of each file the change watches is put back (our file operations keep
it under /var/lib/groundwork/previous before they change a file; a file that
did not exist before is removed, so the next run writes it again), the service
is brought back on it, and the run fails with the service's own log lines. A
failing host so fails within about twice `timeout` (plus the checker).

A config file written by our file operations gets its marker inside the same
operation, before the file changes (`watched_upload`): a run killed at any
point leaves either the old file, or a marker. Other watched operations (a
link, a user's groups) are preceded by a marker operation that runs when the
watched one is about to change something (`watch`): the same promise.

The markers an earlier run left are listed once per host and run: every
ServiceChanges is made while the deploy is planned, before this run's
operations can write one, so the one listing answers them all.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

from pyinfra.api.operation import OperationMeta
from pyinfra.facts.files import FindFiles
from pyinfra.operations import server

from .facts.once import fact_at_start
from .operations.files import previous_absence, previous_copy
from .paths import HOST_STATE_DIR

PENDING_DIR = f"{HOST_STATE_DIR}/pending"
ACTIONS = {"restart": "restart", "reload": "reload-or-restart"}

def markers_left() -> set[str]:
    """The pending markers on the current host as this run's planning began."""
    return set(fact_at_start(FindFiles, path=PENDING_DIR, maxdepth=1) or [])


def marker_path(service: str, action: str) -> str:
    return f"{PENDING_DIR}/{service}.{action}"


class ServiceChanges:
    def __init__(
        self, service: str, *, action: str = "restart", check: str | None = None,
        daemon_reload: bool = False, ready: str | None = None, timeout: int = 60,
    ) -> None:
        if action not in ACTIONS:
            raise ValueError(f"action: expected one of {sorted(ACTIONS)}, got {action!r}")
        self.service, self.action, self.check = service, action, check
        self.daemon_reload = daemon_reload
        # Answers when the service is up; the default only asks systemd.
        self.ready = ready or f"systemctl is-active --quiet {shlex.quote(service)}"
        self.timeout = int(timeout)
        self.files: list[str] = []  # watched files, put back when the new config fails
        self.marker = marker_path(service, action)
        self._marks: list[OperationMeta] = []
        # Plan-time read of a marker that only a *previous* run can have left.
        self.left_pending = self.marker in markers_left()

    def watch(self, make: Callable[[], OperationMeta]) -> OperationMeta:
        """The operation `make()` adds, with the service marked for its action just before
        it, when it is about to change something: a run killed between the two leaves the
        marker, never a change without one (a marker after it could be lost)."""
        made: list[OperationMeta] = []
        self._marks.append(
            server.shell(
                name=f"Mark {self.service} for {self.action}",
                commands=[f"mkdir -p {PENDING_DIR} && touch {self.marker}"],
                # Asked as this operation runs, right before the watched one, of the same host state.
                _if=lambda: made[0].will_change,
            )
        )
        made.append(make())
        return made[0]

    def track(self, op: OperationMeta, files: tuple[str, ...] = ()) -> OperationMeta:
        """`op` marks the host itself (groundwork.operations.files `pending=`) and keeps
        the previous version of `files`; restart if it changed."""
        self._marks.append(op)
        self.files += [f for f in files if f not in self.files]
        return op

    def apply(self) -> OperationMeta:
        """Check the config, restart/reload, wait until the service answers, clear the
        marker; or put the previous config back, bring the service back on it, and fail."""
        verb = "Restart" if self.action == "restart" else "Reload"
        marks, left_pending = list(self._marks), self.left_pending
        return server.shell(
            name=f"{verb} {self.service}" + (" (pending from an earlier run)" if left_pending else ""),
            commands=[self.script()],
            _if=lambda: left_pending or any(m.did_change() for m in marks),
        )

    def script(self) -> str:
        service, timeout = shlex.quote(self.service), self.timeout
        previous = [(shlex.quote(previous_copy(f)), shlex.quote(previous_absence(f)), shlex.quote(f)) for f in self.files]
        cleanup = " ".join([shlex.quote(self.marker), *(p for p, _, _ in previous), *(a for _, a, _ in previous)])
        daemon_reload = self.daemon_reload or any(f.startswith("/etc/systemd/") for f in self.files)
        # A file new with the change goes again: left in place, the next run would see it
        # unchanged and never retry the restart it needs.
        restore = "; ".join(f"if [ -e {p} ]; then cp -a {p} {f}; elif [ -e {a} ]; then rm -f {f}; fi"
                            for p, a, f in previous) or ":"
        go = _with_retry_on_spawn_failure(f"timeout {timeout} systemctl {ACTIONS[self.action]} {service}", self.service)
        return "; ".join([
            f"ready() {{ {self.ready}; }}",
            # Polled, never a fixed sleep: done as soon as it answers, failed after the bound.
            # A unit that failed outright will not answer: no need to wait out the bound.
            # Nor will one that systemd had to restart since (Restart=on-failure: a crash loop).
            f"restarts() {{ systemctl show -P NRestarts {service} 2>/dev/null || echo 0; }}",
            f"wait_ready() {{ end=$(($(date +%s) + {timeout})); until ready >/dev/null 2>&1; do "
            f"[ $(date +%s) -ge $end ] && return 1; systemctl is-failed --quiet {service} && return 1; "
            f"[ \"$(restarts)\" != \"$before\" ] && return 1; sleep 1; done; }}",
            f"log() {{ journalctl -u {service} -n 20 --no-pager -o cat >&2 || true; }}",
            f"if ! out=$({self.check or ':'} 2>&1); then "
            f"echo \"groundwork: the new config of {self.service} is refused by its checker:\" >&2; "
            f"echo \"$out\" >&2; {restore}; rm -f {cleanup}; "
            f"echo \"groundwork: {self.service} keeps running its previous config\" >&2; exit 1; fi",
            *(["systemctl daemon-reload"] if daemon_reload else []),
            f"systemctl reset-failed {service} 2>/dev/null || true",
            "before=$(restarts)",
            f"if {{ {go}; }} && wait_ready; then rm -f {cleanup}; exit 0; fi",
            f"echo \"groundwork: {self.service} did not answer within {timeout} s of its {self.action} "
            f"on the new config; putting its previous config back\" >&2",
            "log",
            restore,
            *(["systemctl daemon-reload"] if daemon_reload else []),
            f"timeout {timeout} systemctl stop {service} >/dev/null 2>&1 || true",
            f"systemctl reset-failed {service} 2>/dev/null || true",
            "before=$(restarts)",
            f"if timeout {timeout} systemctl start {service} && wait_ready; then rm -f {cleanup}; "
            f"echo \"groundwork: {self.service} runs on its previous config again\" >&2; exit 1; fi",
            f"echo \"groundwork: {self.service} does not answer on its previous config either\" >&2",
            "log",
            "exit 1",
        ])


def await_answer(started: OperationMeta, service: str, ready: str, timeout: int) -> OperationMeta:
    """After `started` started a stopped service: wait until it answers, or fail with its log."""
    quoted = shlex.quote(service)
    return server.shell(
        name=f"Wait until {service} answers",
        commands=[
            f"end=$(($(date +%s) + {int(timeout)})); until {{ {ready}; }} >/dev/null 2>&1; do "
            f"if [ $(date +%s) -ge $end ]; then echo \"groundwork: {service} does not answer within {int(timeout)} s "
            f"of its start\" >&2; journalctl -u {quoted} -n 20 --no-pager -o cat >&2; exit 1; fi; sleep 1; done"
        ],
        _if=started.did_change,
    )


def watched_upload(changes, operation, watched: tuple[str, ...] | None = None, **kwargs) -> OperationMeta:
    """One of our file operations (files.put, files.template, files.checked_template, or a
    function calling one with `pending=`) that marks each of `changes` pending on the host
    before the file changes. `watched`: the files it writes, when not its `dest` argument."""
    changes = [changes] if isinstance(changes, ServiceChanges) else list(changes)
    files = watched if watched is not None else (kwargs["dest"],)
    op = operation(pending=tuple(c.marker for c in changes), **kwargs)
    for change in changes:
        change.track(op, files)
    return op


def _with_retry_on_spawn_failure(command: str, service: str) -> str:
    """`command`, tried once more when systemd could not even spawn the unit.

    systemd 257 in a container now and then fails a start right after a stop
    with "Failed to spawn executor: No such file or directory" (Result:
    resources); nothing of the service ran, and the next start works.
    """
    service = shlex.quote(service)
    return (
        f"{command} || {{ test \"$(systemctl show -p Result --value {service})\" = resources "
        f"&& sleep 1 && systemctl reset-failed {service} && {command}; }}"
    )
