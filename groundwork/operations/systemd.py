"""pyinfra's systemd operations, with `service` checked in one command.

Components import this module as `systemd` in place of pyinfra's.
pyinfra's systemd.service reads whether the unit runs and whether it is
enabled with two `systemctl show` commands; here one reads both, and when the
unit already is as wanted nothing else runs. Restarts, reloads, custom
commands, daemon reloads and user units go to pyinfra's operation as they
are. Every other name is pyinfra's.
"""

from __future__ import annotations

import re

from pyinfra import host
from pyinfra.api import operation
from pyinfra.operations import systemd as _pyinfra
from pyinfra.operations.systemd import daemon_reload  # noqa: F401 (re-exported)

from ..changes import _with_retry_on_spawn_failure
from ..facts.systemd import SystemdUnit

_STARTS = re.compile(r"systemctl (start|restart) \S+$")
UNIT_SUFFIXES = (".service", ".socket", ".device", ".mount", ".automount", ".swap", ".target", ".path",
                 ".timer", ".slice", ".scope")


def __getattr__(name: str):
    return getattr(_pyinfra, name)


def unit_name(service: str) -> str:
    return service if service.endswith(UNIT_SUFFIXES) else f"{service}.service"


def is_as_wanted(unit: dict | None, name: str, running: bool | None, enabled: bool | None) -> bool:
    """Whether pyinfra's systemd.service would do nothing (no restart/reload/command asked)."""
    if unit is None or unit["id"] != name:
        return False
    if running is not None and unit["running"] != running:
        return False
    return not isinstance(enabled, bool) or unit["enabled"] == enabled


@operation()
def service(service: str, running: bool | None = True, restarted: bool = False, reloaded: bool = False,
            command: str | None = None, enabled: bool | None = None, daemon_reload: bool = False,
            user_mode: bool = False, machine: str | None = None, user_name: str | None = None):
    """pyinfra's systemd.service, with its no-op decided by one command."""
    simple = not (restarted or reloaded or command or daemon_reload or user_mode or machine or user_name)
    if simple:
        name = unit_name(service)
        if is_as_wanted(host.get_fact(SystemdUnit, unit=name), name, running, enabled):
            host.noop(f"unit {name} is {'running' if running else 'as wanted'}")
            return
    for planned in _pyinfra.service._inner(
        service=service, running=running, restarted=restarted, reloaded=reloaded, command=command,
        enabled=enabled, daemon_reload=daemon_reload, user_mode=user_mode, machine=machine, user_name=user_name,
    ):
        # systemd in a container now and then fails a start with "unavailable resources"
        # (Failed to spawn executor) although nothing of the unit ran: tried once more.
        text = planned.get_raw_value() if hasattr(planned, "get_raw_value") else planned
        if simple and isinstance(text, str) and _STARTS.match(text):
            planned = _with_retry_on_spawn_failure(text, unit_name(service))
        yield planned
