"""One lab host: its tree, its first-boot fixes, booting and stopping it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .network import netns_name
from .services import APT_CACHE_PORT, terminate, wait_for_port
from .state import LabHost, LabState
from .system import LabError, is_our_process, run


def prepare_tree(state: LabState, host: LabHost, image: Path) -> Path:
    root = state.host_dir(host.name) / "rootfs"
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    run("cp", "-a", "--reflink=auto", f"{image}/.", root)
    (root / ".complete").unlink(missing_ok=True)

    (root / "etc/hostname").write_text(host.name + "\n")
    # Without its own name in /etc/hosts and an empty resolv.conf, every sudo
    # on the host waits for a DNS time-out (DESIGN.md §3, step 5).
    peers = "".join(f"{h.address}\t{h.name}\n" for h in state.hosts.values() if h.name != host.name)
    (root / "etc/hosts").write_text(
        f"127.0.0.1\tlocalhost\n127.0.1.1\t{host.name}\n{host.address}\t{host.name}\n{peers}"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
    )
    resolv = root / "etc/resolv.conf"
    if resolv.is_symlink() or resolv.exists():
        resolv.unlink()
    resolv.write_text("")
    # A throwaway host: dpkg need not fsync every file it unpacks (as Debian's
    # container images do); the packages are the same, they land faster.
    (root / "etc/dpkg/dpkg.cfg.d/01groundwork-lab-unsafe-io").write_text("force-unsafe-io\n")
    (root / "etc/apt/apt.conf.d/01groundwork-lab-proxy").write_text(
        f'Acquire::http::Proxy "http://{state.gateway}:{APT_CACHE_PORT}";\n'
    )

    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    authorized = ssh_dir / "authorized_keys"
    authorized.write_text(state.ssh_key.with_suffix(".pub").read_text())
    authorized.chmod(0o600)
    # Host keys of its own, made here so the control machine can pin them.
    run("ssh-keygen", "-A", "-f", root)
    return root


def host_public_key(state: LabState, name: str) -> str:
    key = state.host_dir(name) / "rootfs/etc/ssh/ssh_host_ed25519_key.pub"
    kind, blob = key.read_text().split()[:2]
    return f"{kind} {blob}"


def boot(state: LabState, host: LabHost, root: Path) -> None:
    log = open(state.host_dir(host.name) / "console.log", "ab")
    proc = subprocess.Popen(
        [
            "systemd-nspawn", "--register=no", "--keep-unit", "--boot",
            f"--directory={root}", f"--machine={host.name}",
            f"--network-namespace-path=/run/netns/{netns_name(host.name)}",
            # ufw/iptables need these two; without them: "Permission denied".
            "--capability=CAP_NET_ADMIN,CAP_NET_RAW",
            "--console=passive", "--resolv-conf=off", "--timezone=off",
            "--link-journal=no",
        ],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        # The control machine mounts cgroups in hybrid mode; systemd 257 in the
        # host then races on its v1 "compat" hierarchy and fails restarts now
        # and then ("Failed to spawn executor: No such file or directory").
        # A pure cgroup v2 tree for the container avoids that.
        # /proc/sys/net writable, as on a VPS: the host has a network namespace
        # of its own, so its network sysctls are its own to set.
        env={**os.environ, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1", "SYSTEMD_NSPAWN_API_VFS_WRITABLE": "network"},
    )
    host.pid = proc.pid
    state.save()


def wait_until_reachable(state: LabState, host: LabHost, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    wait_for_port(host.address, 22, timeout, f"sshd on {host.name}")
    while True:
        result = run(
            "ssh", "-F", state.ssh_config, "-o", "BatchMode=yes", host.name,
            "systemctl is-system-running --wait >/dev/null; true", check=False,
        )
        if result.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise LabError(f"{host.name}: ssh did not succeed: {result.stderr.strip()}")
        if not is_our_process(host.pid, "systemd-nspawn", f"--machine={host.name}"):
            raise LabError(f"{host.name}: the container exited; see {state.host_dir(host.name)}/console.log")
        time.sleep(1)


def stop(state: LabState, host: LabHost) -> None:
    # nspawn turns SIGTERM into SIGRTMIN+3 for the container's systemd: an
    # orderly poweroff, then nspawn exits and its mounts go with it.
    if is_our_process(host.pid, "systemd-nspawn", f"--machine={host.name}"):
        terminate(host.pid, timeout=30)
    host.pid = None
    state.save()


def stop_all(state: LabState, hosts: list[LabHost]) -> None:
    """Every host at once, and at once: the lab's hosts are thrown away, so their
    services need no orderly shutdown. The container's init is killed (the kernel
    then ends every process of its PID namespace), nspawn sees it exit and cleans
    up; a host whose init cannot be found gets the orderly poweroff instead."""
    from concurrent.futures import ThreadPoolExecutor

    def stop_now(host: LabHost) -> None:
        init = _container_init(host.pid)
        if init is not None:
            try:
                os.kill(init, signal.SIGKILL)
            except ProcessLookupError:
                pass
        terminate(host.pid, timeout=30)

    running = [h for h in hosts if is_our_process(h.pid, "systemd-nspawn", f"--machine={h.name}")]
    if running:
        with ThreadPoolExecutor(max_workers=len(running)) as pool:
            list(pool.map(stop_now, running))
    for host in hosts:
        host.pid = None
    state.save()


def _container_init(nspawn_pid: int | None) -> int | None:
    """The child of our systemd-nspawn: the container's PID 1 (systemd), seen from here."""
    if not nspawn_pid:
        return None
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(nspawn_pid):  # fields: state, ppid, ...
            return int(stat.parent.name)
    return None


def remove_tree(state: LabState, name: str) -> None:
    path = state.host_dir(name)
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(str(path))), reverse=True):
        run("umount", "-l", mount, check=False)
    if path.exists():
        shutil.rmtree(path)
