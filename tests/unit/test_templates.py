"""groundwork's Jinja2 templates, rendered exactly as pyinfra's files.template renders them.

pyinfra.api.util.get_template is what files.template uses: StrictUndefined and
keep_trailing_newline=True, so these outputs are byte-for-byte what lands on hosts.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import jinja2.meta
import pytest
from pyinfra.api.util import get_template

from groundwork.paths import TEMPLATES, template

HEADER = "# managed by groundwork; local edits are overwritten"

ALL_TEMPLATES = sorted(TEMPLATES.rglob("*.j2"))


def render(path: str, **data) -> str:
    return get_template(template(path)).render(data)


def test_template_path_maps_to_the_j2_file():
    assert template("etc/default/locale") == str(TEMPLATES / "etc" / "default" / "locale.j2")
    assert template("/etc/default/locale") == template("etc/default/locale")
    assert Path(template("etc/systemd/journald.conf.d/groundwork.conf")).is_file()


def test_templates_dir_is_the_repository_templates_dir():
    assert TEMPLATES == Path(__file__).resolve().parents[2] / "templates"


def test_journald_template():
    assert render("etc/systemd/journald.conf.d/groundwork.conf", max_use="500M") == (
        f"{HEADER}\n[Journal]\nSystemMaxUse=500M\n"
    )


def test_locale_template():
    assert render("etc/default/locale", locale="en_US.UTF-8") == f"{HEADER}\nLANG=en_US.UTF-8\n"


@pytest.mark.parametrize(
    "path, data",
    [
        ("etc/systemd/journald.conf.d/groundwork.conf", {"max_use": "1G"}),
        ("etc/default/locale", {"locale": "C.UTF-8"}),
    ],
)
def test_rendered_first_line_is_the_header(path, data):
    assert render(path, **data).splitlines()[0] == HEADER


@pytest.mark.parametrize(
    "path, variable",
    [
        ("etc/systemd/journald.conf.d/groundwork.conf", "max_use"),
        ("etc/default/locale", "locale"),
    ],
)
def test_missing_variable_is_an_error(path, variable):
    with pytest.raises(jinja2.UndefinedError) as exc:
        render(path)
    assert str(exc.value) == f"'{variable}' is undefined"


@pytest.mark.parametrize(
    "path, variables",
    [
        # Exactly the keyword arguments deploys pass (groundwork/components/base.py).
        ("etc/systemd/journald.conf.d/groundwork.conf", {"max_use"}),
        ("etc/default/locale", {"locale"}),
    ],
)
def test_template_variables(path, variables):
    source = Path(template(path)).read_text()
    env = jinja2.Environment()
    assert jinja2.meta.find_undeclared_variables(env.parse(source)) == variables


def test_the_same_render_with_plain_jinja2():
    path = template("etc/default/locale")
    with open(path) as f:
        tpl = jinja2.Template(f.read(), undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    assert tpl.render(locale="de_DE.UTF-8") == f"{HEADER}\nLANG=de_DE.UTF-8\n"


@pytest.mark.parametrize("path", ["etc/nope", "/etc/nope"])
def test_unknown_template(path):
    with pytest.raises(FileNotFoundError) as exc:
        template(path)
    assert str(exc.value) == f"no template for /etc/nope at {TEMPLATES}/etc/nope.j2"


def test_template_needs_the_j2_suffix_added_not_given():
    with pytest.raises(FileNotFoundError) as exc:
        template("etc/default/locale.j2")
    assert str(exc.value) == (
        f"no template for /etc/default/locale.j2 at {TEMPLATES}/etc/default/locale.j2.j2"
    )


def test_known_templates_are_all_found():
    names = [p.relative_to(TEMPLATES).as_posix() for p in ALL_TEMPLATES]
    assert "etc/default/locale.j2" in names
    assert "etc/systemd/journald.conf.d/groundwork.conf.j2" in names


@pytest.mark.parametrize("path", ALL_TEMPLATES, ids=lambda p: p.relative_to(TEMPLATES).as_posix())
def test_every_template_starts_with_the_header(path):
    lines = path.read_text().split("\n", 2)
    # A script's first line must be its interpreter; the header comes right after.
    first_line = lines[1] if lines[0].startswith("#!") else lines[0]
    assert first_line == HEADER


@pytest.mark.parametrize("server, hooked", [("asgi", True), ("wsgi", False)])
def test_gunicorn_config_lets_retiring_uvicorn_workers_read_what_they_accepted(server, hooked):
    from groundwork.components.app.deploy import gunicorn_vars
    from groundwork.components.app.settings import AppSettings

    rendered = render("etc/NAME/gunicorn.conf.py", app_name="shop", **gunicorn_vars(AppSettings(server=server), 2))
    namespace: dict = {}
    exec(compile(rendered, "gunicorn.conf.py", "exec"), namespace)  # what Gunicorn does with it
    assert namespace["workers"] == 5 and namespace["bind"] == ["unix:/run/app/gunicorn.sock"]
    assert callable(namespace.get("post_worker_init")) is hooked
