"""Release builds on the control machine (PyPI reachable, no host)."""

from __future__ import annotations

import tarfile

import pytest
from pyinfra.api.exceptions import PyinfraError

from groundwork.paths import ROOT
from groundwork.components.app.release import Target, build_release, source_kind

TRIXIE = Target("3.13", "x86_64", "2.41")
DEMOAPP = ROOT / "examples/demoapp"


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
