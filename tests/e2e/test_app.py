"""The app on a lab host: it serves and works, a bad release is rolled back,
a good one goes live under load with no failed request, rollback on demand."""

from __future__ import annotations

import json
import shlex
import shutil
import time
from pathlib import Path

import pytest

from groundwork.lab.lab import run_on
from groundwork.paths import ROOT
from groundwork.testing.converge import converge

LAB_INVENTORY = "inventories/lab.py"
SOCKET = "/run/demoapp/gunicorn.sock"


def get(path: str, method: str = "GET", body: dict | None = None) -> dict:
    data = f"-X {method} -H 'content-type: application/json' -d {shlex.quote(json.dumps(body))}" if body else ""
    url = shlex.quote(f"http://localhost{path}")
    out = run_on("lab1", f"curl -s --max-time 10 {data} --unix-socket {SOCKET} {url}")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def app_copy(tmp_path: Path, version: str, healthy: bool = True) -> Path:
    """examples/demoapp as a new release: another version, optionally broken."""
    copy = tmp_path / f"demoapp-{version}"
    shutil.copytree(ROOT / "examples/demoapp", copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "tests"))
    init = copy / "demoapp/__init__.py"
    text = init.read_text().replace('__version__ = "1.0.0"', f'__version__ = "{version}"')
    if not healthy:
        text = text.replace("HEALTHY = True", "HEALTHY = False")
    init.write_text(text)
    return copy


@pytest.fixture(scope="module")
def app(full_stack):
    return get("/version")


def test_health_is_200_with_postgres_and_redis(app):
    assert get("/health") == {"status": "ok", "postgres": "ok", "redis": "ok"}


def test_name_run_runs_the_releases_console_scripts_and_python_as_typed(app):
    # Exactly as the README shows it, on the host.
    migrate = run_on("lab1", "demoapp-run demoapp-migrate")
    assert migrate.returncode == 0, migrate.stderr
    python = run_on("lab1", "demoapp-run python -c 'import sys, demoapp; print(sys.prefix)'")
    assert python.returncode == 0, python.stderr
    assert python.stdout.strip().startswith("/srv/demoapp/") and python.stdout.strip().endswith("/venv")
    missing = run_on("lab1", "demoapp-run no-such-command")
    assert missing.returncode == 127 and "no-such-command: not found in release current" in missing.stderr


def test_items_with_embeddings_round_trip(app):
    get("/items", "POST", {"name": "north", "embedding": [1, 0, 0]})
    get("/items", "POST", {"name": "east", "embedding": [0, 1, 0]})
    nearest = get("/items/nearest?embedding=0.9,0.1,0&limit=1")["items"]
    assert [item["name"] for item in nearest] == ["north"]


def test_celery_task_result_comes_back(app):
    task = get("/tasks/add", "POST", {"x": 20, "y": 22})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        result = get(f"/tasks/{task['id']}")
        if result["state"] == "SUCCESS":
            break
        time.sleep(0.5)
    assert result == {"state": "SUCCESS", "result": 42}


def test_beat_writes_heartbeats(app):
    first = get("/heartbeat")["count"]
    deadline = time.monotonic() + 30  # beat runs every 10 s
    while get("/heartbeat")["count"] <= first and time.monotonic() < deadline:
        time.sleep(1)
    assert get("/heartbeat")["count"] > first


def test_a_release_failing_its_health_check_is_rolled_back(app, tmp_path):
    before = get("/version")
    # The default health timeout (60 s): it is written into the activation script, and the
    # converge below must find nothing to change.
    broken = converge(LAB_INVENTORY, "deploys/app.py", data={"app_source": str(app_copy(tmp_path, "1.0.1", healthy=False))},
                      json_output=False)
    assert broken.returncode != 0
    assert '/health answered 503: {"status":"broken release"}' in broken.stderr
    assert "failed its health check" in broken.stderr
    assert f"rolled back to release {before['release']}" in broken.stderr
    assert get("/version") == before
    assert get("/health")["status"] == "ok"
    again = converge(LAB_INVENTORY, "deploys/full.py")
    assert again.ok and again.changed == {}, again.describe()


def test_new_release_goes_live_under_load_without_a_failed_request(app, tmp_path):
    before = get("/version")
    script = (ROOT / "tests/e2e/load_unix_socket.py").read_text()
    assert run_on("lab1", "cat > /tmp/load.py && rm -f /tmp/load.stop", stdin=script).returncode == 0
    # The load lasts until the stop file (at most 10 min): a converge slowed by a busy machine
    # must still switch under it.
    assert run_on("lab1", f"nohup python3 /tmp/load.py {SOCKET} /version 600 /tmp/load.stop > /tmp/load.json 2>&1 &").returncode == 0
    try:
        try:
            deployed = converge(LAB_INVENTORY, "deploys/app.py", data={"app_source": str(app_copy(tmp_path, "1.0.2"))})
            assert deployed.ok, deployed.describe()
        finally:
            run_on("lab1", "touch /tmp/load.stop")
        deadline = time.monotonic() + 40
        while not run_on("lab1", "cat /tmp/load.json").stdout.strip() and time.monotonic() < deadline:
            time.sleep(0.5)
        load = json.loads(run_on("lab1", "cat /tmp/load.json").stdout)
        assert set(load["statuses"]) == {"200"}, load
        assert load["statuses"]["200"] > 50, load
        assert set(load["versions"]) == {"1.0.0", "1.0.2"}, load  # the switch happened under load
        after = get("/version")
        assert after["version"] == "1.0.2" and after["release"] != before["release"]

        rollback = converge(LAB_INVENTORY, "deploys/rollback.py")
        assert rollback.ok, rollback.describe()
        assert get("/version") == before
    except BaseException:
        # The modules after this one need the inventory's release live, whatever failed here.
        converge(LAB_INVENTORY, "deploys/full.py")
        raise
    settled = converge(LAB_INVENTORY, "deploys/full.py")
    assert settled.ok and settled.changed == {}, settled.describe()
