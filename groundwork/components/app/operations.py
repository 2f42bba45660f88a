"""Install one release of the app on a host, from its tarball of wheels."""

from __future__ import annotations

import shlex

from pyinfra.api import FileUploadCommand, operation

from .release import Release


@operation(is_idempotent=False)
def install_release(name: str, release: Release, static_command: str | None = None):
    """Unpack the wheels into /srv/NAME/releases/ID and build its venv there.

    The venv is built in place (its scripts name their own path), and marked
    complete last: a half-built release from a failed run is rebuilt. Callers
    plan this only when `.complete` is missing.
    """
    root = f"/srv/{name}/releases/{release.id}"
    yield f"rm -rf {root} && install -d -m 0755 {root}"
    yield FileUploadCommand(str(release.tarball), f"{root}/release.tar")
    yield f"tar -xf {root}/release.tar -C {root} && rm {root}/release.tar"
    yield f"python3 -m venv {root}/venv"
    yield (
        f"{root}/venv/bin/pip install --quiet --disable-pip-version-check --no-index "
        f"--find-links {root}/wheels --requirement {root}/requirements.txt"
    )
    yield f"rm -rf {root}/wheels"
    if static_command:
        yield f"install -d -o {name} -g {name} -m 0755 {root}/static"
        yield f"{name}-run --release {release.id} --static {root}/static sh -c {shlex.quote(static_command)}"
        yield f"chown -R root:root {root}/static"
    yield f"touch {root}/.complete"
