"""PostgreSQL on a lab host: password rotation and config validation (that only its clients
reach it across hosts is shown on the fleet, test_fleet.py; that a one-host deploy listens on
loopback alone, by the verify suite)."""

from __future__ import annotations

import pytest

from groundwork.lab.lab import run_on
from groundwork.testing.converge import converge

LAB_INVENTORY = "inventories/lab.py"
DEPLOY = "deploys/postgres.py"
LAB_PASSWORD = "lab-app-password-not-secret"  # group_data/lab.py
ROTATED = "lab-app-password-rotated"


def can_log_in(password: str) -> bool:
    proc = run_on(
        "lab1",
        "IFS= read -r PGPASSWORD && export PGPASSWORD && psql -X -A -t -h 127.0.0.1 -U app -d app -c 'SELECT 1'",
        stdin=password + "\n",
    )
    return proc.returncode == 0 and proc.stdout.strip() == "1"


@pytest.fixture(scope="module")
def postgres(lab_hosts):
    result = converge(LAB_INVENTORY, DEPLOY)
    assert result.ok, result.describe()


def test_changing_a_role_password_applies_on_the_next_converge(postgres):
    assert can_log_in(LAB_PASSWORD)
    rotated = converge(LAB_INVENTORY, DEPLOY, data={"postgres_roles": [{"name": "app", "password": ROTATED}]})
    assert rotated.ok, rotated.describe()
    assert rotated.changed == {"lab1": ["Postgres | Create or update role app"]}
    assert can_log_in(ROTATED) and not can_log_in(LAB_PASSWORD)
    # Neither the password nor its verifier shows in pyinfra's output or results.
    for text in (rotated.stderr, repr(rotated.results)):
        assert ROTATED not in text and "SCRAM-SHA-256$" not in text

    again = converge(LAB_INVENTORY, DEPLOY, data={"postgres_roles": [{"name": "app", "password": ROTATED}]})
    assert again.ok and again.changed == {}, again.describe()

    back = converge(LAB_INVENTORY, DEPLOY)
    assert back.ok, back.describe()
    assert can_log_in(LAB_PASSWORD) and not can_log_in(ROTATED)


def test_a_broken_setting_never_reaches_the_running_server(postgres):
    # A restart-only one too: shared_buffers takes effect only on restart.
    before = run_on("lab1", "runuser -u postgres -- psql -XAtc 'SHOW work_mem'").stdout.strip()
    broken = converge(LAB_INVENTORY, DEPLOY, data={"postgres_conf": {"work_mem": "lots", "shared_buffers": "huge"}})
    assert broken.returncode != 0
    assert 'invalid value for parameter "work_mem": "lots"' in broken.stderr
    assert 'invalid value for parameter "shared_buffers": "huge"' in broken.stderr
    assert run_on("lab1", "systemctl is-active postgresql@17-main").stdout.strip() == "active"
    assert run_on("lab1", "runuser -u postgres -- psql -XAtc 'SHOW work_mem'").stdout.strip() == before

    fixed = converge(LAB_INVENTORY, DEPLOY)
    assert fixed.ok, fixed.describe()
    for action in ("reload", "restart"):
        assert run_on("lab1", f"test -e /var/lib/groundwork/pending/postgresql@17-main.{action}").returncode == 1

