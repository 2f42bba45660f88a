"""Rolling release switches across the app hosts of a run.

The switch operation runs one host (or one batch) at a time, in inventory
order, each behind the host's own health gate (groundwork-activate-NAME rolls
a failed release back by itself). Once a host has failed, the hosts after it
do not switch: they keep serving the release they have, fail in this run, and
pyinfra exits non-zero. The first app host runs the migrations and so switches
first.
"""

from __future__ import annotations

from pyinfra import logger
from pyinfra.api import StringCommand
from pyinfra.operations import python

# app name -> the host whose switch failed, for this pyinfra process (one run).
_stopped: dict[str, str] = {}


def _switch(state, host, app_name: str, release_id: str) -> bool:
    failed_on = _stopped.get(app_name)
    if failed_on is not None:
        host.log_styled(
            f"Rollout of {app_name} {release_id} stopped: {failed_on} failed its switch; "
            "this host keeps its current release",
            fg="red", log_func=logger.error,
        )
        return False
    status, output = host.run_shell_command(
        StringCommand(f"groundwork-activate-{app_name}", release_id), print_output=state.print_output,
    )
    if not status:
        _stopped[app_name] = host.name
        for line in output.output_lines[-30:]:
            host.log_styled(line, log_func=logger.error)
    return status


def switch_release(app_name: str, release_id: str, batch: int) -> None:
    """The switch to `release_id`, `batch` hosts at a time."""
    python.call(
        name=f"Switch to release {release_id} behind a health check, "
        + ("one host at a time" if batch == 1 else f"{batch} hosts at a time"),
        function=_switch, app_name=app_name, release_id=release_id,
        **({"_serial": True} if batch == 1 else {"_parallel": batch}),
    )
