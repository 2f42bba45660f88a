"""Restart or reload a service when its config changed — even a run later.

pyinfra's `_if=op.did_change` restarts a service in the same run that changed
its config; if that run dies in between, the next run sees no change and the
service keeps running the old config. Here each watched config operation is
followed at once by an operation that leaves a marker on the host
(/var/lib/groundwork/pending/<service>.<action>); `apply()` restarts when a
marker was written in this run *or* left by an earlier one, and removes it
only after the checker and the restart succeeded.

    nginx = ServiceChanges("nginx", action="reload", check="nginx -t")
    nginx.watch(files.template(...))
    ...
    nginx.apply()

A config file written by our file operations gets its marker inside the same
operation, before the file changes (`watched_upload`): a run killed at any
point leaves either the old file, or a marker. Other watched operations (a
link, a user's groups) are followed by a marker operation, back to back.

The markers an earlier run left are listed once per host and run: every
ServiceChanges is made while the deploy is planned, before this run's
operations can write one, so the one listing answers them all.
"""

from __future__ import annotations

from pyinfra.api.operation import OperationMeta
from pyinfra.facts.files import FindFiles
from pyinfra.operations import server

from .facts.once import fact_at_start
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
        daemon_reload: bool = False,
    ) -> None:
        if action not in ACTIONS:
            raise ValueError(f"action: expected one of {sorted(ACTIONS)}, got {action!r}")
        self.service, self.action, self.check = service, action, check
        self.daemon_reload = daemon_reload
        self.marker = marker_path(service, action)
        self._marks: list[OperationMeta] = []
        # Plan-time read of a marker that only a *previous* run can have left.
        self.left_pending = self.marker in markers_left()

    def watch(self, op: OperationMeta) -> OperationMeta:
        """Mark the service for its action the moment `op` changed something."""
        self._marks.append(
            server.shell(
                name=f"Mark {self.service} for {self.action}",
                commands=[f"mkdir -p {PENDING_DIR} && touch {self.marker}"],
                _if=op.did_change,
            )
        )
        return op

    def track(self, op: OperationMeta) -> OperationMeta:
        """`op` marks the host itself (groundwork.operations.files `pending=`); restart if it changed."""
        self._marks.append(op)
        return op

    def apply(self) -> OperationMeta:
        """Check the config, then restart/reload, then clear the marker."""
        commands = [self.check] if self.check else []
        if self.daemon_reload:
            commands.append("systemctl daemon-reload")
        # systemd refuses a 6th start within 10 s and leaves the unit stopped;
        # back-to-back converges must not trip that limit.
        commands.append(f"systemctl reset-failed {self.service} 2>/dev/null || true")
        commands.append(_with_retry_on_spawn_failure(f"systemctl {ACTIONS[self.action]} {self.service}", self.service))
        commands.append(f"rm -f {self.marker}")
        verb = "Restart" if self.action == "restart" else "Reload"
        marks, left_pending = list(self._marks), self.left_pending
        return server.shell(
            name=f"{verb} {self.service}" + (" (pending from an earlier run)" if left_pending else ""),
            commands=commands,
            _if=lambda: left_pending or any(m.did_change() for m in marks),
        )


def watched_upload(changes, operation, **kwargs) -> OperationMeta:
    """One of our file operations (files.put, files.template, files.checked_template)
    that marks each of `changes` pending on the host before the file changes."""
    changes = [changes] if isinstance(changes, ServiceChanges) else list(changes)
    op = operation(pending=tuple(c.marker for c in changes), **kwargs)
    for change in changes:
        change.track(op)
    return op


def _with_retry_on_spawn_failure(command: str, service: str) -> str:
    """`command`, tried once more when systemd could not even spawn the unit.

    systemd 257 in a container now and then fails a start right after a stop
    with "Failed to spawn executor: No such file or directory" (Result:
    resources); nothing of the service ran, and the next start works. Any
    other failure fails at once, with the unit's journal on stderr.
    """
    journal = f"journalctl -u {service} -n 25 --no-pager >&2"
    return (
        f"{command} || {{ test \"$(systemctl show -p Result --value {service})\" = resources "
        f"&& sleep 1 && systemctl reset-failed {service} && {command}; }} || {{ {journal}; exit 1; }}"
    )
