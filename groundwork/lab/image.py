"""The cached debootstrap images lab hosts are copied from, one per Debian suite."""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

from .state import cache_dir
from .system import LabError, run

# Debian 13 (the default) and Debian 12, the suites groundwork proves its hosts on.
SUITES = ("trixie", "bookworm")
DEFAULT_SUITE = "trixie"
INCLUDE = (
    "systemd,systemd-sysv,dbus,openssh-server,python3,iproute2,ca-certificates,sudo"
)


def check_suite(suite: str) -> str:
    if suite not in SUITES:
        raise LabError(f"suite {suite!r}: expected one of {', '.join(SUITES)}")
    return suite


def image_path(suite: str = DEFAULT_SUITE) -> Path:
    key = hashlib.sha256(f"{suite} {INCLUDE}".encode()).hexdigest()[:12]
    return cache_dir() / "images" / f"{suite}-minbase-{key}"


def ensure_image(suite: str = DEFAULT_SUITE) -> Path:
    """Return the cached image, building it with debootstrap when absent.

    The image is built beside its final path and renamed into place only when
    complete, so an interrupted build never leaves a half image that looks done.
    """
    path = image_path(check_suite(suite))
    if (path / ".complete").exists():
        return path
    building = path.with_name(path.name + ".building")
    if building.exists():
        shutil.rmtree(building)
    building.parent.mkdir(parents=True, exist_ok=True)
    print(f"lab: building the {suite} image with debootstrap (about a minute)", flush=True)
    started = time.monotonic()
    result = run(
        "debootstrap", "--variant=minbase", f"--include={INCLUDE}", suite, building,
        check=False,
    )
    if result.returncode != 0:
        log = building / "debootstrap" / "debootstrap.log"
        tail = log.read_text()[-2000:] if log.exists() else result.stderr[-2000:]
        raise LabError(f"debootstrap failed:\n{tail}")
    # Host keys are made per host at boot time; an image must not carry shared ones.
    for key in (building / "etc" / "ssh").glob("ssh_host_*"):
        key.unlink()
    (building / ".complete").write_text(f"{suite} {INCLUDE}\n")
    if path.exists():
        shutil.rmtree(path)
    building.rename(path)
    print(f"lab: image ready in {time.monotonic() - started:.0f}s", flush=True)
    return path
