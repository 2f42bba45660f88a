"""JSON fixture cases for facts and operations, in pyinfra's own test style.

pyinfra's test-suite keeps one JSON file per case: `tests/facts/<Fact>/*.json`
({command, output, fact}) and `tests/operations/<op>/*.json` ({args, facts,
commands, noop_description}). This is the same for groundwork's facts and
operations, with no host: a fact case checks the command a fact asks for and
what it makes of a command's output; an operation case runs the operation's
generator against a fake host that answers every fact from the fixture, and
compares the commands it yields.

Fact case, `<root>/facts/<module.path.Fact>/<case>.json`:

    {"arg": {kwargs of command()}, "command": "...", "output": ["line", ...],
     "fact": <expected, as encode() writes it>, "fact_type": "tuple" (optional),
     "raises": "ValueError" (instead of "fact", for output process() rejects)}

Operation case, `<root>/operations/<module.path.op>/<case>.json`:

    {"args": {...}, "facts": {"<Fact>": value, or {"<kwargs string>": value}},
     "commands": [...], "noop_description": "..." (no-op cases),
     "nested_noops": [...] (noops of pyinfra operations run for the change),
     "exception": {"name": "...", "message": "..."} (instead of "commands")}

Values are JSON; a dict with "__type__": "<module.Class>" stands for that
dataclass (encode/decode), tuples and sets are lists. Strings in "args" may hold
"{fixtures}", the fixture root's absolute path.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pyinfra.api import (
    Config,
    FileDownloadCommand,
    FileUploadCommand,
    FunctionCommand,
    StringCommand,
)
from pyinfra.api.facts import FactBase
from pyinfra.api.util import get_kwargs_str
from pyinfra.context import ctx_host, ctx_state

FACT_KEYS = {"arg", "command", "output", "fact", "fact_type", "raises", "comment"}
OPERATION_KEYS = {"args", "facts", "commands", "noop_description", "nested_noops", "exception", "comment"}


class FixtureError(Exception):
    """A fixture that cannot be used as written (a missing fact, an unknown key)."""


@dataclass
class Case:
    target: str  # dotted path of the fact class or operation: the directory's name
    name: str  # the file's name without .json
    path: Path
    data: dict

    @property
    def id(self) -> str:
        return f"{self.target}/{self.name}"


def load_cases(directory: Path) -> list[Case]:
    """Every <directory>/<target>/<case>.json, sorted."""
    cases = []
    for path in sorted(directory.glob("*/*.json")):
        cases.append(Case(path.parent.name, path.stem, path, json.loads(path.read_text())))
    return cases


def resolve(dotted: str) -> Any:
    """The object at `package.module.Name` (the longest importable module prefix)."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise FixtureError(f"cannot import {dotted}")


def qualified_name(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


# --- values --------------------------------------------------------------------------------------


def encode(value: Any) -> Any:
    """`value` as JSON data: dataclasses tagged with "__type__", tuples and sets as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {"__type__": qualified_name(type(value))}
        out.update({f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)})
        return out
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise FixtureError(f"dict with non-string keys cannot be a fixture value: {value!r}")
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(encode(item) for item in value)
    if isinstance(value, (list, tuple)):
        return [encode(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise FixtureError(f"no JSON form for {type(value).__name__}: {value!r}")


def decode(value: Any) -> Any:
    """JSON data back into values: "__type__" dicts become their dataclass, with list
    fields annotated as tuples made tuples (omitted fields take their defaults)."""
    if isinstance(value, list):
        return [decode(item) for item in value]
    if isinstance(value, dict):
        if "__type__" not in value:
            return {key: decode(item) for key, item in value.items()}
        cls = resolve(value["__type__"])
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for key, item in value.items():
            if key == "__type__":
                continue
            item = decode(item)
            if typing.get_origin(hints.get(key)) is tuple and isinstance(item, list):
                item = tuple(item)
            kwargs[key] = item
        return cls(**kwargs)
    return value


def expand(value: Any, fixtures: Path) -> Any:
    if isinstance(value, str):
        return value.replace("{fixtures}", str(fixtures))
    if isinstance(value, list):
        return [expand(item, fixtures) for item in value]
    if isinstance(value, dict):
        return {key: expand(item, fixtures) for key, item in value.items()}
    return value


# --- facts ---------------------------------------------------------------------------------------


def fact_value(fact_cls: type, output: list[str]) -> Any:
    """What pyinfra makes of a fact command's output (exit status 0): process() on
    the lines, its default() when there are none (pyinfra does not call process then)."""
    fact = fact_cls()
    return fact.process(list(output)) if output else fact.default()


def check_fact_case(case: Case) -> None:
    """Assert the case's command and processed value (or exception)."""
    data = case.data
    unknown = set(data) - FACT_KEYS
    if unknown:
        raise FixtureError(f"{case.id}: unknown keys {sorted(unknown)}")
    if ("fact" in data) == ("raises" in data):
        raise FixtureError(f"{case.id}: give exactly one of 'fact' and 'raises'")
    fact_cls = resolve(case.target)
    if not (isinstance(fact_cls, type) and issubclass(fact_cls, FactBase)):
        raise FixtureError(f"{case.id}: {case.target} is not a FactBase subclass")

    command = fact_cls().command(**data.get("arg", {}))
    command = command.get_raw_value() if isinstance(command, StringCommand) else command
    assert command == data["command"], f"{case.id}: command\n  got:  {command!r}\n  want: {data['command']!r}"

    if "raises" in data:
        try:
            value = fact_value(fact_cls, data["output"])
        except Exception as e:  # noqa: BLE001 - the fixture names the exception wanted
            assert type(e).__name__ == data["raises"], f"{case.id}: raised {e!r}, want {data['raises']}"
            return
        raise AssertionError(f"{case.id}: want {data['raises']}, got the value {value!r}")

    value = fact_value(fact_cls, data["output"])
    if "fact_type" in data:
        got_type = type(value).__name__ if type(value).__module__ == "builtins" else qualified_name(type(value))
        assert got_type == data["fact_type"], f"{case.id}: fact type {got_type}, want {data['fact_type']}"
    got = encode(value)
    assert got == data["fact"], (
        f"{case.id}: fact\n  got:  {json.dumps(got, sort_keys=True)}\n  want: {json.dumps(data['fact'], sort_keys=True)}"
    )


# --- operations ----------------------------------------------------------------------------------


class FakeHost:
    """The `host` an operation sees: facts from the fixture, noops recorded."""

    # As pyinfra's Host has them while an operation is being planned.
    in_op = True
    in_callback_op = False
    in_deploy = False
    current_op_hash = None
    current_op_global_arguments = None
    current_deploy_name = None
    current_deploy_kwargs = None
    current_deploy_data = None
    print_prefix = ""
    connected = True

    def __init__(self, facts: dict, name: str = "fixturehost", data: dict | None = None):
        self.name = name
        self.facts = facts
        self.data = SimpleNamespace(**(data or {}))
        self.connector_data: dict = {}
        self.noops: list[str] = []
        self.facts_read: list[tuple[str, str]] = []  # (fixture key, kwargs string)

    def noop(self, description: str) -> None:
        self.noops.append(description)

    def log(self, *args, **kwargs) -> None:
        pass

    def get_temp_filename(self, *args, **kwargs) -> str:
        return "_tempfile_"

    def _fixture_key(self, fact_cls: type) -> str:
        names = [qualified_name(fact_cls), getattr(fact_cls, "name", None), fact_cls.__name__]
        present = [n for n in dict.fromkeys(names) if n and n in self.facts]
        if not present:
            raise FixtureError(
                f"the operation read the fact {qualified_name(fact_cls)}, which the fixture does not give "
                f"(as any of {', '.join(n for n in dict.fromkeys(names) if n)})"
            )
        if len(present) > 1:
            raise FixtureError(f"the fixture gives the fact {fact_cls.__name__} twice: {present}")
        return present[0]

    def get_fact(self, fact_cls: type, *args, **kwargs) -> Any:
        if args:
            raise FixtureError(f"{fact_cls.__name__} read with positional arguments {args}: name them")
        key = self._fixture_key(fact_cls)
        value = self.facts[key]
        if not kwargs:
            self.facts_read.append((key, ""))
            return decode(value)
        # As pyinfra's own test host does: the arguments must be the fact command's.
        params = inspect.signature(fact_cls.command).parameters
        for arg in kwargs:
            if arg not in params:
                raise FixtureError(f"{arg} is not an argument of {qualified_name(fact_cls)}.command")
        kwargs_str = get_kwargs_str(kwargs)
        self.facts_read.append((key, kwargs_str))
        if not isinstance(value, dict) or kwargs_str not in value:
            have = sorted(value) if isinstance(value, dict) else value
            raise FixtureError(f"the fixture's fact {key} has no value for ({kwargs_str}); it has {have}")
        return decode(value[kwargs_str])


class FakeState:
    """The `state` an operation sees: a deploy directory and pyinfra's default config."""

    def __init__(self, cwd: Path):
        self.cwd = str(cwd)
        self.config = Config()
        self.inventory = SimpleNamespace(groups={}, hosts={})
        self.print_noop_info = False

    def get_temp_filename(self, *args, **kwargs) -> str:
        return "_tempfile_"


def command_json(command: Any) -> Any:
    """One yielded command in the fixture's form: a string, ["upload", content, dest],
    ["download", src, dest] or ["function", name]; with connector arguments, a dict."""
    if isinstance(command, str):  # as pyinfra's operation wrapper turns it
        command = StringCommand(command.strip())
    if isinstance(command, StringCommand):
        out: Any = command.get_raw_value()
    elif isinstance(command, FileUploadCommand):
        src = command.src
        if hasattr(src, "read"):
            src.seek(0)
            content = src.read()
        else:
            content = Path(src).read_bytes()
        if isinstance(content, bytes):
            content = content.decode()
        out = ["upload", content, str(command.dest)]
    elif isinstance(command, FileDownloadCommand):
        out = ["download", str(command.src), str(command.dest)]
    elif isinstance(command, FunctionCommand):
        out = ["function", command.function.__name__]
    else:
        raise FixtureError(f"{command!r} is not a pyinfra command")
    if command.connector_arguments:
        return {"command": out, **command.connector_arguments}
    return out


@dataclass
class Run:
    commands: list = field(default_factory=list)
    noops: list[str] = field(default_factory=list)
    facts_read: list[tuple[str, str]] = field(default_factory=list)
    exception: Exception | None = None


def run_operation(op: Any, args: dict, facts: dict, cwd: Path) -> Run:
    """The commands `op`'s generator yields on a host with `facts` (pyinfra's `_inner`,
    the undecorated operation, under faked `host` and `state` contexts)."""
    inner = getattr(op, "_inner", None)
    if inner is None:
        raise FixtureError(f"{op!r} is not a pyinfra operation (no _inner)")
    host, state = FakeHost(facts), FakeState(cwd)
    run = Run(noops=host.noops, facts_read=host.facts_read)
    with ctx_state.use(state), ctx_host.use(host):
        try:
            for command in inner(**decode(args)):
                run.commands.append(command_json(command))
        except FixtureError:
            raise
        except Exception as e:  # noqa: BLE001 - compared with the fixture's "exception"
            run.exception = e
    return run


def check_operation_case(case: Case, fixtures: Path) -> None:
    """Run the case's operation twice with the same facts (pyinfra's idempotence
    check) and assert its commands, no-op message and the facts it read."""
    data = case.data
    unknown = set(data) - OPERATION_KEYS
    if unknown:
        raise FixtureError(f"{case.id}: unknown keys {sorted(unknown)}")
    if ("commands" in data) == ("exception" in data):
        raise FixtureError(f"{case.id}: give exactly one of 'commands' and 'exception'")
    if "noop_description" in data and data.get("commands") != []:
        raise FixtureError(f"{case.id}: a noop_description belongs to a case without commands")

    op = resolve(case.target)
    args = expand(data.get("args", {}), fixtures)
    facts = data.get("facts", {})
    first = run_operation(op, args, facts, fixtures)

    if "exception" in data:
        wanted = data["exception"]
        assert first.exception is not None, f"{case.id}: want {wanted['name']}, got commands {first.commands}"
        assert type(first.exception).__name__ == wanted["name"], f"{case.id}: raised {first.exception!r}"
        assert str(first.exception) == wanted["message"], f"{case.id}: message {str(first.exception)!r}"
    else:
        if first.exception is not None:
            raise first.exception
        assert first.commands == data["commands"], (
            f"{case.id}: commands\n  got:  {json.dumps(first.commands, indent=2)}\n"
            f"  want: {json.dumps(data['commands'], indent=2)}"
        )
        if "noop_description" in data:
            wanted_noops = [] if data["noop_description"] is None else [data["noop_description"]]
        else:
            wanted_noops = data.get("nested_noops", [])
        assert first.noops == wanted_noops, f"{case.id}: noops {first.noops}, want {wanted_noops}"

    if "noop_description" in data:
        # These operations exist to decide their no-op with one command.
        assert len(first.facts_read) == 1, f"{case.id}: the no-op read {len(first.facts_read)} facts: {first.facts_read}"
    unread = set(facts) - {key for key, _ in first.facts_read}
    assert not unread, f"{case.id}: the fixture gives facts the operation never read: {sorted(unread)}"

    second = run_operation(op, args, facts, fixtures)
    assert (second.commands, second.noops, repr(second.exception)) == (
        first.commands, first.noops, repr(first.exception)
    ), f"{case.id}: a second run with the same facts differs from the first"
