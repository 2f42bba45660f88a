"""The changes groundwork makes to pyinfra, until pyinfra has them: each is the same
change as a patch in patches/pyinfra/, written to go upstream.

1. Operation order from the frames (operation-order-from-frames.patch). pyinfra orders
   operations by the line numbers of the call stack each was added from
   (`pyinfra.api.util.get_operation_order_from_stack`), read with `inspect.stack()`,
   which also reads the source lines around every frame and looks up every frame's
   module through sys.modules: ~30 ms per operation here, most of a no-op run's Python
   time. The file names and line numbers are on the frames.
2. Global argument hints once (global-argument-hints-once.patch).
   `pyinfra.api.arguments.all_global_arguments` evaluates the type hints of every
   global argument on each call: twice per operation and once per fact read.
3. Host data merged once (host-data-merged-once.patch). `pop_global_arguments` looks
   each of ~30 global arguments up in the host's data with getattr(), which raises and
   catches an exception for each data (override, host, groups, all) that does not set
   it: ~20 % of a four-host no-op's Python time, once per operation and host.

`install()` replaces a function only when pyinfra's is exactly the one this was written
against (the SHA-256 of its source): a pyinfra that changed it keeps its own.
tests/unit/test_pyinfra_patches.py checks each gives pyinfra's answer and that the
upstream patches apply.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import sys
from copy import copy
from typing import Any, cast, get_type_hints

import pyinfra
from pyinfra.api import arguments as pyinfra_arguments
from pyinfra.api import util as pyinfra_util

# pyinfra.api.operation and pyinfra.api.facts are also the names of functions pyinfra.api exports.
pyinfra_operation = importlib.import_module("pyinfra.api.operation")
pyinfra_facts = importlib.import_module("pyinfra.api.facts")
pyinfra_deploy = importlib.import_module("pyinfra.api.deploy")

ORDER_SOURCE_SHA256 = "f4807f61585570e091fd453c7552d9e2b49329555f07f395a8e8f1d2a398a0b2"  # pyinfra 3.10.0
ARGUMENTS_SOURCE_SHA256 = "f7afbc472d78c5d2f0bb282994175647651e888543da001968d903cc4a26a5a1"  # pyinfra 3.10.0
POP_SOURCE_SHA256 = "a12a311539ff5068152b1c9c4578d77a8a893239a570f912768050a623069faf"  # pyinfra 3.10.0
ORIGINAL_ORDER = pyinfra_util.get_operation_order_from_stack
ORIGINAL_ARGUMENTS = pyinfra_arguments.all_global_arguments
ORIGINAL_POP = pyinfra_arguments.pop_global_arguments


def get_operation_order_from_stack(state) -> list[int]:
    """pyinfra's function, from the frames' own file names and line numbers.

    The frames are the ones pyinfra's gets from inspect.stack(), less its own frame,
    which it skips anyway (it is in pyinfra's install directory); here the walk starts
    at the caller, so this function's frame (in groundwork) is not counted either.
    """
    frames = []
    frame = sys._getframe(1)
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()

    i = 0
    if state.current_deploy_filename:
        for i, frame in enumerate(frames):
            if frame.f_code.co_filename == state.current_deploy_filename:
                break

    line_numbers = [state.current_op_file_number] if pyinfra.is_cli else []
    install_dir = pyinfra_util.PYINFRA_INSTALL_DIR
    for frame in frames[i:]:
        if not frame.f_code.co_filename.startswith(install_dir):
            line_numbers.append(frame.f_lineno)
    del frames, frame
    return line_numbers


@functools.cache
def _global_argument_hints() -> tuple[tuple[str, type], ...]:
    return tuple(get_type_hints(pyinfra_arguments.AllArguments).items())


def all_global_arguments() -> list[tuple[str, type]]:
    """pyinfra's function, its (fixed) answer computed once."""
    return list(_global_argument_hints())


def pop_global_arguments(state, host, kwargs: dict[str, Any]):
    """pyinfra's function, the host's data merged once per call: the first data holding a
    key wins, as in HostData.__getattr__, and the value is a shallow copy, as there."""
    config = state.config
    if pyinfra_arguments.ctx_config.isset():
        config = pyinfra_arguments.ctx_config.get()
        assert config is not None

    meta_kwargs: dict[str, Any] = host.current_deploy_kwargs or {}
    host_data = host.data.dict()

    arguments: dict[str, Any] = {}
    found_keys: list[str] = []
    for key, type_ in pyinfra_arguments.all_global_arguments():
        argument_meta = pyinfra_arguments.all_argument_meta[key]
        handler = argument_meta.handler
        default: Any = argument_meta.default(config)
        if key in host_data:
            default = copy(host_data[key])

        if key in kwargs:
            found_keys.append(key)
            value = kwargs.pop(key)
        else:
            value = meta_kwargs.get(key, default)
        if handler:
            value = handler(config, value)
        if value != default:
            pyinfra_arguments.raise_if_bad_type(
                value, type_, pyinfra_arguments.ArgumentTypeError, f"Invalid argument `{key}`:")
        arguments[key] = value
    return cast(pyinfra_arguments.AllArguments, arguments), found_keys


def _source_is(function, sha256: str) -> bool:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest() == sha256


def replaceable() -> dict[str, bool]:
    return {
        "get_operation_order_from_stack": _source_is(ORIGINAL_ORDER, ORDER_SOURCE_SHA256),
        "all_global_arguments": _source_is(ORIGINAL_ARGUMENTS, ARGUMENTS_SOURCE_SHA256),
        "pop_global_arguments": _source_is(ORIGINAL_POP, POP_SOURCE_SHA256),
    }


# where pyinfra looks each function up (module globals bound by `from ... import`)
_USERS = {
    "get_operation_order_from_stack": (pyinfra_util, pyinfra_operation),
    "all_global_arguments": (pyinfra_arguments, pyinfra_facts),
    "pop_global_arguments": (pyinfra_arguments, pyinfra_deploy, pyinfra_operation, pyinfra_facts),
}
_OURS = {"get_operation_order_from_stack": get_operation_order_from_stack, "all_global_arguments": all_global_arguments,
         "pop_global_arguments": pop_global_arguments}
_ORIGINALS = {"get_operation_order_from_stack": ORIGINAL_ORDER, "all_global_arguments": ORIGINAL_ARGUMENTS,
              "pop_global_arguments": ORIGINAL_POP}


def install() -> dict[str, bool]:
    """Use each replacement for the rest of the process where pyinfra's is the known one
    and nobody else replaced it; {name: installed}."""
    installed = {}
    can = replaceable()
    for name, modules in _USERS.items():
        current = [getattr(module, name) for module in modules]
        if all(f is _OURS[name] for f in current):
            installed[name] = True
        elif can[name] and all(f is _ORIGINALS[name] for f in current):
            for module in modules:
                setattr(module, name, _OURS[name])
            installed[name] = True
        else:
            installed[name] = False
    return installed


def uninstall() -> None:
    for name, modules in _USERS.items():
        for module in modules:
            setattr(module, name, _ORIGINALS[name])
