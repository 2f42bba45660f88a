"""The fast no-op path without a host: what the one-command facts parse, when
they let an operation do nothing (and when they hand it to pyinfra's), the
TCP_NODELAY hook, and the bench's command counter."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest

from groundwork.connections import set_nodelay, tcp_socket
from groundwork.facts import files as fact_files
from groundwork.facts import server as fact_server
from groundwork.facts import systemd as fact_systemd
from groundwork.operations import files, server, systemd
from groundwork.testing.bench import (
    count_commands,
    op_durations,
    parse_wrk,
    phases,
    split_apt,
)

SHA = "a" * 64


# --- files.put / files.template ------------------------------------------------------------------


def test_file_summary_parses_owner_mode_and_digest():
    assert fact_files.parse_summary(["root demoapp 640", SHA]) == {
        "user": "root", "group": "demoapp", "mode": 640, "sha256": SHA}


@pytest.mark.parametrize("lines", [[], ["root root 644"], ["UNKNOWN root u+x", SHA]])
def test_file_summary_is_none_without_a_regular_file(lines):
    assert fact_files.parse_summary(lines) is None


@pytest.mark.parametrize(("user", "group", "mode", "wanted"), [
    ("root", "demoapp", "0640", True),  # the no-op
    (None, None, None, True),  # nothing asked beyond the content
    ("root", "demoapp", 640, True),
    ("root", "demoapp", "0644", False),
    ("redis", "demoapp", "0640", False),
    ("root", "root", "0640", False),
])
def test_file_is_as_wanted_only_when_pyinfra_would_do_nothing(user, group, mode, wanted):
    summary = {"user": "root", "group": "demoapp", "mode": 640, "sha256": SHA}
    assert files.is_as_wanted(summary, SHA, user, group, mode) is wanted


def test_changed_or_missing_file_goes_to_pyinfra():
    summary = {"user": "root", "group": "root", "mode": 644, "sha256": SHA}
    assert not files.is_as_wanted(summary, "b" * 64, "root", "root", "0644")
    assert not files.is_as_wanted(None, SHA, None, None, None)


# --- server.user ----------------------------------------------------------------------------------

OPS = [
    "ops:x:1000:1000::/home/ops:/bin/bash", "ops", "ops sudo",
    "ops ops 755 directory", "ops ops 700 directory", "ops ops 600 regular file",
    "ssh-ed25519 AAAAkey ops@control",
]
ADMIN = dict(home="/home/ops", shell="/bin/bash", group=None, groups=None, append=False,
             public_keys=["ssh-ed25519 AAAAkey ops@control"], delete_keys=True, ensure_home=True)


def test_user_summary_parses_passwd_groups_and_keys():
    summary = fact_server.parse_user_summary(OPS)
    assert summary["home"] == "/home/ops" and summary["shell"] == "/bin/bash"
    assert summary["group"] == "ops" and summary["groups"] == ["ops", "sudo"]
    assert summary["ssh_dir"] == {"user": "ops", "group": "ops", "mode": 700, "type": "directory"}
    assert summary["keys"] == ["ssh-ed25519 AAAAkey ops@control"]


def test_missing_user_has_no_summary():
    assert fact_server.parse_user_summary([]) is None


def test_user_as_wanted_is_a_no_op():
    assert server.is_as_wanted(fact_server.parse_user_summary(OPS), "ops", **ADMIN)


@pytest.mark.parametrize(("index", "line", "change"), [
    (0, "ops:x:1000:1000::/home/ops:/bin/sh", {}),  # shell changed by hand
    (4, "ops ops 755 directory", {}),  # ~/.ssh opened up
    (5, "root ops 600 regular file", {}),  # authorized_keys owned by someone else
    (6, "ssh-ed25519 AAAAother x", {}),  # a key swapped
    (None, None, {"public_keys": ["ssh-ed25519 AAAAkey ops@control", "ssh-ed25519 AAAAnew y"]}),
    (None, None, {"groups": ["www-data"], "append": True}),
    (None, None, {"home": "/srv/ops"}),
])
def test_any_difference_goes_to_pyinfra(index, line, change):
    lines = list(OPS)
    if index is not None:
        lines[index] = line
    assert not server.is_as_wanted(fact_server.parse_user_summary(lines), "ops", **{**ADMIN, **change})


def test_appended_group_already_there_is_a_no_op():
    lines = ["www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin", "www-data", "www-data demoapp",
             "www-data www-data 755 directory", "-", "-"]
    summary = fact_server.parse_user_summary(lines)
    wanted = dict(home=None, shell=None, group=None, groups=["demoapp"], append=True,
                  public_keys=None, delete_keys=False, ensure_home=True)
    assert server.is_as_wanted(summary, "www-data", **wanted)
    assert not server.is_as_wanted(summary, "www-data", **{**wanted, "groups": ["redis"]})


# --- systemd.service ------------------------------------------------------------------------------


def unit(sub: str, file_state: str, unit_id: str = "nginx.service"):
    return fact_systemd.parse_unit([f"Id={unit_id}", f"SubState={sub}", f"UnitFileState={file_state}"])


def test_running_enabled_unit_is_a_no_op():
    assert systemd.is_as_wanted(unit("running", "enabled"), "nginx.service", True, True)
    assert systemd.is_as_wanted(unit("exited", "static"), "nginx.service", True, None)  # a oneshot


@pytest.mark.parametrize(("sub", "file_state", "running", "enabled"), [
    ("dead", "enabled", True, True),  # stopped by hand
    ("running", "disabled", True, True),
    ("running", "enabled", False, False),
])
def test_unit_not_as_wanted_goes_to_pyinfra(sub, file_state, running, enabled):
    assert not systemd.is_as_wanted(unit(sub, file_state), "nginx.service", running, enabled)


def test_alias_or_unknown_unit_goes_to_pyinfra():
    assert not systemd.is_as_wanted(unit("running", "enabled", "redis-server.service"), "redis.service", True, True)
    assert fact_systemd.parse_unit([]) is None
    assert systemd.unit_name("postgresql") == "postgresql.service"
    assert systemd.unit_name("certbot.timer") == "certbot.timer"


# --- TCP_NODELAY ------------------------------------------------------------------------------------


def test_nodelay_is_set_on_each_tcp_connection_and_skips_the_rest():
    server_sock = socket.socket()
    server_sock.bind(("127.0.0.1", 0))
    server_sock.listen(1)
    client = socket.create_connection(server_sock.getsockname())
    try:
        connected = SimpleNamespace(name="h1", connector=SimpleNamespace(
            client=SimpleNamespace(get_transport=lambda: SimpleNamespace(sock=client))))
        local = SimpleNamespace(name="h2", connector=SimpleNamespace())  # @local: no client
        not_connected = SimpleNamespace(name="h3", connector=SimpleNamespace(client=None))
        assert set_nodelay([connected, local, not_connected]) == ["h1"]
        assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert tcp_socket(local.connector) is None
    finally:
        client.close()
        server_sock.close()


# --- the bench's command count ----------------------------------------------------------------------

DEBUG_LOG = """\
--> Loading inventory...
    \x1b[32m[pyinfra.api.facts] Getting fact: files.File (path=/etc/x) (ensure_hosts: None)\x1b[0m
    \x1b[32m[pyinfra.connectors.ssh] Running command on lab1: (pty=False) sh -c 'stat /etc/x'\x1b[0m
    [pyinfra.connectors.ssh] Running command on lab2: (pty=False) sh -c 'for i in a b; do
            echo "Running command on lab1: (pty=False) not a command"
        done'
    [pyinfra.api.facts] Getting fact: files.File (path=/etc/y) (ensure_hosts: None)
    [pyinfra.connectors.ssh] Running command on lab1: (pty=False) true
    [pyinfra.connectors.ssh] Attempting upload of <_io.StringIO object> to /etc/x
"""


def test_commands_are_counted_per_host_from_the_debug_log():
    count = count_commands(DEBUG_LOG)
    assert count.commands == {"lab1": 2, "lab2": 1}
    assert count.total == 3 and count.per_host() == 1.5
    assert count.uploads == 1
    assert count.facts == {"files.File": 2}


FRESH_RUN = [
    (0.0, "--> Loading inventory..."),
    (2.0, "--> Beginning operation run..."),
    (2.1, "--> Starting operation: Base | Create groundwork's state directory "),
    (2.3, "    [lab1] Success"),
    (2.5, "\x1b[1m--> Starting operation: Base | Install base packages\x1b[0m"),
    (40.5, "--> Starting operation: Base | Set the time zone to UTC"),
    (41.0, "--> Starting operation: App | Install release a963325c9bce"),
    (61.0, "--> Starting operation: Firewall | Install ufw"),
    (70.0, "--> Starting operation: Postgres | Refresh apt package lists"),
    (75.0, "--> Results:"),
]


def test_operations_last_until_the_next_starts_and_apt_is_told_apart():
    durations = op_durations(FRESH_RUN)
    assert [name for name, _ in durations] == [
        "Base | Create groundwork's state directory", "Base | Install base packages", "Base | Set the time zone to UTC",
        "App | Install release a963325c9bce", "Firewall | Install ufw", "Postgres | Refresh apt package lists",
    ]
    apt, rest = split_apt(durations)
    assert apt == pytest.approx(38.0 + 9.0 + 5.0)  # not the app's release install
    assert rest == pytest.approx(0.4 + 0.5 + 20.0)


WRK = """\
Running 8s test @ https://127.0.0.1/version
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.10ms    3.20ms  40.00ms   80.00%
  9000 requests in 8.00s, 2.10MB read
  Socket errors: connect 0, read 0, write 0, timeout 2
  Non-2xx or 3xx responses: 3
Requests/sec:   1125.00
Transfer/sec:    268.00KB
"""


def test_wrk_output_gives_rate_bad_responses_and_errors():
    assert parse_wrk(WRK) == {"rps": 1125.0, "bad": 3, "errors": "Socket errors: connect 0, read 0, write 0, timeout 2"}
    assert parse_wrk("")["rps"] == 0.0


def test_a_run_is_split_into_its_phases():
    stamped = [(0.0, "--> Loading config..."), (0.4, "--> Connecting to hosts..."),
               (0.6, "--> Preparing operation files..."), (1.5, "--> Beginning operation run..."),
               (2.5, "--> Starting operation: Base | x"), (2.7, "\x1b[1m--> Results:\x1b[0m")]
    assert phases(stamped, 2.9) == pytest.approx({"start": 0.4, "connect": 0.2, "plan": 0.9, "execute": 1.2, "end": 0.2})


# --- SystemdUnit: list-units and list-unit-files, `systemctl show` for the rest -------------------


def merged(asked: list[str], listed: list[str], files: list[str], show_status: int = 0) -> tuple[list[dict], int]:
    """SystemdUnit's awk program run here on canned systemctl output; `systemctl show` stands in
    as a script printing a block for each unit it is given, an alias reported as its real id."""
    import subprocess

    show = ("sh -c 'shift; for u; do [ -n \"$n\" ] && echo; n=1; "
            "[ \"$u\" = sshd.service ] && u=ssh.service; printf \"Id=%s\\nSubState=dead\\nUnitFileState=\\n\" \"$u\"; "
            f"done; exit {show_status}' show")
    text = "\n".join([*asked, "::", *listed, "::", *files]) + "\n"
    proc = subprocess.run(["awk", "-v", f"SHOW={show}", fact_systemd._MERGE], input=text, capture_output=True,
                          text=True, timeout=30)
    blocks = [b for b in proc.stdout.split("\n\n") if b.strip()]
    return [dict(line.split("=", 1) for line in b.strip().split("\n")) for b in blocks], proc.returncode


def test_units_both_lists_show_are_answered_from_them_in_the_order_asked():
    blocks, status = merged(
        ["nginx.service", "certbot.timer"],
        ["certbot.timer loaded active waiting Run certbot twice daily",
         "nginx.service loaded active running A high performance web server"],
        ["certbot.timer enabled enabled", "nginx.service enabled enabled"])
    assert status == 0
    assert blocks == [{"Id": "nginx.service", "SubState": "running", "UnitFileState": "enabled"},
                      {"Id": "certbot.timer", "SubState": "waiting", "UnitFileState": "enabled"}]


def test_every_other_unit_is_read_by_systemctl_show_in_its_place():
    # an alias (list-units lists no alias), an instance (list-unit-files lists no instance),
    # a unit loaded from no file: each from `systemctl show`, in the order asked
    blocks, status = merged(
        ["sshd.service", "nginx.service", "postgresql@17-main.service", "gone.service"],
        ["nginx.service loaded active running nginx", "postgresql@17-main.service loaded active running PostgreSQL",
         "gone.service not-found inactive dead gone.service"],
        ["nginx.service enabled enabled", "gone.service disabled enabled"])
    assert status == 0
    assert [b["Id"] for b in blocks] == ["ssh.service", "nginx.service", "postgresql@17-main.service", "gone.service"]
    assert blocks[1]["SubState"] == "running" and blocks[0]["SubState"] == blocks[2]["SubState"] == "dead"


def test_a_failing_systemctl_show_fails_the_read():
    _, status = merged(["sshd.service"], [], [], show_status=1)
    assert status != 0


def test_a_name_the_lists_would_take_as_a_pattern_is_read_by_systemctl_show_alone():
    assert fact_systemd.units_command(["a*.service"]) == f"{fact_systemd.SHOW} -- 'a*.service'"
    assert "list-units" in fact_systemd.units_command(["dev-disk-by\\x2dlabel-x.device"])
