"""Monitoring: Debian's exporters on every host, Prometheus, Alertmanager and the
blackbox exporter on `monitor` hosts (docs/monitoring.md).

Each service reads its command line from /etc/default/<service>; a changed one
restarts it, a changed config reloads it after its own checker passed
(`promtool check config`, `amtool check-config`, blackbox's `--config.check`,
`nginx -t`), and either is done only when the service answers over HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import deploy

from ... import redaction
from ...changes import ServiceChanges, await_answer, watched_upload
from ...component import HostRun
from ...escape import environment_file_value
from ...fleet import APP, DB, MONITOR, REPLICA
from ...operations import files, systemd
from ...packages import ensure_packages
from ...paths import template
from ...templates import get_template
from ..app.wiring import runs_app, url_host
from ..postgres.access import MONITOR_ROLE
from ..postgres.deploy import host_plan
from ..postgres.operations import quote_ident, quote_literal, sql
from ..redis.settings import EXPORTER_USER
from .facts import PostgresMonitorRole
from .rules import render_rules
from .settings import MonitoringSettings, duration_seconds
from .targets import (
    ALERTMANAGER_PORT,
    BLACKBOX_PORT,
    EXPORTER_PORTS,
    EXPORTER_SERVICES,
    LOOPBACK,
    NGINX,
    NGINX_LOG,
    NGINX_STATUS_PORT,
    NODE,
    POSTGRES,
    PROMETHEUS_PORT,
    REDIS,
    exporters_of,
    health_host_header,
    health_probes,
    host_port,
    listen_address,
    scrape_targets,
    site_probes,
)

TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
PROMETHEUS_CONFIG = "/etc/prometheus/prometheus.yml"
RULES = "/etc/prometheus/rules/groundwork.rules.yml"
ALERTMANAGER_CONFIG = "/etc/prometheus/alertmanager.yml"
BLACKBOX_CONFIG = "/etc/prometheus/blackbox.yml"
PROBE_CA = "/etc/prometheus/groundwork-probe-ca.pem"
POSTGRES_QUERIES = "/etc/prometheus/postgres-exporter-queries.yml"
NGINX_STATUS_CONF = "/etc/nginx/conf.d/groundwork-status.conf"
MTAIL_PROGRAM = "/etc/mtail/groundwork-nginx.mtail"

PACKAGES = {
    # dbus: node exporter's systemd collector asks systemd over the system bus.
    NODE: ["prometheus-node-exporter", "dbus", "curl"],
    POSTGRES: ["prometheus-postgres-exporter"],
    REDIS: ["prometheus-redis-exporter"],
    NGINX: ["prometheus-nginx-exporter"],
    NGINX_LOG: ["mtail"],
}
MONITOR_PACKAGES = ["prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter", "curl"]


def monitoring_packages(run: HostRun) -> list[str]:
    packages = [p for exporter in exporters_of(run.host) for p in PACKAGES[exporter]]
    if run.host.plays(MONITOR) and run.settings.monitoring.enabled:
        packages += MONITOR_PACKAGES
    return list(dict.fromkeys(packages))


def redis_exporter_password(app_password: str) -> str:
    """The Redis exporter's ACL password, derived from the app's: nothing more to type or keep,
    and knowing it tells nothing of the app's password."""
    password = hmac.new(app_password.encode(), b"groundwork redis exporter", hashlib.sha256).hexdigest()
    redaction.register([password])  # kept out of every log record, --debug included
    return password


def answers(url: str) -> str:
    """A shell test: the URL answers 2xx within 5 s."""
    return f"curl -fsS -o /dev/null --max-time 5 {shlex.quote(url)}"


def render(path: str, **context) -> str:
    """A template rendered here, for files whose content pyinfra must never show (secrets)."""
    return get_template(template(path)).render(**context)  # StrictUndefined, as pyinfra renders them


@deploy("Monitoring")
def deploy_monitoring(run: HostRun) -> None:
    settings: MonitoringSettings = run.settings.monitoring
    exporters = exporters_of(run.host)
    address = listen_address(run.fleet, run.host)
    ensure_packages(monitoring_packages(run), name="Install the exporters")
    files.directory(name="Create the textfile collector directory", path=TEXTFILE_DIR,
                    user="root", group="root", mode="0755")
    for exporter in exporters:
        restart = ServiceChanges(EXPORTER_SERVICES[exporter], action="restart",
                                 ready=answers(f"http://{host_port(address, EXPORTER_PORTS[exporter])}/metrics"))
        if exporter == POSTGRES:
            configure_postgres_exporter(run, address, restart)
        elif exporter == REDIS:
            configure_redis_exporter(run, address, restart)
        elif exporter == NGINX:
            configure_nginx_status(run, address)
            exporter_defaults(restart, "prometheus-nginx-exporter", args=[
                f"--nginx.scrape-uri=http://{LOOPBACK}:{NGINX_STATUS_PORT}/stub_status",
                f"--web.listen-address={host_port(address, EXPORTER_PORTS[NGINX])}"])
        elif exporter == NGINX_LOG:
            configure_mtail(run, address, restart)
        else:
            exporter_defaults(restart, "prometheus-node-exporter", args=[
                f"--web.listen-address={host_port(address, EXPORTER_PORTS[NODE])}",
                "--collector.systemd", f"--collector.textfile.directory={TEXTFILE_DIR}"])
        restart.apply()
        start(EXPORTER_SERVICES[exporter], restart.ready)
    if run.host.plays(MONITOR) and settings.enabled:
        deploy_prometheus(run)


def start(service: str, ready: str, timeout: int = 60):
    started = systemd.service(name=f"Enable and start {service}", service=service, running=True, enabled=True)
    return await_answer(started, service, ready, timeout)


def exporter_defaults(restart: ServiceChanges, service: str, args: list[str], env: dict[str, str] | None = None,
                      mode: str = "0644", secret: bool = False):
    """/etc/default/<service>: the ARGS its unit passes, and environment variables (quoted for systemd)."""
    content = render("etc/default/SERVICE", args=environment_file_value(" ".join(args)),
                     env={k: environment_file_value(v) for k, v in (env or {}).items()})
    return watched_upload(restart, files.put, name=f"Configure {service}", src=StringIO(content),
                          dest=f"/etc/default/{service}", user="root", group="root", mode=mode)


def configure_postgres_exporter(run: HostRun, address: str, restart: ServiceChanges) -> None:
    postgres = run.settings.postgres
    if run.host.plays(DB) and not run.host.plays(REPLICA):
        create_monitor_role(postgres.port, host_plan(postgres).version)
    watched_upload(restart, files.template, name="Upload the Postgres exporter's queries",
                   src=template("etc/prometheus/postgres-exporter-queries.yml"), dest=POSTGRES_QUERIES,
                   user="root", group="root", mode="0644")
    dsn = f"host=/run/postgresql port={int(postgres.port)} user={MONITOR_ROLE} dbname=postgres sslmode=disable"
    exporter_defaults(restart, "prometheus-postgres-exporter", env={"DATA_SOURCE_NAME": dsn}, args=[
        f"--web.listen-address={host_port(address, EXPORTER_PORTS[POSTGRES])}",
        f"--extend.query-path={POSTGRES_QUERIES}"])


def create_monitor_role(port: int, version: int) -> None:
    """The exporter's login: pg_monitor and nothing else, no password (peer over the socket)."""
    if host.get_fact(PostgresMonitorRole, port=port, version=version) == ["t", "t", "f"]:
        return
    name, ident = quote_literal(MONITOR_ROLE), quote_ident(MONITOR_ROLE)
    sql(name=f"Create the {MONITOR_ROLE} role (pg_monitor)", port=port, version=version, statements=(
        f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {name}) "
        f"THEN CREATE ROLE {ident}; END IF; END$$;\n"
        f"ALTER ROLE {ident} WITH LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION PASSWORD NULL;\n"
        f"GRANT pg_monitor TO {ident};\n"
    ))


def configure_redis_exporter(run: HostRun, address: str, restart: ServiceChanges) -> None:
    redis = run.settings.redis
    bind = [a for a in run.derived_settings().redis.bind if not a.startswith("-")]
    target = bind[0] if bind else LOOPBACK
    exporter_defaults(
        restart, "prometheus-redis-exporter", mode="0600",
        env={
            "REDIS_ADDR": f"redis://{host_port(target, redis.port)}",
            "REDIS_USER": EXPORTER_USER,
            "REDIS_PASSWORD": redis_exporter_password(redis.app_password),
        },
        args=[f"--web.listen-address={host_port(address, EXPORTER_PORTS[REDIS])}"],
    )


def configure_nginx_status(run: HostRun, address: str) -> None:
    """A server of its own: nginx's stub_status for the exporter (loopback only), and the
    app's metrics path when the app on this host listens on its socket."""
    app = run.derived_settings().app
    metrics_path = run.settings.monitoring.app_metrics_path
    local_app = run.host.plays(APP) and runs_app(run.host) and app.listen_port is None
    nginx = ServiceChanges("nginx", action="reload", check="nginx -t")
    watched_upload(nginx, files.template, name="Upload nginx's status server",
                   src=template("etc/nginx/conf.d/groundwork-status.conf"), dest=NGINX_STATUS_CONF,
                   user="root", group="root", mode="0644", port=NGINX_STATUS_PORT,
                   address=url_host(address),
                   metrics_path=metrics_path if local_app else None,
                   upstream=f"{app.name}_app", host_header=app.health_host)
    nginx.apply()


def configure_mtail(run: HostRun, address: str, restart: ServiceChanges) -> None:
    app_name = run.settings.app.name
    watched_upload(restart, files.template, name="Upload mtail's nginx program",
                   src=template("etc/mtail/groundwork-nginx.mtail"), dest=MTAIL_PROGRAM,
                   user="root", group="root", mode="0644")
    exporter_defaults(restart, "mtail", args=[], env={
        "LOGS": f"/var/log/nginx/{app_name}.access.log", "HOST": address, "PORT": str(EXPORTER_PORTS[NGINX_LOG])})


def scrape_timeout(settings: MonitoringSettings) -> str:
    return f"{int(min(10, max(1, duration_seconds(settings.scrape_interval))))}s"


def deploy_prometheus(run: HostRun) -> None:
    settings: MonitoringSettings = run.settings.monitoring
    fleet, me = run.fleet, run.host
    prometheus_ready = answers(f"http://{LOOPBACK}:{PROMETHEUS_PORT}/-/ready")
    alertmanager_ready = answers(f"http://{LOOPBACK}:{ALERTMANAGER_PORT}/-/ready")
    blackbox_ready = answers(f"http://{LOOPBACK}:{BLACKBOX_PORT}/metrics")

    # Blackbox: a module per site name, the CA the probes trust.
    probes = site_probes(fleet, me)
    ca_file = None
    blackbox = ServiceChanges("prometheus-blackbox-exporter", action="restart", ready=blackbox_ready,
                              check=f"prometheus-blackbox-exporter --config.check --config.file {BLACKBOX_CONFIG}")
    if settings.probe_ca_bundle:
        ca_file = PROBE_CA
        watched_upload(blackbox, files.put, name="Upload the CA the site probes trust",
                       src=settings.probe_ca_bundle, dest=PROBE_CA, user="root", group="root", mode="0644")
    watched_upload(blackbox, files.template, name="Upload the blackbox exporter's modules",
                   src=template("etc/prometheus/blackbox.yml"), dest=BLACKBOX_CONFIG,
                   user="root", group="root", mode="0644",
                   site_probes=probes, ca_file=ca_file, health_host=health_host_header(fleet))
    exporter_defaults(blackbox, "prometheus-blackbox-exporter", args=[
        f"--config.file={BLACKBOX_CONFIG}", f"--web.listen-address={LOOPBACK}:{BLACKBOX_PORT}"])
    blackbox.apply()
    start("prometheus-blackbox-exporter", blackbox_ready)

    # Alertmanager: receivers from settings; its file holds the SMTP password.
    alertmanager_restart, alertmanager_reload = restart_and_reload(
        "prometheus-alertmanager", alertmanager_ready, check=f"amtool check-config {ALERTMANAGER_CONFIG}")
    exporter_defaults(alertmanager_restart, "prometheus-alertmanager", args=[
        f"--web.listen-address={LOOPBACK}:{ALERTMANAGER_PORT}", "--cluster.listen-address="])
    watched_upload(alertmanager_reload, files.put, name="Upload Alertmanager's config",
                   src=StringIO(render("etc/prometheus/alertmanager.yml", **alertmanager_context(settings))),
                   dest=ALERTMANAGER_CONFIG, user="root", group="prometheus", mode="0640")
    apply_both(alertmanager_restart, alertmanager_reload)

    # Prometheus: targets from the inventory, groundwork's rules.
    prometheus_restart, prometheus_reload = restart_and_reload(
        "prometheus", prometheus_ready, check=f"promtool check config {PROMETHEUS_CONFIG}")
    exporter_defaults(prometheus_restart, "prometheus", args=[
        f"--web.listen-address={LOOPBACK}:{PROMETHEUS_PORT}",
        f"--storage.tsdb.retention.time={settings.retention}"])
    files.directory(name="Create the rules directory", path="/etc/prometheus/rules",
                    user="root", group="root", mode="0755")
    watched_upload(prometheus_reload, files.put, name="Upload groundwork's alert rules",
                   src=StringIO(render_rules(settings)), dest=RULES, user="root", group="root", mode="0644")
    watched_upload(prometheus_reload, files.template, name="Upload Prometheus' config",
                   src=template("etc/prometheus/prometheus.yml"), dest=PROMETHEUS_CONFIG,
                   user="root", group="root", mode="0644",
                   scrape_interval=settings.scrape_interval, scrape_timeout=scrape_timeout(settings),
                   prometheus=f"{LOOPBACK}:{PROMETHEUS_PORT}", alertmanager=f"{LOOPBACK}:{ALERTMANAGER_PORT}",
                   blackbox=f"{LOOPBACK}:{BLACKBOX_PORT}", monitor=me.name,
                   jobs=scrape_targets(fleet, me), app_metrics_path=settings.app_metrics_path or "/metrics",
                   site_probes=probes, health_probes=health_probes(fleet, me))
    apply_both(prometheus_restart, prometheus_reload)


def restart_and_reload(service: str, ready: str, check: str) -> tuple[ServiceChanges, ServiceChanges]:
    """A restart for its command line (/etc/default), a reload for its config once `check` passes."""
    return (ServiceChanges(service, action="restart", ready=ready),
            ServiceChanges(service, action="reload", ready=ready, check=check))


def apply_both(restart: ServiceChanges, reload: ServiceChanges):
    """The restart, then the reload (after a restart it reloads what was just read: harmless), then
    the service enabled and started."""
    restart.apply()
    reload.apply()
    return start(restart.service, restart.ready)


def alertmanager_context(settings: MonitoringSettings) -> dict:
    smtp = None
    if settings.smtp_smarthost and settings.alert_emails:
        smtp = {"smarthost": settings.smtp_smarthost, "sender": settings.smtp_from,
                "require_tls": settings.smtp_require_tls, "username": settings.smtp_username,
                "password": settings.smtp_password}
    return {"smtp": smtp, "webhooks": list(settings.alert_webhooks), "emails": list(settings.alert_emails),
            "group_wait": settings.group_wait, "group_interval": settings.group_interval,
            "repeat_interval": settings.repeat_interval}

