"""Restart or reload a service when its config changed — even a run later.

pyinfra's `_if=op.did_change` restarts a service in the same run that changed
its config; if that run dies in between, the next run sees no change and the
service keeps the old config. So a change first leaves a marker on the host
(/var/lib/groundwork/pending/<service>.<action>); the restart runs when this
run changed something *or* a marker was already there, and removes the marker
only after the checker and the restart succeeded.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyinfra import host
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.files import File
from pyinfra.operations import server
from pyinfra.operations.util import any_changed

from .paths import HOST_STATE_DIR

PENDING_DIR = f"{HOST_STATE_DIR}/pending"
ACTIONS = {"restart": "restart", "reload": "reload-or-restart"}


def marker_path(service: str, action: str) -> str:
    return f"{PENDING_DIR}/{service}.{action}"


def apply_on_change(
    service: str,
    changed_by: Sequence[OperationMeta],
    *,
    action: str = "restart",
    check: str | None = None,
    daemon_reload: bool = False,
) -> OperationMeta:
    """Restart/reload `service` at run time when any of `changed_by` changed.

    `check` is the service's config checker (`nginx -t`, `sshd -t`); when it
    fails, the service keeps running its old config, the run fails, and the
    marker stays for the next run.
    """
    if action not in ACTIONS:
        raise ValueError(f"action: expected one of {sorted(ACTIONS)}, got {action!r}")
    marker = marker_path(service, action)
    # Plan-time read of a marker that only a *previous* run can have left.
    left_pending = host.get_fact(File, path=marker) is not None

    mark = server.shell(
        name=f"Mark {service} for {action}",
        commands=[f"mkdir -p {PENDING_DIR} && touch {marker}"],
        _if=any_changed(*changed_by),
    )
    commands = []
    if check:
        commands.append(check)
    if daemon_reload:
        commands.append("systemctl daemon-reload")
    commands += [f"systemctl {ACTIONS[action]} {service}", f"rm -f {marker}"]
    verb = "Restart" if action == "restart" else "Reload"
    return server.shell(
        name=f"{verb} {service}" + (" (pending from an earlier run)" if left_pending else ""),
        commands=commands,
        _if=lambda: left_pending or mark.did_change(),
    )
