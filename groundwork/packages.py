"""Install Debian packages, refreshing apt's lists only when it is needed.

`apt.update(cache_time=...)` on every converge would report a change once the
cache ages; here the lists are refreshed only when a package is missing and
they are older than `base_apt_cache_max_age`, so an unchanged host plans no
apt operation at all.

The installed packages are read once per host and run (`dpkg -l` for each
component's call cost a command each): every call happens while the deploy is
planned, before any operation has installed anything, so one read is what the
later reads would have returned.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyinfra import context, host
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt

from .deploy import settings_for

_refreshed: set[str] = set()  # hosts whose lists were refreshed in this run
_installed: dict[tuple[int, str], dict] = {}  # (run state, host) -> DebPackages as planning began


def installed_packages() -> dict:
    key = (id(context.state), host.name)
    if key not in _installed:
        _installed[key] = host.get_fact(DebPackages) or {}
    return _installed[key]


def ensure_packages(packages: Iterable[str], name: str | None = None) -> None:
    packages = sorted(set(packages))
    installed = installed_packages()
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
