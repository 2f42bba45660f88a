"""Each of groundwork's replacements of pyinfra functions gives pyinfra's own answer, and
the upstream patch in patches/pyinfra applies to the installed pyinfra and gives it too."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pyinfra
import pytest
from pyinfra.api import Config, Inventory, State
from pyinfra.api import util as pyinfra_util
from pyinfra.api.exceptions import ArgumentTypeError

from groundwork import pyinfra_patches

pyinfra_operation = importlib.import_module("pyinfra.api.operation")  # pyinfra.api.operation is also a function's name

ROOT = Path(__file__).resolve().parents[2]
PATCHES = ROOT / "patches" / "pyinfra"


def _call(order, state):
    return order(state)  # one line for every function compared: the caller's line is the same


# A "deploy file" with calls on lines of their own and a nested helper, as a user's would be.
DEPLOY = """
def nested(order, state, call):
    return call(order, state)


def deploy(order, state, call):
    return [
        call(order, state),
        nested(order, state, call),
    ]
"""


def _orders(order, deploy_filename, named=True, op_number=3):
    namespace: dict = {}
    exec(compile(DEPLOY, deploy_filename, "exec"), namespace)
    state = SimpleNamespace(current_deploy_filename=deploy_filename if named else None, current_op_file_number=op_number)
    return namespace["deploy"](order, state, _call)


@pytest.mark.parametrize("is_cli", [True, False])
@pytest.mark.parametrize("named", [True, False])  # without a deploy file named, the whole stack counts
def test_same_order_as_pyinfra(monkeypatch, is_cli, named):
    monkeypatch.setattr(pyinfra, "is_cli", is_cli)
    # from one line, as every frame outside the deploy file counts when none is named
    ours, theirs = [_orders(f, "/srv/deploys/full.py", named)
                    for f in (pyinfra_patches.get_operation_order_from_stack, pyinfra_patches.ORIGINAL_ORDER)]
    assert ours == theirs
    assert ours[0] != ours[1]  # the two calls are told apart
    assert len(ours[1]) > len(ours[0])  # the nested call has one more line


def test_same_global_arguments_as_pyinfra():
    assert pyinfra_patches.all_global_arguments() == pyinfra_patches.ORIGINAL_ARGUMENTS()
    assert pyinfra_patches.all_global_arguments() is not pyinfra_patches.all_global_arguments()  # a fresh list each


def test_installed_only_over_the_functions_it_was_written_for(monkeypatch):
    assert all(pyinfra_patches.replaceable().values()), (
        f"pyinfra changed a function groundwork replaces: {pyinfra_patches.replaceable()}; re-check patches/pyinfra")
    pyinfra_patches.uninstall()
    try:
        monkeypatch.setattr(pyinfra_patches, "ORDER_SOURCE_SHA256", "0" * 64)
        assert pyinfra_patches.install() == {
            "get_operation_order_from_stack": False, "all_global_arguments": True, "pop_global_arguments": True}
        assert pyinfra_operation.get_operation_order_from_stack is pyinfra_patches.ORIGINAL_ORDER
        assert pyinfra_util.get_operation_order_from_stack is pyinfra_patches.ORIGINAL_ORDER
    finally:
        pyinfra_patches.uninstall()
        monkeypatch.undo()
        pyinfra_patches.install()


def _patched_module(tmp_path, monkeypatch, patch: str, module: str):
    installed = Path(pyinfra.__file__).parent
    copy = tmp_path / "pyinfra"
    shutil.copytree(installed, copy, ignore=shutil.ignore_patterns("__pycache__"))
    # git apply works outside a repository too (CI runs from a clone: git is there)
    subprocess.run(["git", "apply", "-p1", str(PATCHES / patch)], cwd=tmp_path, check=True)
    name = f"patched_{module.replace('.', '_')}"
    spec = importlib.util.spec_from_file_location(name, copy / (module.replace(".", "/") + ".py"))
    patched = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, patched)  # type hints are resolved through sys.modules
    spec.loader.exec_module(patched)
    return copy, patched


def test_the_upstream_order_patch_applies_and_gives_the_same_order(tmp_path, monkeypatch):
    copy, patched = _patched_module(tmp_path, monkeypatch, "operation-order-from-frames.patch", "api.util")
    # its own frame is in the patched copy's directory: make that pyinfra's install dir
    monkeypatch.setattr(patched, "PYINFRA_INSTALL_DIR", str(copy))
    monkeypatch.setattr(pyinfra, "is_cli", True)
    ours, theirs = [_orders(f, "/srv/deploys/full.py")
                    for f in (patched.get_operation_order_from_stack, pyinfra_patches.ORIGINAL_ORDER)]
    assert ours == theirs


def test_the_upstream_arguments_patch_applies_and_gives_the_same_arguments(tmp_path, monkeypatch):
    _, patched = _patched_module(tmp_path, monkeypatch, "global-argument-hints-once.patch", "api.arguments")
    assert [name for name, _ in patched.all_global_arguments()] == [
        name for name, _ in pyinfra_patches.ORIGINAL_ARGUMENTS()]


def _inventory_host():
    """A host with data in every place pyinfra looks: override, host, a group, all."""
    inventory = Inventory(
        (["web1", ("web2", {"_sudo": True, "_sudo_user": "app", "_env": {"A": "1"}})], {}),
        web=(["web2"], {"_timeout": 30, "_sudo_user": "ignored", "_get_pty": True}),
        override_data={},
    )
    state = State(inventory, Config(SUDO_PASSWORD="x", SHELL="bash"))
    host = inventory.get_host("web2")
    host.data._su_user = "postgres"  # what a deploy sets at run time
    return state, host


def _pops(pop, state, host, kwargs, deploy_kwargs=None):
    host.current_deploy_kwargs = deploy_kwargs
    given = dict(kwargs)
    arguments, found = pop(state, host, given)
    return arguments, found, given


@pytest.mark.parametrize("kwargs, deploy_kwargs", [
    ({}, None),
    ({"_sudo": False, "_retries": 2, "path": "/srv/x"}, None),
    ({"_chdir": "/srv"}, {"_timeout": 5, "_sudo_user": "deployer"}),
])
def test_same_global_arguments_popped_as_pyinfra(kwargs, deploy_kwargs):
    state, host = _inventory_host()
    ours = _pops(pyinfra_patches.pop_global_arguments, state, host, kwargs, deploy_kwargs)
    theirs = _pops(pyinfra_patches.ORIGINAL_POP, state, host, kwargs, deploy_kwargs)
    assert ours == theirs
    arguments, _, left = ours
    assert arguments["_su_user"] == "postgres" and arguments["_get_pty"] is True  # override and group data seen
    assert arguments["_sudo_user"] == (deploy_kwargs or {}).get("_sudo_user", "app")  # host data before group data
    assert "path" not in kwargs or left == {"path": "/srv/x"}  # only global arguments are popped


def test_a_host_default_is_a_copy_and_a_bad_type_is_refused_as_by_pyinfra():
    state, host = _inventory_host()
    arguments, _, _ = _pops(pyinfra_patches.pop_global_arguments, state, host, {})
    arguments["_env"]["B"] = "2"
    assert host.data._env == {"A": "1"}
    for pop in (pyinfra_patches.pop_global_arguments, pyinfra_patches.ORIGINAL_POP):
        with pytest.raises(ArgumentTypeError, match="_retries"):
            _pops(pop, state, host, {"_retries": "many"})


def test_the_upstream_host_data_patch_applies_and_pops_the_same_arguments(tmp_path, monkeypatch):
    _, patched = _patched_module(tmp_path, monkeypatch, "host-data-merged-once.patch", "api.arguments")
    state, host = _inventory_host()
    kwargs = {"_sudo": False, "_retries": 2, "path": "/srv/x"}
    assert _pops(patched.pop_global_arguments, state, host, kwargs, {"_timeout": 5}) == _pops(
        pyinfra_patches.ORIGINAL_POP, state, host, kwargs, {"_timeout": 5})
