"""Which hosts play which role, from inventory groups.

Roles are inventory groups: `db` (PostgreSQL), `cache` (Redis), `app`
(Gunicorn), `worker` (Celery), `web` (nginx and certbot); `backup` and
`replica` are groups that nobody plays unless named. A role no host is grouped
into falls to every host, so a one-host inventory without groups runs the whole
stack - except `web` and `worker`, which fall to the hosts of the `app` role:
without a `web` group, nginx runs on each app host (behind your own balancer),
and without a `worker` group Celery runs beside the app.
"""

from __future__ import annotations

from collections.abc import Iterable

ROLES = ("db", "cache", "app", "worker")
# Roles that, when no host is grouped into them, fall to the hosts of another role.
FALLS_TO = {"web": "app", "worker": "app"}
# Groups that hold only the hosts put into them (see hosts_in_group).
MEMBER_ONLY_GROUPS = ("backup", "replica")


def has_role(host_groups: Iterable[str], role: str, inventory_groups: Iterable[Iterable[str]]) -> bool:
    """True when a host with `host_groups` plays `role` in an inventory whose
    hosts have `inventory_groups`."""
    host_groups = list(host_groups)
    if role in host_groups:
        return True
    inventory_groups = [list(groups) for groups in inventory_groups]
    if any(role in groups for groups in inventory_groups):
        return False
    if role in FALLS_TO:
        return has_role(host_groups, FALLS_TO[role], inventory_groups)
    return True


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


# --- who talks to whom -----------------------------------------------------------------------------
# Pure functions over host-like objects (`.name`, `.groups`), so the wiring is
# unit-tested without a run; the pyinfra wrappers pass context.state.inventory.
# Hosts are told apart by name: pyinfra's `host` is a context proxy, never
# identical to the inventory's Host object.


def role_hosts(role: str, hosts: Iterable) -> list:
    """The hosts among `hosts` that play `role` (see has_role)."""
    hosts = list(hosts)
    everyone = [h.groups for h in hosts]
    return [h for h in hosts if has_role(h.groups, role, everyone)]


def upstreams_of(web_host, hosts: Iterable) -> list:
    """The app hosts nginx on `web_host` proxies to: its own app when it runs
    one (nginx on each app host), else every app host of the fleet."""
    hosts = list(hosts)
    apps = role_hosts("app", hosts)
    own = [h for h in apps if h.name == web_host.name]
    return own or apps


def proxies_of(app_host, hosts: Iterable) -> list:
    """The web hosts whose nginx proxies to `app_host`."""
    hosts = list(hosts)
    return [w for w in role_hosts("web", hosts) if app_host.name in {u.name for u in upstreams_of(w, hosts)}]


def single_host_with_role(role: str, hosts: Iterable, what: str):
    """The one host of `role` that others connect to (the Postgres primary, Redis)."""
    found = role_hosts(role, hosts)
    if len(found) != 1:
        names = ", ".join(h.name for h in found) or "none"
        raise ValueError(
            f"{what}: expected exactly one host in group {role!r} to connect the app to, found {names}"
        )
    return found[0]


def topology_problems(hosts: Iterable[tuple[str, Iterable[str]]]) -> list[str]:
    """Inventory shapes groundwork refuses, as "host H: groups: ..." messages.

    `hosts` are (name, groups) pairs. Replicas need exactly one `db` host to
    stream from, and must not be it.
    """
    hosts = [(name, set(groups)) for name, groups in hosts]
    everyone = [groups for _, groups in hosts]
    replicas = [name for name, groups in hosts if "replica" in groups]
    if not replicas:
        return []
    problems = []
    for name, groups in hosts:
        if "replica" in groups and has_role(groups, "db", everyone):
            why = "in the db group too" if "db" in groups else "playing db because no host is in the db group"
            problems.append(
                f"host {name}: groups: expected a replica that is not the db host it streams from, got one {why}"
            )
    primaries = [name for name, groups in hosts if "replica" not in groups and has_role(groups, "db", everyone)]
    if len(primaries) > 1:
        problems += [
            f"host {name}: groups: expected one db host for the replicas to stream from, got {', '.join(primaries)}"
            for name in primaries
        ]
    return problems
