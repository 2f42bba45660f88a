"""pytest plugin: run testinfra verify tests against any pyinfra inventory.

    pytest tests/verify --inventory inventories/lab.py
    pytest tests/verify --inventory inventories/prod.py --inventory-limit web1

A test that takes `host` runs once per inventory host; `@pytest.mark.group("db")`
limits it to the hosts that play that role (groundwork.fleet: a role no host
is grouped into falls to every host; `backup` and `replica` never do). The `settings` fixture gives that host's validated groundwork
settings, so tests check what the host was asked to be; `inventory` gives
every host of the inventory, for what is derived across hosts.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from ..component import HostRun
from ..components import RUN_ORDER
from ..fleet import Fleet, FleetHost
from .inventory import load_inventory, ssh_config_for

_HOSTS = pytest.StashKey[list]()
_INVENTORY = pytest.StashKey[list]()
_NO_HOST = pytest.StashKey[set]()
_BY_ID = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("groundwork")
    group.addoption("--inventory", metavar="FILE", help="pyinfra inventory whose hosts verify tests check")
    group.addoption(
        "--inventory-limit", metavar="NAME", action="append", default=[],
        help="only this host (repeatable)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "group(name): run only on inventory hosts in this group")


def _hosts(config: pytest.Config) -> list[tuple[FleetHost, object]]:
    if _HOSTS in config.stash:
        return config.stash[_HOSTS]
    import testinfra

    path = config.getoption("--inventory")
    pairs: list = []
    config.stash[_INVENTORY] = Fleet(())
    if path:
        try:
            hosts = load_inventory(path)
        except FileNotFoundError as exc:
            raise pytest.UsageError(f"--inventory: {exc}") from None
        config.stash[_INVENTORY] = hosts
        limit = config.getoption("--inventory-limit")
        if limit:
            unknown = sorted(set(limit) - {h.name for h in hosts})
            if unknown:
                raise pytest.UsageError(f"--inventory-limit: no host named {', '.join(unknown)} in {path}")
            hosts = [h for h in hosts if h.name in limit]
        else:
            hosts = list(hosts)
        workdir = Path(tempfile.mkdtemp(prefix="groundwork-verify-"))
        ssh_config = workdir / "ssh_config"
        ssh_config.write_text(ssh_config_for(hosts))
        for h in hosts:
            backend = testinfra.get_host(
                f"ssh://{h.name}", ssh_config=str(ssh_config), sudo=h.sudo,
                controlpath=str(workdir / f"cm-{h.name}"), controlpersist=120,
            )
            pairs.append((h, backend))
    config.stash[_HOSTS] = pairs
    config.stash[_BY_ID] = {id(backend): h for h, backend in pairs}
    return pairs


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "host" not in metafunc.fixturenames:
        return
    pairs = _hosts(metafunc.config)
    if not metafunc.config.getoption("--inventory"):
        metafunc.parametrize("host", [pytest.param(None, marks=pytest.mark.skip(reason="no --inventory given"))])
        return
    groups = [m.args[0] for m in metafunc.definition.iter_markers("group")]
    # Roles fall according to the whole inventory, not to the hosts --inventory-limit kept.
    selected = [(h, b) for h, b in pairs if all(h.plays(g) or g in h.groups for g in groups)]
    if not selected:
        # No host of this inventory is in the group (no replicas, say): the
        # test does not apply, so it is deselected below rather than skipped.
        metafunc.config.stash.setdefault(_NO_HOST, set()).add(metafunc.definition.nodeid)
    metafunc.parametrize("host", [b for _, b in selected], ids=[h.name for h, _ in selected])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    no_host = config.stash.get(_NO_HOST, set())
    if not no_host:
        return
    deselected = [item for item in items if item.nodeid.split("[", 1)[0] in no_host]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]


@pytest.fixture
def inventory(request: pytest.FixtureRequest, host) -> Fleet:
    """The fleet: every host of the inventory (--inventory-limit or not)."""
    return request.config.stash[_INVENTORY]


@pytest.fixture
def inventory_host(request: pytest.FixtureRequest, host) -> FleetHost:
    """The host under test as the fleet knows it (name, groups, roles, data, settings)."""
    return request.config.stash[_BY_ID][id(host)]


@pytest.fixture
def settings(inventory_host: FleetHost, inventory: Fleet):
    """The host's validated groundwork settings: `settings.base.timezone`, ...

    with what is derived from the inventory filled in: Postgres listen
    addresses and admitted clients, Redis bind, where Gunicorn listens.
    """
    return HostRun(inventory, inventory_host, RUN_ORDER).derived_settings()
