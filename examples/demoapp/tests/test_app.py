"""Host-free tests of the demo app: Postgres, Redis and Celery are faked.

Run: python -m pytest examples/demoapp/tests -q -p no:cacheprovider
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import demoapp
from demoapp import core, migrate, tasks

PASSWORD = "s3cret-pw"
DATABASE_URL = f"postgresql://app:{PASSWORD}@127.0.0.1:1/app"
REDIS_URL = f"redis://app:{PASSWORD}@127.0.0.1:1/0"


@pytest.fixture(autouse=True)
def env(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", DATABASE_URL)
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.delenv("GROUNDWORK_RELEASE", raising=False)


class Client:
    """One interface over FastAPI's TestClient and Flask's test client."""

    def __init__(self, kind: str):
        self.kind = kind
        if kind == "asgi":
            from fastapi.testclient import TestClient

            from demoapp.asgi import app

            self._client = TestClient(app)
        else:
            from demoapp.wsgi import app

            self._client = app.test_client()

    @property
    def invalid(self) -> int:
        return 422 if self.kind == "asgi" else 400

    def get(self, path, **kwargs):
        return self._wrap(self._client.get(path, **kwargs))

    def post(self, path, **kwargs):
        return self._wrap(self._client.post(path, **kwargs))

    def _wrap(self, response):
        body = response.json() if self.kind == "asgi" else response.get_json()
        return response.status_code, body


@pytest.fixture(params=["asgi", "wsgi"])
def client(request):
    return Client(request.param)


@pytest.fixture
def backends_ok(monkeypatch):
    monkeypatch.setattr(core, "check_postgres", lambda: None)
    monkeypatch.setattr(core, "check_redis", lambda: None)


def _raise(exc):
    def fail(*_args, **_kwargs):
        raise exc

    return fail


# --- /health -----------------------------------------------------------------


def test_health_ok(client, backends_ok):
    assert client.get("/health") == (200, {"status": "ok", "postgres": "ok", "redis": "ok"})


def test_health_names_failing_postgres(client, monkeypatch):
    monkeypatch.setattr(core, "check_postgres", _raise(RuntimeError('type "vector" does not exist')))
    monkeypatch.setattr(core, "check_redis", lambda: None)
    status, body = client.get("/health")
    assert status == 503
    assert body["status"] != "ok"
    assert body["redis"] == "ok"
    assert body["postgres"] == 'type "vector" does not exist'


def test_health_names_failing_redis(client, monkeypatch):
    monkeypatch.setattr(core, "check_postgres", lambda: None)
    monkeypatch.setattr(core, "check_redis", _raise(ConnectionError("Error 111 connecting to 127.0.0.1:1.")))
    status, body = client.get("/health")
    assert status == 503
    assert body["postgres"] == "ok"
    assert "Error 111" in body["redis"]


def test_health_masks_secrets(client, monkeypatch):
    leak = RuntimeError(f"cannot connect to {DATABASE_URL} (password {PASSWORD})")
    monkeypatch.setattr(core, "check_postgres", _raise(leak))
    monkeypatch.setattr(core, "check_redis", _raise(RuntimeError(f"bad {REDIS_URL}")))
    status, body = client.get("/health")
    assert status == 503
    assert PASSWORD not in str(body)
    assert body["postgres"] == "cannot connect to *** (password ***)"


def test_health_broken_release(client, backends_ok, monkeypatch):
    monkeypatch.setattr(demoapp, "HEALTHY", False)
    assert client.get("/health") == (503, {"status": "broken release"})


def test_health_without_configuration(client, monkeypatch):
    monkeypatch.delenv("DATABASE_URL")
    status, body = client.get("/health")
    assert status == 503
    assert body["postgres"] == "DATABASE_URL is not set"


def test_health_checks_time_out_quickly(client, monkeypatch):
    # The real checks against a closed port fail at once, without secrets.
    start = time.monotonic()
    status, body = client.get("/health")
    assert time.monotonic() - start < 10
    assert status == 503
    assert body["postgres"] != "ok" and body["redis"] != "ok"
    assert PASSWORD not in str(body)


# --- /version ----------------------------------------------------------------


def test_version(client, monkeypatch):
    assert client.get("/version") == (200, {"version": "1.0.0", "release": ""})
    monkeypatch.setenv("GROUNDWORK_RELEASE", "20250101-abc")
    assert client.get("/version") == (200, {"version": "1.0.0", "release": "20250101-abc"})


def test_init_lines_are_rewritable():
    # Deploy tests flip these with a plain string replace.
    source = Path(demoapp.__file__).read_text().splitlines()
    assert '__version__ = "1.0.0"' in source
    assert "HEALTHY = True" in source


# --- /items ------------------------------------------------------------------


def test_create_item(client, monkeypatch):
    calls = []
    monkeypatch.setattr(core, "insert_item", lambda name, emb: calls.append((name, emb)) or 7)
    assert client.post("/items", json={"name": "a", "embedding": [1, 0.5, -2]}) == (201, {"id": 7})
    assert calls == [("a", [1.0, 0.5, -2.0])]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "a", "embedding": [1, 0]},
        {"name": "a", "embedding": [1, 0, 0, 0]},
        {"name": "a", "embedding": ["1", 0, 0]},
        {"name": "a", "embedding": [True, 0, 0]},
        {"name": "a"},
        {"embedding": [1, 0, 0]},
        {"name": 5, "embedding": [1, 0, 0]},
        {"name": "a\x00b", "embedding": [1, 0, 0]},
        [1, 2, 3],
    ],
)
def test_create_item_rejects_bad_input(client, monkeypatch, body):
    monkeypatch.setattr(core, "insert_item", _raise(AssertionError("must not be called")))
    status, _ = client.post("/items", json=body)
    assert status == client.invalid


def test_create_item_rejects_non_json(client):
    if client.kind == "asgi":
        status, _ = client.post("/items", content=b"x", headers={"content-type": "application/json"})
    else:
        status, _ = client.post("/items", data=b"x", content_type="application/json")
    assert status == client.invalid


def test_nearest(client, monkeypatch):
    calls = []
    rows = [{"id": 1, "name": "a", "distance": 0.0}, {"id": 2, "name": "b", "distance": 1.5}]
    monkeypatch.setattr(core, "nearest_items", lambda emb, limit: calls.append((emb, limit)) or rows)
    assert client.get("/items/nearest?embedding=1,0,0&limit=3") == (200, {"items": rows})
    assert client.get("/items/nearest?embedding=0.5,-1,2e3") == (200, {"items": rows})
    assert calls == [([1.0, 0.0, 0.0], 3), ([0.5, -1.0, 2000.0], 10)]


@pytest.mark.parametrize(
    "query",
    ["", "embedding=1,0", "embedding=1,0,x", "embedding=1,0,nan", "embedding=1,0,0&limit=0",
     "embedding=1,0,0&limit=101", "embedding=1,0,0&limit=two"],
)
def test_nearest_rejects_bad_input(client, monkeypatch, query):
    monkeypatch.setattr(core, "nearest_items", _raise(AssertionError("must not be called")))
    status, _ = client.get(f"/items/nearest?{query}")
    assert status == client.invalid


def test_backend_failure_is_503(client, monkeypatch):
    monkeypatch.setattr(core, "insert_item", _raise(core.BackendError(f"postgres: down {PASSWORD}")))
    status, body = client.post("/items", json={"name": "a", "embedding": [1, 0, 0]})
    assert status == 503
    assert body == {"error": "postgres: down ***"}


def test_nearest_against_closed_port_is_503(client):
    status, body = client.get("/items/nearest?embedding=1,0,0")
    assert status == 503
    assert body["error"].startswith("postgres: ")
    assert PASSWORD not in body["error"]


# --- /tasks and /heartbeat ---------------------------------------------------


def test_add_task(client, monkeypatch):
    monkeypatch.setattr(tasks, "submit_add", lambda x, y: f"task-{x}-{y}")
    assert client.post("/tasks/add", json={"x": 2, "y": 3}) == (202, {"id": "task-2-3"})


@pytest.mark.parametrize("body", [{"x": 1}, {"x": "1", "y": 2}, {"x": 1.5, "y": 2}, {"x": True, "y": 2}])
def test_add_task_rejects_bad_input(client, monkeypatch, body):
    monkeypatch.setattr(tasks, "submit_add", _raise(AssertionError("must not be called")))
    status, _ = client.post("/tasks/add", json=body)
    assert status == client.invalid


def test_task_status(client, monkeypatch):
    monkeypatch.setattr(tasks, "task_status", lambda tid: {"state": "SUCCESS", "result": 5} if tid == "t1" else {"state": "PENDING", "result": None})
    assert client.get("/tasks/t1") == (200, {"state": "SUCCESS", "result": 5})
    assert client.get("/tasks/other") == (200, {"state": "PENDING", "result": None})


def test_heartbeat(client, monkeypatch):
    monkeypatch.setattr(core, "heartbeat_summary", lambda: {"last": "2025-01-01T00:00:10+00:00", "count": 2})
    assert client.get("/heartbeat") == (200, {"last": "2025-01-01T00:00:10+00:00", "count": 2})


def test_submit_add_does_not_subscribe_to_results(monkeypatch):
    monkeypatch.setattr(tasks.add, "delay", lambda x, y: SimpleNamespace(id=f"id-{x + y}"))
    assert tasks.submit_add(2, 3) == "id-5"
    assert tasks.celery_app.backend.on_task_call(None, "id-5") == {}


@pytest.mark.parametrize(
    ("state", "result", "expected"),
    [
        ("PENDING", None, None),
        ("STARTED", {"pid": 1}, None),
        ("SUCCESS", 5, 5),
        ("FAILURE", ValueError(f"boom {PASSWORD}"), "boom ***"),
    ],
)
def test_task_status_mapping(monkeypatch, state, result, expected):
    monkeypatch.setattr(
        tasks.celery_app, "AsyncResult", lambda tid: SimpleNamespace(state=state, result=result)
    )
    assert tasks.task_status("t") == {"state": state, "result": expected}


def test_task_endpoints_without_redis_url(client, monkeypatch):
    monkeypatch.delenv("REDIS_URL")
    assert client.post("/tasks/add", json={"x": 1, "y": 2}) == (503, {"error": "REDIS_URL is not set"})


def test_celery_tasks_and_schedule(monkeypatch):
    assert tasks.add(2, 3) == 5  # runs in-process
    beats = []
    monkeypatch.setattr(core, "record_heartbeat", lambda: beats.append(1))
    tasks.heartbeat()
    assert beats == [1]
    conf = tasks.celery_app.conf
    assert conf.broker_connection_retry_on_startup is True
    (entry,) = conf.beat_schedule.values()
    assert entry["task"] == "demoapp.tasks.heartbeat" and entry["schedule"] == 10.0
    assert {"demoapp.tasks.add", "demoapp.tasks.heartbeat"} <= set(tasks.celery_app.tasks)


def test_vector_literal():
    assert core.vector_literal([1, 0.5, -2]) == "[1.0,0.5,-2.0]"


# --- importing opens no connection -------------------------------------------

IMPORT_CHECK = textwrap.dedent(
    """
    import socket, time
    import psycopg

    def refuse(*args, **kwargs):
        raise AssertionError(f"connection attempted at import: {args!r}")

    # Python-level sockets (redis-py, kombu) and libpq (C, below socket).
    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    psycopg.connect = refuse
    psycopg.Connection.connect = classmethod(refuse)
    start = time.monotonic()
    import demoapp.asgi, demoapp.wsgi, demoapp.tasks, demoapp.migrate
    demoapp.tasks.celery_app.conf.beat_schedule  # touching the config connects nothing either
    print(f"imported in {time.monotonic() - start:.2f}s")
    """
)


def test_import_opens_no_connection():
    env = dict(os.environ, DATABASE_URL="postgresql://x@127.0.0.1:1/x", REDIS_URL="redis://x:y@127.0.0.1:1/0")
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - start < 20


# --- migrations --------------------------------------------------------------


def test_sqlalchemy_url():
    assert migrate.sqlalchemy_url("postgresql://a:b@h:5432/d") == "postgresql+psycopg://a:b@h:5432/d"
    assert migrate.sqlalchemy_url("postgres://a@h/d") == "postgresql+psycopg://a@h/d"
    assert migrate.sqlalchemy_url("postgresql+psycopg://a@h/d") == "postgresql+psycopg://a@h/d"


def test_migrations_ship_in_the_package_and_render_offline(capsys):
    from alembic import command
    from alembic.script import ScriptDirectory

    config = migrate.alembic_config("postgresql://app:p%40ss@127.0.0.1:1/app")
    assert config.get_main_option("sqlalchemy.url") == "postgresql+psycopg://app:p%40ss@127.0.0.1:1/app"
    assert Path(config.get_main_option("script_location")).is_relative_to(Path(demoapp.__file__).parent)
    assert ScriptDirectory.from_config(config).get_heads() == ["0001"]
    command.upgrade(config, "head", sql=True)  # offline: renders SQL, connects to nothing
    sql = capsys.readouterr().out
    assert "CREATE TABLE items" in sql and "vector(3) NOT NULL" in sql
    assert "CREATE TABLE heartbeats" in sql
    assert "CREATE EXTENSION" not in sql.upper()


def test_migrate_fails_clearly(monkeypatch, capsys):
    monkeypatch.delenv("DATABASE_URL")
    assert migrate.main() == 2
    assert "DATABASE_URL is not set" in capsys.readouterr().err
    monkeypatch.setenv("DATABASE_URL", DATABASE_URL)  # closed port
    assert migrate.main() == 1
    err = capsys.readouterr().err
    assert "migration failed" in err and PASSWORD not in err
