"""Running commands on the control machine, and the lab's own apt dependencies."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

# command -> the Debian package that provides it
LAB_TOOLS = {
    "systemd-nspawn": "systemd-container",
    "debootstrap": "debootstrap",
    "apt-cacher-ng": "apt-cacher-ng",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "ip": "iproute2",
    "pebble": "pebble",
    "pebble-challtestsrv": "pebble",
    "openssl": "openssl",
    "curl": "curl",
}


class LabError(RuntimeError):
    """A lab step failed; the message says which and why."""


def run(*args: str | Path, check: bool = True, quiet: bool = False, **kwargs) -> subprocess.CompletedProcess:
    cmd = [str(a) for a in args]
    result = subprocess.run(cmd, text=True, capture_output=True, **kwargs)
    if check and result.returncode != 0:
        raise LabError(
            f"command failed ({result.returncode}): {' '.join(cmd)}\n{result.stderr.strip()}"
        )
    return result


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, systemd-nspawn)")


def ensure_lab_tools() -> None:
    """Install the lab's apt dependencies on first use."""
    ensure_apt_packages(LAB_TOOLS)


def ensure_apt_packages(tools: dict[str, str]) -> None:
    """Install the Debian packages (values) of the commands (keys) not on PATH."""
    missing = sorted({pkg for cmd, pkg in tools.items() if shutil.which(cmd) is None})
    if not missing:
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print(f"lab: installing {', '.join(missing)}", flush=True)
    run("apt-get", "update", "-q", env=env)
    run("apt-get", "install", "-y", "-q", "--no-install-recommends", *missing, env=env)


def process_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def process_state(pid: int) -> str | None:
    """The state letter from /proc/PID/stat, or None once the process is gone.

    Read in one go: the process may exit between any two looks at /proc.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name is in parentheses and may itself hold spaces or ')'.
    return stat.rpartition(")")[2].split()[0]


def is_our_process(pid: int | None, *markers: str) -> bool:
    """True when pid is alive and its command line holds every marker.

    The lab only ever stops processes it recorded, and checks them again here
    so that a recycled PID is never signalled.
    """
    if not pid:
        return False
    cmdline = process_cmdline(pid)
    return bool(cmdline) and all(any(m in part for part in cmdline) for m in markers)
