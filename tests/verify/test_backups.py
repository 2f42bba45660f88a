"""Backups component, verified on any inventory: pytest tests/verify --inventory FILE

Reads only: nothing here starts a backup or touches a dump.
"""

from __future__ import annotations

import pytest

from groundwork.components.backups.deploy import CONF_DIR
from groundwork.components.backups.settings import schedule_minute

pytestmark = pytest.mark.group("db")

MAGIC = "age-encryption.org/v1"


def newest_run(host, settings) -> str:
    out = host.check_output(
        f"ls -1 {settings.backups.directory} | grep -E '^[0-9]{{8}}T[0-9]{{6}}Z$' | sort | tail -n 1 || true"
    )
    assert out, f"no backup run in {settings.backups.directory}"
    return f"{settings.backups.directory}/{out}"


def test_backup_timers_are_enabled_and_scheduled(host, inventory_host, settings):
    minute = schedule_minute(inventory_host.name)
    for unit, calendar in (
        ("groundwork-backup.timer", f"*-*-* {settings.backups.hour:02d}:{minute:02d}:00"),
        ("groundwork-backup-drill.timer",
         f"{settings.backups.drill_weekday} *-*-* {settings.backups.drill_hour:02d}:{minute:02d}:00"),
    ):
        timer = host.service(unit)
        assert timer.is_enabled and timer.is_running
        assert host.check_output(f"systemctl show -p TimersCalendar --value {unit}").startswith(
            f"{{ OnCalendar={calendar} ;"
        )


def test_last_backup_run_succeeded(host):
    show = host.check_output("systemctl show -p Result -p ExecMainStatus -p ExecMainExitTimestampMonotonic groundwork-backup.service")
    values = dict(line.split("=", 1) for line in show.splitlines())
    assert values["ExecMainExitTimestampMonotonic"] != "0", "the backup never ran since boot"
    assert (values["Result"], values["ExecMainStatus"]) == ("success", "0")


def test_newest_run_has_a_checksum_for_every_dump(host, settings):
    run = newest_run(host, settings)
    dumps = host.check_output(f"cd {run} && ls *.age").split()
    assert "globals.sql.age" in dumps and any(d.endswith(".dump.age") for d in dumps)
    for dump in dumps:
        assert host.run(f"cd {run} && sha256sum --quiet --strict -c {dump}.sha256").rc == 0, dump


def test_dumps_are_encrypted(host, settings):
    run = newest_run(host, settings)
    for dump in host.check_output(f"cd {run} && ls *.age").split():
        assert host.check_output(f"head -c {len(MAGIC)} {run}/{dump}") == MAGIC, dump
    assert host.run(f"grep -rlE 'PGDMP|CREATE TABLE|CREATE ROLE|REDIS00' {settings.backups.directory}").rc == 1


def test_no_private_age_key_on_the_host(host):
    assert host.run("grep -rlE 'AGE-SECRET-KEY-1[0-9A-Z]{58}' /etc /root /var/backups /usr/local 2>/dev/null").rc == 1


def test_backup_config_is_private(host):
    conf = host.file(f"{CONF_DIR}/backup.conf")
    assert conf.user == "root" and conf.mode == 0o600
    assert host.file(CONF_DIR).mode == 0o700
