"""`groundwork lab up|status|ssh|down`: the lab's life cycle."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from . import hosts, image, network
from .acme import ca_bundle, directory_url, root_file, start_acme
from .services import start_apt_cache, stop_service, terminate
from .state import DEFAULT_SUBNET, LabHost, LabState, lab_dir
from .system import LabError, ensure_lab_tools, is_our_process, require_root, run

NAME_RE = re.compile(rf"[a-z][a-z0-9]{{0,{network.MAX_HOST_NAME - 1}}}")  # veth gw-NAME fits 15 bytes
GROUP_RE = re.compile(r"[a-z][a-z0-9_]*")
# pyinfra gives `all` the meaning "the whole inventory"; `lab` holds every lab host.
RESERVED_GROUPS = {"all", "lab"}


def parse_host_specs(specs: list[str], count: int | None) -> list[tuple[str, list[str]]]:
    """`NAME` or `NAME:group,group`; `--hosts N` names them lab1..labN."""
    if specs and count is not None:
        raise LabError("give host names or --hosts N, not both")
    if count is not None and count < 1:
        raise LabError(f"--hosts {count}: expected 1 or more")
    if not specs:
        specs = [f"lab{i}" for i in range(1, (count or 1) + 1)]
    parsed, seen = [], set()
    for spec in specs:
        name, _, groups = spec.partition(":")
        if not NAME_RE.fullmatch(name):
            raise LabError(
                f"host name {name!r}: expected a lowercase letter then up to "
                f"{network.MAX_HOST_NAME - 1} letters/digits"
            )
        if name in seen:
            raise LabError(f"host name {name!r} given twice")
        seen.add(name)
        group_list = list(dict.fromkeys(g for g in groups.split(",") if g))
        for group in group_list:
            if not GROUP_RE.fullmatch(group):
                raise LabError(f"group {group!r} of {name}: expected lowercase letters, digits, _")
            if group in RESERVED_GROUPS:
                raise LabError(f"group {group!r} of {name}: reserved (every lab host is in it already)")
        parsed.append((name, group_list))
    return parsed


def split_suites(specs: list[str], default: str) -> tuple[list[str], list[str]]:
    """`NAME[:GROUP,...][@SUITE]` -> (specs without the suite, each host's suite, `default` where none)."""
    plain, suites = [], []
    for spec in specs:
        spec, _, suite = spec.partition("@")
        plain.append(spec)
        suites.append(image.check_suite(suite or default))
    return plain, suites


def up(specs: list[str], count: int | None = None, subnet: str | None = None,
       suite: str | None = None) -> LabState:
    """Boot a lab of `specs` (`NAME[:GROUP,...][@SUITE]`), each host of its own suite or
    `suite` (default: GROUNDWORK_LAB_SUITE, else Debian 13)."""
    require_root()
    default = image.check_suite(suite or os.environ.get("GROUNDWORK_LAB_SUITE") or image.DEFAULT_SUITE)
    specs, suites = split_suites(specs, default)
    wanted = parse_host_specs(specs, count)
    suites = suites or [default] * len(wanted)
    subnet = subnet or os.environ.get("GROUNDWORK_LAB_SUBNET", DEFAULT_SUBNET)
    gateway, pool = network.plan_addresses(subnet)
    if len(wanted) > len(pool):
        raise LabError(f"lab subnet {subnet} has room for {len(pool)} hosts")
    ensure_lab_tools()
    down(quiet=True)  # a crashed lab leaves state behind; start from nothing
    network.check_subnet_is_free(subnet)
    state = LabState(subnet=subnet, gateway=gateway, bridge=network.BRIDGE)
    for (name, groups), host_suite, address in zip(wanted, suites, pool):
        state.hosts[name] = LabHost(name=name, address=address, groups=groups, suite=host_suite)
    state.save()

    started = time.monotonic()
    try:
        images = {h.suite: image.ensure_image(h.suite) for h in state.hosts.values()}
        _ensure_ssh_key(state)
        network.create_bridge(state.gateway, state.subnet)
        start_apt_cache(state)
        for host in state.hosts.values():
            network.create_host_network(host.name, host.address, state.subnet)
            root = hosts.prepare_tree(state, host, images[host.suite])
            _write_ssh_files(state)
            hosts.boot(state, host, root)
        for host in state.hosts.values():
            hosts.wait_until_reachable(state, host)
        start_acme(state)
    except BaseException:
        down(quiet=True)
        raise
    print(f"lab: {len(state.hosts)} host(s) up in {time.monotonic() - started:.0f}s", flush=True)
    return state


def down(quiet: bool = False) -> None:
    """Stop what the lab recorded, then sweep what a crash may have left."""
    require_root()
    state = LabState.load()
    names = set(network.stale_host_names())
    if state:
        hosts.stop_all(state, list(state.hosts.values()))
        names.update(state.hosts)
        stop_service(state, "apt-cacher-ng", "apt-cacher-ng")
        for name in list(state.services):
            stop_service(state, name, name)
    _stop_unrecorded_processes()
    for name in sorted(names):
        network.delete_host_network(name)
    hosts_root = lab_dir() / "hosts"
    if hosts_root.exists():
        for tree in hosts_root.iterdir():
            if state is None or not state.hosts.get(tree.name) or not state.hosts[tree.name].pid:
                hosts.remove_tree(state or LabState("", "", ""), tree.name)
    network.delete_bridge()
    LabState.remove()
    for name in ("ssh_config", "known_hosts"):
        (lab_dir() / name).unlink(missing_ok=True)
    if not quiet:
        print("lab: down", flush=True)


def _stop_unrecorded_processes() -> None:
    """Processes of this lab whose PIDs a crash kept from the state file.

    Matched by this lab's own directory, never by name alone: in the command
    line (the host tree for systemd-nspawn, the config for apt-cacher-ng and
    pebble) or as the working directory (pebble-challtestsrv).
    """
    markers = [
        ("systemd-nspawn", f"--directory={lab_dir() / 'hosts'}/"),
        ("apt-cacher-ng", str(lab_dir() / "apt-cacher-ng")),
        ("pebble", str(lab_dir() / "acme")),
    ]
    acme = str(lab_dir() / "acme")
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit() or int(pid_dir.name) == os.getpid():
            continue
        pid = int(pid_dir.name)
        try:
            in_acme_dir = os.readlink(pid_dir / "cwd") == acme
        except OSError:
            in_acme_dir = False
        if any(is_our_process(pid, program, marker) for program, marker in markers) or (
            in_acme_dir and is_our_process(pid, "pebble-challtestsrv")
        ):
            terminate(pid, timeout=30)


def status() -> dict:
    state = LabState.load()
    if state is None:
        return {"running": False, "hosts": []}
    return {
        "running": True,
        "subnet": state.subnet,
        "gateway": state.gateway,
        "acme_directory": directory_url(state),
        "acme_ca_bundle": str(ca_bundle(state)),
        "acme_root": str(root_file(state)),
        "ssh_config": str(state.ssh_config),
        "hosts": [
            {
                "name": h.name,
                "address": h.address,
                "groups": h.groups,
                "suite": h.suite,
                "ssh_user": "root",
                "ssh_port": 22,
                "ssh_key": str(state.ssh_key),
                "ssh_known_hosts_file": str(state.known_hosts),
                "running": hosts.is_our_process(h.pid, "systemd-nspawn", f"--machine={h.name}"),
            }
            for h in state.hosts.values()
        ],
    }


def ssh_argv(name: str, command: list[str]) -> list[str]:
    state = LabState.load()
    if state is None or name not in state.hosts:
        known = ", ".join(state.hosts) if state else "none; run `groundwork lab up`"
        raise LabError(f"no lab host named {name!r} (lab hosts: {known})")
    tty = ["-t"] if not command else ["-o", "BatchMode=yes"]
    return ["ssh", "-F", str(state.ssh_config), *tty, name, *command]


def _ensure_ssh_key(state: LabState) -> None:
    if not state.ssh_key.exists():
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "groundwork-lab", "-f", state.ssh_key)


def _write_ssh_files(state: LabState) -> None:
    known, config = [], []
    for host in state.hosts.values():
        key_file = state.host_dir(host.name) / "rootfs/etc/ssh/ssh_host_ed25519_key.pub"
        if key_file.exists():
            known.append(f"{host.name},{host.address} {hosts.host_public_key(state, host.name)}\n")
        config.append(
            f"Host {host.name} {host.address}\n"
            f"  HostName {host.address}\n"
            "  User root\n  Port 22\n"
            f"  IdentityFile {state.ssh_key}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {state.known_hosts}\n"
            "  StrictHostKeyChecking yes\n  HostKeyAlgorithms ssh-ed25519\n"
            "  ConnectTimeout 10\n  LogLevel ERROR\n\n"
        )
    state.known_hosts.write_text("".join(known))
    state.ssh_config.write_text("".join(config))


def run_on(name: str, command: str, timeout: float = 60, stdin: str | None = None):
    """Run a shell command on a lab host; the CompletedProcess, like ssh's."""
    return run(*ssh_argv(name, [command]), check=False, timeout=timeout, input=stdin)


# Prints how a TCP connection to argv[1]:argv[2] ends: open, refused, or the error.
_PROBE = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), 3).close()
except ConnectionRefusedError:
    print("refused")
except OSError as exc:
    print(type(exc).__name__)
else:
    print("open")
"""


def probe_tcp(on: str, address: str, port: int) -> str:
    """From lab host `on`, how a TCP connection to address:port ends:
    "open", "refused", or the error's name ("TimeoutError": filtered)."""
    import shlex

    result = run_on(on, f"python3 -c {shlex.quote(_PROBE)} {address} {port}", timeout=30)
    if result.returncode != 0:
        raise LabError(f"probe from {on} failed: {result.stderr.strip()}")
    return result.stdout.strip()
