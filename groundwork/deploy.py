"""What every deploy file does first: validate every host's settings.

Settings are checked for all hosts in the inventory on the first call, before
any fact is gathered or operation planned, so a typo anywhere stops the whole
run with nothing touched.
"""

from __future__ import annotations

from types import SimpleNamespace

from pyinfra import context

from .settings import COMPONENTS, SettingsError, validate_host

_validated: dict[int, dict[str, SimpleNamespace]] = {}


def validate_inventory(state=None) -> dict[str, SimpleNamespace]:
    state = context.state if state is None else state
    key = id(state)
    if key not in _validated:
        problems: list[str] = []
        result: dict[str, SimpleNamespace] = {}
        for host in state.inventory:
            try:
                result[host.name] = SimpleNamespace(**validate_host(host.name, host.data.dict(), COMPONENTS))
            except SettingsError as exc:
                problems.extend(exc.problems)
        if problems:
            raise SettingsError(problems)
        _validated[key] = result
    return _validated[key]


def settings_for(host=None) -> SimpleNamespace:
    """This host's settings, one typed object per component (`.base`, ...)."""
    host = context.host if host is None else host
    return validate_inventory()[host.name]
