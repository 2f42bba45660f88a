"""Install Debian packages: one apt operation per host where the stack allows it,
refreshing apt's lists only when it is needed.

`apt.update(cache_time=...)` on every converge would report a change once the
cache ages; here the lists are refreshed only when a package is missing and
they are older than `base_apt_cache_max_age`, so an unchanged host plans no
apt operation at all.

The installed packages are read once per host and run (groundwork.facts.once).
A package an earlier call of this run already installs counts as present, so
deploys/full.py installs every component's packages in its first operation
(groundwork.runner) and the components' own calls plan nothing more; each
apt-get run costs seconds of its own on a fresh host.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyinfra import context, host
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt

from .facts.once import fact_at_start

_planned: dict[tuple[int, str], set[str]] = {}  # (run state, host) -> packages this run installs
_cache_time: dict[tuple[int, str], int | None] = {}  # (run state, host) -> base_apt_cache_max_age


def use_cache_time(seconds: int | None) -> None:
    """How old apt's lists may be on the current host before a refresh (the runner sets it per host)."""
    _cache_time[(id(context.state), host.name)] = seconds


def ensure_packages(packages: Iterable[str], name: str | None = None) -> None:
    packages = sorted(set(packages))
    key = (id(context.state), host.name)
    installed = fact_at_start(DebPackages) or {}
    planned = _planned.setdefault(key, set())
    missing = [p for p in packages if p not in installed and p not in planned]
    if not missing:
        return
    if not planned:
        apt.update(
            name="Refresh apt package lists",
            cache_time=_cache_time.get(key),
        )
    planned.update(missing)
    apt.packages(
        name=name or f"Install {', '.join(missing)}",
        packages=missing,
        no_recommends=True,
    )
