"""pyinfra's server operations, with `user` checked in one command.

Components import this module as `server` in place of pyinfra's. pyinfra's
server.user reads the Users fact, which runs `lastlog`, `id` and a shadow
lookup for every account on the host: about a second per call on a small
host, the slowest command of a no-op converge by far, and three calls per
all-in-one host. Here one fact reads only the named user (passwd entry,
groups, home, SSH keys); when that shows nothing server.user would change,
nothing runs; otherwise pyinfra's own operation does the work. Every other
name is pyinfra's.
"""

from __future__ import annotations

import os

from pyinfra import host, state
from pyinfra.api import operation
from pyinfra.operations import server as _pyinfra
from pyinfra.operations.server import group, hostname, shell  # noqa: F401 (re-exported)

from ..facts.server import UserSummary


def __getattr__(name: str):
    return getattr(_pyinfra, name)


def _owned(stat: dict | None, kind: str, user: str, group: str, mode: int | None = None) -> bool:
    return (stat is not None and stat["type"] == kind and stat["user"] == user and stat["group"] == group
            and (mode is None or stat["mode"] == mode))


def is_as_wanted(summary: dict | None, user: str, *, home: str | None, shell: str | None, group: str | None,
                 groups: list[str] | None, append: bool, public_keys: list[str] | None, delete_keys: bool,
                 ensure_home: bool) -> bool:
    """Whether pyinfra's server.user (present=True) would do nothing for this user."""
    if summary is None:
        return False
    home = home or summary["home"]
    if summary["home"] != home or (shell and summary["shell"] != shell) or (group and summary["group"] != group):
        return False
    if groups:
        have = set(summary["groups"])
        if (append and not set(groups) <= have) or (not append and have != set(groups)):
            return False
    owner_group = group or user
    if ensure_home and home and not _owned(summary["home_dir"], "directory", user, owner_group):
        return False
    if public_keys is not None:
        if not _owned(summary["ssh_dir"], "directory", user, owner_group, 700):
            return False
        if not _owned(summary["keys_file"], "regular", user, owner_group, 600):
            return False
        have_keys = summary["keys"] or []
        if (delete_keys and have_keys != list(public_keys)) or not set(public_keys) <= set(have_keys):
            return False
    return True


@operation()
def user(user: str, present: bool = True, home: str | None = None, shell: str | None = None,
         group: str | None = None, groups: list[str] | None = None, append: bool = False,
         public_keys: str | list[str] | None = None, delete_keys: bool = False, ensure_home: bool = True,
         create_home: bool = False, system: bool = False, uid: int | None = None, comment: str | None = None,
         unique: bool = True, password: str | None = None):
    """pyinfra's server.user, with its no-op decided by one command."""
    keys = [public_keys] if isinstance(public_keys, str) else public_keys
    # What the check does not cover goes straight to pyinfra: removal, uid, comment,
    # password, and keys given as files on the control machine.
    simple = present and uid is None and comment is None and password is None and not any(
        os.path.exists(os.path.join(state.cwd or "", k)) for k in keys or []
    )
    if simple:
        summary = host.get_fact(UserSummary, user=user, home=home)
        if is_as_wanted(summary, user, home=home, shell=shell, group=group, groups=groups, append=append,
                        public_keys=keys, delete_keys=delete_keys, ensure_home=ensure_home):
            host.noop(f"user {user} exists")
            return
    yield from _pyinfra.user._inner(
        user=user, present=present, home=home, shell=shell, group=group, groups=groups, append=append,
        public_keys=public_keys, delete_keys=delete_keys, ensure_home=ensure_home, create_home=create_home,
        system=system, uid=uid, comment=comment, unique=unique, password=password,
    )
