"""promtool and amtool on the control machine, for the tests of the alert rules and Alertmanager's config.

Installing Debian's `prometheus` or `prometheus-alertmanager` package would start
their daemons on the control machine, so the package is fetched with `apt-get
download` and unpacked with `dpkg-deb -x` into a cache directory instead: the
binaries are the very ones the monitor hosts run (of the control machine's
release). The first call of a process unpacks once (under a lock, published by
an atomic rename, so parallel test workers share one copy); later calls cost
nothing.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..paths import control_cache_dir


def promtool() -> str:
    """Path of promtool (Debian package `prometheus`)."""
    return str(_tool("prometheus", "usr/bin/promtool"))


def amtool() -> str:
    """Path of amtool (Debian package `prometheus-alertmanager`)."""
    return str(_tool("prometheus-alertmanager", "usr/bin/amtool"))


def tools_dir() -> Path:
    """Where unpacked tool packages are kept: /var/cache/groundwork/tools as root (or
    $GROUNDWORK_CACHE_DIR/tools, the lab's cache), else ~/.cache/groundwork/tools."""
    if os.environ.get("GROUNDWORK_CACHE_DIR"):
        return Path(os.environ["GROUNDWORK_CACHE_DIR"]).resolve() / "tools"
    if os.geteuid() == 0:
        return Path("/var/cache/groundwork/tools")
    return control_cache_dir() / "tools"


@functools.cache
def _tool(package: str, member: str) -> Path:
    """`member` of Debian package `package`, unpacked into tools_dir()/`package` if it is not yet."""
    root = tools_dir()
    path = root / package / member
    if os.access(path, os.X_OK):
        return path
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{package}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be unpacking it right now
        if os.access(path, os.X_OK):
            return path
        with tempfile.TemporaryDirectory(dir=root, prefix=f".{package}.") as tmp:
            tree = Path(tmp) / "tree"
            subprocess.run(["dpkg-deb", "-x", str(_download(package, Path(tmp))), str(tree)],
                           check=True, capture_output=True, text=True)
            if not os.access(tree / member, os.X_OK):
                raise RuntimeError(f"Debian package {package} has no executable /{member}")
            # A leftover without the binary (an older layout) is replaced; the rename publishes it whole.
            shutil.rmtree(root / package, ignore_errors=True)
            os.rename(tree, root / package)
    return path


def _download(package: str, into: Path) -> Path:
    """The .deb of `package` (the candidate version of the control machine's apt sources), downloaded into `into`."""
    # As root apt warns that it downloads unsandboxed (its _apt user cannot write here); harmless.
    command = ["apt-get", "download", "-q", package]
    done = subprocess.run(command, cwd=into, capture_output=True, text=True)
    if done.returncode != 0 and os.geteuid() == 0:
        # A fresh machine (a CI container) may have no package lists yet.
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True)
        done = subprocess.run(command, cwd=into, capture_output=True, text=True)
    debs = sorted(into.glob(f"{package}_*.deb"))
    if done.returncode != 0 or not debs:
        raise RuntimeError(f"`apt-get download {package}` failed (needs the control machine's Debian apt sources):\n"
                           f"{done.stderr.strip() or done.stdout.strip()}")
    return debs[0]
