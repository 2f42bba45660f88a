"""What nginx on a web host proxies to: Gunicorn on its own host, or on every app host."""

from __future__ import annotations

from dataclasses import dataclass

from ...fleet import Fleet, FleetHost
from ..app.wiring import served_app


@dataclass(frozen=True)
class Upstream:
    """The app's name, its servers (`unix:/run/app/gunicorn.sock` or `10.0.0.5:8000`), its static root."""

    app_name: str
    servers: tuple[str, ...]
    static_root: str | None


def upstream_problem(fleet: Fleet, me: FleetHost) -> str | None:
    """Why nginx on `me` has nothing to proxy to, as "key: ..."; None when it has."""
    if not me.settings.app.source:
        return "nginx_server_names: nginx needs an app to proxy to; set app_source"
    if not fleet.upstreams_of(me):
        return "nginx: no host in group 'app' to proxy to"
    return None


def nginx_upstream(fleet: Fleet, me: FleetHost) -> Upstream:
    app = me.settings.app
    targets = fleet.upstreams_of(me)
    servers = tuple(served_app(fleet, h).gunicorn_bind for h in targets)
    # Static files are served from the release on the app's own host only.
    local = [t.name for t in targets] == [me.name]
    static_root = f"/srv/{app.name}/current/static" if app.static_command and local else None
    return Upstream(app.name, servers, static_root)
