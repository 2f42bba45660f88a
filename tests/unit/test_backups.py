"""The backups component without a host: settings messages, the schedule minute, rendered units and scripts."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from pyinfra.api.util import get_template

from groundwork.component import HostRun
from groundwork.components import SETTINGS_CLASSES
from groundwork.components.backups import BACKUPS
from groundwork.components.backups.deploy import (
    CONF_DIR,
    authorized_keys_line,
    config_values,
    timer_times,
)
from groundwork.components.backups.settings import BackupsSettings, schedule_minute
from groundwork.fleet import Fleet, FleetHost
from groundwork.metrics import TEXTFILE_DIR
from groundwork.paths import template
from groundwork.settings import SettingsError, build, redacted
from groundwork.settings.schema import deploy_problems

HEADER = "# managed by groundwork; local edits are overwritten"
RECIPIENT = "age1r2fjnn5jukwtkewsp735jknyx2z29amymlx5cy2k8fvqlglff5wqunqtg3"
REQUIRED = {"backups_age_recipients": [RECIPIENT]}
HOOK = "https://hc.example.invalid/ping/secret-token-123"


def backups(**data) -> BackupsSettings:
    return build(BackupsSettings, {**REQUIRED, **data}, "db1")


def problems_of(**data) -> list[str]:
    with pytest.raises(SettingsError) as info:
        build(BackupsSettings, {**REQUIRED, **data}, "db1")
    return info.value.problems


def fleet_host(name, data=None) -> FleetHost:
    return FleetHost(name, ("backup",), frozenset({"backup"}), data or {})


# --- settings ----------------------------------------------------------------------------


def test_registered_with_its_prefix_and_played_by_db_and_backup_hosts():
    assert BackupsSettings in SETTINGS_CLASSES
    assert BACKUPS.prefixes == ("backups",)
    fleet = Fleet.from_inventory([SimpleNamespace(name=n, groups=g, data={}) for n, g in
                                  (("db1", ["db"]), ("bk1", ["backup"]), ("app1", ["app"]))])
    plays = {h.name: BACKUPS.plays(HostRun(fleet, h, (BACKUPS,))) for h in fleet}
    assert plays == {"db1": True, "bk1": True, "app1": False}


def test_defaults():
    s = backups()
    assert s.age_recipients == (RECIPIENT,)
    assert (s.directory, s.hour, s.keep_daily, s.keep_weekly, s.keep_monthly) == ("/var/backups/groundwork", 3, 7, 0, 0)
    assert (s.drill_weekday, s.drill_hour, s.redis) == ("Sun", 5, True)
    assert (s.remote_user, s.remote_directory) == ("groundwork-backup", "/srv/backups")
    assert (s.webhook_url, s.webhook_timeout, s.timeout) == (None, 10, 21600)


def test_recipients_are_required_only_where_backups_run():
    s = build(BackupsSettings, {}, "db1")
    assert deploy_problems("db1", s) == [
        "host db1: backups_age_recipients: required on a host that runs backups, not set "
        "(dumps are only ever written encrypted)"
    ]
    assert deploy_problems("db1", backups()) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"backups_age_recipients": ["ssh-ed25519 AAAA"]},
         "host db1: backups_age_recipients: expected age public keys like 'age1...' (age-keygen -y), got 'ssh-ed25519 AAAA'"),
        ({"backups_directory": "var/backups"},
         "host db1: backups_directory: expected an absolute directory path like '/var/backups/groundwork', got 'var/backups'"),
        ({"backups_remote_directory": "/srv/../etc"},
         "host db1: backups_remote_directory: expected an absolute directory path like '/var/backups/groundwork', got '/srv/../etc'"),
        ({"backups_hour": 24}, "host db1: backups_hour: expected an hour from 0 to 23, got 24"),
        ({"backups_keep_daily": 0}, "host db1: backups_keep_daily: expected 1 or more, got 0"),
        ({"backups_keep_weekly": -1}, "host db1: backups_keep_weekly: expected 0 or more, got -1"),
        ({"backups_drill_weekday": "Sunday"},
         "host db1: backups_drill_weekday: expected one of 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun', got str ('Sunday')"),
        ({"backups_remote_user": "Backup User"},
         "host db1: backups_remote_user: expected a user name of lowercase letters, digits, '_', '-', got 'Backup User'"),
        ({"backups_webhook_url": "ftp://x/secret-token-123"},
         "host db1: backups_webhook_url: expected an http:// or https:// URL without spaces or quotes (value hidden)"),
        ({"backups_webhook_url": 5}, "host db1: backups_webhook_url: expected a string or null, got int (value hidden)"),
        ({"backups_timeout": 10}, "host db1: backups_timeout: expected 60 or more, got 10"),
    ],
)
def test_messages(data, message):
    assert problems_of(**data) == [message]


def test_webhook_url_is_secret():
    assert redacted(backups(backups_webhook_url=HOOK))["webhook_url"] == "********"
    assert all("secret-token" not in p for p in problems_of(backups_webhook_url="https://x y/secret-token-123"))


# --- schedule ----------------------------------------------------------------------------


def test_schedule_minute_is_stable_per_host_and_spread():
    assert schedule_minute("db1") == schedule_minute("db1") == 52
    minutes = {schedule_minute(f"db{i}") for i in range(30)}
    assert all(0 <= m < 60 for m in minutes) and len(minutes) > 10


def test_timers_render_the_derived_minute():
    times = timer_times(backups(backups_hour=2, backups_drill_weekday="Wed", backups_drill_hour=4), "db1")
    backup = get_template(template("etc/systemd/system/groundwork-backup.timer")).render(**times["backup"])
    drill = get_template(template("etc/systemd/system/groundwork-backup-drill.timer")).render(**times["drill"])
    assert "OnCalendar=*-*-* 02:52:00\n" in backup
    assert "OnCalendar=Wed *-*-* 04:52:00\n" in drill
    assert "Persistent=true" in backup and "WantedBy=timers.target" in drill


def test_services_run_the_script_as_oneshot():
    for unit, exec_start in (("groundwork-backup", "/usr/local/sbin/groundwork-backup\n"),
                             ("groundwork-backup-drill", "/usr/local/sbin/groundwork-backup --drill\n")):
        text = get_template(template(f"etc/systemd/system/{unit}.service")).render(timeout=3600)
        assert "Type=oneshot\n" in text and f"ExecStart={exec_start}" in text and "TimeoutStartSec=3600\n" in text


# --- rendered files ----------------------------------------------------------------------


def test_every_backups_template_starts_with_the_header():
    names = ["etc/groundwork/backup/backup.conf", "etc/groundwork/backup/recipients.txt",
             "etc/groundwork/backup/known_hosts", "usr/local/sbin/groundwork-backup", "usr/local/sbin/groundwork-restore",
             *(f"etc/systemd/system/{unit}.{kind}" for unit in ("groundwork-backup", "groundwork-backup-drill")
               for kind in ("service", "timer"))]
    paths = [Path(template(name)) for name in names]
    for path in paths:
        lines = path.read_text().splitlines()
        first = lines[1] if lines[0].startswith("#!") else lines[0]
        assert first == HEADER, path


def test_off_host_copies_go_to_the_backup_hosts_private_address():
    # The one address rule of the fleet: private_address, else ssh_hostname, else the name.
    bk1 = fleet_host("bk1", {"ssh_hostname": "203.0.113.9", "private_address": "10.0.0.9"})
    values = config_values(backups(), "db1", 5432, False, [bk1])
    assert values["remote_targets"] == ["groundwork-backup@10.0.0.9"]


def test_backup_config_quotes_values_and_lists_targets():
    values = config_values(backups(), "db1", 5433, True, [fleet_host("bk1", {"ssh_hostname": "10.0.0.9"}), fleet_host("bk2")])
    text = get_template(template("etc/groundwork/backup/backup.conf")).render(**values)
    assert "PG_PORT=5433\n" in text and "REDIS_DIR=/var/lib/redis\n" in text
    assert "REMOTE_TARGETS=(groundwork-backup@10.0.0.9 groundwork-backup@bk2)\n" in text
    assert "http" not in text  # the webhook URL has a file of its own (0600, never shown)
    no_redis = config_values(backups(), "db1", 5432, False, [])
    text = get_template(template("etc/groundwork/backup/backup.conf")).render(**no_redis)
    assert "REDIS_DIR=''\n" in text and "REMOTE_TARGETS=()\n" in text


def test_authorized_keys_confine_the_key_to_its_area():
    line = authorized_keys_line(backups(), "db1", "ssh-ed25519 AAAAC3 groundwork-backup@db1")
    assert line == 'command="/usr/bin/rrsync -wo /srv/backups/db1",restrict ssh-ed25519 AAAAC3 groundwork-backup@db1'


@pytest.mark.parametrize("name", ["groundwork-backup", "groundwork-restore"])
def test_scripts_are_strict_bash(name, tmp_path):
    text = get_template(template(f"usr/local/sbin/{name}")).render(conf_dir=CONF_DIR, metrics_dir=TEXTFILE_DIR)
    assert text.startswith("#!/bin/bash\n" + HEADER + "\n")
    assert "set -euo pipefail\n" in text and f"source {CONF_DIR}/backup.conf" in text.replace('"$CONF"', f"{CONF_DIR}/backup.conf")
    script = tmp_path / name
    script.write_text(text)
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0


def test_backup_script_writes_partial_then_renames_and_checksums():
    text = get_template(template("usr/local/sbin/groundwork-backup")).render(conf_dir=CONF_DIR, metrics_dir=TEXTFILE_DIR)
    for needle in ('partial="$run.partial"', 'mv -- "$partial" "$run"', 'sync -- "$partial"/*',
                   "pg_dump -p \"$PG_PORT\" -Fc", "pg_dumpall -p \"$PG_PORT\" --globals-only",
                   "sha256sum --quiet --strict -c", "curl -K -", "rsync -a --delete"):
        assert needle in text, needle
    # Retention runs only after the run succeeded (and so never after a failed one).
    assert text.index('mv -- "$partial" "$run"') < text.index("\nprune\n")
