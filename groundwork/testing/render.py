"""Every file a deploy would write to one host, and the shell commands it plans, with no host.

    from groundwork.testing.render import rendered_files
    files = rendered_files({"app_source": "examples/demoapp", ...})
    files["/etc/demoapp/gunicorn.conf.py"]   # the text that would land there
    files.commands                            # every shell command planned, in order

`rendered_files(data)` runs the deploy of every component of RUN_ORDER for one
host "h1" (host data `data`, groups `groups`) the way `deploys/full.py` runs
them: a real pyinfra `State` and `Inventory`, and inside pyinfra's state and
host contexts `runner.deploy_components()` itself: the fleet built from that
inventory with `build_fleet` (so `FleetHost.pyinfra_host` is pyinfra's Host)
and `check_fleet`, the apt cache age, the host's addresses, the package step
and `deploy_playing`. Settings problems raise `SettingsError`, as in a real
run. `validate(data)` is the first half alone (build_fleet + check_fleet).

What is patched, only inside `deploy_patches()` (one context manager; every
patch is undone on exit, so nothing leaks into other tests):

- `pyinfra.api.host.Host.get_fact`: answered from `FACTS`, a fresh-ish Debian 13
  host (trixie, 4 GiB, 2 CPUs, no packages installed, no files of ours, ufw
  installed but off, python3 3.13). A fact the table lacks raises `MissingFact`
  naming it: add it to the table rather than guessing.
- `groundwork.operations.files.template`, `.put` and `.checked_template` (and
  `checked_template` as imported by the nginx deploy): recorders that render
  the text exactly as the real operation does (same Jinja2 loader through
  pyinfra's get_template, the same context), store dest -> text, then call the
  real operation, so the operation is planned as in a real run.
  `files.block` is recorded too, as "<path> [block]" (the /etc/profile block).
  Files that base stages for a checker (sshd drop-in, sudoers: uploaded under
  /var/lib/groundwork/staged/<dest> and installed by a command) are stored
  under the live <dest>.
- `groundwork.components.app.deploy.build_for_host`: a fake `Release` (no pip,
  no wheel build, no release cache on the control machine's disk); the
  tarball path it names is never read while planning.
- `groundwork.runner.hold_run_lock`: a no-op (the run lock is a file on the
  control machine).
- `groundwork.redaction._secret_values`: an empty set per run (a run registers
  its secrets there for masking log records; thousands of runs would pile up).
- Module-level caches keyed by `id(state)` (`runner._checked`,
  `facts.once._read`, `packages._planned`/`_cache_time`), the rollout registry
  and the backups key cache are replaced by empty dicts: a new State may reuse
  a freed one's id.
- Speed only: `pyinfra.api.arguments.all_global_arguments` returns its (fixed)
  list once computed (pyinfra re-reads type hints for every operation), and
  the one host's `data` looks each key up once (make_state; its data does not
  change while a deploy is planned).
- The State plans as `pyinfra -y` does (check_for_changes=False): each
  operation's body runs once, when its commands are read.

Nothing here connects, runs a command or writes a file: pyinfra only plans.
The shell commands are read from the planned state afterwards (every
operation's command generator, `_if` conditions not applied, so conditional
restarts are included), as their raw, unmasked text.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

from pyinfra import host as current_host
from pyinfra import state as current_state
from pyinfra.api import Config, Inventory, State, StringCommand
from pyinfra.api import arguments as pyinfra_arguments
from pyinfra.api.arguments import all_global_arguments
from pyinfra.api.host import Host, HostData
from pyinfra.api.util import get_template
from pyinfra.context import ctx_host, ctx_state

HOST_NAME = "h1"
GIB = 1024**3

# A release that was never built: its id is fixed, its tarball never read while planning.
FAKE_RELEASE_ID = "0123456789ab"


class MissingFact(AssertionError):
    """The deploy read a fact FACTS has no answer for."""


def _target():
    from groundwork.components.app.release import Target

    return Target("3.13", "x86_64", "2.41")


def _ufw_fresh():
    # ufw as the package leaves it: installed, off, Debian's default policies, no rules.
    return {"enabled": False, "ipv6": True,
            "defaults": {"incoming": "deny", "outgoing": "allow", "routed": "deny"}, "rules": []}


def _sysctls(keys=()):
    # The kernel defaults of a fresh host, writable (a VM, not a container).
    return {key: ("1", True) for key in keys}


# Fact (module.Class) -> its value, or a function of the fact's arguments.
# Everything not installed yet / not there yet on a fresh Debian 13 host.
FACTS: dict[str, Any] = {
    # host
    "pyinfra.facts.server.LinuxDistribution": {
        "name": "Debian", "major": 13, "minor": None,
        "release_meta": {"ID": "debian", "VERSION_ID": "13", "VERSION_CODENAME": "trixie",
                         "PRETTY_NAME": "Debian GNU/Linux 13 (trixie)"},
    },
    "pyinfra.facts.server.Arch": "x86_64",
    "pyinfra.facts.server.TmpDir": "/tmp",
    "pyinfra.facts.server.LinuxName": "Debian",
    "pyinfra.facts.server.Hostname": "localhost",
    "pyinfra.facts.server.Groups": [],
    "pyinfra.facts.server.Users": {},
    "pyinfra.facts.server.AuthorizedKeys": [],
    "pyinfra.facts.server.Os": "Linux",
    # Debian's own tools are there (useradd, groupadd, ...); pyinfra asks before it uses one.
    "pyinfra.facts.server.Which": lambda command: f"/usr/sbin/{command}",
    "pyinfra.facts.server.Command": "",
    "groundwork.facts.host.MemoryBytes": 4 * GIB,
    "groundwork.facts.host.CpuCount": 2,
    "groundwork.facts.host.IpAddresses": ["127.0.0.1", "::1", "10.0.0.5", "fd00::5"],
    "groundwork.components.base.facts.ContainerType": "none",
    "groundwork.components.base.facts.Swaps": {},
    "groundwork.components.base.facts.Sysctls": _sysctls,
    "groundwork.components.app.facts.PythonTarget": lambda: _target(),
    "groundwork.components.nginx.facts.NginxVersion": (1, 26, 3),
    "groundwork.components.nginx.facts.Certificate": None,
    "groundwork.components.firewall.facts.UfwState": lambda: _ufw_fresh(),
    # packages
    "pyinfra.facts.deb.DebPackages": {},
    "pyinfra.facts.deb.DebArch": "amd64",
    "pyinfra.facts.apt.AptSources": [],
    # files: nothing of ours exists yet
    "pyinfra.facts.files.File": None,
    "pyinfra.facts.files.Directory": None,
    "pyinfra.facts.files.Link": None,
    "pyinfra.facts.files.Sha1File": None,
    "pyinfra.facts.files.Sha256File": None,
    "pyinfra.facts.files.FileContents": None,
    "pyinfra.facts.files.FindInFile": [],
    "pyinfra.facts.files.FindFiles": [],
    "pyinfra.facts.files.FindDirectories": [],
    "pyinfra.facts.files.Block": [],
    "groundwork.facts.files.FileSummary": None,
    "groundwork.facts.server.UserSummary": None,
    "groundwork.facts.systemd.SystemdUnit": None,
    "pyinfra.facts.systemd.SystemdStatus": {},
    "pyinfra.facts.systemd.SystemdEnabled": {},
    # postgres: no server answers yet
    "groundwork.components.postgres.facts.PostgresRoles": None,
    "groundwork.components.postgres.facts.PostgresDatabases": None,
    "groundwork.components.postgres.facts.PostgresExtensions": None,
    "groundwork.components.postgres.facts.PostgresReplicationSlots": None,
    "groundwork.components.postgres.facts.PostgresCluster": None,
    "groundwork.components.monitoring.facts.PostgresMonitorRole": None,
}


def _fact_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _canned_fact(self: Host, cls: type, *args, **kwargs) -> Any:
    name = _fact_name(cls)
    if name not in FACTS:
        raise MissingFact(
            f"the deploy read the fact {name}({kwargs or ''}) on {self.name}, which "
            "groundwork.testing.render.FACTS has no answer for; add one"
        )
    value = FACTS[name]
    if callable(value):
        return value(*args, **kwargs)
    # A fresh copy: an operation may change what it is given.
    return _copy(value)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


_GLOBAL_ARGUMENT_LIST = all_global_arguments()
_GLOBAL_ARGUMENTS = frozenset(name for name, _ in _GLOBAL_ARGUMENT_LIST)


def _GLOBAL_ARGUMENT_HINTS() -> list:
    return list(_GLOBAL_ARGUMENT_LIST)


def _own_arguments(kwargs: dict) -> dict:
    """The arguments an operation's function receives: pyinfra's global ones (name=, _if=, ...) removed."""
    return {k: v for k, v in kwargs.items() if k not in _GLOBAL_ARGUMENTS}


@functools.cache
def _named_parameters(function) -> tuple[str, ...]:
    parameters = inspect.signature(function).parameters
    return tuple(n for n, p in parameters.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))


def _variables(operation, args: tuple, kwargs: dict) -> dict:
    """What an operation of ours passes to its template: its `**data`/`**variables`,
    i.e. the arguments that are neither pyinfra's global ones nor its own named parameters."""
    named = _named_parameters(operation._inner)
    return {k: v for k, v in _own_arguments(kwargs).items() if k not in named[:len(args)] and k not in named}


class _SameDataThroughoutHostData(HostData):
    """pyinfra's HostData, each key looked up once: nothing changes a host's data while a
    deploy is planned here (speed only; pyinfra looks every global argument up in the host
    data for every operation, through five layers)."""

    def __getattr__(self, key: str):
        memo = self.__dict__.setdefault("_memo", {})
        if key not in memo:
            try:
                memo[key] = (True, super().__getattr__(key))
            except AttributeError as exc:
                memo[key] = (False, exc)
        found, value = memo[key]
        if not found:
            raise value
        return copy.copy(value)

    def __setattr__(self, key: str, value: Any) -> None:
        self.__dict__.pop("_memo", None)  # host.data.x = ... (pyinfra's override data)
        super().__setattr__(key, value)


class Rendered(dict):
    """dest path on the host -> file text, with what else the deploy planned."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: dict[str, str] = {}  # dest -> template path, "StringIO" or the local file put
        self.commands: list[str] = []  # every shell command planned, in operation order
        self.operations: list[str] = []  # the operations' names, in order
        self.settings = None  # the host's validated settings, by prefix (.app, .redis, ...)


class _Recorder:
    def __init__(self, real_files) -> None:
        self.real = real_files
        self.out = Rendered()

    def store(self, dest: str, text: str, source: str) -> None:
        from groundwork.paths import HOST_STATE_DIR

        staged = f"{HOST_STATE_DIR}/staged"
        if dest.startswith(staged + "/"):
            dest = dest[len(staged):]
        self.out[dest] = text
        self.out.sources[dest] = source

    def template(self, src, dest, *args, **kwargs):
        # groundwork.operations.files.template, as it renders.
        own = _variables(self.real.template, (src, dest, *args), kwargs)
        jinja_env_kwargs = kwargs.get("jinja_env_kwargs")
        path = os.path.join(current_state.cwd, src) if not hasattr(src, "read") and current_state.cwd else src
        context = {"host": current_host, "state": current_state, "inventory": current_state.inventory, **own}
        try:
            text = get_template(path, jinja_env_kwargs).render(context)
        except Exception:  # noqa: BLE001 (the real operation reports it, as it would)
            text = None
        if text is not None:
            self.store(dest, text, str(src))
        return self.real.template(src, dest, *args, **kwargs)

    def put(self, src, dest, *args, **kwargs):
        # groundwork.operations.files.put: a file-like object, or a file on the control machine.
        if hasattr(src, "read"):
            position = src.tell()
            text = src.read()
            src.seek(position)
            if isinstance(text, bytes):
                text = text.decode("utf-8", "replace")
            self.store(dest, text, "StringIO")
        else:
            local = src
            if kwargs.get("add_deploy_dir", True) and current_state.cwd:
                local = os.path.join(current_state.cwd, src)
            if os.path.isfile(local):
                self.store(dest, Path(local).read_text(errors="replace"), str(local))
        return self.real.put(src, dest, *args, **kwargs)

    def checked_template(self, src, dest, check, *args, **kwargs):
        # groundwork.operations.files.checked_template: get_template(src).render(**variables).
        own = _variables(self.real.checked_template, (src, dest, check, *args), kwargs)
        try:
            text = get_template(src).render(**own)
        except Exception:  # noqa: BLE001 (the real operation reports it, as it would)
            text = None
        if text is not None:
            self.store(dest, text, str(src))
        return self.real.checked_template(src, dest, check, *args, **kwargs)

    def block(self, *args, **kwargs):
        own = _own_arguments(kwargs)
        path = own.get("path", args[0] if args else None)
        content = own.get("content")
        if path and content is not None:
            if isinstance(content, (list, tuple)):
                content = "\n".join(content)
            self.out[f"{path} [block]"] = content + "\n"
            self.out.sources[f"{path} [block]"] = "files.block"
        return self.real.block(*args, **kwargs)


def _fake_build_for_host(settings):
    from groundwork.components.app.release import Release

    return Release(FAKE_RELEASE_ID, Path("/nonexistent/groundwork-test-release/release.tar"), ())


@contextlib.contextmanager
def deploy_patches() -> Iterator[_Recorder]:
    """Every patch rendered_files needs, undone on exit; yields the recorder."""
    from groundwork import packages, redaction, runner
    from groundwork.components.app import deploy as app_deploy
    from groundwork.components.app import rollout
    from groundwork.components.backups import deploy as backups_deploy
    from groundwork.components.nginx import deploy as nginx_deploy
    from groundwork.facts import once
    from groundwork.operations import files

    real = SimpleNamespace(template=files.template, put=files.put,
                           checked_template=files.checked_template, block=files.block)
    recorder = _Recorder(real)
    with contextlib.ExitStack() as stack:
        patch = stack.enter_context
        patch(mock.patch.object(Host, "get_fact", _canned_fact))
        # Speed only: pyinfra re-reads the type hints of its global arguments for every
        # operation (get_type_hints, a third of the planning time); they never change.
        patch(mock.patch.object(pyinfra_arguments, "all_global_arguments", _GLOBAL_ARGUMENT_HINTS))
        patch(mock.patch.object(files, "template", recorder.template))
        patch(mock.patch.object(files, "put", recorder.put))
        patch(mock.patch.object(files, "checked_template", recorder.checked_template))
        patch(mock.patch.object(files, "block", recorder.block))
        patch(mock.patch.object(nginx_deploy, "checked_template", recorder.checked_template))
        patch(mock.patch.object(app_deploy, "build_for_host", _fake_build_for_host))
        patch(mock.patch.object(once, "_read", {}))
        patch(mock.patch.object(packages, "_planned", {}))
        patch(mock.patch.object(packages, "_cache_time", {}))
        patch(mock.patch.object(rollout, "_rollouts", {}))
        patch(mock.patch.object(backups_deploy, "_client_keys", {}))
        # The run's fleet, checked once per State; and the run lock, a file on the control machine.
        patch(mock.patch.object(runner, "_checked", {}))
        patch(mock.patch.object(runner, "hold_run_lock", lambda: None))
        # The secrets a run registers for masking in log records: this run's only.
        patch(mock.patch.object(redaction, "_secret_values", set()))
        yield recorder


def make_state(data: dict, groups=("lab",), check_for_changes: bool = False) -> tuple[State, Host]:
    """A pyinfra State whose inventory holds the one host "h1" with host data `data`.

    check_for_changes=False is how `pyinfra -y` plans (every converge of groundwork's
    Makefile and scheduler): an operation's body runs once, when its commands are read.
    """
    data = dict(data)
    inventory = Inventory(
        ([(HOST_NAME, data)], {}),
        **{group: ([HOST_NAME], {}) for group in groups},
    )
    state = State(inventory, Config(), check_for_changes=check_for_changes)
    state.cwd = os.getcwd()
    pyinfra_host = inventory.get_host(HOST_NAME)
    object.__setattr__(pyinfra_host.data, "__class__", _SameDataThroughoutHostData)
    return state, pyinfra_host


def validate(data: dict, groups=("lab",)):
    """build_fleet + check_fleet for the one host, as a run starts; SettingsError on a problem."""
    from groundwork.components import RUN_ORDER
    from groundwork.runner import build_fleet, check_fleet

    state, pyinfra_host = make_state(data, groups)
    with deploy_patches(), ctx_state.use(state), ctx_host.use(pyinfra_host):
        fleet = build_fleet(state.inventory)
        check_fleet(fleet, RUN_ORDER)
    return fleet


def rendered_files(data: dict, groups=("lab",), check_for_changes: bool = False) -> Rendered:
    """dest -> text of every file the full deploy writes to "h1" with host data `data`
    (`.commands`: the shell commands it plans; `.sources`: where each file came from;
    `.settings`: the host's validated settings). SettingsError as a run would raise it;
    an operation that refuses its arguments raises as it would while pyinfra plans."""
    from groundwork import runner

    state, pyinfra_host = make_state(data, groups, check_for_changes)
    with deploy_patches() as recorder, ctx_state.use(state), ctx_host.use(pyinfra_host):
        # deploys/full.py: build_fleet(state.inventory) and check_fleet (runner.fleet_of_run),
        # the apt cache age, the host's addresses, the package step, then deploy_playing.
        runner.deploy_components()
        (fleet,) = runner._checked.values()
        out = recorder.out
        out.settings = fleet[HOST_NAME].settings
        out.commands, out.operations = planned_commands(state, pyinfra_host)
    return out


def planned_commands(state: State, pyinfra_host: Host) -> tuple[list[str], list[str]]:
    """The raw text of every shell command the state plans on the host, and the operations' names."""
    commands, names = [], []
    for op_hash in pyinfra_host.op_hash_order:
        names.append(", ".join(sorted(state.get_op_meta(op_hash).names)))
        op_data = state.get_op_data_for_host(pyinfra_host, op_hash)
        for command in op_data.command_generator():
            if isinstance(command, StringCommand):
                commands.append(command.get_raw_value())
    return commands, names
