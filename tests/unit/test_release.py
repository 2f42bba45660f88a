"""Release builds on the control machine (PyPI reachable, no host).

The sdist tests serve tiny packages from a directory with pip's index turned
off, so they need no network: see the `index` fixture.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest
from pyinfra.api.exceptions import PyinfraError

from groundwork.components.app.release import (
    ZIP_EPOCH,
    PipFailed,
    Target,
    build_release,
    source_kind,
)
from groundwork.paths import ROOT

TRIXIE = Target("3.13", "x86_64", "2.41")
HOST = "Python 3.13 on x86_64 (manylinux glibc 2.41)"  # TRIXIE, as messages say it
DEMOAPP = ROOT / "examples/demoapp"
DATA = Path(__file__).parent / "data" / "release"
BACKEND = DATA / "tinybackend.py"
C_STUB = """#include <Python.h>
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups"};
PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GROUNDWORK_RELEASE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_platform_tags_run_from_the_hosts_glibc_down_to_manylinux2014():
    tags = TRIXIE.platform_tags()
    assert tags[0] == "manylinux_2_41_x86_64" and tags[-3:] == [
        "manylinux_2_17_x86_64", "manylinux2014_x86_64", "linux_x86_64",
    ]


def test_source_kinds(tmp_path):
    assert source_kind(DEMOAPP) == "project"
    (tmp_path / "requirements.txt").write_text("flask\n")
    assert source_kind(tmp_path / "requirements.txt") == "requirements"
    with pytest.raises(PyinfraError) as exc:
        source_kind(tmp_path)
    assert str(exc.value) == f"app_source: {tmp_path} is a directory without pyproject.toml or setup.py"
    (tmp_path / "app.tar.gz").write_text("")
    with pytest.raises(PyinfraError) as exc:
        source_kind(tmp_path / "app.tar.gz")
    assert str(exc.value).startswith("app_source: expected a project directory, a .whl or a requirements .txt")


def test_project_release_is_reproducible_and_pins_everything_for_the_target(cache):
    first = build_release(DEMOAPP, "asgi", [], None, TRIXIE)
    names = {pin.split("==")[0] for pin in first.requirements}
    assert {"groundwork-demoapp", "gunicorn", "uvicorn-worker", "psycopg-binary", "pydantic-core"} <= names
    with tarfile.open(first.tarball) as tar:
        members = tar.getnames()
        assert "requirements.txt" in members
        # Binary wheels for the host's CPython 3.13, whatever Python builds them.
        assert any("cp313" in m and "pydantic_core" in m for m in members)
        assert all(m.uid == 0 and m.mtime == 0 for m in tar.getmembers())
    # Built again from nothing: the same bits, so the same release id.
    for path in sorted(cache.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    assert build_release(DEMOAPP, "asgi", [], None, TRIXIE).id == first.id
    assert build_release(DEMOAPP, "asgi", [], None, TRIXIE, salt="collectstatic").id != first.id


def test_wheel_and_requirements_sources_build_the_same_app(cache, tmp_path):
    project = build_release(DEMOAPP, "wsgi", [], None, TRIXIE)
    with tarfile.open(project.tarball) as tar:
        wheel = next(m for m in tar.getmembers() if m.name.startswith("wheels/groundwork_demoapp"))
        (tmp_path / wheel.name.split("/")[1]).write_bytes(tar.extractfile(wheel).read())
    whl = tmp_path / wheel.name.split("/")[1]
    from_wheel = build_release(whl, "wsgi", [], None, TRIXIE)
    assert from_wheel.requirements == project.requirements
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"{whl}\n")
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("gunicorn==23.0.0\n")
    pinned = build_release(requirements, "wsgi", [], constraints, TRIXIE)
    assert "gunicorn==23.0.0" in pinned.requirements


def test_missing_constraints_file_is_named(cache, tmp_path):
    with pytest.raises(PyinfraError) as exc:
        build_release(DEMOAPP, "asgi", [], tmp_path / "nope.txt", TRIXIE)
    assert str(exc.value) == f"app_constraints: no file at {tmp_path / 'nope.txt'}"


# -- sdists built on the control machine (offline: a directory is the index) --


def _project(root: Path, name: str, version: str, deps=(), c_extension=False, backend_extra="") -> Path:
    """A project built by tinybackend, which ships inside it (no build requirements to fetch)."""
    module = name.replace("-", "_")
    root.mkdir(parents=True)
    (root / f"{module}.py").write_text(f"VERSION = {version!r}\n")
    (root / "tinybackend.py").write_text(BACKEND.read_text() + backend_extra)
    tiny = f'modules = ["{module}.py"]\n'
    if c_extension:
        (root / "_speedups.c").write_text(C_STUB)
        tiny += 'c-extension = "_speedups"\n'
    dependencies = ", ".join(f'"{dep}"' for dep in deps)
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "tinybackend"\nbackend-path = ["."]\n\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\ndependencies = [{dependencies}]\n\n[tool.tiny]\n{tiny}'
    )
    (root / "PKG-INFO").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return root


def _sdist(index: Path, name: str, version: str, **kwargs) -> Path:
    """An sdist in the index, packed by hand as `python -m build --sdist` would."""
    stem = f"{name.replace('-', '_')}-{version}"
    project = _project(index.parent / "projects" / stem, name, version, **kwargs)
    with tarfile.open(index / f"{stem}.tar.gz", "w:gz") as tar:
        tar.add(project, arcname=stem)
    return index / f"{stem}.tar.gz"


def _backend():
    spec = importlib.util.spec_from_file_location("tinybackend", BACKEND)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wheel(dest: Path, project: Path, monkeypatch) -> Path:
    """The project's wheel, built in this process as pip would call the backend."""
    dest.mkdir(exist_ok=True)
    with monkeypatch.context() as m:
        m.chdir(project)
        return dest / _backend().build_wheel(str(dest))


@pytest.fixture
def index(tmp_path, monkeypatch):
    """A directory pip takes for the whole package index, with only a pure
    gunicorn wheel (the server requirement) in it; config files are ignored
    so that no other index or constraint on this machine takes part."""
    path = tmp_path / "index"
    path.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(path))
    _wheel(path, _project(tmp_path / "projects" / "gunicorn", "gunicorn", "23.0.0"), monkeypatch)
    return path


def _requirements(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def test_pure_python_sdists_are_built_into_wheels_the_host_installs(cache, index, tmp_path):
    _sdist(index, "tiny-app", "1.0", deps=["tiny-dep>=1"])
    _sdist(index, "tiny-dep", "1.2")
    release = build_release(_requirements(tmp_path, "tiny-app"), "wsgi", [], None, TRIXIE)
    assert release.requirements == ("gunicorn==23.0.0", "tiny-app==1.0", "tiny-dep==1.2")
    unpacked = tmp_path / "release"
    with tarfile.open(release.tarball) as tar:
        tar.extractall(unpacked, filter="data")
    assert sorted(p.name for p in (unpacked / "wheels").iterdir()) == [
        "gunicorn-23.0.0-py3-none-any.whl", "tiny_app-1.0-py3-none-any.whl", "tiny_dep-1.2-py3-none-any.whl",
    ]
    with zipfile.ZipFile(unpacked / "wheels" / "tiny_app-1.0-py3-none-any.whl") as whl:
        assert {info.date_time for info in whl.infolist()} == {ZIP_EPOCH}
        assert whl.namelist()[-1] == "tiny_app-1.0.dist-info/RECORD"
    # As a host installs it: no index, only the release's wheels.
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--find-links", str(unpacked / "wheels"),
         "--target", str(tmp_path / "site"), "-r", str(unpacked / "requirements.txt")],
        check=True,
    )
    assert (tmp_path / "site" / "tiny_dep.py").read_text() == "VERSION = '1.2'\n"


@pytest.mark.parametrize("host_python, wanted", [("3.11.2", True), ("3.11.7", False)])
def test_dependencies_follow_the_hosts_markers_not_the_control_machines(cache, index, tmp_path, monkeypatch,
                                                                        host_python, wanted):
    # As redis does for async-timeout: a 3.11.7 control machine once resolved a Debian 12 host
    # (3.11.2) without it, and the host's install failed.
    marker = "python_full_version < '3.11.3'"
    _wheel(index, _project(tmp_path / "projects" / "tiny-app", "tiny-app", "1.0", deps=[f"tiny-timeout>=1; {marker}"]),
           monkeypatch)
    _wheel(index, _project(tmp_path / "projects" / "tiny-timeout", "tiny-timeout", "1.0"), monkeypatch)
    host = Target("3.11", "x86_64", "2.36", host_python)
    release = build_release(_requirements(tmp_path, "tiny-app"), "wsgi", [], None, host)
    assert ("tiny-timeout==1.0" in release.requirements) is wanted, release.requirements


def test_a_vendored_sdist_given_by_path_is_built_into_a_wheel(cache, index, tmp_path):
    # app_extra_requirements naming a .tar.gz: pip download would pass it through as an sdist,
    # which a host without an index cannot build.
    vendored = _sdist(tmp_path / "vendor" if (tmp_path / "vendor").mkdir() is None else None, "tiny-vendored", "2.0")
    index_copy = tmp_path / "elsewhere.tar.gz"
    index_copy.write_bytes(vendored.read_bytes())
    vendored.unlink()  # only the path given: nothing of it on the index
    release = build_release(_requirements(tmp_path, "gunicorn"), "wsgi", [str(index_copy)], None, TRIXIE)
    assert "tiny-vendored==2.0" in release.requirements
    with tarfile.open(release.tarball) as tar:
        assert "wheels/tiny_vendored-2.0-py3-none-any.whl" in tar.getnames()
        assert not [n for n in tar.getnames() if n.endswith(".tar.gz")]


def test_a_release_with_built_sdists_has_the_same_id_every_time(cache, index, tmp_path, monkeypatch):
    _sdist(index, "tiny-app", "1.0")
    # The backend alone stamps random dates: its wheels differ build to build.
    project = _project(tmp_path / "direct", "tiny-app", "1.0")
    first, second = (_wheel(tmp_path / f"direct{n}", project, monkeypatch) for n in (1, 2))
    assert first.read_bytes() != second.read_bytes()
    requirements = _requirements(tmp_path, "tiny-app")
    release = build_release(requirements, "wsgi", [], None, TRIXIE)
    for path in sorted(cache.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    again = build_release(requirements, "wsgi", [], None, TRIXIE)
    assert again.id == release.id and again.tarball.read_bytes() == release.tarball.read_bytes()


def test_a_platform_sdist_is_refused_in_one_line(cache, index, tmp_path):
    _sdist(index, "tiny-speedups", "2.0", c_extension=True)
    python = f"cp{sys.version_info.major}{sys.version_info.minor}"
    tag = f"{python}-{python}-{sysconfig.get_platform().replace('-', '_').replace('.', '_')}"
    with pytest.raises(PyinfraError) as exc:
        build_release(_requirements(tmp_path), "wsgi", ["tiny-speedups==2.0"], None, TRIXIE)
    assert str(exc.value) == (
        f"app_source: tiny-speedups 2.0 has no wheel for cp313/manylinux_2_41_x86_64 and builds only as a "
        f"platform wheel ({tag}); publish or build a wheel for the host's platform and add it with "
        "app_extra_requirements (a path to the .whl) or pin a version that has one"
    )


def test_an_sdist_that_does_not_build_is_named_before_its_output(cache, index, tmp_path):
    _sdist(index, "tiny-broken", "0.1", backend_extra=(
        "\n\ndef get_requires_for_build_wheel(config_settings=None):\n    raise SystemExit('no compiler here')\n"
    ))
    with pytest.raises(PyinfraError) as exc:
        build_release(_requirements(tmp_path, "tiny-broken"), "wsgi", [], None, TRIXIE)
    first, detail = str(exc.value).split("\n", 1)
    assert first == (
        "building the release failed: pip could not build tiny-broken: getting requirements to build wheel failed"
    )
    assert "no compiler here" in detail


def test_a_requirement_with_nothing_published_is_named_for_the_host(cache, index, tmp_path):
    with pytest.raises(PyinfraError) as exc:
        build_release(_requirements(tmp_path), "wsgi", ["tiny-nowhere>=1"], None, TRIXIE)
    assert str(exc.value).splitlines()[0] == (
        f"building the release failed: pip could not find a version of tiny-nowhere>=1 for {HOST}"
    )


# pip's output captured on this machine (pip 26.3, and pip 24.0 for "-pip24"),
# with what the first line of the error must say.
CAPTURED = [
    ("not-found-versions", None, f"pip could not find a version of django<1.4 for {HOST}"),
    ("not-found-from-parent", None, f"pip could not find a version of tiny-dep>=1 for {HOST}"),
    ("conflict", None, "pip could not install tiny-dep==0.9 and tiny-pure==1.0 together (conflicting dependencies)"),
    ("requires-python", None, "pip found tiny-new only for Python >=3.14, not the host's 3.13"),
    ("unsupported-wheel", None, f"tiny_c-2.0-cp311-cp311-linux_x86_64.whl is not a wheel for {HOST}"),
    ("build-requirements-failed", None,
     "pip could not build tiny-broken: getting requirements to build wheel failed"),
    # pip 24 does not name the package here: the requirement being built does.
    ("build-requirements-failed-pip24", "tiny-broken",
     "pip could not build tiny-broken: getting requirements to build wheel failed"),
    ("metadata-failed", None, "pip could not build tiny-meta: preparing metadata failed"),
    ("build-wheel-failed", None, "pip could not build tiny-late: building wheel failed"),
    ("build-wheel-failed-pip24", None, "pip could not build tiny-late: building wheel failed"),
    ("hash-mismatch", None, "pip found tiny-dep==1.2 with another hash than the requirements pin"),
    ("invalid-requirement", None, (
        "pip download failed: Invalid requirement: 'tiny pure!!': Expected semicolon (after name with no version "
        "specifier) or end"
    )),
]


def _captured(name: str, subject: str | None = None) -> PipFailed:
    stdout = DATA / "pip-output" / f"{name}.stdout"
    stderr = (DATA / "pip-output" / f"{name}.stderr").read_text()
    return PipFailed("download", stdout.read_text() if stdout.exists() else "", stderr, subject)


@pytest.mark.parametrize(("name", "subject", "first_line"), CAPTURED, ids=[c[0] for c in CAPTURED])
def test_pip_failures_lead_with_one_line_naming_the_requirement(name, subject, first_line):
    message = _captured(name, subject).explain(TRIXIE)
    assert message.splitlines()[0] == f"building the release failed: {first_line}"
    assert len(message) < 2100


def test_pip_version_lists_are_cut_and_conflict_causes_kept():
    noise = _captured("not-found-versions").explain(TRIXIE)
    assert "(from versions: 1.5.2, 1.5.8, 1.5.12, …, 6.1.1, 6.1.2, 6.1.3; " in noise
    assert len(noise) < 700 < len(_captured("not-found-versions").stderr)
    conflict = _captured("conflict").explain(TRIXIE)
    assert (
        "The conflict is caused by:\n    The user requested tiny-dep==0.9\n    tiny-pure 1.0 depends on tiny-dep>=1"
    ) in conflict
