"""groundwork.testing.promtools: a Debian package's binary unpacked once into the cache, however many ask at once.

A fake package built with dpkg-deb stands in for apt-get download, so these
run without the network; tests/unit/test_alert_rules.py uses the real promtool.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from groundwork.testing import promtools


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """A .deb named `faketool` holding /usr/bin/faketool; _download copies it and counts how often it is asked."""
    root = tmp_path / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: faketool\nVersion: 1.0\nArchitecture: all\nMaintainer: groundwork <ops@example.com>\nDescription: a test tool\n")
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "faketool").write_text("#!/bin/sh\necho fake\n")
    (root / "usr" / "bin" / "faketool").chmod(0o755)
    deb = tmp_path / "faketool_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(root), str(deb)], check=True, capture_output=True)
    downloads = []

    def download(package: str, into: Path) -> Path:
        downloads.append(package)
        time.sleep(0.2)  # long enough for the other callers to be waiting on the lock
        return Path(shutil.copy(deb, into))

    monkeypatch.setattr(promtools, "_download", download)
    monkeypatch.setenv("GROUNDWORK_CACHE_DIR", str(tmp_path / "cache"))
    return downloads


# Each caller is a process of its own, as parallel test runs are: threads would not do here,
# since pyinfra's gevent may have patched threading in this process (a blocked flock then
# blocks every "thread" of it).
_CALLER = """
import shutil, sys, time
from pathlib import Path
from groundwork.testing import promtools
deb, log = sys.argv[1], sys.argv[2]
def download(package, into):
    with open(log, "a") as counted:
        counted.write(package + "\\n")
    time.sleep(0.2)  # long enough for the other callers to be waiting on the lock
    return Path(shutil.copy(deb, into))
promtools._download = download
print(promtools._tool.__wrapped__("faketool", "usr/bin/faketool"))
"""


def test_the_binary_is_unpacked_once_for_callers_at_the_same_time(fake_package, tmp_path):
    deb, log = tmp_path / "faketool_1.0_all.deb", tmp_path / "downloads.log"
    env = {**os.environ, "GROUNDWORK_CACHE_DIR": str(tmp_path / "cache")}
    callers = [subprocess.Popen([sys.executable, "-c", _CALLER, str(deb), str(log)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    found = []
    for caller in callers:
        out, err = caller.communicate(timeout=120)
        assert caller.returncode == 0, err
        found.append(Path(out.strip()))
    assert log.read_text() == "faketool\n"
    assert found == [tmp_path / "cache" / "tools" / "faketool" / "usr" / "bin" / "faketool"] * 4
    assert subprocess.run([str(found[0])], capture_output=True, text=True).stdout == "fake\n"
    # No temporary directory is left behind, only the unpacked tree and the lock.
    assert sorted(p.name for p in (tmp_path / "cache" / "tools").iterdir()) == [".faketool.lock", "faketool"]


def test_a_package_without_the_binary_is_refused_and_not_published(fake_package, tmp_path):
    with pytest.raises(RuntimeError, match="faketool has no executable /usr/bin/othertool"):
        promtools._tool.__wrapped__("faketool", "usr/bin/othertool")
    assert not (tmp_path / "cache" / "tools" / "faketool").exists()


def test_the_cache_dir_is_under_var_cache_for_root_else_the_users_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("GROUNDWORK_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert promtools.tools_dir() == Path("/var/cache/groundwork/tools")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert promtools.tools_dir() == tmp_path / ".cache" / "groundwork" / "tools"


def test_promtool_and_amtool_are_debians():
    for tool, name in ((promtools.promtool(), "promtool"), (promtools.amtool(), "amtool")):
        assert Path(tool).name == name and os.access(tool, os.X_OK)
    version = subprocess.run([promtools.promtool(), "--version"], capture_output=True, text=True, check=True)
    assert "debian" in version.stdout + version.stderr
