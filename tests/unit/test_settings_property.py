"""Property: no setting value that passes validation adds a line, a key or a word to a file.

For each example one setting of a valid host (group_data/lab.py's settings, plus
what a full deploy needs) is replaced by a generated value. The strategies come
from the settings classes themselves (groundwork.components.SETTINGS_CLASSES and
their field types), so a new setting is covered without editing this file:
hostile text for strings (newlines, quotes, backslashes, `$(`, backticks, `;`,
`%`, `{{`, Unicode line and space separators), the field's default and lab
values, those values with a hostile fragment put in, plausible values of every
kind (addresses, paths, URLs), ints from negative to huge, lists and dicts of
those, Literal choices, nested classes as dicts.

Then either validation (build_fleet + check_fleet) raises SettingsError naming
the setting (or, for a rule across fields, a sibling setting of the same
component: postgres_roles=[] is refused as postgres_databases[0].owner), or the
full deploy is planned (groundwork.testing.render) and every
file it writes passes its format's parser and keeps the shape of the baseline
render (the base data). The rules, per file (dest path on the host):

- systemd units and drop-ins (/etc/systemd/**): systemd's unit syntax
  (sections, Key=Value, comments, backslash continuations, split on "\\n" only);
  the (section, key) pairs equal the baseline's (none new; none missing unless
  the value switches a part off); each assignment keeps its `%` specifiers and
  `$` expansions, and its number of words as systemd splits them (quotes, C
  escapes), unless the value is a command run as its own words (celery_command:
  by the difference of its shell words) or switches a part on or off.
- *.py: compile(); top-level names: no new ones (none missing either, unless the
  value switches a part, as app_server does); gunicorn.conf.py's bind addresses
  as Gunicorn's parse_address reads them.
- shell (/usr/local/{bin,sbin}/*, renewal hooks, #!/bin/sh|bash, backup.conf,
  the /etc/profile block): `bash -n`; line count as below; and a text value with
  shell metacharacters occurs in no more unquoted (or, for `$`/backtick/`"`/`\\`,
  double-quoted) places than in the baseline. The planned shell commands get the
  same quoting check and `bash -n`.
- postgresql.conf drop-ins: postgresql.conf's lexer (`name [=] value`, a bare
  token or a '...' string with '' and backslash escapes, # comments); names as
  the baseline's, or with postgres_conf set, the tuning's plus its keys; every
  postgres_conf value reads back as given.
- pg_hba.conf: each host line has a CIDR address (an address without /mask makes
  Postgres read the method as the mask).
- /etc/NAME/env: systemd EnvironmentFile lines KEY="..."; keys as the
  baseline's, or with app_environment set, the rest plus its keys; its values
  read back as given ($$ as $; values with ${database.*}-style references skipped).
- nginx: nginx's tokenizer (ngx_conf_read_token: quotes and # at a word's start, ; { });
  no new (enclosing blocks, directive, ";" or "{") statement.
- Redis: redis.conf lines split as Redis's config loader does (quotes balanced),
  no new directive; users.acl split as Redis's ACL loader does (single spaces):
  the app user's rules are exactly the rules validation checked, each of a shape
  ACL SETUSER takes.
- everything else: the line count equals the baseline's, unless the value is a
  list, dict or nested value, a Literal choice, or falsy on either side (None,
  empty, False, 0): such a value may add or remove a repeated line or a section
  ({% for %}, {% if %}), a single text or number never a line of its own.

Files are matched to the baseline by path with the app name, the Postgres
major version and the names of the app's timers and processes taken out; files
only one side has (a toggle, app_config_files) are parsed but not compared.

A deploy that refuses a value while it is planned (PyinfraError, OSError,
jinja2's errors; nothing has run on a host yet) counts as rejected when its
message names the setting, and is listed as a late rejection otherwise; any
other exception fails the property.

Known findings (KNOWN_FINDINGS) are recorded instead of failing the property and
pinned by xfail(strict=True) tests at the end, so the property keeps guarding the
rest; findings fixed since stay there as plain regression tests.

The module prints how many cases ran (with what came of them) at its end.
GROUNDWORK_PROPERTY_SCALE=4 runs four times as many examples (a longer hunt).
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import functools
import ipaddress
import os
import re
import runpy
import shlex
import subprocess
import time
import types
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin

import jinja2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyinfra.api.exceptions import PyinfraError

from groundwork.components import SETTINGS_CLASSES
from groundwork.components.app.wiring import REFERENCE
from groundwork.paths import ROOT
from groundwork.settings import SettingsError
from groundwork.settings.schema import MISSING, _fields
from groundwork.testing.render import rendered_files

# The CI budget: about a minute and a half on a 2-core machine for the whole module.
# GROUNDWORK_PROPERTY_SCALE=4 tries four times as many values (a longer local hunt).
SCALE = float(os.environ.get("GROUNDWORK_PROPERTY_SCALE", "1"))
TEXT_EXAMPLES = max(1, round(16 * SCALE))
OTHER_EXAMPLES = max(1, round(3 * SCALE))

# --- the base host data ---------------------------------------------------------------------------


def _lab_settings() -> dict:
    """group_data/lab.py's settings (its imports and private names left out)."""
    values = runpy.run_path(str(ROOT / "group_data" / "lab.py"))
    return {k: v for k, v in values.items()
            if not k.startswith("_") and not isinstance(v, (types.ModuleType, types.FunctionType, type))}


LAB = _lab_settings()
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBnyQ8BQ4jJtF1Bb3SRHd0Vdd3XD5zj5k8Wz0D7OU2tq ops@lab"
BASE: dict[str, Any] = {
    **LAB,
    # The source only has to exist: the harness builds no release.
    "app_source": str(ROOT / "examples" / "demoapp"),
    "app_config_files": [{"src": str(ROOT / "examples" / "demoapp" / "deploy" / "demoapp.ini.j2"),
                          "dest": "/etc/demoapp/demoapp.ini"}],
    "app_environment": {"SECRET_KEY": "lab-secret-not-secret", "FEATURE": "on"},
    "base_hostname": "h1",
    "base_admin_users": [{"name": "ops", "ssh_keys": [SSH_KEY]}],
    "base_extra_packages": ["htop"],
    "nginx_server_names": ["h1.groundwork.test"],
    "nginx_rate_limits": [{"location": "/api/", "rate": "10r/s"}],
    "celery_queues": ["default", "mail"],
    "postgres_conf": {"work_mem": "16MB", "log_min_duration_statement": "250ms"},
    "backups_webhook_url": "https://hooks.example.test/backup?token=lab",
    "firewall_extra_openings": [{"port": 8443, "sources": ["10.0.0.0/24"], "comment": "extra"}],
    "certbot_email": "ops@example.test",
    # The same as celery_app alone would start, spelled out, so a changed command has one to compare with.
    "celery_command": "python -m celery --app demoapp.tasks:celery_app",
    "app_health_host": "h1.groundwork.test",
    "app_packages": ["libpq5"],
    "app_processes": [{"name": "flower", "command": "celery --app demoapp.tasks flower --port=5555"}],
}
# Base values of settings whose validation costs a process (app_timers' schedule runs
# systemd-analyze calendar): only the examples that change them start from these, and
# are compared with a baseline that has them (baseline_for).
BASE_OF_ONE = {
    "app_timers": [{"name": "cleanup", "command": "demoapp-migrate --check", "schedule": "hourly"}],
    # Set, it adds the location nginx's status server proxies to the app: compared with one that has it.
    "monitoring_app_metrics_path": "/metrics",
}


def base_value(key: str) -> Any:
    """The value a setting has in the host data its examples change."""
    if key in BASE_OF_ONE:
        return BASE_OF_ONE[key]
    return BASE[key] if key in BASE else _field_default(key)

# --- strategies from the settings classes ---------------------------------------------------------

# Fragments that stay on the line (quotes, escapes, separators of every format), and those that
# would end it (validation refuses control characters everywhere: fewer draws go there).
SAME_LINE = [
    "'", '"', "\\", "\\'", '\\"', "\\n", "''", "$(id)", "`id`", ";", "&", "|", "%", "%H", "$HOME", "${X}",
    "{{", "}}", "{", "}", "#", "=", " ", " -x ", "\u00a0", "\u3000", "/../", " nopass", "(+@all)", "*",
]
LINE_BREAKS = ["\n", "\r", "\r\n", "\x00", "\t", "\x0b", "\x1b", "\x85", "\u2028", "\u2029", "\\\n",
               "\n[Service]\nExecStartPre=/bin/true\n", "\nimport os\n"]
# What breaks most formats: drawn half the time; line breaks one time in eight (validation
# refuses control characters in every text, one rule: a few draws prove it).
CORE = ["'", '"', "\\", "$", "`", "%", ";", "{", "#", " "]
FRAGMENTS = SAME_LINE + LINE_BREAKS
fragment = st.one_of(*[st.sampled_from(CORE)] * 4, *[st.sampled_from(SAME_LINE)] * 3, st.sampled_from(LINE_BREAKS))
PLAUSIBLE = [
    "", "a", "app", "x y", "10.0.0.5", "10.0.0.0/24", "10.0.0.0/255.0.0.0", "10.0.0.1/0.0.0.255", "::1",
    "fe80::1%eth0", "[::1]:8000", "::1:8000", "0.0.0.0:8000", "10.0.0.5:8000", "*", "any", "localhost",
    "-::1", "app.example.com", "*.example.com", "/health", "/api/", "/var/backups/x", "/etc/passwd",
    "10r/s", "16MB", "3600 1", "500M", "10m", "1h", "30d", "256mb", "03:30", "027", "0640", "UTC",
    "Europe/Berlin", "en_US.UTF-8", "C.UTF-8", "UTF8", "vector", "pg_trgm", "app.tasks:celery_app",
    "demoapp.asgi:app", "pkg.mod:create()", "https://example.com/hook", "http://x", "ops@example.com",
    "postgresql://u:p@db:5432/app", "redis://u:p@cache:6379/0", "age1" + "q" * 58, SSH_KEY, "htop",
    "on", "off", "nopass", "+@all -@admin -@dangerous", "~* (+@all)", "~* +@slow", "-1", "0", "true",
    "NEW_VAR", "x_y", "shared_buffers",
]
HUGE = 2**63


def _samples(cls: type, name: str, default: Any) -> list:
    """The field's default and its values in the base data (nested fields: the lists' items)."""
    found = [] if default is MISSING else [default]
    prefix = getattr(cls, "prefix", None)
    if prefix is not None:
        key = f"{prefix}_{name}"
        if key in BASE or key in BASE_OF_ONE:
            found.append(base_value(key))
    else:
        # A nested class: every dict in the base data that has this field.
        def walk(value):
            if isinstance(value, Mapping):
                if name in value:
                    found.append(value[name])
                for item in value.values():
                    walk(item)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    walk(item)

        walk([BASE, BASE_OF_ONE])
    return found


def _valid_atoms(f: dataclasses.Field, tp: Any) -> list:
    """The PLAUSIBLE values the field's own check accepts (as the item of a list for a list field):
    seeds that get past the check, to put hostile fragments into."""
    check = f.metadata.get("check")
    inner, _ = _split_optional(tp)
    origin = get_origin(inner)
    if origin is dict:
        # Keys the check accepts, as a dict of one (its values are drawn as text).
        return [{atom: "x"} for atom in PLAUSIBLE if _check_accepts(check, {atom: "x"})]
    if inner is str:
        return [atom for atom in PLAUSIBLE if _check_accepts(check, atom)]
    if origin is list and _split_optional(get_args(inner)[0])[0] is str:
        return [[atom] for atom in PLAUSIBLE if _check_accepts(check, (atom,))]
    return []


def _check_accepts(check, value) -> bool:
    try:
        return check is None or check(value) is None
    except Exception:  # noqa: BLE001 (a check that cannot take the value does not accept it)
        return False


def _default(f: dataclasses.Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def _split_optional(tp):
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


hostile_text = st.lists(
    st.one_of(fragment, st.text(alphabet="abcXYZ019_-./:", min_size=1, max_size=4)), min_size=1, max_size=6,
).map("".join)


def _with_fragment(sample: str):
    return st.tuples(st.integers(0, len(sample)), st.lists(fragment, min_size=1, max_size=3)).map(
        lambda t: sample[: t[0]] + "".join(t[1]) + sample[t[0]:]
    )


def text_strategy(samples: list) -> st.SearchStrategy:
    """Mostly known-good text with a hostile fragment put in: that is what gets past lax checks."""
    texts = sorted({s for s in samples if isinstance(s, str)})
    plausible = st.sampled_from(PLAUSIBLE).flatmap(_with_fragment)
    if not texts:
        return st.one_of(plausible, plausible, st.sampled_from(PLAUSIBLE), hostile_text)
    own = st.sampled_from(texts).flatmap(_with_fragment)
    # texts as they are: other valid values (another time zone, a plausible address the check takes).
    return st.one_of(own, own, st.sampled_from(texts), plausible, st.sampled_from(PLAUSIBLE), hostile_text)


ints = st.one_of(
    st.integers(-3, 70000), st.sampled_from([0, -1, 1, 2**31, -(2**31), 2**63, HUGE * HUGE, 65535, 65536]),
    st.integers(-HUGE, HUGE),
)


def value_strategy(tp: Any, samples: list) -> st.SearchStrategy:
    inner, nullable = _split_optional(tp)
    strategy = _inner_strategy(inner, samples)
    return st.one_of(strategy, st.none()) if nullable else strategy


def _replace_item(seed_index_item):
    seed, index, item = seed_index_item
    index %= len(seed) + 1
    return seed[:index] + [item] + seed[index + 1:]


def _inner_strategy(tp: Any, samples: list) -> st.SearchStrategy:
    origin, args = get_origin(tp), get_args(tp)
    if tp is str:
        return text_strategy(samples)
    if tp is bool:
        return st.booleans()
    numbers = sorted({s for s in samples if isinstance(s, (int, float)) and not isinstance(s, bool)})
    if tp is int:
        if numbers:
            # Near a known-good value first (likely valid), then anything.
            return st.one_of(st.sampled_from(numbers).flatmap(lambda v: st.integers(v - 3, v + 3)), ints)
        return ints
    if tp is float:
        near = [st.sampled_from(numbers).flatmap(lambda v: st.floats(v / 2, v * 1.5))] if numbers else []
        return st.one_of(*near, st.floats(0, 1), st.floats(allow_nan=True, allow_infinity=True), ints)
    if origin is Literal:
        choices = st.sampled_from(args)
        if all(isinstance(a, str) for a in args):
            return st.one_of(choices, choices.flatmap(_with_fragment))
        return choices
    if origin is list:
        items = [i for s in samples if isinstance(s, (list, tuple)) for i in s]
        item = value_strategy(args[0], items)
        fresh = st.lists(item, min_size=1, max_size=3)
        texts = sorted({i for i in items if isinstance(i, str)})
        if _split_optional(args[0])[0] is str and texts:
            # Known-good items only (the base's, and the plausible values the check accepts):
            # one bad item would have the whole list rejected.
            fresh = st.one_of(st.lists(st.sampled_from(texts), min_size=1, max_size=2), fresh)
        seeds = [list(s) for s in samples if isinstance(s, (list, tuple)) and s]
        if not seeds:
            return st.one_of(fresh, fresh, st.just([]))
        # One item of a known-good list replaced (or one added): one change at a time.
        replaced = st.tuples(st.sampled_from(seeds), st.integers(0, 8), item).map(_replace_item)
        return st.one_of(replaced, replaced, replaced, fresh, st.just([]))
    if origin is dict:
        keys = sorted({k for s in samples if isinstance(s, Mapping) for k in s})
        values = [v for s in samples if isinstance(s, Mapping) for v in s.values() if v != "x"]
        item = value_strategy(args[1], values)
        # Mostly keys that pass (a bad key would have the whole dict rejected), sometimes hostile ones.
        key = st.one_of(st.sampled_from(keys), st.sampled_from(keys), text_strategy(keys)) if keys else text_strategy([])
        fresh = st.dictionaries(key, item, min_size=1, max_size=2)
        seeds = [dict(s) for s in samples if isinstance(s, Mapping) and s and set(s.values()) != {"x"}]
        if not seeds:
            return st.one_of(fresh, fresh, st.just({}))
        value_changed = st.tuples(st.sampled_from(seeds), st.integers(0, 8), item).map(
            lambda t: {**t[0], sorted(t[0])[t[1] % len(t[0])]: t[2]})
        key_added = st.tuples(st.sampled_from(seeds), key, item).map(lambda t: {**t[0], t[1]: t[2]})
        return st.one_of(value_changed, value_changed, key_added, fresh, st.just({}))
    if dataclasses.is_dataclass(tp):
        return nested_strategy(tp, samples)
    raise TypeError(f"no strategy for settings type {tp!r}")


def nested_strategy(cls: type, samples: list) -> st.SearchStrategy:
    """A nested settings class as a dict: a known-good one with one field replaced, or built from scratch."""
    fields = {f.name: (f, tp) for f, tp in _fields(cls)}
    per_field = {name: value_strategy(tp, _samples(cls, name, _default(f)) + _valid_atoms(f, tp))
                 for name, (f, tp) in fields.items()}
    required = {name: per_field[name] for name, (f, _) in fields.items() if _default(f) is MISSING}
    optional = {name: per_field[name] for name, (f, _) in fields.items() if _default(f) is not MISSING}
    fresh = st.fixed_dictionaries(required, optional=optional)
    seeds = [dict(s) for s in samples if isinstance(s, Mapping)]
    if not seeds:
        return fresh
    one_changed = st.sampled_from(seeds).flatmap(
        lambda seed: st.sampled_from(sorted(fields)).flatmap(
            lambda name: per_field[name].map(lambda v: {**seed, name: v})))
    return st.one_of(one_changed, one_changed, one_changed, fresh)


def _is_text_type(tp: Any) -> bool:
    """Whether text can reach a file through this type (str, or containers/classes holding str)."""
    inner, _ = _split_optional(tp)
    origin, args = get_origin(inner), get_args(inner)
    if inner is str:
        return True
    if origin in (list, dict):
        return _is_text_type(args[-1]) or origin is dict
    if dataclasses.is_dataclass(inner):
        return any(_is_text_type(t) for _, t in _fields(inner))
    return False


SETTING_TYPES: dict[str, Any] = {}
STRATEGIES: dict[str, st.SearchStrategy] = {}
for _cls in SETTINGS_CLASSES:
    for _f, _tp in _fields(_cls):
        _key = f"{_cls.prefix}_{_f.name}"
        SETTING_TYPES[_key] = _tp
        STRATEGIES[_key] = value_strategy(_tp, _samples(_cls, _f.name, _default(_f)) + _valid_atoms(_f, _tp))

TEXT_KEYS = sorted(k for k, tp in SETTING_TYPES.items() if _is_text_type(tp))
OTHER_KEYS = sorted(k for k in SETTING_TYPES if k not in TEXT_KEYS)


def _text_fields(tp: Any) -> int:
    """How many text fields a value of this type has (a nested class counts each of its own)."""
    inner, _ = _split_optional(tp)
    origin, args = get_origin(inner), get_args(inner)
    if inner is str:
        return 1
    if origin in (list, dict):
        return _text_fields(args[-1]) + (origin is dict)
    if dataclasses.is_dataclass(inner):
        return sum(_text_fields(t) for _, t in _fields(inner))
    return 0


def examples_for(key: str) -> int:
    """Values tried per setting: more for text, and more for nested values with several text fields."""
    if key in OTHER_KEYS:
        return OTHER_EXAMPLES
    return max(1, round(TEXT_EXAMPLES * (1 + 0.5 * (min(_text_fields(SETTING_TYPES[key]), 5) - 1))))


def test_every_setting_has_a_strategy():
    assert set(STRATEGIES) == {f"{c.prefix}_{f.name}" for c in SETTINGS_CLASSES for f, _ in _fields(c)}
    assert TEXT_KEYS and OTHER_KEYS


# --- parsers ---------------------------------------------------------------------------------------


class FormatError(AssertionError):
    pass


def lines_of(text: str) -> list[str]:
    """Lines as Unix tools read them: split on "\\n" only (a U+2028 is no line break to systemd)."""
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")


_SYSTEMD_WS = " \t\n\r"
_C_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
              '"': '"', "'": "'", "s": " "}


@functools.lru_cache(maxsize=1024)
def systemd_unit(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) of each assignment, as systemd's unit parser reads the file."""
    out, section, pending = [], None, None
    for number, raw in enumerate(lines_of(text), 1):
        line = raw.strip(_SYSTEMD_WS)
        if pending is not None:
            if line.startswith(("#", ";")):
                continue  # comments inside a continuation are skipped
            line = pending + " " + line
            pending = None
        elif not line or line.startswith(("#", ";")):
            continue
        if line.endswith("\\"):
            pending = line[:-1]
            continue
        if line.startswith("["):
            if not line.endswith("]") or len(line) < 3:
                raise FormatError(f"line {number}: bad section header {line!r}")
            section = line[1:-1]
            continue
        if "=" not in line:
            raise FormatError(f"line {number}: missing '=' in {line!r}")
        if section is None:
            raise FormatError(f"line {number}: assignment outside of a section")
        key, value = line.split("=", 1)
        key = key.strip(_SYSTEMD_WS)
        if not re.fullmatch(r"[A-Za-z0-9_-]+", key):
            raise FormatError(f"line {number}: bad key {key!r}")
        out.append((section, key, value.strip(_SYSTEMD_WS)))
    if pending is not None:
        out.append((section, "<continuation>", pending))
    return out


def _cunescape(s: str, i: int) -> tuple[str, int]:
    c = s[i]
    if c in _C_ESCAPES:
        return _C_ESCAPES[c], i + 1
    if c == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", s[i + 1:i + 3]):
        return chr(int(s[i + 1:i + 3], 16)), i + 3
    if c in "01234567" and re.fullmatch(r"[0-7]{3}", s[i:i + 3]):
        return chr(int(s[i:i + 3], 8)), i + 3
    if c == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", s[i + 1:i + 5]):
        return chr(int(s[i + 1:i + 5], 16)), i + 5
    if c == "U" and re.fullmatch(r"[0-9a-fA-F]{8}", s[i + 1:i + 9]):
        return chr(int(s[i + 1:i + 9], 16)), i + 9
    raise FormatError(f"unknown escape \\{c} in {s!r}")


def systemd_words(s: str) -> list[str]:
    """A command line split as systemd splits ExecStart= (quotes, C escapes)."""
    words, i, n = [], 0, len(s)
    while True:
        while i < n and s[i] in _SYSTEMD_WS:
            i += 1
        if i >= n:
            return words
        word, quote = [], None
        while i < n:
            c = s[i]
            if quote is None and c in _SYSTEMD_WS:
                break
            if c == "\\":
                if i + 1 >= n:
                    raise FormatError(f"trailing backslash in {s!r}")
                char, i = _cunescape(s, i + 1)
                word.append(char)
                continue
            if quote is None and c in "'\"":
                quote = c
            elif c == quote:
                quote = None
            else:
                word.append(c)
            i += 1
        if quote is not None:
            raise FormatError(f"unbalanced quote in {s!r}")
        words.append("".join(word))


def _specifiers(word: str) -> list[str]:
    found, i = [], 0
    while i < len(word):
        if word[i] == "%":
            if i + 1 >= len(word):
                raise FormatError(f"a lone % ends {word!r}")
            if word[i + 1] != "%":
                found.append(word[i + 1])
            i += 2
        else:
            i += 1
    return found


def _expansions(word: str) -> list[str]:
    return re.findall(r"(?<!\$)(?:\$\$)*\$(\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)", word)


def unit_signature(key: str, value: str) -> tuple:
    """What a value can change without adding a key: the words systemd sees, specifiers, expansions."""
    words = systemd_words(value) if key.startswith("Exec") or key == "Environment" else value.split()
    spec = tuple(s for w in words for s in _specifiers(w))
    expand = tuple(e for w in words for e in _expansions(w)) if key.startswith("Exec") else ()
    return len(words), spec, expand


@functools.lru_cache(maxsize=1024)
def unit_signatures(text: str) -> dict:
    """(section, key, n-th time) -> unit_signature of the value, for each assignment of a unit."""
    seen, out = {}, {}
    for section, key, value in systemd_unit(text):
        n = seen[(section, key)] = seen.get((section, key), 0) + 1
        out[(section, key, n)] = unit_signature(key, value)
    return out


def _word_deltas(key: str, value: Any) -> set[int]:
    """How many words a value may add to a command line: none, unless it is itself a command that
    is run as its words (celery_command): then the difference in its own shell words. A value
    that switches a part on or off (None, empty, False, 0 on either side) may add or remove words."""
    base = base_value(key)
    if not value or not base or isinstance(value, bool):
        return set(range(-64, 65))
    deltas = {0}
    if isinstance(value, str) and isinstance(base, str):
        try:
            deltas.add(len(shlex.split(value)) - len(shlex.split(base)))
        except ValueError:
            pass
    return deltas


@functools.lru_cache(maxsize=1024)
def python_names(text: str) -> set[str]:
    tree = ast.parse(compile(text, "<rendered>", "exec", ast.PyCF_ONLY_AST))
    names = set()
    for node in tree.body:
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(a.asname or a.name.split(".")[0] for a in node.names)
        elif not isinstance(node, ast.If):
            names.add(f"<{type(node).__name__}>")
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name):
                    names.add(sub.id)
    return names


_PG_NAME = r"[A-Za-z_][A-Za-z0-9_$]*(?:\.[A-Za-z_][A-Za-z0-9_$]*)?"
_PG_BARE = r"[A-Za-z_][A-Za-z0-9_$]*|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[A-Za-z]*|0x[0-9a-fA-F]+|" + _PG_NAME
_PG_QUOTED = r"'(?:[^'\\\n]|\\.|'')*'"
_PG_LINE = re.compile(rf"\s*({_PG_NAME})\s*=?\s*({_PG_QUOTED}|{_PG_BARE})\s*(?:#.*)?")


def _pg_unquote(token: str) -> str:
    if not token.startswith("'"):
        return token
    body, out, i = token[1:-1], [], 0
    escapes = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
    while i < len(body):
        c = body[i]
        if c == "'":  # ''
            out.append("'")
            i += 2
        elif c == "\\":
            nxt = body[i + 1]
            if nxt in escapes:
                out.append(escapes[nxt])
                i += 2
            elif nxt in "01234567":
                digits = re.match(r"[0-7]{1,3}", body[i + 1:]).group()
                out.append(chr(int(digits, 8)))
                i += 1 + len(digits)
            else:
                out.append(nxt)
                i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def gunicorn_binds(text: str) -> list:
    """gunicorn.conf.py's `bind`, each address as Gunicorn's util.parse_address reads it."""
    binds = []
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "bind" for t in node.targets):
            binds = ast.literal_eval(node.value)
    for address in [binds] if isinstance(binds, str) else binds:
        if address.startswith(("unix:", "fd://")):
            continue
        netloc = address.removeprefix("tcp://")
        if "[" in netloc and "]" in netloc:
            port = (netloc.split("]:") + ["8000"])[1]
        elif ":" in netloc:
            port = (netloc.split(":") + ["8000"])[1]
        else:
            port = "8000"
        if not port.isdigit():
            raise FormatError(f"Gunicorn reads the port of bind {address!r} as {port!r} and refuses to start")
    return binds


@functools.lru_cache(maxsize=1024)
def postgres_conf(text: str) -> dict[str, str]:
    """name -> value as the server's config lexer reads them; FormatError on a line it rejects."""
    params = {}
    for number, line in enumerate(lines_of(text), 1):
        if not line.strip() or line.strip().startswith("#"):
            continue
        match = _PG_LINE.fullmatch(line)
        if not match:
            raise FormatError(f"line {number}: syntax error in {line!r}")
        params[match.group(1)] = _pg_unquote(match.group(2))
    return params


@functools.lru_cache(maxsize=1024)
def pg_hba(text: str) -> list[list[str]]:
    rows = []
    for number, line in enumerate(lines_of(text), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if any(w.startswith('"') for w in words):
            raise FormatError(f"line {number}: a quoted field {line!r}")
        kind = words[0]
        if kind == "local":
            if len(words) < 4:
                raise FormatError(f"line {number}: too few fields")
        elif kind in ("host", "hostssl", "hostnossl"):
            if len(words) < 5:
                raise FormatError(f"line {number}: too few fields")
            address = words[3]
            ip, slash, bits = address.partition("/")
            try:
                parsed = ipaddress.ip_address(ip)
            except ValueError:
                parsed = None
            if slash:
                if parsed is None or "%" in ip or not bits.isdigit() or int(bits) > parsed.max_prefixlen:
                    raise FormatError(f"line {number}: invalid CIDR address {address!r}")
            elif parsed is not None:
                # Postgres then reads the next field, the method, as the IP mask.
                raise FormatError(f"line {number}: address {address!r} without a CIDR mask")
            elif not re.fullmatch(r"[A-Za-z0-9.-]+|all|samehost|samenet", address):
                raise FormatError(f"line {number}: bad address {address!r}")
        else:
            raise FormatError(f"line {number}: unknown connection type {kind!r}")
        rows.append(words)
    return rows


_ENV_LINE = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


@functools.lru_cache(maxsize=1024)
def env_file(text: str) -> dict[str, str]:
    """KEY -> value as systemd's EnvironmentFile= reads the lines groundwork writes."""
    env = {}
    for number, line in enumerate(lines_of(text), 1):
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        match = _ENV_LINE.fullmatch(line)
        if not match:
            raise FormatError(f"line {number}: not KEY=\"...\": {line!r}")
        # systemd: inside double quotes a backslash escapes " \\ ` $ (and a newline); others stay.
        value = re.sub(r'\\(["\\`$])|\\(.)', lambda m: m.group(1) or "\\" + m.group(2), match.group(2))
        env[match.group(1)] = value
    return env


def nginx_tokens(text: str) -> list:
    """Statements as nginx's config reader (ngx_conf_read_token) splits them: a list of
    (words, ";" or "{") and "}" for a block's end. A quote opens a quoted word only at the
    start of a word, `#` starts a comment only there, `${` stays in its word."""
    events, args = [], []
    last_space, sharp, quoted, s_quoted, d_quoted, variable, need_space = True, False, False, False, False, False, False
    start = 0
    for i, ch in enumerate(text):
        if ch == "\n" and sharp:
            sharp = False
        if sharp:
            continue
        if quoted:
            quoted = False
            continue
        if need_space:
            if ch in " \t\r\n":
                last_space, need_space = True, False
                continue
            if ch in ";{":
                events.append((args, ch))
                args, last_space, need_space = [], True, False
                continue
            if ch == ")":
                last_space, need_space = True, False
            else:
                raise FormatError(f"unexpected {ch!r} after a quoted word")
        if last_space:
            start = i
            if ch in " \t\r\n":
                continue
            if ch in ";{":
                if not args:
                    raise FormatError(f"unexpected {ch!r}")
                events.append((args, ch))
                args = []
                continue
            if ch == "}":
                if args:
                    raise FormatError("unexpected '}'")
                events.append("}")
                continue
            if ch == "#":
                sharp = True
                continue
            last_space = False
            if ch == "\\":
                quoted = True
            elif ch == '"':
                start, d_quoted = i + 1, True
            elif ch == "'":
                start, s_quoted = i + 1, True
            elif ch == "$":
                variable = True
            continue
        if ch == "{" and variable:
            continue
        variable = False
        if ch == "\\":
            quoted = True
            continue
        if ch == "$":
            variable = True
            continue
        found = False
        if d_quoted:
            if ch == '"':
                d_quoted, need_space, found = False, True, True
        elif s_quoted:
            if ch == "'":
                s_quoted, need_space, found = False, True, True
        elif ch in " \t\r\n;{":
            last_space, found = True, True
        if found:
            args.append(re.sub(r'\\(["\'\\])', r"\1", text[start:i]))
            if ch in ";{":
                events.append((args, ch))
                args = []
    if args or not last_space or d_quoted or s_quoted:
        raise FormatError("unexpected end of file")
    return events


@functools.lru_cache(maxsize=1024)
def nginx_pairs(text: str) -> set[tuple[tuple[str, ...], str, str]]:
    """(enclosing blocks, directive, ";" or "{") of every statement of an nginx config file."""
    pairs, stack = set(), []
    for event in nginx_tokens(text):
        if event == "}":
            if not stack:
                raise FormatError("unexpected '}'")
            stack.pop()
            continue
        words, end = event
        pairs.add((tuple(stack), words[0], end))
        if end == "{":
            stack.append(words[0])
    if stack:
        raise FormatError("unexpected end of file, expecting '}'")
    return pairs


def redis_args(line: str) -> list[str]:
    """A redis.conf line split as Redis's config loader splits it (sdssplitargs)."""
    args, i, n = [], 0, len(line)
    while True:
        while i < n and line[i] in " \t\r\n\v\f":
            i += 1
        if i >= n:
            return args
        word = []
        if line[i] in "\"'":
            quote = line[i]
            i += 1
            while True:
                if i >= n:
                    raise FormatError(f"unbalanced quotes in {line!r}")
                if line[i] == "\\" and i + 1 < n:
                    word.append(line[i + 1])
                    i += 2
                elif line[i] == quote:
                    i += 1
                    if i < n and line[i] not in " \t\r\n\v\f":
                        raise FormatError(f"closing quote must be followed by a space in {line!r}")
                    break
                else:
                    word.append(line[i])
                    i += 1
        else:
            while i < n and line[i] not in " \t\r\n\v\f":
                word.append(line[i])
                i += 1
        args.append("".join(word))


# The shape of every rule Redis's ACL SETUSER takes (command and category names not checked).
ACL_RULE = re.compile(
    r"on|off|nopass|resetpass|reset|allkeys|resetkeys|allchannels|resetchannels|allcommands|nocommands"
    r"|clearselectors|skip-sanitize-payload|sanitize-payload|[<>].*|[#!][0-9a-f]{64}|~.+|%R?W?~.+|&.+"
    r"|[+-]@[a-z]+|[+-][a-z][a-z0-9_.-]*(?:\|[a-z0-9_.-]+)?|\(.*\)",
    re.IGNORECASE,
)


# --- shell --------------------------------------------------------------------------------------

SHELL_SPECIAL = set("$`;|&<>()'\"\\ *?[]#~{}\t")
DOUBLE_QUOTE_SPECIAL = set("$`\"\\")


@functools.lru_cache(maxsize=4096)
def shell_contexts(text: str) -> str:
    """Per character: u unquoted (or inside $(...)/backticks), s single-quoted, d double-quoted,
    q a quote that opens or closes quoting, e escaped by a backslash, c comment. A light lexer,
    good enough for the quoting groundwork emits."""
    out, stack, i, n = [], ["u"], 0, len(text)
    at_word_start = True
    while i < n:
        top, c = stack[-1], text[i]
        if top in ("u", "p", "b"):
            if c == "\\":
                out += ["e", "e"][: n - i]
                i += 2
                at_word_start = False
                continue
            if c == "#" and at_word_start:
                while i < n and text[i] != "\n":
                    out.append("c")
                    i += 1
                continue
            context = "u"
            if c == "'":
                stack.append("s")
                context = "q"
            elif c == '"':
                stack.append("d")
                context = "q"
            elif c == "$" and text[i + 1:i + 2] == "'":
                stack.append("a")
                out.append("q")
                i += 1
                context = "q"
            elif c == "$" and text[i + 1:i + 2] == "(":
                stack.append("p")
                out.append("u")
                i += 1
            elif c == ")" and top == "p":
                stack.pop()
            elif c == "`":
                if top == "b":
                    stack.pop()
                else:
                    stack.append("b")
            out.append(context)
            at_word_start = c in " \t\n;|&()"
            i += 1
        elif top == "s":
            if c == "'":
                stack.pop()
                out.append("q")
            else:
                out.append("s")
            i += 1
        elif top == "a":
            if c == "\\":
                out += ["a", "a"][: n - i]
                i += 2
                continue
            if c == "'":
                stack.pop()
                out.append("q")
            else:
                out.append("a")
            i += 1
        else:  # double quotes
            if c == "\\" and text[i + 1:i + 2] in ('$', "`", '"', "\\", "\n"):
                out += ["e", "e"]
                i += 2
                continue
            if c == "$" and text[i + 1:i + 2] == "(":
                stack.append("p")
                out += ["d", "d"]
                i += 2
                continue
            if c == "`":
                stack.append("b")
                out.append("d")
            elif c == '"':
                stack.pop()
                out.append("q")
            else:
                out.append("d")
            i += 1
    return "".join(out)


def exposed(text: str, value: str) -> int:
    """How often `value` occurs in `text` with a shell-special character of it not quoted."""
    contexts, count, start = shell_contexts(text), 0, 0
    while (at := text.find(value, start)) >= 0:
        for j, c in enumerate(value):
            ctx = contexts[at + j] if at + j < len(contexts) else "u"
            if (ctx in "upb" and c in SHELL_SPECIAL) or (ctx == "d" and c in DOUBLE_QUOTE_SPECIAL):
                count += 1
                break
        start = at + 1
    return count


@functools.lru_cache(maxsize=4096)
def bash_syntax_error(text: str) -> str | None:
    proc = subprocess.run(["bash", "-n"], input=text.encode("utf-8", "surrogateescape"), capture_output=True,
                          timeout=30, check=False)
    return proc.stderr.decode(errors="replace").strip() or None if proc.returncode else None


# --- classifying and comparing files -----------------------------------------------------------------


def kind_of(dest: str, text: str) -> str:
    if dest.startswith("/etc/systemd/"):
        return "systemd"
    if dest.endswith(".py"):
        return "python"
    if re.fullmatch(r"/etc/postgresql/[^/]+/main/conf\.d/[^/]+\.conf", dest):
        return "postgresql.conf"
    if re.fullmatch(r"/etc/postgresql/[^/]+/main/pg_hba\.conf", dest):
        return "pg_hba"
    if re.fullmatch(r"/etc/[^/]+/env", dest) and text.startswith("# managed by groundwork"):
        return "env"
    if dest.startswith("/etc/nginx/"):
        return "nginx"
    if dest == "/etc/redis/users.acl":
        return "redis-acl"
    if dest.startswith("/etc/redis/"):
        return "redis"
    if (dest.startswith(("/usr/local/bin/", "/usr/local/sbin/", "/etc/letsencrypt/renewal-hooks/"))
            or re.match(r"#!\s*/(usr/)?bin/(env )?(ba)?sh\b", text)
            or dest in ("/etc/groundwork/backup/backup.conf", "/etc/profile [block]")):
        return "shell"
    return "other"


def logical_path(dest: str, app_name: str) -> str:
    """The path with the app's name and the Postgres major taken out, to match the baseline's file."""
    dest = re.sub(r"^/etc/postgresql/[^/]+/main/", "/etc/postgresql/VERSION/main/", dest)
    for exact, name in ((f"/usr/local/bin/{app_name}-run", "/usr/local/bin/NAME-run"),
                        (f"/usr/local/sbin/groundwork-activate-{app_name}", "/usr/local/sbin/groundwork-activate-NAME"),
                        (f"/etc/systemd/system/{app_name}.service", "/etc/systemd/system/NAME.service"),
                        (f"/etc/systemd/system/{app_name}-celery-worker.service",
                         "/etc/systemd/system/NAME-celery-worker.service"),
                        (f"/etc/systemd/system/{app_name}-celery-beat.service",
                         "/etc/systemd/system/NAME-celery-beat.service"),
                        (f"/etc/nginx/sites-available/{app_name}.conf", "/etc/nginx/sites-available/NAME.conf")):
        if dest == exact:
            return name
    if dest.startswith(f"/etc/{app_name}/"):
        return "/etc/NAME/" + dest[len(f"/etc/{app_name}/"):]
    # The app's timers and processes, by their template (their names are settings too).
    unit = re.fullmatch(rf"/etc/systemd/system/{re.escape(app_name)}-(timer|proc)-[^/]+\.(service|timer)", dest)
    if unit:
        return f"/etc/systemd/system/NAME-{unit[1]}-X.{unit[2]}"
    return dest


def text_leaves(value: Any) -> list[str]:
    """Every string in a value (dict keys too)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for k, v in value.items() for s in (*text_leaves(k), *text_leaves(v))]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in text_leaves(v)]
    return []


def shape_may_change(key: str, value: Any) -> bool:
    """Whether the value may add or remove repeated lines or sections: containers, and None/empty
    (or booleans, or Literal choices) on either side of the base value."""
    base = base_value(key)

    def toggles(v):
        # Falsy values switch template parts off ({% if hsts_max_age %}, TMOUT=0 ...).
        return isinstance(v, bool) or not v

    inner, _ = _split_optional(SETTING_TYPES[key])
    return (isinstance(value, (list, tuple, dict)) or toggles(value) or toggles(base)
            or get_origin(inner) is Literal)


@functools.cache
def _field_default(key: str) -> Any:
    for cls in SETTINGS_CLASSES:
        for f, _ in _fields(cls):
            if f"{cls.prefix}_{f.name}" == key:
                return _default(f)
    raise KeyError(key)


class Baseline:
    def __init__(self, data: dict):
        self.data = data
        self.files = rendered_files(data)
        self.app_name = self.files.settings.app.name
        self.by_logical = {logical_path(d, self.app_name): t for d, t in self.files.items()}


# The base data, and variants whose keys other renders are compared against.
VARIANTS = {"base": {}, "no postgres_conf": {"postgres_conf": {}}, "no app_environment": {"app_environment": {}},
            **{key: {key: value} for key, value in BASE_OF_ONE.items()}}


@functools.cache
def baseline(variant: str = "base") -> Baseline:
    return Baseline({**BASE, **VARIANTS[variant]})


def check_file(key: str, value: Any, dest: str, text: str, base_text: str | None, files) -> None:
    """Raise FormatError when `text` (the file at `dest` with BASE[key] = value; `files` the whole
    render) breaks its format or gains a line, key or word the baseline file (`base_text`) does not have."""
    kind = kind_of(dest, text)
    leaves = [v for v in text_leaves(value) if v]
    if kind == "systemd":
        entries = systemd_unit(text)
        if base_text is not None:
            base_entries = systemd_unit(base_text)
            pairs, base_pairs = {(s, k) for s, k, _ in entries}, {(s, k) for s, k, _ in base_entries}
            _same_keys("keys", pairs, base_pairs, key, value)
            theirs = unit_signatures(base_text)
            for where, (words, spec, expand) in unit_signatures(text).items():
                if where not in theirs:
                    continue
                base_words, base_spec, base_expand = theirs[where]
                if (spec, expand) != (base_spec, base_expand):
                    raise FormatError(f"[{where[0]}] {where[1]}=: specifiers {spec} and expansions {expand} "
                                      f"instead of the baseline's {base_spec} and {base_expand}")
                if words != base_words and words - base_words not in _word_deltas(key, value):
                    raise FormatError(f"[{where[0]}] {where[1]}=: {words} words instead of the baseline's "
                                      f"{base_words}")
        else:
            unit_signatures(text)
        return
    if kind == "python":
        try:
            names = python_names(text)
        except SyntaxError as exc:
            raise FormatError(f"does not compile: {exc}") from None
        if dest.endswith("/gunicorn.conf.py"):
            gunicorn_binds(text)
        if base_text is not None:
            base_names = python_names(base_text)
            if names - base_names:
                raise FormatError(f"new top-level names {sorted(names - base_names)}")
            if not shape_may_change(key, value) and names != base_names:
                raise FormatError(f"top-level names {sorted(names ^ base_names)} differ")
        return
    if kind == "postgresql.conf":
        params = postgres_conf(text)
        if base_text is not None:
            if key == "postgres_conf" and isinstance(value, Mapping):
                tuning = baseline("no postgres_conf").by_logical
                expected = {n for t in _pg_conf_files(tuning) for n in postgres_conf(t)} | set(value)
                names = set(params) | {n for t in _pg_conf_files(files) for n in postgres_conf(t)}
                if not names <= expected:
                    raise FormatError(f"parameters {sorted(names - expected)} that postgres_conf does not set")
                for name, wanted in value.items():
                    if name in params and params[name] != wanted:
                        raise FormatError(f"{name} reads back as {params[name]!r}, not {wanted!r}")
            else:
                _same_keys("parameters", set(params), set(postgres_conf(base_text)), key, value)
        return
    if kind == "pg_hba":
        pg_hba(text)
    elif kind == "env":
        env = env_file(text)
        if base_text is not None:
            if key == "app_environment" and isinstance(value, Mapping):
                rest = set(env_file(baseline("no app_environment").by_logical["/etc/NAME/env"]))
                if set(env) != rest | set(value):
                    raise FormatError(f"keys {sorted(set(env) ^ (rest | set(value)))} differ")
                for name, wanted in value.items():
                    # ${database.password} and the like are replaced, $$ is a literal $.
                    if any(m.group(1) for m in REFERENCE.finditer(wanted)):
                        continue
                    expected = REFERENCE.sub("$", wanted)
                    if env.get(name) != expected:
                        raise FormatError(f"{name} reads back as {env.get(name)!r}, not {expected!r}")
            else:
                _same_keys("keys", set(env), set(env_file(base_text)), key, value)
            for url_key, env_key in (("app_database_url", "DATABASE_URL"), ("app_redis_url", "REDIS_URL")):
                if key == url_key and isinstance(value, str) and env.get(env_key) != value:
                    raise FormatError(f"{env_key} reads back as {env.get(env_key)!r}, not {value!r}")
        return
    elif kind == "nginx":
        pairs = nginx_pairs(text)
        if base_text is not None and pairs - nginx_pairs(base_text):
            raise FormatError(f"new directives {sorted(pairs - nginx_pairs(base_text))}")
    elif kind == "redis":
        directives = {redis_args(line)[0] for line in lines_of(text)
                      if line.strip() and not line.lstrip().startswith("#")}
        if base_text is not None:
            base_directives = {redis_args(line)[0] for line in lines_of(base_text)
                               if line.strip() and not line.lstrip().startswith("#")}
            if directives - base_directives:
                raise FormatError(f"new directives {sorted(directives - base_directives)}")
    elif kind == "redis-acl":
        settings = files.settings.redis
        for line in lines_of(text):
            args = [a for a in line.strip(" \t\r\n").split(" ") if a]
            if not args:
                continue
            if args[0] != "user" or len(args) < 2:
                raise FormatError(f"not a user line: {line!r}")
            if args[1] == settings.app_user and args[4:] != settings.app_acl.split():
                raise FormatError(f"Redis reads the app user's rules as {args[4:]!r}, validation checked "
                                  f"{settings.app_acl.split()!r}")
            bad = [rule for rule in args[2:] if not ACL_RULE.fullmatch(rule)]
            if bad:
                raise FormatError(f"Redis refuses the ACL rules {bad!r} (and with them the whole file)")
    elif kind == "shell":
        error = bash_syntax_error(text)
        if error:
            raise FormatError(f"bash -n: {error}")
        if base_text is not None:
            for leaf in leaves:
                if set(leaf) & SHELL_SPECIAL and exposed(text, leaf) > exposed(base_text, leaf):
                    raise FormatError(f"{leaf!r} occurs unquoted")
    lines, base_lines = len(lines_of(text)), len(lines_of(base_text or ""))
    if base_text is not None and not shape_may_change(key, value) and lines != base_lines:
        raise FormatError(f"{lines} lines instead of the baseline's {base_lines}")


def _same_keys(what: str, mine: set, theirs: set, key: str, value: Any) -> None:
    """No new keys ever; none missing either, unless the value may switch a part off."""
    if mine - theirs:
        raise FormatError(f"new {what} {sorted(mine - theirs)}")
    if theirs - mine and not shape_may_change(key, value):
        raise FormatError(f"{what} {sorted(theirs - mine)} missing")


def _pg_conf_files(files: Mapping) -> list[str]:
    return [t for d, t in files.items() if kind_of(d, t) == "postgresql.conf"]


def check_commands(key: str, value: Any, commands: list[str], base_commands: list[str]) -> None:
    """The commands this value changed parse (`bash -n`), and it occurs unquoted no more than in the baseline."""
    known = set(base_commands)
    changed = [c for c in commands if c not in known]
    for command in changed:
        error = bash_syntax_error(command)
        if error:
            raise FormatError(f"bash -n of {command[:300]!r}: {error}")
    base_joined = "\n".join(base_commands)
    for leaf in text_leaves(value):
        if leaf and set(leaf) & SHELL_SPECIAL:
            for command in changed:
                if exposed(command, leaf) > exposed(base_joined, leaf):
                    raise FormatError(f"{leaf!r} occurs unquoted in the command {command[:300]!r}")


# --- outcomes --------------------------------------------------------------------------------------

# Late refusals: the deploy refused the value while it was planned (nothing ran on a host yet).
LATE_REFUSALS = (PyinfraError, OSError, jinja2.TemplateError)


@dataclasses.dataclass
class Tally:
    cases: int = 0
    rejected: int = 0
    rendered: int = 0
    refused_naming_key: int = 0
    seconds: float = 0.0
    late_refusals: dict = dataclasses.field(default_factory=dict)  # key -> (value, message)
    known: dict = dataclasses.field(default_factory=dict)  # key -> (value, message)
    related: dict = dataclasses.field(default_factory=dict)  # key -> (value, problem naming a sibling)
    tried: set = dataclasses.field(default_factory=set)  # settings with an example
    rendered_keys: set = dataclasses.field(default_factory=set)  # settings with an example that rendered


TALLY = Tally()

# Findings this suite pins with xfail(strict=True) tests below: key -> what in the message marks it.
# None open: each one found was fixed and stays below as a plain regression test.
KNOWN_FINDINGS: dict[str, str] = {}


class Violation(AssertionError):
    pass


def outcome(key: str, value: Any) -> str:
    """'rejected', 'refused' or 'rendered'; Violation when a value passed validation and broke a file."""
    data = {**BASE, key: value}
    try:
        files = rendered_files(data)
    except SettingsError as exc:
        if any(key in problem for problem in exc.problems):
            return "rejected"
        # A rule across fields names the field it checks (postgres_roles=[] makes
        # postgres_databases[0].owner wrong): fine within the same settings class.
        prefix = _prefix_of(key)
        if all(re.match(rf"host \S+: {prefix}_", p) for p in exc.problems):
            TALLY.related.setdefault(key, (value, exc.problems[0]))
            return "rejected"
        raise Violation(f"{key}={value!r}: SettingsError names other settings only: {exc.problems}") from None
    except LATE_REFUSALS as exc:
        message = str(exc)
        if key not in message:
            TALLY.late_refusals.setdefault(key, (value, f"{type(exc).__name__}: {message[:300]}"))
        return "refused"
    base = baseline(key if key in BASE_OF_ONE else "base")
    problems = []
    try:
        check_commands(key, value, files.commands, base.files.commands)
    except FormatError as exc:
        problems.append(f"planned commands: {exc}")
    for dest, text in files.items():
        base_text = base.by_logical.get(logical_path(dest, files.settings.app.name))
        try:
            check_file(key, value, dest, text, base_text, files)
        except FormatError as exc:
            leaves = sorted((v for v in text_leaves(value) if v), key=len, reverse=True)
            line = next((ln for leaf in leaves for ln in lines_of(text) if leaf in ln), "")
            problems.append(f"{dest}: {exc}" + (f"; line: {line[:200]!r}" if line else ""))
    if problems:
        raise Violation(f"{key}={value!r} passed validation, then: " + " | ".join(problems))
    return "rendered"


def _prefix_of(key: str) -> str:
    return max((c.prefix for c in SETTINGS_CLASSES if key.startswith(c.prefix + "_")), key=len)


def assert_rejected_or_harmless(key: str, value: Any) -> str:
    result = outcome(key, value)
    assert result in ("rejected", "rendered"), f"{key}={value!r}: {result}"
    return result


# --- the property ------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def report(request):
    yield
    lines = [
        (f"settings property: {TALLY.cases} hypothesis cases in {TALLY.seconds:.1f} s: {TALLY.rejected} rejected "
         f"by validation, {TALLY.refused_naming_key} refused while planned (naming the setting), "
         f"{TALLY.rendered} rendered and checked"),
        *(f"  late refusal, not naming the setting: {k}={v!r}: {m}" for k, (v, m) in TALLY.late_refusals.items()),
        *(f"  known finding: {k}={v!r}: {m}" for k, (v, m) in TALLY.known.items()),
        *(f"  rejected under a sibling's name: {k}={v!r}: {m}" for k, (v, m) in TALLY.related.items()),
    ]
    never = sorted(TALLY.tried - TALLY.rendered_keys)
    if never:
        lines.append(f"  no example of these passed validation (only rejections were checked): {', '.join(never)}")
    # Past pytest's capture, so the count shows in a passing run too.
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print("\n" + "\n".join(lines))


def _property(key: str, value: Any) -> None:
    started = time.monotonic()
    TALLY.cases += 1
    try:
        result = outcome(key, value)
    except Violation as exc:
        marker = KNOWN_FINDINGS.get(key)
        if marker is not None and marker in str(exc):
            TALLY.known.setdefault(key, (value, str(exc)[:400]))
            TALLY.tried.add(key)
            TALLY.rendered_keys.add(key)
            return
        raise
    finally:
        TALLY.seconds += time.monotonic() - started
    TALLY.rejected += result == "rejected"
    TALLY.rendered += result == "rendered"
    TALLY.refused_naming_key += result == "refused"
    TALLY.tried.add(key)
    if result == "rendered":
        TALLY.rendered_keys.add(key)


# Every setting gets its own run, so each is tried: those that carry text (where quoting can
# go wrong) TEXT_EXAMPLES times and more for nested values, the others (ints, booleans,
# Literal choices) OTHER_EXAMPLES times (examples_for).
PROPERTY_SETTINGS = {"deadline": None, "derandomize": True, "database": None, "print_blob": False,
                     "suppress_health_check": list(HealthCheck)}


@pytest.mark.parametrize("key", TEXT_KEYS)
def test_text_setting_is_rejected_or_renders_without_new_lines(key):
    run_property(key)


@pytest.mark.parametrize("key", OTHER_KEYS)
def test_other_setting_is_rejected_or_renders_without_new_lines(key):
    run_property(key)


def run_property(key: str) -> None:
    @settings(max_examples=examples_for(key), **PROPERTY_SETTINGS)
    @given(data=st.data())
    def one_setting_changed(data):
        _property(key, data.draw(STRATEGIES[key], label=key))

    one_setting_changed()


def test_the_baseline_renders_every_component():
    files = baseline().files
    kinds = {kind_of(d, t) for d, t in files.items()}
    assert {"systemd", "python", "postgresql.conf", "pg_hba", "env", "nginx", "redis", "redis-acl", "shell",
            "other"} <= kinds
    for dest, text in files.items():
        check_file("base_timezone", "UTC", dest, text, text, files)
    assert any("certbot certonly" in c for c in files.commands)


def test_the_harness_leaves_no_patch_behind():
    from pyinfra.api.host import Host

    from groundwork.operations import files

    before = (Host.get_fact, files.template, files.put, files.checked_template)
    baseline().files  # noqa: B018
    rendered_files(BASE)
    assert (Host.get_fact, files.template, files.put, files.checked_template) == before


# --- the known attacks ----------------------------------------------------------------------------------


def test_a_newline_in_a_celery_queue_name():
    assert_rejected_or_harmless("celery_queues", ["default\n[Service]\nExecStartPre=/bin/sh -c id"])
    assert_rejected_or_harmless("celery_queues", ["default --purge"])


def test_a_command_substitution_in_the_health_path():
    assert assert_rejected_or_harmless("app_health_path", "/health$(id)") == "rejected"
    assert_rejected_or_harmless("app_health_path", "/health'`id`'")


def test_a_quote_and_newline_in_forwarded_allow_ips():
    assert_rejected_or_harmless("app_forwarded_allow_ips", ['127.0.0.1"\nimport os\nos.system("id")\n#'])
    assert_rejected_or_harmless("app_forwarded_allow_ips", ['127.0.0.1", "x'])


def test_a_backslash_quote_and_newline_in_a_postgres_conf_value():
    assert_rejected_or_harmless("postgres_conf", {"work_mem": "16MB\\'\nshared_preload_libraries = 'evil'"})
    assert assert_rejected_or_harmless("postgres_conf", {"work_mem": "16MB\\' shared_buffers = '1"}) == "rendered"


# --- findings of this suite, fixed since (b7bd60f): they stay as regression tests ---------------------


@pytest.mark.parametrize("location", ["/api/;", "/api/{", "/api/;location"])
def test_a_rate_limit_location_with_nginx_syntax(location):
    # Was: the check r'/\S*' let ';' and '{' into `location ... {` of the site (nginx -t refused it).
    assert_rejected_or_harmless("nginx_rate_limits", [{"location": location, "rate": "10r/s"}])


@pytest.mark.parametrize("client", ["10.0.0.5", "10.0.0.0/255.0.0.0", "10.0.0.1/0.0.0.255", "fd00::5"])
def test_a_postgres_client_without_a_cidr_mask(client):
    # Was: ipaddress.ip_network took these; pg_hba.conf wants ADDRESS/BITS and read the method as the mask.
    assert_rejected_or_harmless("postgres_allowed_clients", [client])


def test_redis_acl_rules_split_on_a_unicode_space():
    # Was: validation split on any Unicode space, Redis's ACL loader splits on ' ' only.
    assert_rejected_or_harmless("redis_app_acl", "~* &* +@all -@admin\u00a0-@dangerous")


@pytest.mark.parametrize("rules", ["~* &* (+@all)", "~* &* +@slow", "~* &* +config"])
def test_redis_acl_rules_that_grant_admin_commands_are_rejected(rules):
    # Was: a selector or a category holding admin commands (+@slow has CONFIG) passed the check.
    assert outcome("redis_app_acl", rules) == "rejected"


# --- findings fixed in this round: values that passed validation and broke a file ------------------


@pytest.mark.parametrize("bind", ["::1:8000", "fd00::5:8000"])
def test_an_ipv6_bind_without_brackets(bind):
    # Was: Gunicorn splits it on ':' and refuses to start; curl's health URL is no URL.
    assert_rejected_or_harmless("app_bind", bind)


@pytest.mark.parametrize("rules", ["~* &* +@all -@admin -@dangerous bogus", "~* &* +@all -@admin -@dangerous '~x'"])
def test_redis_acl_rules_redis_does_not_know(rules):
    # Was: any word passed; Redis refuses the whole users.acl for one rule it does not know.
    assert_rejected_or_harmless("redis_app_acl", rules)


# --- kill safety of markers ---------------------------------------------------------------------


def test_every_marker_operation_comes_right_before_what_it_watches():
    # A marker after the watched link or user change could be lost by a run killed between
    # the two; before it (groundwork.changes.ServiceChanges.watch), the kill leaves the marker.
    names = [str(name) for name in rendered_files(BASE).operations]
    watched = [i for i, name in enumerate(names) if any(w in name for w in ("| Point ", "| Enable the", "| Let nginx reach"))]
    assert len(watched) >= 4, names
    for i in watched:
        assert " | Mark nginx for reload" in names[i - 1], names[i - 2: i + 2]
    assert len([n for n in names if " | Mark " in n]) == len(watched)
