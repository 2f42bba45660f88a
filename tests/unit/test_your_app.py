"""What a real app needs by settings alone: its system packages, Celery started the
framework's way, timers and extra processes, connection values referenced instead
of typed twice, and the health check's Host header."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from pyinfra.api.util import get_template

from groundwork.component import HostRun
from groundwork.components import RUN_ORDER
from groundwork.components.app.deploy import celery_start, venv_command
from groundwork.components.app.wiring import app_environment, served_app
from groundwork.escape import systemd_word
from groundwork.paths import template
from groundwork.runner import build_fleet, check_fleet
from groundwork.settings import SettingsError

PASSWORD = "p@ss:w/rd#"
BASE = {
    "ssh_hostname": "10.0.0.10",
    "postgres_roles": [{"name": "shop", "password": PASSWORD + "-long-enough"}],
    "postgres_databases": [{"name": "shop", "owner": "shop"}],
    "redis_app_password": PASSWORD + "-redis-long",
    "nginx_server_names": ["shop.example.com", "www.shop.example.com"],
    "backups_age_recipients": ["age1r2fjnn5jukwtkewsp735jknyx2z29amymlx5cy2k8fvqlglff5wqunqtg3"],
    "app_source": "examples/demoapp",
    "app_callable": "demoapp.asgi:app",
}


def fleet_of(**data):
    fleet = build_fleet([SimpleNamespace(name="h1", groups=[], data={**BASE, **data})])
    check_fleet(fleet, RUN_ORDER)
    return fleet


def problems_of(**data) -> list[str]:
    try:
        fleet_of(**data)
    except SettingsError as exc:
        return exc.problems
    return []


# --- connection values: referenced, percent-encoded, never typed twice -------------------------

def test_urls_percent_encode_user_and_password():
    fleet = fleet_of()
    env = app_environment(fleet, fleet["h1"])
    database = urlsplit(env["DATABASE_URL"])
    assert env["DATABASE_URL"].startswith("postgresql://shop:p%40ss%3Aw%2Frd%23-long-enough@127.0.0.1:5432/shop")
    assert (database.hostname, database.port, database.path) == ("127.0.0.1", 5432, "/shop")
    assert env["REDIS_URL"] == "redis://app:p%40ss%3Aw%2Frd%23-redis-long@127.0.0.1:6379/0"


def test_environment_refers_to_the_derived_values():
    fleet = fleet_of(app_environment={
        "DB_HOST": "${database.host}", "DB_PORT": "${database.port}", "DB_NAME": "${database.name}",
        "DB_USER": "${database.user}", "DB_PASSWORD": "${database.password}",
        "CACHE": "redis://${redis.user}:${redis.password}@${redis.host}:${redis.port}/1",
        "BROKER": "${redis.url}", "PRICE": "$$5 ${database.name}",
    })
    env = app_environment(fleet, fleet["h1"])
    assert (env["DB_HOST"], env["DB_PORT"], env["DB_NAME"], env["DB_USER"]) == ("127.0.0.1", "5432", "shop", "shop")
    assert env["DB_PASSWORD"] == PASSWORD + "-long-enough"
    assert env["CACHE"] == f"redis://app:{PASSWORD}-redis-long@127.0.0.1:6379/1"
    assert env["BROKER"] == env["REDIS_URL"] and env["PRICE"] == "$5 shop"


@pytest.mark.parametrize("value, expected", [
    ("${database.hots}", "host h1: app_environment['X']: ${database.hots}: expected one of ${database.host}"),
    ("${db.password}", "host h1: app_environment['X']: ${db.password}: expected one of"),
    ("${redis.name}", "host h1: app_environment['X']: ${redis.name}: expected one of"),
])
def test_an_unknown_reference_is_an_error_naming_the_key(value, expected):
    problems = problems_of(app_environment={"X": value})
    assert any(p.startswith(expected) for p in problems), problems


def test_a_reference_to_a_connection_not_derived_says_why_and_shows_no_secret():
    problems = problems_of(redis_app_password=None, redis_admin_password=None, app_environment={"X": "${redis.url}"})
    assert any("${redis.url}: groundwork derives no redis connection" in p for p in problems), problems
    assert PASSWORD not in "\n".join(problems)


# --- the health check's Host header -----------------------------------------------------------------

def test_the_health_check_asks_for_the_sites_first_name_by_default():
    fleet = fleet_of()
    app = served_app(fleet, fleet["h1"])
    assert app.health_host == "shop.example.com"
    assert app.health_request == ["-H", "Host: shop.example.com", "--unix-socket", "/run/app/gunicorn.sock",
                                  "http://localhost/health"]
    given = fleet_of(app_health_host="internal.local")
    assert served_app(given, given["h1"]).health_host == "internal.local"


def test_the_health_host_is_a_host_name():
    assert "host h1: app_health_host: expected a host name like 'shop.example.com', got 'a b'" in problems_of(
        app_health_host="a b")


# --- packages, Celery's command, timers and processes ---------------------------------------------------

def test_the_apps_packages_are_in_the_hosts_one_apt_run():
    fleet = fleet_of(app_packages=["git", "libmagic1"])
    app = next(c for c in RUN_ORDER if c.name == "app")
    assert {"git", "libmagic1", "python3-venv", "curl"} <= set(app.packages(HostRun(fleet, fleet["h1"], RUN_ORDER)))
    assert "host h1: app_packages[0]: expected a Debian package name" in "\n".join(problems_of(app_packages=["g it"]))


def test_celery_starts_the_frameworks_way_or_celerys():
    celery = SimpleNamespace(app="demoapp.tasks:celery_app", command=None)
    assert celery_start("demoapp", celery) == "/srv/demoapp/current/venv/bin/python -m celery --app demoapp.tasks:celery_app"
    django = SimpleNamespace(app=None, command="djangoapp-manage celery")
    assert celery_start("shop", django) == "/srv/shop/current/venv/bin/djangoapp-manage celery"
    assert venv_command("shop", ["/usr/bin/env", "A=1 %h", "x"]) == '/usr/bin/env "A=1 %%h" x'


def test_the_worker_unit_runs_the_given_command_with_groundworks_flags():
    rendered = get_template(template("etc/systemd/system/NAME-celery-worker.service")).render(
        app_name="shop", hardening="", celery_start="/srv/shop/current/venv/bin/djangoapp-manage celery",
        queues="high,low", concurrency=2, stop_timeout=300)
    assert ("ExecStart=/srv/shop/current/venv/bin/djangoapp-manage celery worker --loglevel INFO "
            "--hostname shop@%H --queues high,low --concurrency 2\n") in rendered


@pytest.mark.parametrize("timer, expected", [
    ({"name": "tick", "command": "djangoapp-manage record_tick", "schedule": "every five"},
     "host h1: app_timers[0].schedule: expected a systemd OnCalendar expression like 'hourly' or '*:0/5', got 'every five'"),
    ({"name": "Tick", "command": "x", "schedule": "hourly"}, "host h1: app_timers[0].name: expected a lowercase name"),
    ({"name": "tick", "command": "echo 'unclosed", "schedule": "hourly"}, "host h1: app_timers[0].command: expected a command a shell can split"),
    ({"name": "tick", "command": "x", "schedule": "hourly", "hosts": "some"}, "host h1: app_timers[0].hosts: expected one of 'one', 'all'"),
])
def test_timers_are_validated_like_every_other_setting(timer, expected):
    assert any(p.startswith(expected) for p in problems_of(app_timers=[timer])), problems_of(app_timers=[timer])


def test_timer_names_are_unique_and_schedules_parse():
    timer = {"name": "tick", "command": "djangoapp-manage record_tick", "schedule": "*:0/5"}
    assert problems_of(app_timers=[timer]) == []
    assert "host h1: app_timers[1].name: expected a name no other of app_timers has, got 'tick'" in problems_of(
        app_timers=[timer, timer])


def test_timer_and_process_units_run_the_command_in_the_release_with_its_environment():
    timer = get_template(template("etc/systemd/system/NAME-timer-TIMER.service")).render(
        app_name="shop", hardening="", timer_name="tick", command=systemd_word("djangoapp-manage record_tick --all"))
    assert 'ExecStart=/bin/sh -c "djangoapp-manage record_tick --all"\n' in timer
    assert "PATH=/srv/shop/current/venv/bin:" in timer and "EnvironmentFile=/etc/shop/env" in timer
    schedule = get_template(template("etc/systemd/system/NAME-timer-TIMER.timer")).render(
        app_name="shop", timer_name="tick", schedule="*:0/5", randomized_delay=60)
    assert "OnCalendar=*:0/5\n" in schedule and "Persistent=true\n" in schedule and "RandomizedDelaySec=60\n" in schedule
    process = get_template(template("etc/systemd/system/NAME-proc-PROCESS.service")).render(
        app_name="shop", hardening="", process_name="flower", command=systemd_word("exec celery flower --port=5555"))
    assert 'ExecStart=/bin/sh -c "exec celery flower --port=5555"\n' in process
