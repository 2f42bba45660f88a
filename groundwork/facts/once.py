"""Facts read once per host and run, as they were when planning began.

pyinfra plans every operation of a run before it executes any, and keeps no
fact cache: a fact read twice while planning costs two commands and returns
the same value both times. Components that need the same fact (the installed
packages, the distribution) share one read through here.
"""

from __future__ import annotations

from typing import Any

from pyinfra import context, host

_read: dict[tuple, Any] = {}  # (run state, host, fact, arguments) -> value


def fact_at_start(fact: type, **arguments: Any) -> Any:
    key = (id(context.state), host.name, fact, tuple(sorted(arguments.items())))
    if key not in _read:
        _read[key] = host.get_fact(fact, **arguments)
    return _read[key]
