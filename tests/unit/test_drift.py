"""groundwork.converge: pyinfra's --json read into a drift report, the lock, the
exit statuses, and the scheduling units.

The pyinfra documents under data/pyinfra-json/ were recorded from real runs
of deploys/full.py on a lab host (see its README for how), trimmed to the
operations that changed plus a few that did not.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from groundwork import cli, converge
from groundwork.schedule import Schedule, render_units, write_units

DATA = Path(__file__).parent / "data" / "pyinfra-json"
UPLOAD_SITE = "Nginx | Upload the demoapp site"
START_REDIS = "Redis | Enable and start redis-server"


def recorded(name: str) -> dict:
    return json.loads((DATA / name).read_text())


# --- reading pyinfra's output ---------------------------------------------


def test_a_real_run_that_repaired_drift():
    report = converge.read_report(recorded("run-repaired.json"), 0, dry_run=False)
    lab1 = report.hosts["lab1"]
    assert UPLOAD_SITE in lab1.changed and START_REDIS in lab1.changed
    assert lab1.failed_operations == [] and lab1.unchanged > 0
    assert report.exit_status == converge.EXIT_DRIFT
    assert report.changed() == {"lab1": lab1.changed} and report.failed() == {}


def test_a_real_run_that_changed_nothing():
    payload = recorded("run-repaired.json")
    for op in payload["results"]["operations"]:
        op["no_change"], op["success"] = sorted(op["no_change"] + op["success"]), []
    report = converge.read_report(payload, 0, dry_run=False)
    assert report.exit_status == converge.EXIT_CLEAN and report.changed() == {}
    assert report.summary_lines() == [f"lab1: no drift ({report.hosts['lab1'].unchanged} operations unchanged)"]


def test_a_dry_run_names_what_would_change_and_leaves_conditional_operations_aside():
    report = converge.read_report(recorded("dry-drift.json"), 0, dry_run=True)
    lab1 = report.hosts["lab1"]
    assert sorted(lab1.changed) == [UPLOAD_SITE, START_REDIS]
    # Restarts behind `_if` run only after a change: listed, not counted as drift.
    assert "Nginx | Reload nginx" in lab1.conditional and UPLOAD_SITE not in lab1.conditional
    assert report.exit_status == converge.EXIT_DRIFT
    assert report.summary_lines() == [f"lab1: drift, 2 operation(s) would change: {'; '.join(lab1.changed)}"]
    doc = report.as_dict()
    assert doc["hosts"]["lab1"]["counts"] == {"changed": 2, "failed": 0, "conditional": len(lab1.conditional)}
    assert "unchanged" not in doc["hosts"]["lab1"]["counts"]


def test_a_dry_run_with_nothing_to_change_is_clean():
    payload = recorded("dry-drift.json")
    for op in payload["plan"]:
        op["hosts_with_change"] = []
    report = converge.read_report(payload, 0, dry_run=True)
    assert report.exit_status == converge.EXIT_CLEAN
    assert report.summary_lines() == ["lab1: no drift"]


def test_a_failed_operation_fails_the_host_and_wins_over_drift():
    payload = recorded("run-repaired.json")
    op = next(op for op in payload["results"]["operations"] if op["names"] == [START_REDIS])
    op["success"], op["error"] = [], ["lab1"]
    payload["results"]["failed_hosts"] = ["lab1"]
    report = converge.read_report(payload, 1, dry_run=False)
    assert report.hosts["lab1"].failed_operations == [START_REDIS]
    assert report.exit_status == converge.EXIT_FAILED
    line = report.summary_lines()[0]
    assert line.startswith(f"lab1: FAILED, an operation failed: {START_REDIS}; ") and UPLOAD_SITE in line


def test_a_host_pyinfra_dropped_before_printing_results_is_failed_from_its_log():
    # pyinfra prints no JSON when its last host fails ("No hosts remaining!").
    log = "--> Starting operation: Redis | Enable and start redis-server\n    [lab1] Error: executed 0/1 commands\n"
    report = converge.read_report(None, 1, dry_run=False, log=log, hosts=["lab1", "lab2"])
    assert report.hosts["lab1"].failed and not report.hosts["lab2"].failed
    assert report.exit_status == converge.EXIT_FAILED


def test_an_unreachable_host_is_failed_and_ignored_errors_are_not_failures():
    log = ("[web1] Could not connect (Timeout)\n"
           "\x1b[1m[app1]\x1b[0m Error (ignored): executed 0/1 commands\n")
    report = converge.read_report(recorded("dry-drift.json"), 1, dry_run=True, log=log, hosts=["lab1", "web1", "app1"])
    assert report.hosts["web1"].failed and report.hosts["web1"].reason.startswith("pyinfra logged an error")
    assert not report.hosts["app1"].failed and not report.hosts["lab1"].failed
    assert report.exit_status == converge.EXIT_FAILED


def test_pyinfra_stopping_without_naming_a_host_fails_every_host():
    report = converge.read_report(None, 1, dry_run=True, log="--> pyinfra error: invalid settings\n", hosts=["a", "b"])
    assert [h.status for h in report.hosts.values()] == ["failed", "failed"]
    assert report.hosts["a"].reason == "pyinfra exited 1 (see its log)"
    assert report.exit_status == converge.EXIT_FAILED


def test_an_inventory_without_hosts_is_a_failure_not_a_clean_fleet():
    # pyinfra takes a mistyped inventory path for an empty inventory and exits 0.
    report = converge.read_report({"plan": [], "results": {"operations": [], "failed_hosts": []}}, 0, dry_run=False)
    assert report.exit_status == converge.EXIT_FAILED
    assert report.summary_lines() == ["FAILED, no host: the inventory names none (see pyinfra's log)"]


def test_operation_names_never_carry_their_arguments():
    # pyinfra appends an unnamed operation's arguments to its `name`; they may hold secrets.
    payload = {"plan": [{"op_hash": "x", "name": "Server/Shell (commands=['redis-cli -a s3cret'])",
                         "names": ["Server/Shell"], "args": ["commands=['redis-cli -a s3cret']"],
                         "hosts_with_change": ["lab1"], "hosts_with_conditional_change": []}], "results": None}
    report = converge.read_report(payload, 0, dry_run=True)
    assert report.hosts["lab1"].changed == ["Server/Shell"]
    assert "s3cret" not in json.dumps(report.as_dict()) + "\n".join(report.summary_lines())


def test_recorded_samples_hold_no_lab_secret():
    text = "".join(p.read_text() for p in DATA.glob("*.json"))
    assert "not-secret" not in text


def test_parse_payload_takes_only_a_json_document():
    assert converge.parse_payload("") is None
    assert converge.parse_payload("--> Loading inventory...") is None
    assert converge.parse_payload('{"plan": [], "results": null}') == {"plan": [], "results": None}


def test_dry_run_leaves_out_y_which_would_switch_off_change_detection():
    dry = converge.pyinfra_argv("inv.py", "deploys/full.py", dry_run=True)
    real = converge.pyinfra_argv("inv.py", "deploys/full.py")
    assert dry[1:] == ["--dry", "--json", "inv.py", "deploys/full.py"]
    assert real[1:] == ["-y", "--json", "inv.py", "deploys/full.py"]


# --- the lock --------------------------------------------------------------


def test_lock_is_exclusive_until_released(tmp_path):
    path = tmp_path / "converge.lock"
    fd = converge.acquire_lock(path)
    with pytest.raises(converge.LockHeld, match=rf"another run holds {path} \(pid \d+\)"):
        converge.acquire_lock(path)
    converge.release_lock(fd)
    assert path.read_text() == ""
    os.close(converge.acquire_lock(path))


def test_lock_held_by_another_process_refuses_at_once(tmp_path):
    path = tmp_path / "converge.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from groundwork.converge import acquire_lock; "
         f"acquire_lock({str(path)!r}); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(converge.LockHeld, match=rf"\(pid {holder.pid}\)"):
            converge.acquire_lock(path)
    finally:
        holder.kill()
        holder.wait()
    os.close(converge.acquire_lock(path))  # the kernel dropped the dead holder's lock


def test_lock_file_that_is_a_symlink_is_refused(tmp_path):
    (tmp_path / "target").write_text("")
    (tmp_path / "converge.lock").symlink_to(tmp_path / "target")
    with pytest.raises(OSError):
        converge.acquire_lock(tmp_path / "converge.lock")


# --- the command: exit statuses, stdout, report ------------------------------


@pytest.fixture
def fake_pyinfra(monkeypatch):
    """groundwork converge with pyinfra's part replaced by a recorded document."""
    calls = []

    def use(name: str | None, returncode: int = 0, log: str = ""):
        stdout = (DATA / name).read_text() if name else ""

        def run(argv, **kwargs):
            calls.append(argv)
            return returncode, stdout, log

        monkeypatch.setattr(converge, "run_pyinfra", run)
        monkeypatch.setattr(converge, "inventory_hosts", lambda inventory, cwd: ["lab1"])
        return calls

    return use


def test_converge_dry_run_exits_with_drift_and_writes_the_report(fake_pyinfra, tmp_path, capsys):
    calls = fake_pyinfra("dry-drift.json")
    status = cli.main(["converge", "inventories/lab.py", "--dry-run", "--report", str(tmp_path / "r.json"),
                       "--lock", str(tmp_path / "lock")])
    assert status == converge.EXIT_DRIFT == 3
    assert calls[0][1:] == ["--dry", "--json", "inventories/lab.py", "deploys/full.py"]
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("groundwork converge (dry run): lab1: drift, 2 operation(s) would change: ")
    assert out[1].startswith("groundwork converge (dry run): exit 3 (drift) in ")
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["dry_run"] is True and doc["exit_status"] == 3 and doc["deploy"] == "deploys/full.py"
    assert sorted(doc["hosts"]["lab1"]["changed"]) == [UPLOAD_SITE, START_REDIS]
    assert set(doc) >= {"version", "inventory", "started", "duration_seconds", "pyinfra_exit_status"}


def test_converge_failure_exits_1(fake_pyinfra, tmp_path, capsys):
    fake_pyinfra(None, returncode=1, log="    [lab1] Error: executed 0/1 commands\n")
    assert cli.main(["converge", "inventories/lab.py", "--lock", str(tmp_path / "lock")]) == converge.EXIT_FAILED == 1
    assert "lab1: FAILED, pyinfra logged an error for it" in capsys.readouterr().out


def test_converge_with_the_lock_held_exits_4_without_running_pyinfra(fake_pyinfra, tmp_path, capsys):
    calls = fake_pyinfra("dry-drift.json")
    fd = converge.acquire_lock(tmp_path / "lock")
    try:
        status = cli.main(["converge", "inventories/lab.py", "--report", str(tmp_path / "r.json"),
                           "--lock", str(tmp_path / "lock")])
    finally:
        os.close(fd)
    assert status == converge.EXIT_LOCKED == 4 and calls == []
    assert not (tmp_path / "r.json").exists()
    assert capsys.readouterr().out.startswith(f"groundwork converge: another run holds {tmp_path / 'lock'} (pid ")


def test_run_pyinfra_reads_a_large_document_and_the_log_together(tmp_path):
    # pyinfra writes its JSON after its log; neither pipe may stall the other.
    script = ("import sys; [print('log line', i, file=sys.stderr) for i in range(20000)]; "
              "print('{\"plan\": [], \"results\": null, \"pad\": \"' + 'x' * 500000 + '\"}')")
    code, stdout, stderr = converge.run_pyinfra([sys.executable, "-c", script], cwd=tmp_path, timeout=60)
    assert code == 0 and converge.parse_payload(stdout)["plan"] == [] and stderr.count("log line") == 20000


# --- scheduling ------------------------------------------------------------


def test_schedule_units_run_converge_from_the_repository():
    units = render_units(Schedule(inventory="inventories/prod.py", on_calendar="*-*-* 03:00", dry_run=True))
    service, timer = units["groundwork-converge.service"], units["groundwork-converge.timer"]
    assert "Type=oneshot" in service and "SuccessExitStatus=3" in service
    assert (f"ExecStart={Path(sys.executable).with_name('groundwork')} converge inventories/prod.py deploys/full.py "
            "--report /var/lib/groundwork-converge/report.json --lock /run/lock/groundwork-converge.lock --dry-run"
            ) in service.splitlines()
    assert "StateDirectory=groundwork-converge" in service and "User=" not in service
    for line in ("OnCalendar=*-*-* 03:00", "RandomizedDelaySec=10min", "Persistent=true"):
        assert line in timer.splitlines()


def test_schedule_escapes_what_systemd_would_expand():
    service = render_units(Schedule(inventory="inv/100%$HOME.py", user="deploy"))["groundwork-converge.service"]
    assert "converge 'inv/100%%$$HOME.py' deploys/full.py " in service
    assert "Description=groundwork: converge inv/100%%$HOME.py with deploys/full.py" in service.splitlines()
    assert "User=deploy" in service.splitlines()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_accepts_the_units(tmp_path):
    paths = write_units(Schedule(inventory="inventories/lab.py", name="gw-verify"), tmp_path)
    result = subprocess.run(["systemd-analyze", "verify", *map(str, paths)], capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_schedule_command_prints_both_units(capsys):
    assert cli.main(["schedule", "--inventory", "inventories/prod.py", "--on-calendar", "daily"]) == 0
    out = capsys.readouterr().out
    assert "# --- groundwork-converge.service\n" in out and "# --- groundwork-converge.timer\n" in out
    assert "OnCalendar=daily" in out


# --- one lock for every run; --limit ---------------------------------------------------------


def write_inventory(tmp_path, monkeypatch):
    (tmp_path / "inv.py").write_text('web = ["web1", "web2"]\ndb = ["db1"]\n')
    monkeypatch.chdir(tmp_path)  # as typed from the directory that holds it
    return "inv.py"


def test_converge_limit_matching_no_host_exits_2_without_running_pyinfra(fake_pyinfra, tmp_path, capsys,
                                                                        monkeypatch):
    calls = fake_pyinfra("dry-drift.json")
    monkeypatch.undo()  # the real inventory readers for this one
    monkeypatch.setattr(converge, "run_pyinfra", lambda argv, **kw: calls.append(argv) or (0, "", ""))
    inventory = write_inventory(tmp_path, monkeypatch)
    assert converge.inventory_hosts(inventory, tmp_path) == ["web1", "web2", "db1"]
    status = converge.converge(inventory, cwd=tmp_path, lock=str(tmp_path / "lock"), limit=["web3,cache*"])
    assert status == converge.EXIT_USAGE == 2 and calls == []
    assert "--limit web3,cache* matches no host of inv.py; not starting" in capsys.readouterr().out


def test_converge_limit_by_group_and_glob_passes_the_hosts_to_pyinfra(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(converge, "run_pyinfra", lambda argv, **kw: calls.append((argv, kw)) or (0, "", ""))
    inventory = write_inventory(tmp_path, monkeypatch)
    converge.converge(inventory, cwd=tmp_path, lock=str(tmp_path / "lock"), limit=["db", "web2"])
    argv, kw = calls[0]
    assert argv[-2:] == ["--limit", "web2,db1"]
    # The deploy finds the lock held for it on the fd handed down.
    assert kw["env"] == {"GROUNDWORK_LOCK": str(tmp_path / "lock"), "GROUNDWORK_LOCK_FD": str(kw["pass_fds"][0])}


def test_a_deploy_takes_the_run_lock_and_a_second_run_is_refused(tmp_path):
    # Each in a process of its own, as pyinfra runs would be.
    script = (
        "import os, sys, time\n"
        "from groundwork.lock import hold_run_lock\n"
        "hold_run_lock(); print('held', flush=True); sys.stdin.readline()\n"
    )
    env = {**os.environ, "GROUNDWORK_LOCK": str(tmp_path / "lock")}
    env.pop("GROUNDWORK_LOCK_FD", None)
    first = subprocess.Popen([sys.executable, "-c", script], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert first.stdout.readline().strip() == "held"
        second = subprocess.run([sys.executable, "-c", script], env=env, input="\n", capture_output=True, text=True,
                                timeout=60)
        assert second.returncode != 0
        assert f"another run holds {tmp_path / 'lock'} (pid {first.pid})" in second.stderr
        assert "this run changes nothing" in second.stderr
    finally:
        first.communicate("\n", timeout=60)
    # Released with the process: the next run takes it.
    third = subprocess.run([sys.executable, "-c", script], env=env, input="\n", capture_output=True, text=True,
                           timeout=60)
    assert third.returncode == 0 and third.stdout.strip() == "held"


def test_a_deploy_under_groundwork_converge_uses_the_lock_handed_down(tmp_path):
    path = tmp_path / "lock"
    fd = converge.acquire_lock(path)
    try:
        script = "from groundwork.lock import hold_run_lock, _held; hold_run_lock(); print(sorted(_held.values()))"
        env = {**os.environ, "GROUNDWORK_LOCK": str(path), "GROUNDWORK_LOCK_FD": str(fd)}
        proc = subprocess.run([sys.executable, "-c", script], env=env, pass_fds=(fd,), capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == f"[{fd}]"
        # A stray fd number that is not the lock file does not count as holding it.
        env["GROUNDWORK_LOCK_FD"] = "0"
        proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0 and "another run holds" in proc.stderr
    finally:
        converge.release_lock(fd)
