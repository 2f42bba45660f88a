"""Jinja2 templates as pyinfra compiles them, compiled once per template file, not once per run.

pyinfra's `get_template` compiles every template from its text in each run (a fresh
Environment per template): ~7 ms each, ~0.3 s of a no-op run of deploys/full.py,
where every template is rendered only to compare its digest with the host's file.
Here the same Environment settings (StrictUndefined, keep_trailing_newline, includes
resolved from the working directory) load a template file by its path through
Jinja2's bytecode cache (~/.cache/groundwork/jinja, 0700; keyed by the template's
path and source checksum, and Jinja2's and Python's versions): the output is what
pyinfra renders, and a changed file compiles again.
Anything but a plain template file (a file object, Environment arguments) goes to
pyinfra's own `get_template`.
"""

from __future__ import annotations

import os
from pathlib import Path

from jinja2 import (
    BaseLoader,
    Environment,
    FileSystemBytecodeCache,
    FileSystemLoader,
    StrictUndefined,
    Template,
)
from pyinfra.api import util as pyinfra_util

from .paths import control_cache_dir

_environments: dict[str, Environment] = {}  # working directory -> environment


def cache_dir() -> Path:
    return control_cache_dir() / "jinja"


class _PathLoader(BaseLoader):
    """A template by its absolute path; any other name (an include) as pyinfra's loader finds it."""

    def __init__(self, cwd: str):
        self.cwd_loader = FileSystemLoader(cwd)

    def get_source(self, environment, template):
        if os.path.isabs(template) and os.path.isfile(template):
            mtime = os.path.getmtime(template)
            with open(template, encoding="utf-8") as f:
                source = f.read()
            return source, template, lambda: os.path.getmtime(template) == mtime
        return self.cwd_loader.get_source(environment, template)


def _environment() -> Environment:
    cwd = os.getcwd()
    if cwd not in _environments:
        directory = cache_dir()
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            bytecode_cache = FileSystemBytecodeCache(str(directory))
        except OSError:
            bytecode_cache = None
        _environments[cwd] = Environment(
            undefined=StrictUndefined, keep_trailing_newline=True, loader=_PathLoader(cwd),
            bytecode_cache=bytecode_cache, auto_reload=True,
        )
    return _environments[cwd]


def get_template(filename_or_io, jinja_env_kwargs: dict | None = None) -> Template:
    """pyinfra.api.util.get_template's template, compiled at most once per file version."""
    if jinja_env_kwargs or not isinstance(filename_or_io, (str, os.PathLike)):
        return pyinfra_util.get_template(filename_or_io, jinja_env_kwargs)
    path = os.path.abspath(os.fspath(filename_or_io))
    if not os.path.isfile(path):
        return pyinfra_util.get_template(filename_or_io, jinja_env_kwargs)
    return _environment().get_template(path)
