"""Releases: the app and every dependency as wheels, built on the control machine.

Hosts get one tarball per release and install it with `pip --no-index`: no
PyPI, git or compiler on a server, and the same bits on every host. Wheels are
resolved for the host's Python and platform (`pip download --python-version
--platform --only-binary`), so the control machine's own Python does not
matter. A build is cached by its inputs; the release id is the tarball's hash.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pyinfra.api.exceptions import PyinfraError

SKIP_DIRS = {".git", ".hg", ".venv", "venv", "__pycache__", "build", "dist", ".pytest_cache", ".mypy_cache", ".tox"}
SERVER_REQUIREMENTS = {"asgi": ["gunicorn>=23", "uvicorn-worker"], "wsgi": ["gunicorn>=23"]}
# A fixed timestamp makes the app's own wheel, and so the release id, reproducible.
SOURCE_DATE_EPOCH = "315532800"


@dataclass(frozen=True)
class Target:
    """What the wheels must run on: CPython major.minor, machine, glibc."""

    python: str  # "3.13"
    machine: str  # "x86_64"
    glibc: str  # "2.41"

    def platform_tags(self) -> list[str]:
        major, minor = (int(p) for p in self.glibc.split(".")[:2])
        tags = [f"manylinux_{major}_{m}_{self.machine}" for m in range(minor, 16, -1)] if major == 2 else []
        return tags + [f"manylinux2014_{self.machine}", f"linux_{self.machine}"]


@dataclass(frozen=True)
class Release:
    id: str
    tarball: Path
    requirements: tuple[str, ...]  # name==version of everything installed


def build_cache() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "groundwork" / "releases"
    return Path(os.environ.get("GROUNDWORK_RELEASE_CACHE", default))


def check_inputs(source: str | Path, constraints: str | Path | None) -> None:
    """What app_source and app_constraints name exists on the control machine, in a form we build."""
    source = Path(source).resolve()
    if not source.exists():
        raise PyinfraError(f"app_source: nothing at {source}")
    source_kind(source)
    if constraints and not Path(constraints).resolve().is_file():
        raise PyinfraError(f"app_constraints: no file at {Path(constraints).resolve()}")


def source_kind(source: Path) -> str:
    if source.is_dir():
        if not ((source / "pyproject.toml").exists() or (source / "setup.py").exists()):
            raise PyinfraError(f"app_source: {source} is a directory without pyproject.toml or setup.py")
        return "project"
    if source.suffix == ".whl" and source.is_file():
        return "wheel"
    if source.suffix == ".txt" and source.is_file():
        return "requirements"
    raise PyinfraError(f"app_source: expected a project directory, a .whl or a requirements .txt, got {source}")


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(_tree_files(root)):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _tree_files(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        for name in filenames:
            if not name.endswith((".pyc", ".pyo")):
                yield Path(dirpath) / name


def input_digest(source: Path, kind: str, constraints: Path | None, requirements: list[str], target: Target) -> str:
    digest = hashlib.sha256(json.dumps([kind, requirements, target.python, target.machine, target.glibc]).encode())
    digest.update((_tree_digest(source) if kind == "project" else hashlib.sha256(source.read_bytes()).hexdigest()).encode())
    if constraints:
        digest.update(constraints.read_bytes())
    return digest.hexdigest()


def build_release(
    source: str | Path, server: str, extra: list[str], constraints: str | Path | None, target: Target,
    salt: str = "",
) -> Release:
    """The release for these inputs; `salt` is what else shapes a release on
    the host (the static-files command), so changing it makes a new release."""
    source = Path(source).resolve()
    constraints = Path(constraints).resolve() if constraints else None
    if constraints and not constraints.is_file():
        raise PyinfraError(f"app_constraints: no file at {constraints}")
    kind = source_kind(source)
    requirements = [*SERVER_REQUIREMENTS[server], *extra]
    cache = build_cache() / input_digest(source, kind, constraints, requirements, target)[:24]
    manifest = cache / "release.json"
    if manifest.exists():
        data = json.loads(manifest.read_text())
        return Release(_release_id(data["sha256"], salt), cache / "release.tar", tuple(data["requirements"]))

    with tempfile.TemporaryDirectory(prefix="groundwork-build-") as tmp:
        work = Path(tmp)
        wheels = work / "wheels"
        wheels.mkdir()
        wanted = list(requirements)
        if kind == "project":
            copy = work / "src"
            shutil.copytree(source, copy, ignore=shutil.ignore_patterns(*SKIP_DIRS, "*.egg-info", "*.pyc"))
            _pip("wheel", "--no-deps", "--wheel-dir", str(wheels), str(copy), env={"SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH})
            wanted.append(str(next(wheels.glob("*.whl"))))
        elif kind == "wheel":
            shutil.copy2(source, wheels / source.name)
            wanted.append(str(wheels / source.name))
        else:
            wanted += ["-r", str(source)]
        _pip(
            "download", "--dest", str(wheels), "--only-binary=:all:",
            "--python-version", target.python, "--implementation", "cp",
            "--abi", f"cp{target.python.replace('.', '')}",
            *[arg for tag in target.platform_tags() for arg in ("--platform", tag)],
            *(["--constraint", str(constraints)] if constraints else []),
            *wanted,
        )
        pins = sorted(_pin(whl.name) for whl in wheels.glob("*.whl"))
        (work / "requirements.txt").write_text("".join(f"{p}\n" for p in pins))
        cache.mkdir(parents=True, exist_ok=True)
        tarball = cache / "release.tar"
        _deterministic_tar(work, ["requirements.txt", "wheels"], tarball)
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    manifest.write_text(json.dumps({"sha256": digest, "requirements": pins}, indent=2) + "\n")
    return Release(_release_id(digest, salt), tarball, tuple(pins))


def _release_id(tarball_sha256: str, salt: str) -> str:
    if not salt:
        return tarball_sha256[:12]
    return hashlib.sha256(f"{tarball_sha256}\0{salt}".encode()).hexdigest()[:12]


def _pin(wheel_name: str) -> str:
    name, version = wheel_name.split("-")[:2]
    return f"{re.sub(r'[-_.]+', '-', name).lower()}=={version}"


def _pip(*args: str, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        capture_output=True, text=True, env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        raise PyinfraError(f"building the release failed: pip {args[0]}:\n{proc.stderr.strip()[-3000:]}")


def _deterministic_tar(root: Path, names: list[str], dest: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        paths = []
        for name in names:
            path = root / name
            paths.append(path)
            if path.is_dir():
                paths += list(path.rglob("*"))
        for path in sorted(paths):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(root)))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            info.mode = 0o755 if path.is_dir() else 0o644
            if path.is_dir():
                tar.addfile(info)
            else:
                with open(path, "rb") as fh:
                    tar.addfile(info, fh)
    dest.write_bytes(buffer.getvalue())
