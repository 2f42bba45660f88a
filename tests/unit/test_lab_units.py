"""Host-free tests of the lab's pure parts: host specs, addressing, state, processes, inventory.

Nothing here boots a host, creates a namespace or needs root: `ip` is faked and
the state directory is a per-test temporary directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from groundwork.lab import network
from groundwork.lab.inventory import lab_groups
from groundwork.lab.lab import parse_host_specs
from groundwork.lab.network import check_subnet_is_free, plan_addresses
from groundwork.lab.services import terminate
from groundwork.lab.state import LabHost, LabState, lab_dir
from groundwork.lab.system import LabError, is_our_process, process_state

NAME_HINT = "expected a lowercase letter then up to 11 letters/digits"


@pytest.fixture
def lab_home(tmp_path, monkeypatch) -> Path:
    """A private GROUNDWORK_LAB_DIR, resolved the way lab_dir() resolves it."""
    path = tmp_path / "lab"
    monkeypatch.setenv("GROUNDWORK_LAB_DIR", str(path))
    return path.resolve()


# --- parse_host_specs ---------------------------------------------------------------


def test_specs_default_to_one_host_named_lab1():
    assert parse_host_specs([], None) == [("lab1", [])]


def test_hosts_count_names_them_lab1_to_labn():
    assert parse_host_specs([], 3) == [("lab1", []), ("lab2", []), ("lab3", [])]


def test_hosts_count_of_twelve_keeps_names_valid():
    parsed = parse_host_specs([], 12)
    assert [name for name, _ in parsed] == [f"lab{i}" for i in range(1, 13)]


def test_names_with_groups():
    assert parse_host_specs(["db1:db,cache", "app1:app", "solo"], None) == [
        ("db1", ["db", "cache"]),
        ("app1", ["app"]),
        ("solo", []),
    ]


def test_empty_group_parts_are_dropped():
    assert parse_host_specs(["web1:", "web2:db,,cache,"], None) == [
        ("web1", []),
        ("web2", ["db", "cache"]),
    ]


def test_group_names_may_hold_digits_and_underscores():
    assert parse_host_specs(["w1:web_2"], None) == [("w1", ["web_2"])]


def test_name_of_twelve_chars_is_the_longest_allowed():
    # gw- + 12 chars = 15, the kernel's limit for an interface name.
    assert parse_host_specs(["abcdefghijkl"], None) == [("abcdefghijkl", [])]


@pytest.mark.parametrize(
    "spec, name",
    [
        ("Web1", "Web1"),  # uppercase
        ("abcdefghijklm", "abcdefghijklm"),  # 13 chars: gw-NAME would exceed 15
        ("1web", "1web"),  # starts with a digit
        ("web-1", "web-1"),  # hyphen
        ("web_1", "web_1"),  # underscore (allowed in groups, not names)
        (":db", ""),  # no name at all
        ("Web1:db", "Web1"),  # the name is checked without its groups
    ],
)
def test_bad_host_name_is_refused(spec, name):
    with pytest.raises(LabError) as exc:
        parse_host_specs([spec], None)
    assert str(exc.value) == f"host name {name!r}: {NAME_HINT}"


def test_duplicate_host_name_is_refused():
    with pytest.raises(LabError) as exc:
        parse_host_specs(["web1", "db1", "web1:db"], None)
    assert str(exc.value) == "host name 'web1' given twice"


@pytest.mark.parametrize("group", ["Db", "db-x", "1db", "_db", "db:x"])
def test_bad_group_is_refused(group):
    with pytest.raises(LabError) as exc:
        parse_host_specs([f"web1:ok,{group}"], None)
    assert str(exc.value) == f"group {group!r} of web1: expected lowercase letters, digits, _"


def test_names_and_count_together_are_refused():
    with pytest.raises(LabError) as exc:
        parse_host_specs(["web1"], 2)
    assert str(exc.value) == "give host names or --hosts N, not both"


def test_name_with_trailing_newline_is_refused():
    with pytest.raises(LabError) as exc:
        parse_host_specs(["web1\n"], None)
    assert str(exc.value) == f"host name 'web1\\n': {NAME_HINT}"


@pytest.mark.parametrize("count", [0, -1])
def test_host_count_below_one_is_refused(count):
    with pytest.raises(LabError) as exc:
        parse_host_specs([], count)
    assert str(exc.value) == f"--hosts {count}: expected 1 or more"


# --- plan_addresses -------------------------------------------------------------------


def test_plan_addresses_for_a_24():
    gateway, pool = plan_addresses("172.31.213.0/24")
    assert gateway == "172.31.213.1"
    assert pool[0] == "172.31.213.10"
    assert pool[-1] == "172.31.213.254"
    assert len(pool) == 245
    assert gateway not in pool


def test_plan_addresses_for_a_28_is_the_smallest_lab():
    assert plan_addresses("10.9.8.16/28") == (
        "10.9.8.17",
        ["10.9.8.26", "10.9.8.27", "10.9.8.28", "10.9.8.29", "10.9.8.30"],
    )


@pytest.mark.parametrize("subnet", ["10.9.8.0/29", "10.9.8.0/32"])
def test_plan_addresses_refuses_too_small_subnets(subnet):
    with pytest.raises(LabError) as exc:
        plan_addresses(subnet)
    assert str(exc.value) == f"lab subnet {subnet}: expected an IPv4 network of /28 or larger"


def test_plan_addresses_refuses_ipv6():
    with pytest.raises(LabError) as exc:
        plan_addresses("fd00:1::/64")
    assert str(exc.value) == "lab subnet fd00:1::/64: expected an IPv4 network of /28 or larger"


@pytest.mark.parametrize("subnet", ["10.9.8.5/24", "not-a-subnet"])
def test_plan_addresses_reports_a_malformed_subnet_as_lab_error(subnet):
    with pytest.raises(LabError) as exc:
        plan_addresses(subnet)
    assert str(exc.value).startswith(f"lab subnet {subnet}: expected a network like 172.31.213.0/24 (")


# --- check_subnet_is_free ---------------------------------------------------------------

ROUTES = [
    {"dst": "default", "gateway": "192.0.2.1", "dev": "eth0"},
    {"dst": "192.0.2.0/24", "dev": "eth0"},
    {"dst": "127.0.0.0/8", "dev": "lo", "type": "local", "table": "local"},
    {"dst": "192.0.2.5", "dev": "eth0", "type": "local", "table": "local"},
]


@pytest.fixture
def fake_host_network(monkeypatch):
    """Fake `ip -j -4 route show table all` and /etc/resolv.conf; returns the call log."""
    calls: list[tuple] = []
    setup = {"routes": ROUTES, "nameservers": ["192.0.2.53"]}

    def fake_run(*args, **kwargs):
        calls.append(args)
        return subprocess.CompletedProcess(list(args), 0, stdout=json.dumps(setup["routes"]), stderr="")

    monkeypatch.setattr(network, "run", fake_run)
    monkeypatch.setattr(network, "_nameservers", lambda: list(setup["nameservers"]))
    setup["calls"] = calls
    return setup


def test_free_subnet_passes(fake_host_network):
    assert check_subnet_is_free("172.31.213.0/24") is None
    assert fake_host_network["calls"] == [("ip", "-j", "-4", "route", "show", "table", "all")]


@pytest.mark.parametrize(
    "subnet, dst",
    [
        ("192.0.2.0/25", "192.0.2.0/24"),  # inside a connected route
        ("192.0.0.0/16", "192.0.2.0/24"),  # around it
    ],
)
def test_overlapping_subnet_is_refused(fake_host_network, subnet, dst):
    with pytest.raises(LabError) as exc:
        check_subnet_is_free(subnet)
    assert str(exc.value) == (
        f"lab subnet {subnet} overlaps {dst} (dev eth0); "
        "choose another with --subnet or GROUNDWORK_LAB_SUBNET"
    )


def test_host_route_overlap_names_the_route(fake_host_network):
    fake_host_network["routes"] = [{"dst": "10.1.2.3", "dev": "wg0", "type": "local"}]
    with pytest.raises(LabError) as exc:
        check_subnet_is_free("10.1.2.0/28")
    assert str(exc.value) == (
        "lab subnet 10.1.2.0/28 overlaps 10.1.2.3 (dev wg0); "
        "choose another with --subnet or GROUNDWORK_LAB_SUBNET"
    )


def test_routes_on_the_lab_bridge_and_loopback_do_not_count(fake_host_network):
    fake_host_network["routes"] = [
        {"dst": "172.31.213.0/24", "dev": network.BRIDGE, "protocol": "kernel"},
        {"dst": "127.0.0.0/8", "dev": "lo", "type": "local"},
        {"dst": "default", "gateway": "172.31.213.1", "dev": "eth0"},
        {"type": "unreachable", "dev": "lo"},  # no dst at all
    ]
    assert check_subnet_is_free("172.31.213.0/24") is None


def test_empty_route_output_is_no_routes(monkeypatch):
    monkeypatch.setattr(
        network, "run", lambda *a, **k: subprocess.CompletedProcess(list(a), 0, stdout="", stderr="")
    )
    monkeypatch.setattr(network, "_nameservers", lambda: [])
    assert check_subnet_is_free("10.1.2.0/24") is None


def test_subnet_holding_the_nameserver_is_refused(fake_host_network):
    fake_host_network["nameservers"] = ["10.20.0.53"]
    with pytest.raises(LabError) as exc:
        check_subnet_is_free("10.20.0.0/24")
    assert str(exc.value) == "lab subnet 10.20.0.0/24 holds this machine's DNS server 10.20.0.53"


def test_nameserver_outside_the_subnet_is_fine(fake_host_network):
    fake_host_network["nameservers"] = ["10.20.1.53", "127.0.0.53"]
    assert check_subnet_is_free("10.20.0.0/24") is None


def test_nameservers_reads_ipv4_servers_from_resolv_conf(tmp_path, monkeypatch):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(
        "# generated\n"
        "search example.org\n"
        "nameserver 127.0.0.53\n"
        "nameserver fd00::53\n"
        "nameserver not-an-address\n"
        "nameserver\n"
        "  nameserver 192.0.2.53  # trailing\n"
        "options edns0\n"
    )
    real_open = open

    def fake_open(path, *args, **kwargs):
        assert path == "/etc/resolv.conf"
        return real_open(resolv, *args, **kwargs)

    monkeypatch.setattr(network, "open", fake_open, raising=False)
    assert network._nameservers() == ["127.0.0.53", "192.0.2.53"]


# --- LabState -------------------------------------------------------------------------


def _state() -> LabState:
    state = LabState(subnet="172.31.213.0/24", gateway="172.31.213.1", bridge="gwlab0")
    state.hosts["db1"] = LabHost(name="db1", address="172.31.213.10", groups=["db", "cache"], pid=4242)
    state.hosts["app1"] = LabHost(name="app1", address="172.31.213.11", groups=["app"])
    state.services["apt-cacher-ng"] = 777
    return state


def test_lab_dir_follows_the_environment(lab_home):
    assert lab_dir() == lab_home


def test_lab_dir_resolves_a_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GROUNDWORK_LAB_DIR", "rel/lab")
    assert lab_dir() == tmp_path.resolve() / "rel" / "lab"


def test_lab_dir_defaults_to_dot_lab_in_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GROUNDWORK_LAB_DIR", raising=False)
    assert lab_dir() == tmp_path.resolve() / ".lab"


def test_state_paths_live_in_the_lab_dir(lab_home):
    state = _state()
    assert state.dir == lab_home
    assert state.ssh_key == lab_home / "id_ed25519"
    assert state.known_hosts == lab_home / "known_hosts"
    assert state.ssh_config == lab_home / "ssh_config"
    assert state.host_dir("db1") == lab_home / "hosts" / "db1"


def test_load_without_state_is_none(lab_home):
    assert LabState.load() is None


def test_save_load_round_trip(lab_home):
    _state().save()
    assert sorted(p.name for p in lab_home.iterdir()) == ["state.json"]  # no .tmp left behind
    loaded = LabState.load()
    assert loaded == _state()
    assert list(loaded.hosts) == ["db1", "app1"]  # boot order is kept
    assert isinstance(loaded.hosts["db1"], LabHost)
    assert loaded.hosts["db1"].pid == 4242
    assert loaded.hosts["app1"].pid is None


def test_state_file_is_plain_json(lab_home):
    _state().save()
    text = (lab_home / "state.json").read_text()
    assert text.endswith("}\n")
    assert json.loads(text) == {
        "subnet": "172.31.213.0/24",
        "gateway": "172.31.213.1",
        "bridge": "gwlab0",
        "hosts": {
            "db1": {"name": "db1", "address": "172.31.213.10", "groups": ["db", "cache"], "pid": 4242, "suite": "trixie"},
            "app1": {"name": "app1", "address": "172.31.213.11", "groups": ["app"], "pid": None, "suite": "trixie"},
        },
        "services": {"apt-cacher-ng": 777},
    }


def test_save_overwrites_the_previous_state(lab_home):
    _state().save()
    state = _state()
    del state.hosts["app1"]
    state.hosts["db1"].pid = None
    state.save()
    loaded = LabState.load()
    assert list(loaded.hosts) == ["db1"]
    assert loaded.hosts["db1"].pid is None


def test_remove_deletes_the_state_and_is_idempotent(lab_home):
    _state().save()
    LabState.remove()
    assert not (lab_home / "state.json").exists()
    assert LabState.load() is None
    LabState.remove()  # nothing there: no error
    assert LabState.load() is None


def test_remove_without_a_lab_dir_is_fine(lab_home):
    assert not lab_home.exists()
    LabState.remove()
    assert not lab_home.exists()


# --- is_our_process -----------------------------------------------------------------------


def _own_cmdline() -> list[str]:
    raw = Path("/proc/self/cmdline").read_bytes()
    return [part.decode() for part in raw.split(b"\0") if part]


def test_current_process_with_its_own_marker_is_ours():
    cmdline = _own_cmdline()
    assert is_our_process(os.getpid(), cmdline[0])
    assert is_our_process(os.getpid(), *cmdline)


def test_markers_match_substrings_of_arguments():
    program = _own_cmdline()[0]
    assert is_our_process(os.getpid(), program[1:])


def test_current_process_with_a_foreign_marker_is_not_ours():
    assert not is_our_process(os.getpid(), f"--machine=nope-{uuid.uuid4().hex}")


def test_every_marker_must_match():
    program = _own_cmdline()[0]
    assert not is_our_process(os.getpid(), program, f"absent-{uuid.uuid4().hex}")


@pytest.mark.parametrize("pid", [None, 0])
def test_no_pid_is_not_ours(pid):
    assert not is_our_process(pid, "python")


def test_pid_that_cannot_exist_is_not_ours():
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    assert not is_our_process(pid_max + 1, "python")


@pytest.fixture
def sleeper():
    """A child process carrying a unique marker; killed and reaped by its own pid."""
    marker = f"gw-test-marker-{uuid.uuid4().hex}"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
    yield proc, marker
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_child_with_its_marker_is_ours_until_it_is_gone(sleeper):
    proc, marker = sleeper
    deadline = time.monotonic() + 10
    while not is_our_process(proc.pid, marker) and time.monotonic() < deadline:
        time.sleep(0.02)  # between fork and exec the cmdline is still pytest's
    assert is_our_process(proc.pid, marker, "time.sleep(60)")
    assert not is_our_process(proc.pid, marker, "--machine=lab1")

    os.kill(proc.pid, signal.SIGKILL)
    # Dead: a zombie has an empty cmdline, so it is not ours. (Once pyinfra has
    # imported gevent, its SIGCHLD handler may reap the child at once instead.)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{proc.pid}/stat").read_text()
        except FileNotFoundError:
            break  # already reaped
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.02)
    assert not is_our_process(proc.pid, marker)

    proc.wait()
    assert not is_our_process(proc.pid, marker)


# --- lab_groups -----------------------------------------------------------------------------


def test_lab_groups_from_saved_state(lab_home):
    _state().save()
    (lab_home / "id_ed25519.pub").write_text("ssh-ed25519 AAAAlab lab\n")
    common = {
        "ssh_user": "root",
        "ssh_port": 22,
        "ssh_key": str(lab_home / "id_ed25519"),
        "ssh_known_hosts_file": str(lab_home / "known_hosts"),
        "ssh_strict_host_key_checking": "yes",
    }
    acme = {
        "certbot_server": "https://172.31.213.1:14000/dir",
        "certbot_ca_bundle": str(lab_home / "acme" / "listener-ca.pem"),
    }
    admins = [{"name": "ops", "ssh_keys": ["ssh-ed25519 AAAAlab lab"]}]
    db1 = ("db1", {"ssh_hostname": "172.31.213.10", **common, "base_hostname": "db1", **acme,
                   "nginx_server_names": ["db1.groundwork.test"], "base_admin_users": admins})
    app1 = ("app1", {"ssh_hostname": "172.31.213.11", **common, "base_hostname": "app1", **acme,
                     "nginx_server_names": ["app1.groundwork.test"], "base_admin_users": admins})

    groups = lab_groups()

    assert groups == {"lab": [db1, app1], "db": [db1], "cache": [db1], "app": [app1]}
    assert list(groups) == ["lab", "db", "cache", "app"]
    assert list(groups["lab"][0][1]) == [
        "ssh_hostname",
        "ssh_user",
        "ssh_port",
        "ssh_key",
        "ssh_known_hosts_file",
        "ssh_strict_host_key_checking",
        "base_hostname",
        "certbot_server",
        "certbot_ca_bundle",
        "nginx_server_names",
        "base_admin_users",
    ]


def test_lab_groups_without_a_lab(lab_home):
    with pytest.raises(LabError) as exc:
        lab_groups()
    assert str(exc.value) == f"no lab is running ({lab_home}/state.json); run `groundwork lab up`"


def test_lab_groups_with_a_lab_of_no_hosts(lab_home):
    LabState(subnet="172.31.213.0/24", gateway="172.31.213.1", bridge="gwlab0").save()
    with pytest.raises(LabError) as exc:
        lab_groups()
    assert str(exc.value) == f"no lab is running ({lab_home}/state.json); run `groundwork lab up`"


@pytest.mark.parametrize("group", ["all", "lab"])
def test_reserved_groups_are_refused(group):
    # pyinfra reads `all` as the whole inventory; `lab` already holds every lab host.
    with pytest.raises(LabError) as exc:
        parse_host_specs([f"a1:{group}", "b1"], None)
    assert str(exc.value) == f"group {group!r} of a1: reserved (every lab host is in it already)"


def test_repeated_groups_are_kept_once():
    assert parse_host_specs(["a1:db,db,cache,db"], None) == [("a1", ["db", "cache"])]


def test_process_state_is_none_once_the_process_is_gone():
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    assert process_state(child.pid) in ("R", "S")
    child.stdin.close()
    child.wait()  # (in the whole suite gevent may reap it first: no zombie to look for)
    assert process_state(child.pid) is None


def test_terminate_ends_a_process_that_is_not_our_child():
    # The lab stops daemons a previous `lab up` started: waitpid cannot reap those.
    out = subprocess.run(
        ["sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!"], capture_output=True, text=True, check=True,
    )
    pid = int(out.stdout)
    assert process_state(pid) in ("R", "S")
    terminate(pid, timeout=10)
    assert process_state(pid) in (None, "Z")


# --- suites ------------------------------------------------------------------------------


def test_a_host_spec_may_name_its_debian_suite():
    from groundwork.lab.lab import split_suites

    assert split_suites(["old1:db,cache@bookworm", "new1:app", "plain"], "trixie") == (
        ["old1:db,cache", "new1:app", "plain"], ["bookworm", "trixie", "trixie"])
    assert split_suites(["solo"], "bookworm") == (["solo"], ["bookworm"])


def test_an_unknown_suite_is_refused_naming_the_known_ones():
    from groundwork.lab.image import image_path
    from groundwork.lab.lab import split_suites

    with pytest.raises(LabError, match=r"suite 'sid': expected one of trixie, bookworm"):
        split_suites(["x@sid"], "trixie")
    assert image_path("bookworm").name.startswith("bookworm-minbase-") and image_path("bookworm") != image_path("trixie")
