"""The architecture, checked: groundwork's import graph has no cycle, the
pyinfra extensions (operations/, facts/) import no component and no fleet
glue, and a component is picked up from its record alone."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest

from groundwork import components as registry
from groundwork.component import Component, HostRun, Opening
from groundwork.components import RUN_ORDER, settings_classes
from groundwork.fleet import Fleet
from groundwork.runner import build_fleet, check_fleet
from groundwork.settings import ComponentSettings, SettingsError, setting

PACKAGE = Path(registry.__file__).resolve().parents[1]  # groundwork/
# The fleet glue: what knows the components or the fleet. Extensions must not reach it.
GLUE = ("groundwork.components", "groundwork.component", "groundwork.fleet", "groundwork.runner")
EXTENSIONS = ("groundwork.operations", "groundwork.facts")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The groundwork modules `path` imports, at any depth of its code (lazy imports too)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from . import operations` names a module; `from .x import y` names x.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in modules}
    return found - {name}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imports_of(path, set(paths)) for name, path in paths.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_is_read(graph):
    # The checks below mean something only if the graph sees real imports.
    assert "groundwork.components.postgres.deploy" in graph["groundwork.components.postgres"]
    assert "groundwork.fleet" in graph["groundwork.runner"]
    assert "groundwork.facts.files" in graph["groundwork.operations.files"]


def test_groundwork_has_no_import_cycle(graph):
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_extensions_import_no_component_and_no_fleet_glue(graph):
    offending = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items() if module.startswith(EXTENSIONS)
        for target in targets if target.startswith(GLUE)
    )
    assert offending == []


def test_components_do_not_import_the_runner(graph):
    # The runner collects the records; a record reaching back would be a circle by another road.
    offending = sorted(m for m, targets in graph.items()
                       if m.startswith("groundwork.components") and "groundwork.runner" in targets)
    assert offending == []


# --- a toy component, picked up from its record alone -------------------------------------


@dataclass(frozen=True)
class ToySettings(ComponentSettings):
    """A toy component for this test."""

    prefix: ClassVar[str] = "toy"

    port: int = setting(7000, doc="Port the toy listens on.")
    motd: str | None = setting(None, doc="Required where the toy plays.")

    def deploy_check(self):
        if self.motd is None:
            yield "motd", "required on a host that runs the toy, not set"


TOY = Component(
    name="toy",
    settings=(ToySettings,),
    plays=lambda run: run.host.plays("cache"),
    packages=lambda run: ["toy-server"],
    openings=lambda run: [Opening(run.settings.toy.port, sources=tuple(
        h.address for h in run.fleet.clients_of("cache", run.host)), comment="toy")],
    checks=lambda run: ([f"host {run.host.name}: toy_motd: required on a host that runs the toy, not set"]
                        if run.host.plays("cache") and run.settings.toy.motd is None else []),
    deploy=lambda run: None,
)
WITH_TOY = (*RUN_ORDER[:-1], TOY, RUN_ORDER[-1])  # one line in the run order: before the firewall


def hosts(**toy_data):
    return [
        SimpleNamespace(name="db1", groups=["db"], data={"ssh_hostname": "10.0.0.9", "toy_motd": "hi"}),
        SimpleNamespace(name="cache1", groups=["cache"], data={
            "ssh_hostname": "10.0.0.10", "redis_app_password": "a-long-enough-password", "toy_motd": "hi", **toy_data}),
        SimpleNamespace(name="app1", groups=["app"], data={"ssh_hostname": "10.0.0.11"}),
    ]


def test_the_settings_registry_takes_the_toys_keys_and_rejects_its_typos():
    assert ToySettings in settings_classes(WITH_TOY)
    fleet = build_fleet(hosts(toy_port=7001), WITH_TOY)
    assert fleet["cache1"].settings.toy.port == 7001
    with pytest.raises(SettingsError) as info:
        build_fleet(hosts(toy_prot=1), WITH_TOY)
    assert info.value.problems == ["host cache1: toy_prot: unknown setting (did you mean toy_port?)"]


def test_the_package_step_and_the_firewall_pick_up_the_toy():
    fleet = build_fleet(hosts(), WITH_TOY)
    cache1 = HostRun(fleet, fleet["cache1"], WITH_TOY)
    assert "toy-server" in cache1.packages()
    assert Opening(7000, sources=("10.0.0.11",), comment="toy") in cache1.openings()
    # Where it does not play, it adds nothing.
    app1 = HostRun(fleet, fleet["app1"], WITH_TOY)
    assert "toy-server" not in app1.packages()
    assert all(o.comment != "toy" for o in app1.openings())
    # Without the record in the run order, nothing of it.
    plain = HostRun(build_fleet([SimpleNamespace(name=h.name, groups=h.groups, data={
        k: v for k, v in h.data.items() if not k.startswith("toy_")}) for h in hosts()]), fleet["cache1"], RUN_ORDER)
    assert "toy-server" not in plain.packages()


def test_the_validation_pass_runs_the_toys_checks_before_anything_else():
    fleet = build_fleet(hosts(toy_motd=None), WITH_TOY)
    with pytest.raises(SettingsError) as info:
        check_fleet(fleet, (TOY,), WITH_TOY)
    assert info.value.problems == ["host cache1: toy_motd: required on a host that runs the toy, not set"]


def test_the_runner_runs_the_toy_where_it_plays(monkeypatch):
    from groundwork import runner

    passed = []  # the shared no-op after each component, on every host
    monkeypatch.setattr(runner, "_all_hosts_past", lambda name: passed.append(name))

    ran = []
    toy = Component(name="toy", settings=(ToySettings,), plays=TOY.plays,
                    deploy=lambda run: ran.append(run.host.name))
    components = (*RUN_ORDER, toy)
    fleet = build_fleet(hosts(), components)
    for name in ("cache1", "app1"):
        run = HostRun(fleet, fleet[name], components)
        runner.deploy_playing(run, (toy,))
    assert ran == ["cache1"]
    assert passed == ["Every host is past toy"] * 2  # on every host, where it plays or not


def test_every_component_of_the_run_order_is_a_folder_with_its_record():
    for component in RUN_ORDER:
        folder = PACKAGE / "components" / component.name
        assert (folder / "__init__.py").is_file() and (folder / "settings.py").is_file(), component.name
    assert len({c.name for c in RUN_ORDER}) == len(RUN_ORDER)
    assert RUN_ORDER[-1].name == "firewall"  # it opens what every component before it declared


def test_a_fleet_from_plain_hosts_has_no_pyinfra_host():
    fleet = Fleet.from_inventory([SimpleNamespace(name="h", groups=[], data={})])
    assert fleet["h"].pyinfra_host is None and fleet["h"].roles >= {"db", "cache", "app", "worker", "web"}
