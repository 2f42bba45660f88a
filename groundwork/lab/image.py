"""The cached debootstrap image every lab host is copied from."""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

from .state import cache_dir
from .system import LabError, run

SUITE = "trixie"
INCLUDE = (
    "systemd,systemd-sysv,dbus,openssh-server,python3,iproute2,ca-certificates,sudo"
)


def image_path() -> Path:
    key = hashlib.sha256(f"{SUITE} {INCLUDE}".encode()).hexdigest()[:12]
    return cache_dir() / "images" / f"{SUITE}-minbase-{key}"


def ensure_image() -> Path:
    """Return the cached image, building it with debootstrap when absent.

    The image is built beside its final path and renamed into place only when
    complete, so an interrupted build never leaves a half image that looks done.
    """
    path = image_path()
    if (path / ".complete").exists():
        return path
    building = path.with_name(path.name + ".building")
    if building.exists():
        shutil.rmtree(building)
    building.parent.mkdir(parents=True, exist_ok=True)
    print(f"lab: building the {SUITE} image with debootstrap (about a minute)", flush=True)
    started = time.monotonic()
    result = run(
        "debootstrap", "--variant=minbase", f"--include={INCLUDE}", SUITE, building,
        check=False,
    )
    if result.returncode != 0:
        log = building / "debootstrap" / "debootstrap.log"
        tail = log.read_text()[-2000:] if log.exists() else result.stderr[-2000:]
        raise LabError(f"debootstrap failed:\n{tail}")
    # Host keys are made per host at boot time; an image must not carry shared ones.
    for key in (building / "etc" / "ssh").glob("ssh_host_*"):
        key.unlink()
    (building / ".complete").write_text(f"{SUITE} {INCLUDE}\n")
    if path.exists():
        shutil.rmtree(path)
    building.rename(path)
    print(f"lab: image ready in {time.monotonic() - started:.0f}s", flush=True)
    return path
