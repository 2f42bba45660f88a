"""Escaping for the formats our templates write: each value that reaches a
file is quoted for that file's own grammar here, not in the template.

Settings are already free of control characters (groundwork.settings.schema);
these functions refuse them too, so a value from anywhere else cannot add a
line either.
"""

from __future__ import annotations

import json
import re
import shlex

_SYSTEMD_PLAIN = re.compile(r"[A-Za-z0-9_./:@,=+-]+")


def _single_line(value: str) -> str:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError(f"a control character in {value!r} would end the line")
    return value


def systemd_word(value: str) -> str:
    """One argument of a unit's ExecStart=, as systemd splits and expands it:
    double-quoted when needed, with `\\` and `"` escaped, `%` (specifiers) as
    `%%` and `$` (environment expansion) as `$$`."""
    value = _single_line(str(value))
    if _SYSTEMD_PLAIN.fullmatch(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'


def python_literal(value) -> str:
    """A Python literal for gunicorn.conf.py and other Python files (str, int, bool, lists of those).

    JSON's string escapes are all Python's too; it keeps double quotes, as the file had them.
    """
    if isinstance(value, str):
        _single_line(value)
    elif isinstance(value, (list, tuple)):
        return "[" + ", ".join(python_literal(item) for item in value) + "]"
    elif isinstance(value, bool) or value is None:
        return repr(value)
    elif not isinstance(value, int):
        raise TypeError(f"no Python literal for {type(value).__name__}")
    return json.dumps(value)


def shell_word(value: str) -> str:
    """One word of a POSIX shell script."""
    return shlex.quote(_single_line(str(value)))


def postgres_conf_value(value) -> str:
    """A postgresql.conf value: always single-quoted, `'` doubled and `\\` escaped,
    as the server's config lexer reads quoted strings."""
    value = _single_line(str(value))
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def environment_file_value(value) -> str:
    """A value of a systemd EnvironmentFile= (/etc/default/<service>): double-quoted,
    with `\\`, `"`, `$` and backtick escaped, so neither systemd nor a shell sourcing
    the file reads more than the value."""
    value = _single_line(str(value))
    return '"' + re.sub(r'([\\"$`])', r"\\\1", value) + '"'
