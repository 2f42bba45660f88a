"""No setting writes code, and what can be known before a change is checked before it:
values are parsed as what they are, escaped for the file they land in, and
checked against each other and the host before any operation."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import pytest
from pyinfra.api.util import get_template

from groundwork import escape
from groundwork.component import HostRun
from groundwork.components import RUN_ORDER
from groundwork.components.app.deploy import gunicorn_vars
from groundwork.components.app.settings import AppSettings
from groundwork.components.postgres.deploy import conf_values
from groundwork.paths import template
from groundwork.runner import build_fleet, check_fleet
from groundwork.settings import SettingsError

BASE = {
    "ssh_hostname": "10.0.0.10",
    "postgres_roles": [{"name": "app", "password": "an-app-password-1234"}],
    "postgres_databases": [{"name": "app", "owner": "app"}],
    "redis_app_password": "a-redis-password-1234",
    "nginx_server_names": ["shop.example.com"],
    "backups_age_recipients": ["age1r2fjnn5jukwtkewsp735jknyx2z29amymlx5cy2k8fvqlglff5wqunqtg3"],
    "app_source": "examples/demoapp",
    "app_callable": "demoapp.asgi:app",
}


def problems_of(**data) -> list[str]:
    """What validation and the checks say of one all-in-one host with `data` on top of BASE."""
    try:
        fleet = build_fleet([SimpleNamespace(name="h1", groups=[], data={**BASE, **data})])
        check_fleet(fleet, RUN_ORDER)
    except SettingsError as exc:
        return exc.problems
    return []


def test_the_base_host_is_valid():
    assert problems_of() == []


# --- injection attempts the audit found, each refused before any change ----------------------

@pytest.mark.parametrize("key, value, expected", [
    ("celery_queues", ["default\nExecStartPre=/bin/sh -c 'id > /tmp/pwned'"],
     "host h1: celery_queues[0]: expected text without control characters (newline, tab, escape, ...), got "),
    ("app_health_path", "/health$(touch /tmp/pwned)",
     "host h1: app_health_path: expected a URL path like '/health'"),
    ("app_forwarded_allow_ips", ['127.0.0.1"\nimport os; os.system("id")\nx="'],
     "host h1: app_forwarded_allow_ips[0]: expected text without control characters"),
    ("app_forwarded_allow_ips", ['127.0.0.1"; import os'],
     "host h1: app_forwarded_allow_ips[0]: expected an IP address or network like '10.0.0.0/24', got "),
    ("postgres_conf", {"work_mem": "4MB\\'\nfsync = off"},
     "host h1: postgres_conf['work_mem']: expected text without control characters"),
    ("postgres_conf", {"work_mem\nfsync": "off"}, "host h1: postgres_conf['work_mem\\nfsync']: expected a key without control characters"),
    ("app_environment", {"A": "x\ny"}, "host h1: app_environment['A']: expected text without control characters"),
    ("app_environment", {"BAD-NAME": "x"}, "host h1: app_environment: expected variable names of letters"),
    ("base_extra_packages", ["git; rm -rf /"], "host h1: base_extra_packages[0]: expected a Debian package name"),
    ("base_login_banner", "line one\rline two", "host h1: base_login_banner: expected text without control characters"),
])
def test_injection_attempts_are_refused_naming_the_key(key, value, expected):
    problems = problems_of(**{key: value})
    assert any(p.startswith(expected) for p in problems), problems


def test_a_refused_secret_is_not_shown():
    problems = problems_of(app_environment={"TOKEN": "s3cr3t\nvalue"})
    assert problems and "s3cr3t" not in "\n".join(problems)


# --- values that would pass a type check but cannot work ---------------------------------------

@pytest.mark.parametrize("data, expected", [
    ({"base_timezone": "Mars/Olympus_Mons"}, "host h1: base_timezone: expected an IANA time zone like 'Europe/Berlin', got 'Mars/Olympus_Mons'"),
    ({"base_locale": "xx_QQ.UTF-8"}, "host h1: base_locale: expected a UTF-8 locale glibc knows, like 'en_US.UTF-8', got 'xx_QQ.UTF-8'"),
    ({"nginx_hsts_max_age": -5}, "host h1: nginx_hsts_max_age: expected 0 or more, got -5"),
    ({"app_max_requests_jitter": -1}, "host h1: app_max_requests_jitter: expected 0 or more, got -1"),
    ({"app_bind": "0.0.0.0:80"}, "host h1: app_bind: expected a port from 1024 to 65535, got 80"),
    ({"app_port": 443}, "host h1: app_port: expected a port from 1024 to 65535, got 443"),
    ({"app_bind": "myhost:8000"}, "host h1: app_bind: expected an address and port like '0.0.0.0:8000'"),
    ({"app_name": "nginx"}, "host h1: app_name: expected a name no system user or service has, got 'nginx'"),
    ({"app_name": "postgres"}, "host h1: app_name: expected a name no system user or service has, got 'postgres'"),
    ({"app_database_url": "mysql://x:y@db/app"}, "host h1: app_database_url: expected a postgres/postgresql"),
    ({"postgres_listen_addresses": ["db.internal"]}, "host h1: postgres_listen_addresses[0]: expected an IP address, '*' or 'localhost', got 'db.internal'"),
    ({"app_extra_requirements": ["--index-url=https://elsewhere.example/simple"]},
     "host h1: app_extra_requirements: expected requirements like 'psycopg[binary]>=3.2' or paths to a .whl/.tar.gz, got '--index-url=https://elsewhere.example/simple'"),
    ({"app_config_files": [{"src": "no/such/template.j2", "dest": "/etc/app/x.ini"}]},
     "host h1: app_config_files[0].src: expected a template file on the control machine, no file at 'no/such/template.j2'"),
    ({"certbot_ca_bundle": "/no/such/ca.pem"}, "host h1: certbot_ca_bundle: expected a CA file on the control machine, no file at '/no/such/ca.pem'"),
    ({"postgres_max_connections": 300000}, "host h1: postgres_max_connections: expected 5 to 262000, got 300000"),
    # Two `location /api/ {` blocks, or one beside nginx's own /static/, fail `nginx -t`.
    ({"nginx_rate_limits": [{"location": "/api/", "rate": "1r/s"}, {"location": "/api/", "rate": "2r/s"}]},
     "host h1: nginx_rate_limits: expected one limit per location, got '/api/' twice"),
    ({"nginx_rate_limits": [{"location": "/static/", "rate": "1r/s"}]},
     "host h1: nginx_rate_limits: expected a location outside /static/ (nginx serves static files itself), got '/static/'"),
])
def test_values_that_cannot_work_are_refused(data, expected):
    assert expected in "\n".join(problems_of(**data)), problems_of(**data)


def test_time_zones_and_locales_that_exist_pass():
    assert problems_of(base_timezone="America/Argentina/Buenos_Aires", base_locale="de_DE.UTF-8") == []


@pytest.mark.parametrize("data, expected", [
    ({"postgres_port": 22}, "host h1: postgres_port: port 22 is taken by base_ssh_port on this host; expected a free port"),
    ({"redis_port": 5432}, "host h1: redis_port: port 5432 is taken by postgres_port on this host; expected a free port"),
    ({"redis_port": 443}, "host h1: redis_port: port 443 is taken by nginx (https) on this host; expected a free port"),
    ({"base_ssh_port": 6379}, "host h1: redis_port: port 6379 is taken by base_ssh_port on this host; expected a free port"),
])
def test_two_services_on_one_port_are_refused(data, expected):
    assert expected in problems_of(**data), problems_of(**data)


def test_ports_of_components_on_other_hosts_do_not_collide():
    hosts = [SimpleNamespace(name="db1", groups=["db"], data={**BASE, "ssh_hostname": "10.0.0.10", "postgres_port": 6379}),
             SimpleNamespace(name="cache1", groups=["cache"], data={**BASE, "ssh_hostname": "10.0.0.11"})]
    fleet = build_fleet(hosts)
    check_fleet(fleet, RUN_ORDER)  # no problem: 6379 is Redis's on another host
    keys = [lst.key for lst in HostRun(fleet, fleet["db1"], RUN_ORDER).listeners()]
    assert "postgres_port" in keys and "redis_port" not in keys


def test_hand_set_addresses_are_what_the_host_must_have():
    fleet = build_fleet([SimpleNamespace(name="h1", groups=[], data={
        **BASE, "postgres_listen_addresses": ["localhost", "10.0.0.10"], "redis_bind": ["127.0.0.1", "-::1"],
        "app_bind": "10.0.0.10:8001"})])
    wanted = {(lst.key, a) for lst in HostRun(fleet, fleet["h1"], RUN_ORDER).listeners() for a in lst.addresses}
    assert wanted == {("postgres_port", "10.0.0.10"), ("redis_port", "127.0.0.1"), ("app_bind", "10.0.0.10")}


# --- escaping for the target format ------------------------------------------------------------

@pytest.mark.parametrize("value, word", [
    ("demoapp.asgi:app", "demoapp.asgi:app"),
    ("high,low", "high,low"),
    ('a "b" 50% $HOME \\x', '"a \\"b\\" 50%% $$HOME \\\\x"'),
])
def test_systemd_words(value, word):
    assert escape.systemd_word(value) == word


def test_escapes_refuse_a_new_line():
    for quote in (escape.systemd_word, escape.shell_word, escape.postgres_conf_value, escape.python_literal):
        with pytest.raises(ValueError):
            quote("a\nb")


def test_postgres_conf_values_survive_backslashes_and_quotes(tmp_path):
    rendered = get_template(template("etc/postgresql/VERSION/main/conf.d/20-groundwork.conf")).render(
        settings=conf_values({"application_name": "it's \\' fine", "work_mem": "4MB"}))
    assert "application_name = 'it''s \\\\'' fine'\n" in rendered
    assert rendered.count("\n") == 4  # header, comment, two parameters


def test_gunicorn_conf_is_python_whatever_the_values(tmp_path):
    app = AppSettings(forwarded_allow_ips=["10.0.0.0/8", "*"])
    rendered = get_template(template("etc/NAME/gunicorn.conf.py")).render(app_name="app", **gunicorn_vars(app, 2))
    namespace: dict = {}
    exec(compile(rendered, "gunicorn.conf.py", "exec"), namespace)
    assert namespace["forwarded_allow_ips"] == "10.0.0.0/8,*" and namespace["proc_name"] == "app"


def test_the_activation_script_quotes_the_health_request(tmp_path):
    app = AppSettings(health_path="/health?probe=1&x=%20")
    rendered = get_template(template("usr/local/sbin/groundwork-activate-NAME")).render(
        app_name="app", health_path=app.health_path, health_timeout=5, keep_releases=3, graceful_timeout=30,
        health_request=" ".join(escape.shell_word(w) for w in app.health_request),
        health_path_word=escape.shell_word(app.health_path), restart_after_switch="app-celery-worker.service")
    assert "--unix-socket /run/app/gunicorn.sock 'http://localhost/health?probe=1&x=%20'" in rendered
    script = tmp_path / "activate"
    script.write_text(rendered)
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0


def test_postgres_conf_cannot_override_what_groundwork_derives():
    assert "host h1: postgres_conf['port']: expected a parameter groundwork does not set itself; port comes from postgres_port" in problems_of(postgres_conf={"port": "22"})


def test_a_rate_limit_on_the_whole_site_goes_into_the_one_root_location():
    site = get_template(template("etc/nginx/sites-available/NAME.conf")).render(
        app_name="app", upstream_servers=["unix:/run/app/gunicorn.sock"], static_root="/srv/app/static",
        server_names=["shop.example.com"], hsts_max_age=0, client_max_body_size="10m", proxy_connect_timeout=10,
        proxy_read_timeout=60, proxy_send_timeout=60, static_max_age="30d", http2_directive=True,
        session_tickets_off=False,
        zones=[{"name": "groundwork_0", "location": "/", "burst": 5}, {"name": "groundwork_1", "location": "/api/", "burst": 1}],
    )
    https = site.split("listen 443")[1]
    assert https.count("location / {") == 1 and https.count("location /api/ {") == 1
    root = https.split("location / {")[1].split("}")[0]
    assert "limit_req zone=groundwork_0 burst=5 nodelay;" in root and "groundwork_1" not in root
