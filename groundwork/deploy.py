"""What every deploy file does first: validate every host's settings.

Settings are checked for all hosts in the inventory on the first call, before
any fact is gathered or operation planned, so a typo anywhere stops the whole
run with nothing touched. Values only a component's own hosts need (a Redis
password) are checked on the hosts that run that component in this deploy.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace

from pyinfra import context

from .connections import set_nodelay
from .settings import COMPONENTS, SettingsError, validate_host
from .settings.schema import deploy_problems
from .topology import has_role, topology_problems

_validated: dict[tuple[int, tuple[str, ...]], dict[str, SimpleNamespace]] = {}


def validate_inventory(state=None, deploying: Iterable[str] | None = None) -> dict[str, SimpleNamespace]:
    """Every host's settings; `deploying` names the components this deploy runs (all by default)."""
    state = context.state if state is None else state
    deploying = tuple(sorted(deploying)) if deploying is not None else tuple(c.prefix for c in COMPONENTS)
    key = (id(state), deploying)
    if key not in _validated:
        hosts = list(state.inventory)
        everyone = [h.groups for h in hosts]
        inventory_groups = frozenset(g for groups in everyone for g in groups)
        problems: list[str] = topology_problems([(h.name, h.groups) for h in hosts])
        result: dict[str, SimpleNamespace] = {}
        for host in hosts:
            try:
                built = validate_host(host.name, host.data.dict(), COMPONENTS)
            except SettingsError as exc:
                problems.extend(exc.problems)
                continue
            for prefix in deploying:
                component = built[prefix]
                runs_here = (
                    component.role is None or has_role(host.groups, component.role, everyone)
                    or any(g in host.groups for g in component.groups)
                )
                if runs_here:
                    problems.extend(deploy_problems(host.name, component, inventory_groups))
            result[host.name] = SimpleNamespace(**built)
        if problems:
            raise SettingsError(problems)
        _validated[key] = result
        set_nodelay(hosts)
    return _validated[key]


def settings_of(other, state=None) -> SimpleNamespace:
    """Another host's settings, as this run already validated them (a host's
    settings do not depend on which components a deploy runs)."""
    state = context.state if state is None else state
    for (state_id, _), result in _validated.items():
        if state_id == id(state):
            return result[other.name]
    return validate_inventory(state, deploying=())[other.name]


def settings_for(host=None, deploying: Iterable[str] | None = None) -> SimpleNamespace:
    """This host's settings, one typed object per component (`.base`, `.postgres`, ...)."""
    host = context.host if host is None else host
    return validate_inventory(deploying=deploying)[host.name]
