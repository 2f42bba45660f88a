"""Releases: the app and every dependency as wheels, built on the control machine.

Hosts get one tarball per release and install it with `pip --no-index`: no
PyPI, git or compiler on a server, and the same bits on every host. Wheels are
resolved for the host's Python and platform (`pip download --python-version
--platform --only-binary`), so the control machine's own Python does not
matter. A requirement published only as a pure-Python sdist is built into a
`py3-none-any` wheel here and offered to that resolution with --find-links;
one that builds only as a platform wheel is refused, since nothing on the host
could build it. A build is cached by its inputs; the release id is the
tarball's hash.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pyinfra.api.exceptions import PyinfraError

from ...paths import control_cache_dir

SKIP_DIRS = {".git", ".hg", ".venv", "venv", "__pycache__", "build", "dist", ".pytest_cache", ".mypy_cache", ".tox"}
SERVER_REQUIREMENTS = {"asgi": ["gunicorn>=23", "uvicorn-worker"], "wsgi": ["gunicorn>=23"]}
# A fixed timestamp makes the app's own wheel, and so the release id, reproducible.
SOURCE_DATE_EPOCH = "315532800"
# Backends that iterate over sets write files in hash order; pin it too.
BUILD_ENV = {"SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, "PYTHONHASHSEED": "0"}
# What a wheel built here may be tagged to ship to any host: pure Python.
PURE_PYTHON_TAGS = {"py3", "py2.py3"}
# The date every entry of a wheel built from an sdist gets (zip's earliest).
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Target:
    """What the wheels must run on: CPython major.minor, machine, glibc."""

    python: str  # "3.13"
    machine: str  # "x86_64"
    glibc: str  # "2.41"
    python_full: str = ""  # "3.13.5"; "" when unknown (then markers see "3.13.0")

    def markers(self) -> dict[str, str]:
        """The host's side of PEP 508 environment markers. pip evaluates markers with the Python
        running it whatever --python-version says, so `python_full_version < "3.11.3"` (redis'
        async-timeout) was false on a 3.11.7 control machine for a 3.11.2 host, and the host's
        install missed a dependency."""
        full = self.python_full or f"{self.python}.0"
        return {
            "python_version": self.python, "python_full_version": full, "implementation_version": full,
            "implementation_name": "cpython", "platform_python_implementation": "CPython",
            "platform_machine": self.machine, "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
        }

    def platform_tags(self) -> list[str]:
        major, minor = (int(p) for p in self.glibc.split(".")[:2])
        tags = [f"manylinux_{major}_{m}_{self.machine}" for m in range(minor, 16, -1)] if major == 2 else []
        return tags + [f"manylinux2014_{self.machine}", f"linux_{self.machine}"]

    def pip_args(self) -> list[str]:
        """pip's options to pick wheels for the host rather than for the Python running pip."""
        return [
            "--python-version", self.python_full or self.python, "--implementation", "cp", "--abi", self.abi(),
            *[arg for tag in self.platform_tags() for arg in ("--platform", tag)],
        ]

    def abi(self) -> str:
        return f"cp{self.python.replace('.', '')}"

    def describe(self) -> str:
        """The host as people say it, for messages."""
        return f"Python {self.python} on {self.machine} (manylinux glibc {self.glibc})"


@dataclass(frozen=True)
class Release:
    id: str
    tarball: Path
    requirements: tuple[str, ...]  # name==version of everything installed


def build_cache() -> Path:
    default = control_cache_dir() / "releases"
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
    digest = hashlib.sha256(json.dumps(
        [kind, requirements, target.python, target.machine, target.glibc, target.python_full]).encode())
    digest.update((_tree_digest(source) if kind == "project" else hashlib.sha256(source.read_bytes()).hexdigest()).encode())
    if constraints:
        digest.update(constraints.read_bytes())
    for requirement in requirements:  # a vendored wheel or sdist given by path: its bytes, not its name
        if Path(requirement).is_file():
            digest.update(hashlib.sha256(Path(requirement).read_bytes()).digest())
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

    try:
        pins = _build_tarball(source, kind, requirements, constraints, target, cache / "release.tar")
    except PipFailed as failure:
        raise PyinfraError(failure.explain(target)) from None
    digest = hashlib.sha256((cache / "release.tar").read_bytes()).hexdigest()
    manifest.write_text(json.dumps({"sha256": digest, "requirements": pins}, indent=2) + "\n")
    return Release(_release_id(digest, salt), cache / "release.tar", tuple(pins))


def _build_tarball(
    source: Path, kind: str, requirements: list[str], constraints: Path | None, target: Target, tarball: Path,
) -> list[str]:
    """Resolve and pack in a scratch directory, so a failed build leaves nothing in the cache."""
    with tempfile.TemporaryDirectory(prefix="groundwork-build-") as tmp:
        work = Path(tmp)
        (work / "built").mkdir()
        wanted = [*_local_sdists_built(requirements, target, work), *_app_requirement(source, kind, work)]
        _resolve(wanted, work / "wheels", constraints, target, work)
        pins = sorted(_pin(whl.name) for whl in (work / "wheels").glob("*.whl"))
        (work / "requirements.txt").write_text("".join(f"{p}\n" for p in pins))
        tarball.parent.mkdir(parents=True, exist_ok=True)
        _deterministic_tar(work, ["requirements.txt", "wheels"], tarball)
    return pins


def _app_requirement(source: Path, kind: str, work: Path) -> list[str]:
    """The app as pip arguments; a project is built from a copy so that its
    build leftovers never land in the user's tree."""
    if kind == "wheel":
        return [str(source)]
    if kind == "requirements":
        return ["-r", str(source)]
    copy = work / "src" / source.name
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns(*SKIP_DIRS, "*.egg-info", "*.pyc"))
    _pip("wheel", "--no-deps", "--wheel-dir", str(work / "app"), str(copy), env=BUILD_ENV,
         subject=f"the app at {source}")
    return [str(next((work / "app").glob("*.whl")))]


def _local_sdists_built(requirements: list[str], target: Target, work: Path) -> list[str]:
    """Requirements with each sdist given as a local path (app_extra_requirements
    naming a vendored .tar.gz or .zip) replaced by the pure-Python wheel built from it.

    pip download passes a local sdist through as it is, and a host without an
    index could not build it.
    """
    out = []
    for requirement in requirements:
        path = Path(requirement)
        if not (requirement.endswith((".tar.gz", ".zip")) and path.is_file()):
            out.append(requirement)
            continue
        scratch = Path(tempfile.mkdtemp(prefix="local-sdist-", dir=work))
        _pip("wheel", "--no-deps", "--ignore-requires-python", "--no-cache-dir", "--wheel-dir", str(scratch),
             str(path.resolve()), env=BUILD_ENV, subject=requirement)
        wheel = next(scratch.glob("*.whl"))
        _check_pure(wheel, target)
        _normalize_wheel(wheel, work / "built" / wheel.name)
        out.append(str(work / "built" / wheel.name))
    return out


def _resolve(wanted: list[str], wheels: Path, constraints: Path | None, target: Target, work: Path) -> None:
    """Every wheel the host needs, in `wheels`.

    pip stops at the first requirement with no wheel for the host, so each
    such miss is built from its sdist (if that gives a pure-Python wheel) into
    `built` and the whole set is resolved again with it on --find-links; the
    run that succeeds is still binary-only for the host's platform. A miss
    seen twice means the built wheel did not help, and pip's words stand.
    """
    built = work / "built"
    built.mkdir(exist_ok=True)
    tried: set[str] = set()
    while True:
        try:
            return _download(wanted, wheels, constraints, target, built)
        except PipFailed as failure:
            missing = failure.missing()
            if missing is None or missing in tried:
                raise
            tried.add(missing)
            _build_pure_wheel(missing, built, constraints, target, work, failure)


def _download(wanted: list[str], dest: Path, constraints: Path | None, target: Target, built: Path) -> None:
    # A run that failed may have left some of its wheels; only the last run's count.
    shutil.rmtree(dest, ignore_errors=True)
    _pip(
        "download", "--dest", str(dest), "--only-binary=:all:", *target.pip_args(),
        *_constraint_args(constraints), "--find-links", str(built), *wanted, target=target,
    )


def _constraint_args(constraints: Path | None) -> list[str]:
    return ["--constraint", str(constraints)] if constraints else []


def _build_pure_wheel(
    spec: str, built: Path, constraints: Path | None, target: Target, work: Path, failure: PipFailed,
) -> None:
    """The wheel for `spec` built from its sdist, into `built`, or why not.

    The sdist is chosen by pip for the host's Python (Requires-Python,
    constraints), then built in pip's isolated build environment with the
    control machine's Python, which is why only a pure-Python result is
    fit for the host. No sdist either means the first failure is the answer.
    """
    scratch = Path(tempfile.mkdtemp(prefix="sdist-", dir=work))
    try:
        _pip("download", "--dest", str(scratch), "--no-deps", "--no-binary", _project_name(spec),
             *target.pip_args(), *_constraint_args(constraints), spec, subject=spec, target=target)
    except PipFailed as again:
        raise failure if again.missing() else again
    sdist = next(scratch.iterdir(), None)
    if sdist is None:  # pip skipped it, e.g. on a marker: nothing to build
        raise failure
    # --ignore-requires-python: the host's Python was checked when choosing
    # the sdist, and the one running pip may be older. --no-cache-dir: at a
    # fresh temporary path, the sdist would only ever add to pip's wheel cache.
    _pip("wheel", "--no-deps", "--ignore-requires-python", "--no-cache-dir", "--wheel-dir", str(scratch / "wheel"),
         str(sdist), env=BUILD_ENV, subject=spec)
    wheel = next((scratch / "wheel").glob("*.whl"))
    _check_pure(wheel, target)
    _normalize_wheel(wheel, built / wheel.name)


def _project_name(spec: str) -> str:
    return re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec.strip()).group(0)


def _check_pure(wheel: Path, target: Target) -> None:
    """Refuse a wheel only the control machine could run: nothing on the host can build one."""
    parts = wheel.name[: -len(".whl")].split("-")
    python, abi, platform = parts[-3:]
    if python in PURE_PYTHON_TAGS and abi == "none" and platform == "any":
        return
    name, version = _pin(wheel.name).split("==")
    raise PyinfraError(
        f"app_source: {name} {version} has no wheel for {target.abi()}/{target.platform_tags()[0]} and builds "
        f"only as a platform wheel ({python}-{abi}-{platform}); publish or build a wheel for the host's platform "
        "and add it with app_extra_requirements (a path to the .whl) or pin a version that has one"
    )


def _normalize_wheel(src: Path, dest: Path) -> None:
    """Repack a wheel built here so that its bytes depend on its files alone.

    Not every build backend honours SOURCE_DATE_EPOCH, and a zip records
    each entry's date, order and mode, which would make each build's release
    id differ. The files themselves (and so RECORD) are kept as built, so the
    wheel stays valid; only the container is made canonical.
    """
    with zipfile.ZipFile(src) as whl:
        entries = [(i.filename, i.external_attr >> 16, whl.read(i)) for i in whl.infolist() if not i.is_dir()]
    # The wheel spec wants .dist-info last, RECORD at the very end.
    entries.sort(key=lambda e: (".dist-info/" in e[0], e[0].endswith(".dist-info/RECORD"), e[0]))
    with zipfile.ZipFile(dest, "w") as out:
        for name, mode, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.external_attr = (stat.S_IFREG | (0o755 if mode & 0o111 else 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(info, data)


def _release_id(tarball_sha256: str, salt: str) -> str:
    if not salt:
        return tarball_sha256[:12]
    return hashlib.sha256(f"{tarball_sha256}\0{salt}".encode()).hexdigest()[:12]


def _pin(wheel_name: str) -> str:
    name, version = wheel_name.split("-")[:2]
    return f"{re.sub(r'[-_.]+', '-', name).lower()}=={version}"


class PipFailed(Exception):
    """A pip run that failed, kept whole so that the caller can tell a
    missing wheel (worth building) from the rest, and explain it in one line."""

    def __init__(self, command: str, stdout: str, stderr: str, subject: str | None = None):
        super().__init__(f"pip {command} failed")
        self.command, self.stdout, self.stderr, self.subject = command, stdout, stderr, subject

    def missing(self) -> str | None:
        """The requirement pip found no distribution for, without pip's "(from ...)" trail."""
        found = re.search(r"No matching distribution found for (.+)", self.stderr) or re.search(
            r"Could not find a version that satisfies the requirement (.+?)(?: \(from versions:.*)?$",
            self.stderr, re.MULTILINE,
        )
        return re.sub(r"\s+\(from .*$", "", found.group(1).strip()) if found else None

    def explain(self, target: Target) -> str:
        lead = f"building the release failed: {pip_summary(self, target)}"
        return "\n".join(filter(None, [lead, pip_detail(self)]))


# pip with the host's environment markers (Target.markers): its vendored packaging
# reads default_environment() at every evaluation, so the host's values replace the
# running Python's for the whole resolution.
PIP_WITH_MARKERS = (
    "import json, sys\n"
    "from pip._vendor.packaging import markers\n"
    "host = json.loads(sys.argv.pop(1))\n"
    "running = markers.default_environment\n"
    "markers.default_environment = lambda: {**running(), **host}\n"
    "from pip._internal.cli.main import main\n"
    "sys.exit(main())\n"
)


def _pip(*args: str, env: dict[str, str] | None = None, subject: str | None = None,
         target: Target | None = None) -> None:
    """`target`: resolve for that host, its markers included (pip download)."""
    # Not -q: pip tells why a resolution conflicts only at the normal level, on stdout.
    pip = [sys.executable, "-c", PIP_WITH_MARKERS, json.dumps(target.markers())] if target else [sys.executable, "-m", "pip"]
    proc = subprocess.run(
        [*pip, "--disable-pip-version-check", args[0], "--progress-bar", "off", *args[1:]],
        capture_output=True, text=True, check=False, env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        raise PipFailed(args[0], proc.stdout, proc.stderr, subject)


def pip_summary(failure: PipFailed, target: Target) -> str:
    """One line naming what failed; pip's own lead line is often a 3,000-character version list."""
    err = failure.stderr
    if found := re.search(r"Package '([^']+)' requires a different Python: \S+ not in '([^']*)'", err):
        return f"pip found {found.group(1)} only for Python {found.group(2)}, not the host's {target.python}"
    if missing := failure.missing():
        return f"pip could not find a version of {missing} for {target.describe()}"
    if found := re.search(r"Cannot install (.+?) because these package versions have conflicting", err):
        return f"pip could not install {found.group(1)} together (conflicting dependencies)"
    if "DO NOT MATCH THE HASHES" in err:
        names = re.findall(r"^\s+(\S+) from \S+.*:\n\s+Expected", err, re.MULTILINE) or ["a requirement"]
        return f"pip found {', '.join(names)} with another hash than the requirements pin"
    if found := re.search(r"(\S+\.whl) is not a supported wheel on this platform", err):
        return f"{found.group(1)} is not a wheel for {target.describe()}"
    if "did not run successfully" in err or re.search(r"Failed (to build|building wheel)", err):
        return _build_summary(failure)
    lines = [line.removeprefix("ERROR: ") for line in err.splitlines() if line.startswith("ERROR: ")]
    lead = (lines or [line for line in err.splitlines() if line.strip()] or ["(no output)"])[0].strip()
    return f"pip {failure.command} failed: {lead[:200]}"


def _build_summary(failure: PipFailed) -> str:
    """Which package would not build and at which step; pip before 25 does
    not always name the package, then the requirement being built stands in."""
    err = failure.stderr
    named = (
        re.search(r"Failed to build '([^']+)'", err)
        or re.search(r"Failed building wheel for (\S+)", err)
        or re.search(r"generating package metadata\.\n\S+ (?:from )?(?!See above)(\S+)", err)
    )
    name = failure.subject or (named and named.group(1).rstrip("/").rsplit("/", 1)[-1]) or "a requirement"
    step = re.search(r"× (.+?) did not run successfully", err)
    if not step:
        return f"pip could not build {name}"
    step_name = re.sub(r" for \S+$", "", re.sub(r"\s*\([^)]*\)", "", step.group(1))).lower()
    return f"pip could not build {name}: {step_name} failed"


def pip_detail(failure: PipFailed, limit: int = 2000) -> str:
    """pip's own words, trimmed: version lists cut to their ends, and the
    conflict's cause (which pip prints on stdout) added."""
    text = re.sub(r"\(from versions: ([^)]*)\)", _short_versions, failure.stderr.strip())
    cause = re.search(r"^The conflict is caused by:\n.*?(?=\n\s*\n|\Z)", failure.stdout, re.MULTILINE | re.DOTALL)
    if cause:
        text += "\n" + cause.group(0)
    return text if len(text) <= limit else "…" + text[-limit:]


def _short_versions(found: re.Match) -> str:
    versions = [v.strip() for v in found.group(1).split(",")]
    if len(versions) <= 8:
        return found.group(0)
    return f"(from versions: {', '.join(versions[:3])}, …, {', '.join(versions[-3:])}; {len(versions)} in all)"


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
