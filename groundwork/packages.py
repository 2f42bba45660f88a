"""Install Debian packages: one apt operation per host where the stack allows it,
refreshing apt's lists only when it is needed.

`apt.update(cache_time=...)` on every converge would report a change once the
cache ages; here the lists are refreshed only when a package is missing and
they are older than `base_apt_cache_max_age`, so an unchanged host plans no
apt operation at all.

The installed packages are read once per host and run (groundwork.planning).
A package an earlier call of this run already installs counts as present, so
deploys/full.py installs every component's packages in its first operation
(groundwork.stack) and the components' own calls plan nothing more; each
apt-get run costs seconds of its own on a fresh host.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyinfra import context, host
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt

from .deploy import settings_for
from .planning import fact_at_start

_planned: dict[tuple[int, str], set[str]] = {}  # (run state, host) -> packages this run installs


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
            cache_time=settings_for(host, deploying=["base"]).base.apt_cache_max_age or None,
        )
    planned.update(missing)
    apt.packages(
        name=name or f"Install {', '.join(missing)}",
        packages=missing,
        no_recommends=True,
    )
