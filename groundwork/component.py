"""What a component declares, as data, and what it is handed when it runs.

A component is a folder `groundwork/components/<name>/` (settings, deploy
steps, facts, operations) whose `__init__.py` holds one `Component` record.
The runner, the package step, the firewall and the settings registry only
collect these records (groundwork.components.RUN_ORDER), so adding a
component is a folder plus one line there.

Every function of a record takes a `HostRun`: the fleet, the host being
deployed (with its validated settings) and the run's components. Records
never read another host's data except through the fleet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import SimpleNamespace

from .fleet import Fleet, FleetHost
from .settings.schema import ComponentSettings

ANY = "any"


@dataclass(frozen=True)
class Opening:
    """A port a component needs open on its host, and to whom (only the firewall opens it)."""

    port: int
    proto: str = "tcp"
    sources: tuple[str, ...] = (ANY,)  # "any", or addresses / networks
    comment: str = ""


@dataclass(frozen=True)
class Listener:
    """A port a component's service listens on, named by the setting that sets it, and the
    addresses it binds that the settings name by hand (the host must have them)."""

    key: str  # the setting, e.g. "postgres_port", or what it is when no setting sets it ("nginx")
    port: int
    addresses: tuple[str, ...] = ()
    addresses_key: str | None = None  # the setting that names the addresses, when not `key`


def _nothing(run: HostRun) -> list:
    return []


def _own_settings(run: HostRun) -> dict:
    return {}


@dataclass(frozen=True)
class Component:
    """One component, declared as data.

    - `settings`: its settings classes (their prefixes are its keys).
    - `plays(run)`: whether it runs on the run's host (from its roles and settings).
    - `packages(run)`: Debian packages it needs on a host it plays on.
    - `openings(run)`: ports it needs open there, and to whom (asked of the fleet).
    - `checks(run)`: problems found from settings and the inventory alone, as
      "host H: key: ..." messages; run on every host before any fact is read.
    - `listens(run)`: the ports its services listen on there (no two components may share one).
    - `derived(run)`: its settings objects with the values derived from the
      fleet filled in (listen addresses, where Gunicorn listens), by prefix;
      what its deploy uses and what the verify tests check.
    - `deploy(run)`: its operations, on a host it plays on.
    """

    name: str
    settings: tuple[type[ComponentSettings], ...]
    plays: Callable[[HostRun], bool]
    deploy: Callable[[HostRun], None]
    packages: Callable[[HostRun], Iterable[str]] = _nothing
    openings: Callable[[HostRun], Iterable[Opening]] = _nothing
    checks: Callable[[HostRun], Iterable[str]] = _nothing
    listens: Callable[[HostRun], Iterable[Listener]] = _nothing
    derived: Callable[[HostRun], dict] = field(default=_own_settings)

    @property
    def prefixes(self) -> tuple[str, ...]:
        return tuple(cls.prefix for cls in self.settings)


@dataclass(frozen=True)
class HostRun:
    """One host's part in a run: the fleet, the host, and every component of the run."""

    fleet: Fleet
    host: FleetHost
    components: tuple[Component, ...]

    @property
    def settings(self) -> SimpleNamespace:
        """This host's validated settings, one object per prefix (`.base`, `.postgres`, ...)."""
        return self.host.settings

    def on(self, other: FleetHost) -> HostRun:
        """The same run, seen from another host of the fleet."""
        return HostRun(self.fleet, other, self.components)

    def playing(self) -> list[Component]:
        return [c for c in self.components if c.plays(self)]

    def packages(self) -> list[str]:
        """Every package the components that play here need."""
        return [p for c in self.playing() for p in c.packages(self)]

    def openings(self) -> list[Opening]:
        """Every port the components that play here need open."""
        return [o for c in self.playing() for o in c.openings(self)]

    def listeners(self) -> list[Listener]:
        """Every port the components that play here listen on."""
        return [listener for c in self.playing() for listener in c.listens(self)]

    def port_problems(self) -> list[str]:
        """Two services of this host on one port, as problems naming both settings."""
        problems, taken = [], {}
        for listener in self.listeners():
            other = taken.setdefault(listener.port, listener)
            if other is not listener and other.key != listener.key:
                # Name the setting to change: a fixed port (nginx's 443) is never the one.
                moved, holder = (other, listener) if " " in listener.key and " " not in other.key else (listener, other)
                problems.append(f"host {self.host.name}: {moved.key}: port {moved.port} is taken by "
                                f"{holder.key} on this host; expected a free port")
        return problems

    def derived_settings(self) -> SimpleNamespace:
        """This host's settings with every component's derived values in place."""
        derived = dict(vars(self.settings))
        for c in self.components:
            derived.update(c.derived(self))
        return SimpleNamespace(**derived)
