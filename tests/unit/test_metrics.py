"""Outcomes as Prometheus textfile metrics, without a host: the backup script's
files (its functions run in bash against a temporary directory), the converge
file's text, the converge result -> per-host values mapping, and the second
pyinfra run that writes them."""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import time
from pathlib import Path

import pytest
from pyinfra.api.util import get_template

from groundwork import cli, converge
from groundwork.components.backups.deploy import CONF_DIR
from groundwork.metrics import (
    CONVERGE_FILE,
    CONVERGE_VALUES_ENV,
    TEXTFILE_DIR,
    converge_metrics,
    write_textfile_command,
)
from groundwork.paths import ROOT, template

DATA = Path(__file__).parent / "data" / "pyinfra-json"
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


# --- converge: text, mapping, the write ------------------------------------------


def test_converge_metrics_text():
    assert converge_metrics(1764068533, 1, 0) == (
        "# HELP groundwork_converge_last_run_timestamp_seconds Unix time the last groundwork converge that "
        "reached this host ended.\n"
        "# TYPE groundwork_converge_last_run_timestamp_seconds gauge\n"
        "groundwork_converge_last_run_timestamp_seconds 1764068533\n"
        "# HELP groundwork_converge_last_run_success 1 if the last groundwork converge succeeded on this host, "
        "0 if it failed.\n"
        "# TYPE groundwork_converge_last_run_success gauge\n"
        "groundwork_converge_last_run_success 1\n"
        "# HELP groundwork_converge_last_run_drift 1 if the last groundwork converge repaired drift on this host "
        "(a dry run: found drift), 0 otherwise.\n"
        "# TYPE groundwork_converge_last_run_drift gauge\n"
        "groundwork_converge_last_run_drift 0\n"
    )
    assert converge_metrics(5, 0, 1).endswith("groundwork_converge_last_run_success 0\n"
                                              "# HELP groundwork_converge_last_run_drift 1 if the last groundwork "
                                              "converge repaired drift on this host (a dry run: found drift), 0 otherwise.\n"
                                              "# TYPE groundwork_converge_last_run_drift gauge\n"
                                              "groundwork_converge_last_run_drift 1\n")


def recorded(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def test_repaired_drift_is_success_1_drift_1():
    report = converge.read_report(recorded("run-repaired.json"), 0, dry_run=False)
    assert converge.metric_values(report, {"lab1"}) == {"lab1": {"success": 1, "drift": 1}}


def test_a_clean_run_is_success_1_drift_0():
    payload = recorded("run-repaired.json")
    for op in payload["results"]["operations"]:
        op["no_change"], op["success"] = sorted(op["no_change"] + op["success"]), []
    report = converge.read_report(payload, 0, dry_run=False)
    assert converge.metric_values(report, {"lab1"}) == {"lab1": {"success": 1, "drift": 0}}


def test_a_dry_run_that_would_change_is_drift_1():
    report = converge.read_report(recorded("dry-drift.json"), 0, dry_run=True)
    assert converge.metric_values(report, {"lab1"}) == {"lab1": {"success": 1, "drift": 1}}


def test_a_failed_host_is_success_0_and_an_unreached_one_gets_nothing():
    log = "    [web1] Could not connect (Timeout)\n    [app1] Error: executed 0/1 commands\n"
    report = converge.read_report(recorded("dry-drift.json"), 1, dry_run=True, log=log, hosts=["lab1", "web1", "app1"])
    values = converge.metric_values(report, {"lab1", "app1"})
    assert values == {"lab1": {"success": 1, "drift": 1}, "app1": {"success": 0, "drift": 0}}


def test_reached_hosts_are_the_ones_pyinfra_says_it_connected_to():
    log = ("--> Connecting to hosts...\n    \x1b[1m[db1]\x1b[0m \x1b[32mConnected\x1b[0m\n"
           "    [web1] Could not connect (Timeout)\n    [app1] Connected (for facts)\n")
    assert converge.reached_hosts(log) == {"db1", "app1"}


def test_the_write_command_writes_whole_and_only_where_the_directory_exists(tmp_path):
    text = converge_metrics(1, 1, 0) + "it's a 'quote' and $(not a command)\n"
    command = write_textfile_command(text, CONVERGE_FILE, str(tmp_path / "node exporter"))
    assert subprocess.run(["sh", "-c", command]).returncode == 0
    assert not (tmp_path / "node exporter").exists()  # no monitoring: nothing written, no directory made
    (tmp_path / "node exporter").mkdir()
    assert subprocess.run(["sh", "-c", command]).returncode == 0
    path = tmp_path / "node exporter" / CONVERGE_FILE
    assert path.read_text() == text
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(tmp_path / "node exporter") == [CONVERGE_FILE]


@pytest.fixture
def two_runs(monkeypatch):
    """groundwork converge whose pyinfra runs are fakes: the converge's, then the metrics write's."""
    calls = []

    def use(converge_result: tuple, metrics_result: tuple | Exception = (0, "", ""), hosts=("lab1", "web1")):
        def run(argv, **kwargs):
            calls.append((argv, kwargs))
            if len(calls) == 1:
                return converge_result
            if isinstance(metrics_result, Exception):
                raise metrics_result
            return metrics_result

        monkeypatch.setattr(converge, "run_pyinfra", run)
        monkeypatch.setattr(converge, "inventory_hosts", lambda inventory, cwd: list(hosts))
        return calls

    return use


CONNECTED = "    [lab1] Connected\n    [web1] Could not connect (Timeout)\n"


def test_converge_hands_each_reached_host_its_values_in_a_second_run(two_runs, tmp_path, capsys):
    calls = two_runs((0, (DATA / "run-repaired.json").read_text(), CONNECTED))
    status = cli.main(["converge", "inventories/lab.py", "--lock", str(tmp_path / "lock")])
    assert status == converge.EXIT_FAILED  # web1 was not reached
    (argv, kwargs) = calls[1]
    assert argv[1:] == ["-y", "inventories/lab.py", str(ROOT / "deploys" / "converge_metrics.py"), "--limit", "lab1"]
    values = json.loads(kwargs["env"][CONVERGE_VALUES_ENV])
    assert values["hosts"] == {"lab1": {"success": 1, "drift": 1}}
    assert isinstance(values["timestamp"], int)
    # It neither takes nor is handed the converge's lock, and it is bounded.
    assert set(kwargs["env"]) == {CONVERGE_VALUES_ENV} and not kwargs.get("pass_fds")
    assert kwargs["timeout"] == converge.METRICS_TIMEOUT
    out = capsys.readouterr().out
    assert "groundwork converge (run): metrics: done on 1 host(s) in " in out
    assert f"(written where {TEXTFILE_DIR} exists)\n" in out


def test_a_failed_metrics_write_changes_no_exit_status(two_runs, tmp_path, capsys):
    payload = recorded("run-repaired.json")
    for op in payload["results"]["operations"]:
        op["no_change"], op["success"] = sorted(op["no_change"] + op["success"]), []
    two_runs((0, json.dumps(payload), "    [lab1] Connected\n"), (1, "", "    [lab1] Error: executed 0/1 commands\n"),
             hosts=["lab1"])
    assert cli.main(["converge", "inventories/lab.py", "--lock", str(tmp_path / "lock")]) == converge.EXIT_CLEAN
    assert "metrics: NOT written to lab1 (pyinfra exited 1)" in capsys.readouterr().out


def test_a_metrics_write_that_hangs_is_stopped_and_changes_no_exit_status(two_runs, tmp_path, capsys):
    calls = two_runs((0, (DATA / "run-repaired.json").read_text(), "    [lab1] Connected\n"),
                     subprocess.TimeoutExpired("pyinfra", 60), hosts=["lab1"])
    assert cli.main(["converge", "inventories/lab.py", "--lock", str(tmp_path / "lock")]) == converge.EXIT_DRIFT
    assert len(calls) == 2
    assert "metrics: NOT written, the write took more than 60s (stopped)" in capsys.readouterr().out


def test_no_metrics_runs_pyinfra_once(two_runs, tmp_path, capsys):
    calls = two_runs((0, (DATA / "run-repaired.json").read_text(), CONNECTED))
    cli.main(["converge", "inventories/lab.py", "--no-metrics", "--lock", str(tmp_path / "lock")])
    assert len(calls) == 1 and "metrics" not in capsys.readouterr().out


def test_a_dry_run_writes_its_metrics_with_a_real_run(two_runs, tmp_path):
    calls = two_runs((0, (DATA / "dry-drift.json").read_text(), "    [lab1] Connected\n"), hosts=["lab1"])
    cli.main(["converge", "inventories/lab.py", "--dry-run", "--lock", str(tmp_path / "lock")])
    assert calls[0][0][1] == "--dry" and calls[1][0][1] == "-y"
    assert json.loads(calls[1][1]["env"][CONVERGE_VALUES_ENV])["hosts"]["lab1"] == {"success": 1, "drift": 1}
