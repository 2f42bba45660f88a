"""Typed settings for groundwork components, read from pyinfra host data.

Each component declares one frozen dataclass. Its fields are stored in host
data as flat keys carrying the component prefix (field ``timezone`` of the
``base`` component is ``base_timezone``). Settings are checked before any
operation runs, and all problems are reported together, so one run shows
everything that must be fixed.
"""

import dataclasses
import difflib
import re
import types
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import Any, ClassVar, Literal, Union, get_args, get_origin, get_type_hints

from pyinfra.api.exceptions import PyinfraError

MISSING = dataclasses.MISSING
SECRET_MASK = "********"

_NONE = type(None)
_WORDS = {str: "a string", int: "an integer", bool: "a boolean", float: "a number"}
# Marks a value that failed conversion; its problem is already recorded.
_INVALID: Any = object()


class SettingsError(PyinfraError):
    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("invalid settings:\n  " + "\n  ".join(self.problems))


def setting(
    default: Any = MISSING,
    *,
    doc: str,
    secret: bool = False,
    default_factory: Callable[[], Any] | None = None,
    check: Callable[[Any], str | None] | None = None,
) -> Any:
    """Declare a setting; without a default (or default_factory) it is required.

    ``doc`` is one sentence saying what the setting is for; the README table is
    generated from it. ``secret`` keeps the value out of messages and logs.
    ``check`` receives the converted value (never None) and returns None when it
    is fine, or an "expected ..., got ..." text.
    """
    if not doc or not doc.strip():
        raise TypeError("setting() needs a doc sentence")
    metadata = {"doc": doc, "secret": secret, "check": check}
    if default_factory is not None:
        if default is not MISSING:
            raise TypeError("setting() takes a default or a default_factory, not both")
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class ComponentSettings:
    """Base of component settings; being a frozen dataclass forces subclasses to be frozen too.

    A subclass (or a nested settings class) may define ``cross_check(self)``
    yielding ``(field path, "expected ..., got ...")`` for rules that span
    fields; the path is relative to the object, e.g. ``"databases[0].owner"``.

    ``deploy_check(self)`` yields problems the same way as cross_check, but
    only for hosts that run it in this deploy (the component record says which) — for a value such as a password
    that a host without the component need not have. ``inventory_check(self,
    inventory_groups)`` does the same for values needed only when the
    inventory has certain groups (a replication password, with replicas).
    """

    prefix: ClassVar[str]

    def deploy_check(self) -> Iterable[tuple[str, str]]:
        return ()

    def inventory_check(self, inventory_groups: frozenset[str]) -> Iterable[tuple[str, str]]:
        return ()


def matches(pattern: str, expected: str) -> Callable[[str], str | None]:
    """A ``check`` that wants the whole value to match ``pattern``."""
    regex = re.compile(pattern)

    def check(value: str) -> str | None:
        return None if regex.fullmatch(value) else f"expected {expected}, got {value!r}"

    return check


# --- types -------------------------------------------------------------------


def _split_optional(tp: Any) -> tuple[Any, bool]:
    if get_origin(tp) in (Union, types.UnionType):
        args = get_args(tp)
        others = [a for a in args if a is not _NONE]
        if len(args) == 2 and len(others) == 1:
            return others[0], True
    return tp, False


def _is_settings_class(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _check_type(tp: Any, where: str) -> None:
    # Fails at declaration use, so a typo in a settings class is a programming
    # error with a clear message rather than a confusing host-data problem.
    inner, _ = _split_optional(tp)
    origin, args = get_origin(inner), get_args(inner)
    if inner in _WORDS or origin is Literal:
        return
    if origin is list:
        return _check_type(args[0], where)
    if origin is dict and args[0] is str:
        return _check_type(args[1], where)
    if _is_settings_class(inner):
        if not inner.__dataclass_params__.frozen:
            raise TypeError(f"{where}: nested settings class {inner.__name__} must be frozen")
        _fields(inner)
        return
    raise TypeError(f"{where}: unsupported settings type {tp!r}")


@cache
def _fields(cls: type) -> tuple[tuple[dataclasses.Field, Any], ...]:
    hints = get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        where = f"{cls.__qualname__}.{f.name}"
        if not f.metadata.get("doc"):
            raise TypeError(f"{where}: declare it with setting(..., doc=...)")
        _check_type(hints[f.name], where)
        out.append((f, hints[f.name]))
    return tuple(out)


def _expected(tp: Any) -> str:
    inner, nullable = _split_optional(tp)
    origin = get_origin(inner)
    if inner in _WORDS:
        word = _WORDS[inner]
    elif origin is Literal:
        word = "one of " + ", ".join(repr(c) for c in get_args(inner))
    elif origin is list:
        word = "a list"
    else:  # dict[str, T] and nested settings classes
        word = "a mapping"
    return word + " or null" if nullable else word


def _accepts(tp: Any, value: Any) -> bool:
    # bool is a subclass of int; `workers: true` is a mistake, not 1.
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if get_origin(tp) is Literal:
        # Compare types too, so True does not pass for Literal[1].
        return any(type(value) is type(c) and value == c for c in get_args(tp))
    if get_origin(tp) is list:
        return isinstance(value, (list, tuple))
    return isinstance(value, Mapping)


# --- conversion ----------------------------------------------------------------

Problems = list[tuple[str, str]]  # (key path, message)


def _shown(value: Any, secret: bool) -> str:
    if value is None:
        return "null"
    if secret:
        return f"{type(value).__name__} (value hidden)"
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} ({text})"


def _has_control_character(text: str) -> bool:
    # No setting is a multi-line text: a newline that reaches a unit file, a
    # script or a config file is a new line of code there.
    return any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029" for c in text)


def _unknown(key: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.8)
    return f"unknown setting (did you mean {close[0]}?)" if close else "unknown setting"


def _convert(tp: Any, value: Any, path: str, secret: bool, problems: Problems) -> Any:
    inner, nullable = _split_optional(tp)
    if value is None and nullable:
        return None
    if not _accepts(inner, value):
        problems.append((path, f"expected {_expected(tp)}, got {_shown(value, secret)}"))
        return _INVALID
    origin, args = get_origin(inner), get_args(inner)
    if inner is str and _has_control_character(value):
        problems.append((path, f"expected text without control characters (newline, tab, escape, ...), got {_shown(value, secret)}"))
        return _INVALID
    if inner is float:
        return float(value)
    if origin is list:
        return tuple(
            _convert(args[0], item, f"{path}[{i}]", secret, problems) for i, item in enumerate(value)
        )
    if origin is dict:
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                message = f"expected a string key, got {type(key).__name__}"
                problems.append((f"{path}[{key!r}]", message))
                continue
            if _has_control_character(key):
                problems.append((f"{path}[{key!r}]", "expected a key without control characters"))
                continue
            out[key] = _convert(args[1], item, f"{path}[{key!r}]", secret, problems)
        return out
    if _is_settings_class(inner):
        names = [f.name for f, _ in _fields(inner)]
        for key in value:
            if key not in names:
                problems.append((f"{path}.{key}", _unknown(str(key), names)))
        return _instantiate(inner, value, "", path + ".", problems)
    return value


def _instantiate(
    cls: type, source: Mapping[str, Any], key_prefix: str, path_prefix: str, problems: Problems
) -> Any:
    """Build cls from source[key_prefix + field]; problems are reported at path_prefix + field."""
    values = {}
    ok = True
    for f, tp in _fields(cls):
        key, path = key_prefix + f.name, path_prefix + f.name
        if key in source:
            raw = source[key]
        elif f.default is not MISSING:
            raw = f.default
        elif f.default_factory is not MISSING:
            raw = f.default_factory()
        else:
            problems.append((path, f"required, not set ({f.metadata['doc']})"))
            ok = False
            continue
        # Defaults go through conversion as well, so lists become tuples either way.
        before = len(problems)
        value = _convert(tp, raw, path, f.metadata["secret"], problems)
        check = f.metadata["check"]
        if len(problems) == before and value is not None and check is not None:
            message = check(value)
            if message:
                # A check of a list's items says which one: "[2]: expected ...".
                index = re.match(r"(\[\d+\]): ", message)
                problems.append((path + index.group(1), message[index.end():]) if index else (path, message))
        ok = ok and len(problems) == before
        values[f.name] = value
    if not ok:
        return _INVALID
    obj = cls(**values)
    # Rules across fields (a database owner must be a declared role) run only
    # on an object whose fields are each valid.
    for rel_path, message in getattr(obj, "cross_check", lambda: ())():
        problems.append((path_prefix + rel_path, message))
    return obj


def _path_order(path: str) -> tuple:
    # Natural order, so users[2] comes before users[10].
    return tuple(int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", path)))


def _format(host_name: str, problems: Problems) -> list[str]:
    ordered = sorted(problems, key=lambda p: (_path_order(p[0]), p[1]))
    return [f"host {host_name}: {path}: {message}" for path, message in ordered]


def _raise(host_name: str, problems: Problems) -> None:
    raise SettingsError(_format(host_name, problems))


def deploy_problems(
    host_name: str, obj: ComponentSettings, inventory_groups: frozenset[str] = frozenset()
) -> list[str]:
    """obj.deploy_check() and obj.inventory_check() as messages, for a host that runs the component."""
    found = [*obj.deploy_check(), *obj.inventory_check(frozenset(inventory_groups))]
    return _format(host_name, [(f"{obj.prefix}_{path}", message) for path, message in found])


# --- public API ------------------------------------------------------------------


def build(cls: type, data: Mapping[str, Any], host_name: str) -> Any:
    """Build cls from host data; unknown keys are validate_host's job."""
    problems: Problems = []
    obj = _instantiate(cls, data, cls.prefix + "_", cls.prefix + "_", problems)
    if problems:
        _raise(host_name, problems)
    return obj


def validate_host(
    host_name: str, data: Mapping[str, Any], components: Iterable[type[ComponentSettings]]
) -> dict[str, ComponentSettings]:
    """Build every component's settings for one host, keyed by prefix."""
    components = list(components)
    prefixes = [cls.prefix for cls in components]
    if len(set(prefixes)) != len(prefixes):
        raise ValueError(f"duplicate settings prefixes: {prefixes}")
    keys = {cls: [f"{cls.prefix}_{f.name}" for f, _ in _fields(cls)] for cls in components}
    known = {key for names in keys.values() for key in names}
    longest_first = sorted(components, key=lambda cls: len(cls.prefix), reverse=True)

    problems: Problems = []
    for key in data:
        # A key another component knows is fine even under a longer prefix;
        # anything else under a prefix of ours is a typo or a stale setting.
        if not isinstance(key, str) or key in known:
            continue
        owner = next((cls for cls in longest_first if key.startswith(cls.prefix + "_")), None)
        if owner is not None:
            problems.append((key, _unknown(key, keys[owner])))

    result = {}
    for cls in components:
        prefix = cls.prefix + "_"
        result[cls.prefix] = _instantiate(cls, data, prefix, prefix, problems)
    if problems:
        _raise(host_name, problems)
    return result


def _label(tp: Any) -> str:
    inner, nullable = _split_optional(tp)
    origin, args = get_origin(inner), get_args(inner)
    if origin is list:
        word = "a list of " + _plural(args[0])
    elif origin is dict:
        word = "a mapping of strings to " + _plural(args[1])
    else:
        word = _expected(inner)
    return word + " or null" if nullable else word


def _plural(tp: Any) -> str:
    word = _label(tp)
    for article in ("a ", "an "):
        rest = word.removeprefix(article)
        if rest != word and " " not in rest:
            return rest + "s"
    return "items, each " + word


def _nested_class(tp: Any) -> tuple[type | None, str]:
    """The settings class inside tp, and the key suffix that leads to its fields."""
    suffix = ""
    while True:
        tp, _ = _split_optional(tp)
        origin, args = get_origin(tp), get_args(tp)
        if origin is list:
            tp, suffix = args[0], suffix + "[]"
        elif origin is dict:
            tp, suffix = args[1], suffix + "[*]"
        else:
            break
    return (tp, suffix) if _is_settings_class(tp) else (None, "")


def _rows(cls: type, head: str) -> list[tuple[str, str, str, str]]:
    rows = []
    for f, tp in _fields(cls):
        if f.default is not MISSING:
            default = repr(f.default)
        elif f.default_factory is not MISSING:
            default = repr(f.default_factory())
        else:
            default = "required"
        key = head + f.name
        rows.append((key, _label(tp), default, f.metadata["doc"]))
        nested, suffix = _nested_class(tp)
        if nested is not None:
            rows += _rows(nested, key + suffix + ".")
    return rows


def describe(cls: type[ComponentSettings]) -> list[tuple[str, str, str, str]]:
    """Rows (key, type, default or "required", doc) for the README settings table.

    Fields of nested classes follow their parent, keyed like ``base_users[].name``.
    """
    return _rows(cls, cls.prefix + "_")


def redacted(obj: Any) -> dict[str, Any]:
    """The settings as plain data for logging, secret values masked."""
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        hide = f.metadata.get("secret") and value is not None
        out[f.name] = SECRET_MASK if hide else _plain(value)
    return out


def secret_values(obj: Any) -> list[str]:
    """Every secret string in a settings object (values of secret fields, however nested)."""
    found: list[str] = []

    def strings(value: Any) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                strings(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                strings(item)

    def walk(value: Any) -> None:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                (strings if f.metadata.get("secret") else walk)(getattr(value, f.name))
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    walk(obj)
    return found


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return redacted(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
