"""Who is scraped, where, and by whom: derived from the fleet, never typed by hand.

Every monitored host runs node exporter; db and replica hosts the Postgres
exporter, cache hosts the Redis exporter, web hosts the nginx exporter and
mtail (nginx's responses by status code, from its access log). Prometheus on
each `monitor` host scrapes all of them, probes every site over HTTPS through
each web host (status and certificate) and each app host's health path where
Gunicorn listens on TCP.

An exporter listens on loopback when only its own host scrapes it, else on the
host's own address, which the firewall opens to the monitor hosts alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...fleet import APP, CACHE, DB, MONITOR, REPLICA, WEB, Fleet, FleetHost
from ..app.wiring import runs_app, served_app, url_host

LOOPBACK = "127.0.0.1"

# Each exporter: its Debian package and service, and the port it listens on.
NODE, POSTGRES, REDIS, NGINX, NGINX_LOG = "node", "postgres", "redis", "nginx", "nginx_log"
EXPORTER_PORTS = {NODE: 9100, POSTGRES: 9187, REDIS: 9121, NGINX: 9113, NGINX_LOG: 3903}
EXPORTER_SERVICES = {
    NODE: "prometheus-node-exporter", POSTGRES: "prometheus-postgres-exporter",
    REDIS: "prometheus-redis-exporter", NGINX: "prometheus-nginx-exporter", NGINX_LOG: "mtail",
}
NGINX_STATUS_PORT = 9146  # nginx's stub_status (and the app's metrics on its socket): loopback or own address
PROMETHEUS_PORT, ALERTMANAGER_PORT, BLACKBOX_PORT = 9090, 9093, 9115
APP_METRICS = "app"


def monitored(h: FleetHost) -> bool:
    return bool(h.settings and h.settings.monitoring.enabled)


def monitors(fleet: Fleet) -> list[FleetHost]:
    """The hosts that run Prometheus and Alertmanager."""
    return [h for h in fleet.with_role(MONITOR) if monitored(h)]


def exporters_of(h: FleetHost) -> list[str]:
    """The exporters `h` runs, in a fixed order."""
    if not monitored(h):
        return []
    found = [NODE]
    if h.plays(DB) or h.plays(REPLICA):
        found.append(POSTGRES)
    if h.plays(CACHE):
        found.append(REDIS)
    if h.plays(WEB):
        found += [NGINX, NGINX_LOG]
    return found


def scrapers_of(fleet: Fleet, h: FleetHost) -> list[FleetHost]:
    """The monitor hosts other than `h` itself: who must reach its exporters over the network."""
    return [m for m in monitors(fleet) if m.name != h.name]


def listen_address(fleet: Fleet, h: FleetHost) -> str:
    """Where `h`'s exporters listen: loopback when only `h` scrapes them."""
    return h.ip() if scrapers_of(fleet, h) else LOOPBACK


def address_from(monitor: FleetHost, h: FleetHost) -> str:
    """The address `monitor` scrapes `h` on."""
    return LOOPBACK if monitor.name == h.name else h.ip()


def host_port(address: str, port: int) -> str:
    """address:port, an IPv6 address in brackets."""
    return f"{url_host(address)}:{port}"


def app_metrics_target(fleet: Fleet, monitor: FleetHost, h: FleetHost) -> str | None:
    """Where `monitor` scrapes the app's metrics on app host `h`: Gunicorn's TCP address,
    or (on its unix socket) nginx's status server on that host, which proxies the path."""
    path = h.settings.monitoring.app_metrics_path
    if not path or not runs_app(h) or not h.plays(APP):
        return None
    app = served_app(fleet, h)
    if app.listen_port is not None:
        return host_port(address_from(monitor, h), app.listen_port)
    if h.plays(WEB):
        return host_port(address_from(monitor, h), NGINX_STATUS_PORT)
    return None


@dataclass(frozen=True)
class Target:
    address: str  # host:port
    host: str  # the inventory name: the `instance` label


@dataclass(frozen=True)
class SiteProbe:
    """An HTTPS probe of one site name through one web host."""

    module: str  # blackbox module (one per name: Host header and TLS server name)
    name: str
    url: str  # https://<web host address><health path>
    host: str


@dataclass(frozen=True)
class HealthProbe:
    url: str
    host: str


def scrape_targets(fleet: Fleet, monitor: FleetHost) -> dict[str, list[Target]]:
    """job -> its targets, as `monitor` scrapes them."""
    jobs: dict[str, list[Target]] = {job: [] for job in EXPORTER_PORTS}
    jobs[APP_METRICS] = []
    for h in fleet:
        for exporter in exporters_of(h):
            jobs[exporter].append(Target(host_port(address_from(monitor, h), EXPORTER_PORTS[exporter]), h.name))
        if monitored(h):
            app = app_metrics_target(fleet, monitor, h)
            if app:
                jobs[APP_METRICS].append(Target(app, h.name))
    return {job: targets for job, targets in jobs.items() if targets}


def _probe_names(h: FleetHost) -> list[str]:
    # A wildcard name has no one host to ask for.
    return [n for n in h.settings.nginx.server_names if not n.startswith("*.")]


def site_probes(fleet: Fleet, monitor: FleetHost) -> list[SiteProbe]:
    """Each site name on each web host, asked for the app's health path over HTTPS."""
    names: list[str] = []
    for h in fleet.with_role(WEB):
        names += [n for n in _probe_names(h) if n not in names]
    probes = []
    for h in fleet.with_role(WEB):
        if not h.settings.app.source:
            continue
        for name in _probe_names(h):
            module = "site_" + re.sub(r"[^a-z0-9]", "_", name.lower())
            address = url_host(address_from(monitor, h))
            probes.append(SiteProbe(module, name, f"https://{address}{h.settings.app.health_path}", h.name))
    return probes


def health_probes(fleet: Fleet, monitor: FleetHost) -> list[HealthProbe]:
    """Each app host's health path where Gunicorn listens on TCP (on a unix socket the site probe asks it)."""
    probes = []
    for h in fleet.with_role(APP):
        if not runs_app(h):
            continue
        app = served_app(fleet, h)
        if app.listen_port is None:
            continue
        address = url_host(address_from(monitor, h))
        probes.append(HealthProbe(f"http://{address}:{app.listen_port}{app.health_path}", h.name))
    return probes


def health_host_header(fleet: Fleet) -> str | None:
    """The Host header the health probes send: the app's health host (the site's first name)."""
    for h in fleet.with_role(APP):
        if runs_app(h):
            return served_app(fleet, h).health_host
    return None
