"""Rolling release switches across the app hosts of a run.

The switch runs one host (or one batch) at a time, in inventory order, each
behind the host's own health gate (groundwork-activate-NAME rolls a failed
release back by itself). Once a host has failed - its switch, or anything
before it in this run - the hosts after it do not switch: they keep serving
the release they have, fail in this run, and pyinfra exits non-zero. The first
app host runs the migrations and so switches first.

pyinfra's own `_serial` walks hosts in no fixed order (a set), so the
operation runs on every host at once and each host's switch waits here for
the hosts before it. Which hosts take part is settled while the deploy is
planned, for every host before any executes: an operation's body may run only
when the host reaches it, and then the first host there would see no one
before it and switch at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gevent
from gevent.event import Event
from pyinfra import host, logger
from pyinfra.api import StringCommand, operation
from pyinfra.connectors.util import CommandOutput

POLL_SECONDS = 0.2


@dataclass
class Rollout:
    """One release of one app across the hosts that switch to it in this run."""

    batch: int
    hosts: list[str] = field(default_factory=list)
    done: dict[str, Event] = field(default_factory=dict)
    failed_on: str | None = None

    def add(self, host_name: str) -> None:
        if host_name not in self.hosts:
            self.hosts.append(host_name)
            self.done[host_name] = Event()

    def before(self, host_name: str, inventory_order: list[str]) -> list[str]:
        """The hosts of the batches before this host's, in inventory order."""
        order = [name for name in inventory_order if name in self.done]
        index = order.index(host_name)
        return order[: index - index % self.batch]


# (app name, release id) -> its rollout, for this pyinfra process (one run).
_rollouts: dict[tuple[str, str], Rollout] = {}


def _wait_for_turn(state, rollout: Rollout, host_name: str) -> None:
    for earlier in rollout.before(host_name, [h.name for h in state.inventory]):
        while not rollout.done[earlier].is_set():
            if earlier not in {h.name for h in state.active_hosts}:
                # It failed before reaching its switch: that stops the rollout too.
                rollout.failed_on = rollout.failed_on or earlier
                break
            gevent.sleep(POLL_SECONDS)


class SwitchCommand(StringCommand):
    """`groundwork-activate-NAME RELEASE`, run when this host's turn comes.

    A StringCommand, so pyinfra runs it with the operation's connector
    arguments (sudo and the like) and prints its output when it fails.
    """

    def __init__(self, rollout: Rollout, app_name: str, release_id: str):
        super().__init__(f"groundwork-activate-{app_name}", release_id)
        self.rollout, self.app_name, self.release_id = rollout, app_name, release_id

    def execute(self, state, host, connector_arguments):
        rollout = self.rollout
        switched = False
        try:
            _wait_for_turn(state, rollout, host.name)
            if rollout.failed_on is not None:
                host.log_styled(
                    f"Rollout of {self.app_name} {self.release_id} stopped: {rollout.failed_on} failed; "
                    "this host keeps its current release",
                    fg="red", log_func=logger.error,
                )
                return False, CommandOutput([])
            status, output = super().execute(state, host, connector_arguments)
            switched = bool(status)
            return status, output
        finally:
            # A non-zero exit and an exception (a lost connection, a timeout) alike stop the rollout.
            if not switched:
                rollout.failed_on = rollout.failed_on or host.name
            rollout.done[host.name].set()


def switch_release(app_name: str, release_id: str, batch: int = 1, **operation_arguments):
    """Switch this host to `release_id`, `batch` hosts at a time, after the
    hosts before it in the inventory that switch too."""
    rollout = _rollouts.setdefault((app_name, release_id), Rollout(batch))
    rollout.add(host.name)
    return _switch(rollout, app_name, release_id, **operation_arguments)


@operation()
def _switch(rollout: Rollout, app_name: str, release_id: str):
    yield SwitchCommand(rollout, app_name, release_id)
