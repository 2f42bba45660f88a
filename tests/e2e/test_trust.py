"""Trust, on the converged lab host: no setting writes code, no restart is lost
or left hanging, a broken config never stays live, services stopped by hand
come back, secrets stay out of --debug, and one run at a time.

Every test leaves lab1 as the full stack left it.
"""

from __future__ import annotations

import shlex
import time

import pytest

from groundwork.changes import marker_path
from groundwork.components.redis.settings import ADMIN_USER
from groundwork.lab.lab import run_on
from groundwork.lock import DEFAULT_LOCK, acquire_lock, release_lock
from groundwork.testing.converge import converge
from groundwork.testing.secrets import with_secret

LAB = "inventories/lab.py"
# group_data/lab.py's secrets: none may show in any output.
LAB_SECRETS = ("lab-app-password-not-secret", "lab-redis-app-password-not-secret",
               "lab-redis-admin-password-not-secret", "lab-replication-password-not-secret")
ADMIN_PASSWORD = "lab-redis-admin-password-not-secret"
SERVICES = ["postgresql@17-main", "redis-server", "demoapp", "demoapp-celery-worker", "demoapp-celery-beat", "nginx"]


def sh(command: str, stdin: str | None = None) -> str:
    out = run_on("lab1", command, stdin=stdin)
    assert out.returncode == 0, f"{command}: {out.stderr}"
    return out.stdout.strip()


def psql(sql: str, port: int = 5432) -> str:
    return sh(f"runuser -u postgres -- /usr/lib/postgresql/17/bin/psql -X -p {port} -Atqc {shlex.quote(sql)}")


def redis_config(key: str) -> str:
    command = f"redis-cli --user {ADMIN_USER} --no-auth-warning CONFIG GET {key}"
    return sh(with_secret("REDISCLI_AUTH", command), stdin=ADMIN_PASSWORD + "\n").splitlines()[-1]


def https_headers() -> str:
    return sh("curl -sk --max-time 10 -D - -o /dev/null --resolve lab1.groundwork.test:443:127.0.0.1 "
              "https://lab1.groundwork.test/health")


def app_health() -> str:
    return run_on("lab1", "curl -sk --max-time 10 -o /dev/null -w '%{http_code}' "
                          "--resolve lab1.groundwork.test:443:127.0.0.1 https://lab1.groundwork.test/health").stdout


def active(units: list[str]) -> list[str]:
    return run_on("lab1", f"systemctl is-active {' '.join(units)}").stdout.split()


def settled() -> None:
    again = converge(LAB, "deploys/full.py")
    assert again.ok and again.changed == {}, again.describe()


@pytest.fixture
def lab1(full_stack):
    yield
    # Whatever a test did, the next one finds the full stack as it was.
    back = converge(LAB, "deploys/full.py")
    assert back.ok, back.describe()


# --- (a) injection probes and impossible values: refused before any change -------------------

@pytest.mark.parametrize("data, expected", [
    ({"celery_queues": ["default\nExecStartPre=/bin/touch /tmp/pwned"]},
     "host lab1: celery_queues[0]: expected text without control characters"),
    ({"app_health_path": "/health$(touch /tmp/pwned)"}, "host lab1: app_health_path: expected a URL path"),
    ({"app_forwarded_allow_ips": ['127.0.0.1"\nimport os; os.system("touch /tmp/pwned")\nx="']},
     "host lab1: app_forwarded_allow_ips[0]: expected text without control characters"),
    ({"postgres_conf": {"work_mem": "4MB\\'\nfsync = off"}},
     "host lab1: postgres_conf['work_mem']: expected text without control characters"),
    ({"postgres_port": 22}, "host lab1: postgres_port: port 22 is taken by base_ssh_port on this host"),
    ({"redis_port": 5432}, "host lab1: redis_port: port 5432 is taken by postgres_port on this host"),
    ({"app_name": "nginx"}, "host lab1: app_name: expected a name no system user or service has"),
    ({"base_timezone": "Mars/Olympus_Mons"}, "host lab1: base_timezone: expected an IANA time zone"),
    ({"app_bind": "127.0.0.1:80"}, "host lab1: app_bind: expected a port from 1024 to 65535, got 80"),
    ({"redis_bind": ["127.0.0.1", "10.99.99.99"]}, "host lab1: redis_bind: 10.99.99.99 is not an address of this host"),
])
def test_hostile_or_impossible_values_are_refused_before_any_change(full_stack, data, expected):
    before = sh("stat -c %Y /etc/demoapp/env /etc/postgresql/17/main/conf.d/20-groundwork.conf /etc/redis/redis.conf")
    result = converge(LAB, "deploys/full.py", data=data, json_output=False)
    assert result.returncode != 0 and expected in result.stderr, result.describe()
    assert "Starting operation" not in result.stderr
    assert sh("stat -c %Y /etc/demoapp/env /etc/postgresql/17/main/conf.d/20-groundwork.conf /etc/redis/redis.conf") == before
    assert run_on("lab1", "test -e /tmp/pwned").returncode == 1


# --- (b) a service that cannot start on its new config goes back to the old one -----------------

def test_postgres_on_a_port_another_process_holds_fails_in_bound_and_keeps_serving(lab1):
    # A process groundwork knows nothing of holds 5499 on both loopback addresses.
    sh("systemd-run --unit gw-port-holder python3 -c \"import socket, time; "
       "s = [socket.socket(f) for f in (socket.AF_INET, socket.AF_INET6)]; "
       "[x.bind((a, 5499)) or x.listen() for x, a in zip(s, ('127.0.0.1', '::1'))]; time.sleep(900)\"")
    try:
        deadline = time.monotonic() + 30
        while run_on("lab1", "ss -Hltn 'sport = :5499' | grep -q .").returncode and time.monotonic() < deadline:
            time.sleep(0.5)
        started = time.monotonic()
        bad = converge(LAB, "deploys/postgres.py", data={"postgres_port": 5499, "postgres_start_timeout": 20},
                       json_output=False)
        took = time.monotonic() - started
        assert bad.returncode != 0, bad.describe()
        assert "postgresql@17-main did not answer within 20 s of its restart on the new config" in bad.stderr
        assert "postgresql@17-main runs on its previous config again" in bad.stderr, bad.describe()
        assert "Address already in use" in bad.stderr  # the server's own error line
        assert took < 2 * 20 + 60, took
        assert psql("SHOW port") == "5432" and psql("SELECT count(*) FROM pg_database WHERE datname = 'app'") == "1"
        assert run_on("lab1", f"test -e {marker_path('postgresql@17-main', 'restart')}").returncode == 1
    finally:
        run_on("lab1", "systemctl stop gw-port-holder")


def test_redis_with_an_unknown_acl_command_fails_and_keeps_serving(lab1):
    acl = "~* &* +@all -@admin -@dangerous +frobnicate"
    bad = converge(LAB, "deploys/redis.py", data={"redis_app_acl": acl, "redis_start_timeout": 15}, json_output=False)
    assert bad.returncode != 0, bad.describe()
    assert "redis-server runs on its previous config again" in bad.stderr, bad.describe()
    assert "frobnicate" in bad.stderr or "Unknown command" in bad.stderr  # Redis's own complaint, from its journal
    assert redis_config("maxmemory-policy") in ("allkeys-lru", "noeviction")
    assert "frobnicate" not in sh("cat /etc/redis/users.acl")
    assert app_health() == "200"


def test_an_app_that_cannot_start_goes_back_to_the_last_good_unit(lab1):
    bad = converge(LAB, "deploys/app.py", data={"app_callable": "demoapp.asgi:no_such_app", "app_health_timeout": 15},
                   json_output=False)
    assert bad.returncode != 0, bad.describe()
    assert "demoapp.service runs on its previous config again" in bad.stderr, bad.describe()
    assert "no_such_app" in bad.stderr  # Gunicorn's own line
    assert "no_such_app" not in sh("cat /etc/systemd/system/demoapp.service")
    assert app_health() == "200"


# --- (c) a run killed after the uploads: the next run restarts, the third changes nothing --------

def test_a_run_that_dies_after_the_uploads_loses_no_restart(lab1):
    changed = {"postgres_conf": {"work_mem": "7MB"}, "redis_maxmemory": "96mb", "nginx_hsts_max_age": 12345}
    before = (psql("SHOW work_mem"), redis_config("maxmemory"))
    died = converge(LAB, "tests/e2e/deploys/die_before_restarts.py", data=changed, json_output=False)
    assert died.returncode != 0 and "Die after the uploads" in died.stderr, died.describe()
    for service, action in (("postgresql@17-main", "reload"), ("redis-server", "restart"), ("nginx", "reload")):
        assert run_on("lab1", f"test -e {marker_path(service, action)}").returncode == 0, service
    assert (psql("SHOW work_mem"), redis_config("maxmemory")) == before  # uploaded, not live
    assert "max-age=12345" not in https_headers()

    resumed = converge(LAB, "deploys/full.py", data=changed)
    assert resumed.ok, resumed.describe()
    assert psql("SHOW work_mem") == "7MB"
    assert redis_config("maxmemory") == str(96 * 1024 * 1024)
    assert "max-age=12345" in https_headers()

    third = converge(LAB, "deploys/full.py", data=changed)
    assert third.ok and third.changed == {}, third.describe()


# --- (d) garbage in the managed Postgres file: the next run repairs it -----------------------------

def test_garbage_in_the_postgres_conf_d_file_is_repaired(lab1):
    conf = "/etc/postgresql/17/main/conf.d/20-groundwork.conf"
    sh(f"echo 'this is not = a valid ) line' >> {conf}")
    repaired = converge(LAB, "deploys/full.py")
    assert repaired.ok, repaired.describe()
    assert "not = a valid" not in sh(f"cat {conf}")
    assert psql("SELECT 1") == "1"
    settled()


# --- (e) every managed service stopped: one run brings all back -------------------------------------

def test_every_managed_service_stopped_comes_back_in_one_run(lab1):
    sh(f"systemctl stop {' '.join(reversed(SERVICES))}")
    assert set(active(SERVICES)) == {"inactive"}
    back = converge(LAB, "deploys/full.py")
    assert back.ok, back.describe()
    assert active(SERVICES) == ["active"] * len(SERVICES)
    assert app_health() == "200"
    assert psql("SELECT count(*) FROM pg_database WHERE datname = 'app'") == "1"
    settled()


# --- (f) --debug prints no secret ------------------------------------------------------------------

def test_a_converge_under_debug_prints_no_secret(full_stack):
    result = converge(LAB, "deploys/full.py", extra_args=["--debug"], json_output=False)
    assert result.ok, result.describe()
    assert "Adding data to group lab" in result.stderr  # the record that used to carry them
    assert [s for s in LAB_SECRETS if s in result.stderr] == []


# --- (g) one run at a time, a plain pyinfra run included ------------------------------------------

def test_a_plain_pyinfra_run_does_not_start_while_another_holds_the_lock(full_stack):
    fd = acquire_lock(DEFAULT_LOCK)  # what groundwork converge holds while it runs
    try:
        result = converge(LAB, "deploys/full.py", json_output=False)
    finally:
        release_lock(fd)
    assert result.returncode != 0
    assert f"another run holds {DEFAULT_LOCK}" in result.stderr, result.describe()
    assert "Starting operation" not in result.stderr
    assert converge(LAB, "deploys/full.py").ok  # free again
