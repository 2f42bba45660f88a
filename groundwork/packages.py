"""Install Debian packages, refreshing apt's lists only when it is needed.

`apt.update(cache_time=...)` on every converge would report a change once the
cache ages; here the lists are refreshed only when a package is missing and
they are older than `base_apt_cache_max_age`, so an unchanged host plans no
apt operation at all.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyinfra import host
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt

from .deploy import settings_for

_refreshed: set[str] = set()  # hosts whose lists were refreshed in this run


def ensure_packages(packages: Iterable[str], name: str | None = None) -> None:
    packages = sorted(set(packages))
    installed = host.get_fact(DebPackages) or {}
    missing = [p for p in packages if p not in installed]
    if not missing:
        return
    if host.name not in _refreshed:
        apt.update(
            name="Refresh apt package lists",
            cache_time=settings_for(host, deploying=["base"]).base.apt_cache_max_age or None,
        )
        _refreshed.add(host.name)
    apt.packages(
        name=name or f"Install {', '.join(missing)}",
        packages=packages,
        no_recommends=True,
    )
