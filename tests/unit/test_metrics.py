"""Outcomes as Prometheus textfile metrics, without a host: the backup script's
files (its functions run in bash against a temporary directory), the converge
file's text, the converge result -> per-host values mapping, and the second
pyinfra run that writes them."""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import time
from pathlib import Path

from pyinfra.api.util import get_template

from groundwork.components.backups.deploy import CONF_DIR
from groundwork.metrics import CONVERGE_FILE, TEXTFILE_DIR
from groundwork.paths import template

LAST_SUCCESS = "groundwork_backup_last_success_timestamp_seconds"


def test_the_textfile_directory_is_debians_node_exporter_default():
    assert TEXTFILE_DIR == "/var/lib/prometheus/node-exporter"
    assert CONVERGE_FILE == "groundwork_converge.prom"


# --- backups: groundwork-backup's own functions, run in bash ---------------------


def backup_script(conf_dir: str = CONF_DIR, metrics_dir: str = TEXTFILE_DIR) -> str:
    return get_template(template("usr/local/sbin/groundwork-backup")).render(
        conf_dir=conf_dir, metrics_dir=shlex.quote(metrics_dir))


def bash_function(text: str, name: str) -> str:
    match = re.search(rf"^{name}\(\) \{{.*?^\}}\n", text, re.MULTILINE | re.DOTALL)
    assert match, name
    return match.group(0)


def run_write_metrics(directory: Path, mode: str, success: int) -> subprocess.CompletedProcess:
    text = backup_script()
    functions = bash_function(text, "metric") + bash_function(text, "write_metrics")
    script = f"set -euo pipefail\numask 077\n{functions}mode={mode}\nMETRICS_DIR=\"$1\"\nwrite_metrics {success}\n"
    return subprocess.run(["bash", "-c", script, "bash", str(directory)], capture_output=True, text=True)


def samples(path: Path) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in path.read_text().splitlines() if not line.startswith("#"))


def test_a_successful_backup_writes_its_file_with_help_and_type(tmp_path):
    directory = tmp_path / "node-exporter"
    assert run_write_metrics(directory, "backup", 1).returncode == 0
    path = directory / "groundwork_backup_backup.prom"
    got = samples(path)
    assert set(got) == {'groundwork_backup_last_run_timestamp_seconds{kind="backup"}',
                        'groundwork_backup_last_run_success{kind="backup"}', f'{LAST_SUCCESS}{{kind="backup"}}'}
    assert got['groundwork_backup_last_run_success{kind="backup"}'] == "1"
    assert got[f'{LAST_SUCCESS}{{kind="backup"}}'] == got['groundwork_backup_last_run_timestamp_seconds{kind="backup"}']
    assert abs(int(got['groundwork_backup_last_run_timestamp_seconds{kind="backup"}']) - time.time()) < 60
    text = path.read_text()
    for name in ("groundwork_backup_last_run_timestamp_seconds", "groundwork_backup_last_run_success", LAST_SUCCESS):
        assert f"# HELP {name} " in text and f"# TYPE {name} gauge\n" in text
    # Readable by node exporter (user prometheus); the directory made 0755 despite the script's umask 077.
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(directory.stat().st_mode) == 0o755
    assert os.listdir(directory) == ["groundwork_backup_backup.prom"]  # no temp file left


def test_a_failed_backup_keeps_the_last_success_time(tmp_path):
    path = tmp_path / "groundwork_backup_backup.prom"
    path.write_text('# HELP x\ngroundwork_backup_last_run_success{kind="backup"} 1\n'
                    f'{LAST_SUCCESS}{{kind="backup"}} 1700000000\n')
    assert run_write_metrics(tmp_path, "backup", 0).returncode == 0
    got = samples(path)
    assert got['groundwork_backup_last_run_success{kind="backup"}'] == "0"
    assert got[f'{LAST_SUCCESS}{{kind="backup"}}'] == "1700000000"
    assert int(got['groundwork_backup_last_run_timestamp_seconds{kind="backup"}']) > 1700000000


def test_a_failure_with_no_success_before_leaves_the_last_success_out(tmp_path):
    assert run_write_metrics(tmp_path, "backup", 0).returncode == 0
    got = samples(tmp_path / "groundwork_backup_backup.prom")
    assert got['groundwork_backup_last_run_success{kind="backup"}'] == "0"
    assert not any(name.startswith(LAST_SUCCESS) for name in got)


def test_the_drill_writes_its_own_file_and_leaves_the_backups_alone(tmp_path):
    assert run_write_metrics(tmp_path, "backup", 1).returncode == 0
    before = (tmp_path / "groundwork_backup_backup.prom").read_text()
    assert run_write_metrics(tmp_path, "drill", 0).returncode == 0
    assert (tmp_path / "groundwork_backup_backup.prom").read_text() == before
    got = samples(tmp_path / "groundwork_backup_drill.prom")
    assert got == {'groundwork_backup_last_run_timestamp_seconds{kind="drill"}': got[
        'groundwork_backup_last_run_timestamp_seconds{kind="drill"}'], 'groundwork_backup_last_run_success{kind="drill"}': "0"}


def test_a_run_that_cannot_even_read_its_config_writes_a_failure(tmp_path):
    # The whole script: finish (the EXIT trap) is set before the config is read.
    script = tmp_path / "groundwork-backup"
    script.write_text(backup_script(conf_dir=str(tmp_path / "missing"), metrics_dir=str(tmp_path / "metrics")))
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "FAILED during reading" in proc.stderr
    got = samples(tmp_path / "metrics" / "groundwork_backup_backup.prom")
    assert got['groundwork_backup_last_run_success{kind="backup"}'] == "0"


def test_the_script_writes_metrics_before_the_webhook_and_traps_a_stop():
    text = backup_script()
    finish = bash_function(text, "finish")
    assert finish.index("write_metrics") < finish.index("notify")
    assert "trap 'exit 143' TERM" in text
    assert text.index("trap finish EXIT") < text.index('source "$CONF"')
    assert f"METRICS_DIR={TEXTFILE_DIR}\n" in text
