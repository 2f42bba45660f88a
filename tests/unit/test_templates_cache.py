"""groundwork.templates renders every template as pyinfra's get_template does, compiles a
template file once across runs (Jinja2's bytecode cache), and again when it changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader, StrictUndefined, UndefinedError
from pyinfra.api import util as pyinfra_util

from groundwork import templates

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(templates, "_environments", {})
    return tmp_path


def _render_both(path: Path, context: dict) -> tuple[str, str]:
    return (templates.get_template(str(path)).render(context),
            pyinfra_util.get_template(str(path)).render(context))


def test_same_output_as_pyinfra_keeping_trailing_newlines_and_whitespace(fresh):
    path = fresh / "t.conf.j2"
    path.write_text("a = {{ a }}\n{% for x in xs %}  - {{ x }}\n{% endfor %}\n\nend {{ a | upper }}\n\n")
    ours, theirs = _render_both(path, {"a": "b", "xs": [1, 2]})
    assert ours == theirs and ours.endswith("\n\n")


def test_an_undefined_name_is_an_error_as_in_pyinfra(fresh):
    path = fresh / "t.j2"
    path.write_text("{{ missing }}")
    with pytest.raises(UndefinedError):
        templates.get_template(str(path)).render({})


def test_every_template_of_the_repository_compiles_the_same(fresh):
    sources = sorted(p for p in (ROOT / "templates").rglob("*") if p.is_file()) + sorted(
        p for p in (ROOT / "groundwork" / "components").rglob("templates/**/*") if p.is_file())
    assert len(sources) > 20
    # pyinfra's Environment, as pyinfra.api.util.get_template makes it
    pyinfra_environment = Environment(undefined=StrictUndefined, keep_trailing_newline=True,
                                      loader=FileSystemLoader(os.getcwd()))
    for path in sources:
        source = path.read_text()
        # the Python code each compiles the template to: the same code renders the same text
        assert templates._environment().compile(source, raw=True) == pyinfra_environment.compile(source, raw=True), path
        templates.get_template(str(path))  # compiles and caches


def test_compiled_once_across_runs_and_again_when_the_file_changes(fresh, monkeypatch):
    path = fresh / "t.j2"
    path.write_text("one {{ x }}\n")
    assert templates.get_template(str(path)).render(x=1) == "one 1\n"
    cached = list((fresh / "cache" / "groundwork" / "jinja").iterdir())
    assert len(cached) == 1

    # a new process: a fresh environment loads the compiled code, no compile
    monkeypatch.setattr(templates, "_environments", {})
    compiled = []
    original = templates.Environment._compile
    monkeypatch.setattr(templates.Environment, "_compile",
                        lambda self, *a, **k: compiled.append(a) or original(self, *a, **k))
    assert templates.get_template(str(path)).render(x=2) == "one 2\n"
    assert compiled == []

    path.write_text("two {{ x }}\n")
    monkeypatch.setattr(templates, "_environments", {})
    assert templates.get_template(str(path)).render(x=3) == "two 3\n"
    assert len(compiled) == 1


def test_a_file_object_goes_to_pyinfra(fresh):
    from io import StringIO

    assert templates.get_template(StringIO("x={{ x }}")).render(x=1) == "x=1"
