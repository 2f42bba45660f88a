"""Which hosts play which role, from inventory groups.

Roles are inventory groups: `db` (PostgreSQL), `cache` (Redis), `app`
(Gunicorn), `worker` (Celery); later `web`, `backup`. A role no host is grouped into falls to every host,
so a one-host inventory without groups runs the whole stack.
"""

from __future__ import annotations

from collections.abc import Iterable

ROLES = ("db", "cache", "app", "worker")


def has_role(host_groups: Iterable[str], role: str, inventory_groups: Iterable[Iterable[str]]) -> bool:
    """True when a host with `host_groups` plays `role` in an inventory whose
    hosts have `inventory_groups`."""
    if role in host_groups:
        return True
    return not any(role in groups for groups in inventory_groups)


def host_has_role(host, role: str) -> bool:
    """has_role for a pyinfra host of the current run."""
    from pyinfra import context

    return has_role(host.groups, role, (h.groups for h in context.state.inventory))


def first_host_with_role(role: str):
    """The one host that runs what must run once (migrations, Celery beat)."""
    from pyinfra import context

    everyone = [h.groups for h in context.state.inventory]
    return next((h for h in context.state.inventory if has_role(h.groups, role, everyone)), None)


def roles_of(host, roles: Iterable[str] = (*ROLES, "web")) -> frozenset[str]:
    """The roles a pyinfra host of the current run plays (a role nobody has falls to every host)."""
    return frozenset(role for role in roles if host_has_role(host, role))


def hosts_in_group(group: str) -> list:
    """The hosts of the current run in `group`, and none when nobody is in it.

    For roles that must not fall to every host, like `backup`: without a
    backup host there is simply no off-host copy.
    """
    from pyinfra import context

    return [h for h in context.state.inventory if group in h.groups]


def hosts_with_role(role: str) -> list:
    """Every host of the current run that plays `role` (see has_role)."""
    from pyinfra import context

    everyone = [h.groups for h in context.state.inventory]
    return [h for h in context.state.inventory if has_role(h.groups, role, everyone)]
