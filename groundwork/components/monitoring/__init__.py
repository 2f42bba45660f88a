"""monitoring: exporters on every host, Prometheus and Alertmanager on `monitor` hosts."""

from __future__ import annotations

from ...component import Component, HostRun, Listener, Opening
from ...fleet import MONITOR, ips_of
from ...settings.schema import deploy_problems
from ..app.wiring import runs_app, served_app
from .deploy import deploy_monitoring, monitoring_packages
from .settings import MonitoringSettings
from .targets import (
    ALERTMANAGER_PORT,
    BLACKBOX_PORT,
    EXPORTER_PORTS,
    LOOPBACK,
    NGINX_STATUS_PORT,
    PROMETHEUS_PORT,
    exporters_of,
    listen_address,
    monitored,
    scrapers_of,
)


def _plays(run: HostRun) -> bool:
    return monitored(run.host)


def _openings(run: HostRun) -> list[Opening]:
    """Each exporter's port, open only to the monitor hosts on other machines."""
    scrapers = ips_of(scrapers_of(run.fleet, run.host))
    if not scrapers:
        return []
    openings = [Opening(EXPORTER_PORTS[e], sources=scrapers, comment=f"{e} exporter") for e in exporters_of(run.host)]
    if runs_app(run.host):
        app = served_app(run.fleet, run.host)
        port = app.listen_port
        if port is None and run.settings.monitoring.app_metrics_path:
            port = NGINX_STATUS_PORT  # the app's metrics through nginx's status server
        if port is not None:
            openings.append(Opening(port, sources=scrapers, comment="app metrics and health"))
    return openings


def _listens(run: HostRun) -> list[Listener]:
    address = listen_address(run.fleet, run.host)
    addresses = () if address == LOOPBACK else (address,)
    listeners = [Listener(f"monitoring ({e} exporter)", EXPORTER_PORTS[e], addresses) for e in exporters_of(run.host)]
    if "nginx" in exporters_of(run.host):
        listeners.append(Listener("monitoring (nginx status)", NGINX_STATUS_PORT, addresses))
    if run.host.plays(MONITOR) and monitored(run.host):
        listeners += [Listener("monitoring (prometheus)", PROMETHEUS_PORT), Listener("monitoring (alertmanager)", ALERTMANAGER_PORT),
                      Listener("monitoring (blackbox exporter)", BLACKBOX_PORT)]
    return listeners


MONITORING = Component(
    name="monitoring",
    settings=(MonitoringSettings,),
    plays=_plays,
    packages=monitoring_packages,
    openings=_openings,
    checks=lambda run: deploy_problems(run.host.name, run.settings.monitoring) if monitored(run.host) else [],
    listens=_listens,
    deploy=deploy_monitoring,
)
