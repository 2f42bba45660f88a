"""A pyinfra inventory read the way `pyinfra` reads it, for tests.

The result is the run's fleet (groundwork.fleet): each host keeps its name,
groups, roles, connection data and validated groundwork settings, so verify
tests can assert against what the host was told to be.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from ..fleet import Fleet
from ..runner import build_fleet


def load_inventory(path: str | os.PathLike, cwd: str | os.PathLike | None = None) -> Fleet:
    from pyinfra.api import State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    cwd = Path(cwd or Path.cwd())
    path = cwd / path
    # pyinfra would take a missing file for a host name and test nothing.
    if not path.is_file():
        raise FileNotFoundError(f"no inventory file at {path}")
    with ctx_state.use(State()):
        inventory = make_inventory(str(path), cwd=str(cwd))
    return build_fleet(inventory)


def ssh_config_for(hosts) -> str:
    """An OpenSSH client config reaching each host as pyinfra would."""
    blocks = []
    for h in hosts:
        d = h.data
        lines = [f"Host {h.name}", f"  HostName {d.get('ssh_hostname') or h.name}"]
        if d.get("ssh_user"):
            lines.append(f"  User {d['ssh_user']}")
        if d.get("ssh_port"):
            lines.append(f"  Port {d['ssh_port']}")
        if d.get("ssh_key"):
            lines += [f"  IdentityFile {_quote(d['ssh_key'])}", "  IdentitiesOnly yes"]
        if d.get("ssh_known_hosts_file"):
            lines.append(f"  UserKnownHostsFile {_quote(d['ssh_known_hosts_file'])}")
        strict = d.get("ssh_strict_host_key_checking")
        if strict:
            lines.append(f"  StrictHostKeyChecking {strict}")
        lines += ["  BatchMode yes", "  ConnectTimeout 10", "  LogLevel ERROR"]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def _quote(value: str) -> str:
    value = os.path.expanduser(str(value))
    return shlex.quote(value) if " " in value else value
