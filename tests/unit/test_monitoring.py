"""Monitoring derived from the inventory, without a host: who runs Prometheus, where
each exporter listens and who may reach it, the scrape and probe targets, and the
rendered configs as Prometheus' and Alertmanager's own checkers read them
(groundwork.components.monitoring)."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from groundwork.component import HostRun
from groundwork.components import RUN_ORDER
from groundwork.components.monitoring import MONITORING
from groundwork.components.monitoring.deploy import (
    alertmanager_context,
    monitoring_packages,
    redis_exporter_password,
    render,
    scrape_timeout,
)
from groundwork.components.monitoring.settings import duration_seconds
from groundwork.components.monitoring.targets import (
    health_probes,
    listen_address,
    monitors,
    scrape_targets,
    site_probes,
)
from groundwork.components.redis.deploy import users_acl
from groundwork.escape import environment_file_value
from groundwork.paths import template
from groundwork.runner import check_fleet
from groundwork.settings import SettingsError
from groundwork.testing.promtools import amtool, promtool
from tests.unit.test_fleet import fleet

WEB = {"nginx_server_names": ["shop.example.com"]}


def run_of(f, name: str) -> HostRun:
    return HostRun(f, f[name], RUN_ORDER)


def test_one_host_monitors_itself_over_loopback_and_opens_nothing():
    solo_fleet = fleet("solo", **WEB)
    solo = solo_fleet["solo"]
    assert monitors(solo_fleet) == [solo]
    assert listen_address(solo_fleet, solo) == "127.0.0.1"
    run = run_of(solo_fleet, "solo")
    assert MONITORING.openings(run) == []
    jobs = scrape_targets(solo_fleet, solo)
    assert {job: [t.address for t in targets] for job, targets in jobs.items()} == {
        "node": ["127.0.0.1:9100"], "postgres": ["127.0.0.1:9187"], "redis": ["127.0.0.1:9121"],
        "nginx": ["127.0.0.1:9113"], "nginx_log": ["127.0.0.1:3903"],
    }
    assert {"prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter"} <= set(monitoring_packages(run))
    [probe] = site_probes(solo_fleet, solo)
    assert (probe.name, probe.url) == ("shop.example.com", "https://127.0.0.1/health")
    assert health_probes(solo_fleet, solo) == []  # the app is on its socket: the site probe asks it


def test_a_fleet_without_a_monitor_group_runs_exporters_only_on_loopback():
    f = fleet("web1:web", "app1:app", "db1:db,cache", **WEB)
    assert monitors(f) == []
    for h in f:
        assert listen_address(f, h) == "127.0.0.1"
        run = run_of(f, h.name)
        assert MONITORING.openings(run) == []
        assert "prometheus" not in monitoring_packages(run)
        assert "prometheus-node-exporter" in monitoring_packages(run)


def test_with_a_monitor_host_each_exporter_listens_on_its_host_and_opens_only_to_it():
    f = fleet("web1:web", "app1:app", "db1:db,cache", "mon1:monitor", **WEB)
    mon = f["mon1"]
    assert monitors(f) == [mon]
    db = run_of(f, "db1")
    assert listen_address(f, f["db1"]) == "10.0.0.3"
    assert {(o.port, o.sources) for o in MONITORING.openings(db)} == {
        (9100, ("10.0.0.4",)), (9187, ("10.0.0.4",)), (9121, ("10.0.0.4",))}
    # The monitor host scrapes its own exporter on loopback; the others on their addresses.
    assert listen_address(f, mon) == "127.0.0.1"
    jobs = {job: sorted(t.address for t in targets) for job, targets in scrape_targets(f, mon).items()}
    assert jobs["node"] == ["10.0.0.1:9100", "10.0.0.2:9100", "10.0.0.3:9100", "127.0.0.1:9100"]
    assert jobs["postgres"] == ["10.0.0.3:9187"] and jobs["redis"] == ["10.0.0.3:9121"]
    assert jobs["nginx"] == ["10.0.0.1:9113"]
    # Gunicorn listens on TCP for the remote proxy: its health path is probed, its port opened to mon1 too.
    assert [p.url for p in health_probes(f, mon)] == ["http://10.0.0.2:8000/health"]
    assert (8000, ("10.0.0.4",)) in {(o.port, o.sources) for o in MONITORING.openings(run_of(f, "app1"))}
    assert [p.url for p in site_probes(f, mon)] == ["https://10.0.0.1/health"]


def test_two_hosts_without_the_group_have_no_prometheus_but_one_host_in_it_does():
    assert monitors(fleet("a", "b")) == []
    f = fleet("a", "b:monitor")
    assert [h.name for h in monitors(f)] == ["b"]


def test_monitoring_off_installs_nothing_and_scrapes_nothing():
    f = fleet("solo", monitoring_enabled=False, **WEB)
    run = run_of(f, "solo")
    assert not MONITORING.plays(run)
    assert monitors(f) == []


def test_the_app_metrics_path_is_scraped_where_the_app_answers():
    solo = fleet("solo", monitoring_app_metrics_path="/metrics", **WEB)
    assert [t.address for t in scrape_targets(solo, solo["solo"])["app"]] == ["127.0.0.1:9146"]
    f = fleet("web1:web", "app1:app", "db1:db,cache", "mon1:monitor", monitoring_app_metrics_path="/metrics", **WEB)
    assert [t.address for t in scrape_targets(f, f["mon1"])["app"]] == ["10.0.0.2:8000"]


@pytest.mark.parametrize("key, value, expected", [
    ("monitoring_scrape_interval", "30", "expected a Prometheus duration"),
    ("monitoring_scrape_interval", "0s", "expected a Prometheus duration"),
    ("monitoring_retention", "15d\nx", "control character"),
    ("monitoring_memory_available_below", 1.5, "expected a fraction"),
    ("monitoring_alert_webhooks", ["ftp://x"], "expected a http/https URL"),
    ("monitoring_alert_webhooks", ['http://a/"x'], "expected a http/https URL"),
    ("monitoring_alert_emails", ["not-an-address"], "expected an e-mail address"),
    ("monitoring_app_metrics_path", "/metrics; evil", "expected a URL path"),
])
def test_bad_monitoring_settings_are_refused_naming_the_key(key, value, expected):
    with pytest.raises(SettingsError) as caught:
        fleet("solo", **{key: value}, **WEB)
    assert key in str(caught.value) and expected in str(caught.value)


def test_emails_need_an_smtp_server_and_a_missing_probe_ca_is_refused():
    with pytest.raises(SettingsError, match="monitoring_alert_emails: expected monitoring_smtp_smarthost"):
        fleet("solo", monitoring_alert_emails=["ops@example.com"], **WEB)
    f = fleet("solo", monitoring_probe_ca_bundle="/nonexistent/ca.pem", **WEB)
    with pytest.raises(SettingsError, match="monitoring_probe_ca_bundle: expected a CA file"):
        check_fleet(f, RUN_ORDER)


def test_durations_and_the_scrape_timeout():
    assert duration_seconds("1h30m") == 5400 and duration_seconds("14d") == 14 * 86400
    f = fleet("solo", monitoring_scrape_interval="5s", **WEB)
    assert scrape_timeout(f["solo"].settings.monitoring) == "5s"
    assert scrape_timeout(fleet("solo", **WEB)["solo"].settings.monitoring) == "10s"


def test_environment_file_values_cannot_add_a_line_or_expand():
    assert environment_file_value('a"b$c`d\\e') == '"a\\"b\\$c\\`d\\\\e"'
    with pytest.raises(ValueError):
        environment_file_value("a\nB=1")


def test_the_redis_exporter_user_reads_server_state_only():
    f = fleet("solo", **WEB)
    redis = f["solo"].settings.redis
    password = redis_exporter_password(redis.app_password)
    assert password != redis.app_password and password == redis_exporter_password(redis.app_password)
    line = [x for x in users_acl(redis, password).splitlines() if x.startswith("user groundwork-exporter ")][0]
    assert "-@all" in line and "~*" not in line and "+@" not in line and password not in line
    assert "groundwork-exporter" not in users_acl(redis)


def _prometheus_config(f, monitor: str) -> str:
    from groundwork.components.monitoring.deploy import LOOPBACK
    m = f[monitor]
    s = m.settings.monitoring
    return render("etc/prometheus/prometheus.yml", scrape_interval=s.scrape_interval, scrape_timeout=scrape_timeout(s),
                  prometheus=f"{LOOPBACK}:9090", alertmanager=f"{LOOPBACK}:9093", blackbox=f"{LOOPBACK}:9115",
                  monitor=m.name, jobs=scrape_targets(f, m), app_metrics_path=s.app_metrics_path or "/metrics",
                  site_probes=site_probes(f, m), health_probes=health_probes(f, m))


def test_the_prometheus_config_passes_promtool(tmp_path):
    f = fleet("web1:web", "app1:app", "db1:db,cache", "mon1:monitor", monitoring_app_metrics_path="/metrics", **WEB)
    config = tmp_path / "prometheus.yml"
    config.write_text(_prometheus_config(f, "mon1").replace("/etc/prometheus/rules/groundwork.rules.yml", str(tmp_path / "none.yml")))
    (tmp_path / "none.yml").write_text("groups: []\n")
    result = subprocess.run([promtool(), "check", "config", str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    parsed = yaml.safe_load(config.read_text())
    jobs = {c["job_name"] for c in parsed["scrape_configs"]}
    assert {"node", "postgres", "redis", "nginx", "nginx_log", "app", "blackbox_health", "blackbox_site_1"} <= jobs


def test_the_alertmanager_config_passes_amtool_and_keeps_values_whole(tmp_path):
    f = fleet("solo", monitoring_alert_webhooks=["http://10.0.0.9:9999/hook?a=1&b=2"],
              monitoring_alert_emails=["ops@example.com"], monitoring_smtp_smarthost="smtp.example.com:587",
              monitoring_smtp_from="alerts@example.com", monitoring_smtp_username="alerts",
              monitoring_smtp_password='p"a\'ss: #{{x}}', **WEB)
    config = tmp_path / "alertmanager.yml"
    config.write_text(render("etc/prometheus/alertmanager.yml", **alertmanager_context(f["solo"].settings.monitoring)))
    result = subprocess.run([amtool(), "check-config", str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    parsed = yaml.safe_load(config.read_text())
    assert parsed["global"]["smtp_auth_password"] == 'p"a\'ss: #{{x}}'
    assert parsed["receivers"][0]["webhook_configs"][0]["url"] == "http://10.0.0.9:9999/hook?a=1&b=2"


def test_every_template_of_the_component_exists():
    for path in ("etc/prometheus/prometheus.yml", "etc/prometheus/alertmanager.yml", "etc/prometheus/blackbox.yml",
                 "etc/prometheus/postgres-exporter-queries.yml", "etc/mtail/groundwork-nginx.mtail",
                 "etc/nginx/conf.d/groundwork-status.conf", "etc/default/SERVICE"):
        assert template(path)


def test_every_monitoring_config_is_checked_before_it_goes_live_and_the_files_are_planned():
    from groundwork.testing.render import rendered_files
    from tests.unit.test_settings_property import BASE

    files = rendered_files(dict(BASE))
    for path in ("/etc/prometheus/prometheus.yml", "/etc/prometheus/rules/groundwork.rules.yml",
                 "/etc/prometheus/alertmanager.yml", "/etc/prometheus/blackbox.yml",
                 "/etc/default/prometheus-node-exporter", "/etc/default/prometheus-redis-exporter",
                 "/etc/nginx/conf.d/groundwork-status.conf", "/etc/mtail/groundwork-nginx.mtail"):
        assert path in files, path
    script = "\n".join(files.commands)
    for checker in ("promtool check config /etc/prometheus/prometheus.yml",
                    "amtool check-config /etc/prometheus/alertmanager.yml",
                    "prometheus-blackbox-exporter --config.check", "nginx -t"):
        assert checker in script, checker
    # The exporter's password reaches its environment file, never a command line.
    password = redis_exporter_password(BASE["redis_app_password"])
    assert password in files["/etc/default/prometheus-redis-exporter"]
    assert password not in script
