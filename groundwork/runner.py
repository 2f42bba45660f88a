"""What every deploy file runs: check the whole fleet, then run the components
that play on this host, in order.

    deploy_components()              # deploys/full.py: packages, then every component
    deploy_components("postgres")    # deploys/postgres.py: that component alone

The first call of a run builds the fleet from the inventory and checks every
host's settings and every component's checks, before any fact is read or
operation planned: a typo anywhere stops the whole run with nothing touched.
"""

from __future__ import annotations

import ipaddress
from types import SimpleNamespace

from pyinfra import context, host
from pyinfra.api import deploy, operation

from . import factcache, pyinfra_patches, redaction
from .component import Component, HostRun
from .components import RUN_ORDER, named, settings_classes
from .connections import set_nodelay
from .facts.host import IpAddresses
from .facts.once import fact_at_start
from .fleet import Fleet
from .lock import hold_run_lock
from .packages import ensure_packages, use_cache_time
from .settings import SettingsError, validate_host
from .settings.schema import secret_values

_checked: dict[tuple[int, tuple[str, ...]], Fleet] = {}  # (run state, components checked) -> fleet

# Before the first operation: pyinfra's operation ordering without inspect.stack().
pyinfra_patches.install()


def build_fleet(inventory, components: tuple[Component, ...] = RUN_ORDER) -> Fleet:
    """The fleet with every host's validated settings; SettingsError lists every problem."""
    inventory = list(inventory)
    classes = settings_classes(components)
    problems: list[str] = []
    settings = {}
    for h in inventory:
        try:
            data = h.data.dict() if hasattr(h.data, "dict") else h.data
            settings[h.name] = SimpleNamespace(**validate_host(h.name, data, classes))
        except SettingsError as exc:
            problems.extend(exc.problems)
    for built in settings.values():
        # From here on no log record shows them (pyinfra's --debug included).
        redaction.register(v for component in vars(built).values() for v in secret_values(component))
    fleet = Fleet.from_inventory(inventory, settings)
    problems += fleet.problems()
    if problems:
        raise SettingsError(problems)
    return fleet


def check_fleet(fleet: Fleet, checked: tuple[Component, ...], components: tuple[Component, ...] = RUN_ORDER) -> None:
    """Every check the `checked` components can make from settings and the inventory, on every host."""
    problems = [p for h in fleet for c in checked for p in c.checks(HostRun(fleet, h, components))]
    problems += [p for h in fleet for p in HostRun(fleet, h, components).port_problems()]
    if problems:
        raise SettingsError(problems)


def fleet_of_run(checked: tuple[Component, ...] = RUN_ORDER) -> Fleet:
    """This run's fleet, built and checked once (per set of components a deploy runs)."""
    state = context.state
    key = (id(state), tuple(c.name for c in checked))
    if key not in _checked:
        fleet = build_fleet(state.inventory)
        check_fleet(fleet, checked)
        # One run at a time against the fleet, a plain pyinfra run too (groundwork converge hands its lock down).
        hold_run_lock()
        # Before the first fact: every command of the run goes out without Nagle's delay.
        set_nodelay(state.inventory)
        _checked[key] = fleet
    return _checked[key]


def this_host(*names: str) -> HostRun:
    """The current host's part in this run, the fleet checked for the named components (all by default)."""
    fleet = fleet_of_run(named(*names) if names else RUN_ORDER)
    return HostRun(fleet, fleet[host.name], RUN_ORDER)


def deploy_components(*names: str) -> None:
    """Run the named components on the current host, or all of them with one package step first."""
    components = named(*names) if names else RUN_ORDER
    run = this_host(*names)
    factcache.begin(context.ctx_host.get(), "+".join(names) or "full")
    use_cache_time(run.settings.base.apt_cache_max_age or None)
    check_addresses(run)
    if not names:
        install_packages(run)
    deploy_playing(run, components)


def check_addresses(run: HostRun) -> None:
    """Every address a service is told to bind is one the host has (read before any operation)."""
    # Loopback is on every host: no command is spent on it.
    wanted = [(listener.addresses_key or listener.key, a) for listener in run.listeners() for a in listener.addresses
              if not ipaddress.ip_address(a).is_loopback]
    if not wanted:
        return
    have = set(fact_at_start(IpAddresses) or ())
    problems = [f"host {run.host.name}: {key}: {address} is not an address of this host "
                f"(it has {', '.join(sorted(have)) or 'none'})" for key, address in wanted if address not in have]
    if problems:
        raise SettingsError(problems)


def deploy_playing(run: HostRun, components: tuple[Component, ...]) -> None:
    """Each of `components` that plays on the run's host, in order; every host passes
    one shared no-op after each component, so no host starts a component before every
    host has done the ones before it (the db host's Postgres before an app host's migrations)."""
    for component in components:
        if component.plays(run):
            _call_in_run_order(run.components.index(component), component, run)
        _all_hosts_past(name=f"Every host is past {component.name}")


@operation(is_idempotent=True)
def _all_hosts_past():
    """Nothing to run: an operation every host shares. pyinfra orders the operations of
    different hosts as a graph of each host's sequence, wave by wave; only shared
    operations tie the hosts' sequences together."""
    host.noop("in run order")
    return
    yield  # an operation is a generator


# pyinfra orders the operations of different hosts by the line numbers of their
# call stacks (pyinfra.api.util.get_operation_order_from_stack), not by the
# order they were called in. Each component is called from a line of its own,
# in run order, so that Postgres on the db host comes before the migrations on
# an app host (and a component's own line numbers never decide that).
_RUN_ORDER_SOURCE = "def _call_in_run_order(index, component, run):\n" + "".join(
    f"    if index == {i}: return component.deploy(run)\n" for i in range(64)
) + "    raise IndexError(f'no run-order line for component {index}')\n"
_lines: dict = {}
exec(compile(_RUN_ORDER_SOURCE, "<groundwork run order>", "exec"), _lines)
_call_in_run_order = _lines["_call_in_run_order"]


@deploy("Packages")
def install_packages(run: HostRun) -> None:
    """Every package the components that play here need, in one apt run.

    Each apt-get run costs seconds of its own on a fresh host; the components'
    own calls then find their packages planned (groundwork.packages). With the
    PGDG repository, Postgres's packages come in a second run, after it is added.
    """
    ensure_packages(run.packages(), name="Install the packages of every component")

