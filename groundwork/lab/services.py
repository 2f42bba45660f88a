"""Daemons the lab runs on its gateway address, recorded by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

from .network import LAB_ID
from .state import LabState, cache_dir
from .system import LabError, is_our_process, process_state

APT_CACHE_PORT = 3142


def start_apt_cache(state: LabState) -> None:
    """apt-cacher-ng on the gateway, with a config of its own.

    The stock config remaps Debian mirrors to hosts that do not resolve here;
    PassThroughPattern lets TLS and everything else through unchanged.
    """
    if is_our_process(state.services.get("apt-cacher-ng"), "apt-cacher-ng"):
        return
    conf = state.dir / "apt-cacher-ng"
    cache = cache_dir() / f"apt-cacher-ng-{LAB_ID}"  # one daemon per cache directory
    for d in (conf, cache, state.dir / "logs"):
        d.mkdir(parents=True, exist_ok=True)
    (conf / "acng.conf").write_text(
        f"CacheDir: {cache}\n"
        f"LogDir: {state.dir / 'logs'}\n"
        "SupportDir: /usr/lib/apt-cacher-ng\n"
        f"Port: {APT_CACHE_PORT}\n"
        f"BindAddress: {state.gateway}\n"
        "PassThroughPattern: .*\n"
    )
    log = open(state.dir / "logs" / "apt-cacher-ng.out", "ab")
    proc = subprocess.Popen(
        ["apt-cacher-ng", "-c", str(conf), "ForeGround=1", f"PidFile={conf / 'pid'}"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
    )
    state.services["apt-cacher-ng"] = proc.pid
    state.save()
    wait_for_port(state.gateway, APT_CACHE_PORT, timeout=20, what="apt-cacher-ng")


def stop_service(state: LabState, name: str, marker: str, timeout: float = 15) -> None:
    pid = state.services.pop(name, None)
    if is_our_process(pid, marker):
        terminate(pid, timeout)
    state.save()


def terminate(pid: int, timeout: float) -> None:
    """SIGTERM, wait, then SIGKILL: the one way the lab ends a process it started."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if not wait_for_exit(pid, timeout):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        wait_for_exit(pid, 10)


def wait_for_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            # Reap it when it is our child; otherwise just poll for existence.
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                return True
        except ChildProcessError:
            if process_state(pid) in ("Z", "X", None):
                return True
        time.sleep(0.2)
    return False


def wait_for_port(address: str, port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise LabError(f"{what} did not answer on {address}:{port} within {timeout:.0f}s")
