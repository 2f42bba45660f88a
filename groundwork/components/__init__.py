"""The components, in the order a host runs them.

Each component is a folder here whose record (groundwork.component.Component)
declares its settings, where it plays, its packages, its ports and its deploy.
This list is the only place that names them all: the runner, the package
step, the firewall and the settings registry read it. The firewall is last:
it opens what every component before it declared.
"""

from __future__ import annotations

from ..component import Component
from .app import APP_COMPONENT
from .backups import BACKUPS
from .base import BASE
from .firewall import FIREWALL
from .monitoring import MONITORING
from .nginx import NGINX
from .postgres import POSTGRES
from .redis import REDIS

RUN_ORDER: tuple[Component, ...] = (BASE, POSTGRES, REDIS, BACKUPS, APP_COMPONENT, NGINX, MONITORING, FIREWALL)


def settings_classes(components=RUN_ORDER) -> list:
    """Every settings class of `components`, in run order."""
    return [cls for c in components for cls in c.settings]


SETTINGS_CLASSES = settings_classes()


def named(*names: str, components=RUN_ORDER) -> tuple[Component, ...]:
    """The components called `names`, in run order; ValueError for a name no component has."""
    unknown = set(names) - {c.name for c in components}
    if unknown:
        raise ValueError(f"no component named {', '.join(sorted(unknown))}")
    return tuple(c for c in components if c.name in names)
