"""File operations: pyinfra's, with a one-command no-op check, and a config
file that goes live only if its service's checker accepts it.

Components import this module as `files` in place of pyinfra's: `put` and
`template` read one fact (owner, group, mode and SHA-256 of a regular file)
and, when the file already is as wanted, do nothing; otherwise pyinfra's own
operation does the work. pyinfra's no-op costs three commands per file (the
parent directory, the file's stat, its checksum): on a re-converge that was a
third of all commands. The parent directory needs no check when the file
exists in it. Everything else is pyinfra's, re-exported.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from io import StringIO
from typing import IO, Any

from pyinfra import host, state
from pyinfra.api import FileUploadCommand, operation
from pyinfra.api.util import get_file_sha256
from pyinfra.operations import files as _pyinfra
from pyinfra.operations.files import block, directory, file, line, link  # noqa: F401 (re-exported)
from pyinfra.operations.util.files import ensure_mode_int

from ..facts.files import FileSummary
from ..paths import HOST_STATE_DIR
from ..templates import get_template


def is_as_wanted(summary: dict | None, sha256: str, user: str | None, group: str | None, mode) -> bool:
    """Whether pyinfra's put would do nothing: same content, and the owner,
    group and mode it was asked for (those not asked for are not checked)."""
    if summary is None or summary["sha256"] != sha256:
        return False
    wanted_mode = ensure_mode_int(mode)
    if wanted_mode and (not isinstance(wanted_mode, int) or summary["mode"] != wanted_mode):
        return False
    return not ((user and summary["user"] != user) or (group and summary["group"] != group))


def previous_copy(dest: str) -> str:
    """Where the version of `dest` before a watched change is kept until its service answers."""
    return f"{HOST_STATE_DIR}/previous{dest}"


def previous_absence(dest: str) -> str:
    """What says `dest` did not exist before a watched change: putting the previous config
    back then removes it, so the next run writes it again and retries the restart."""
    return previous_copy(dest) + ".absent"


def _touching_first(pending: tuple[str, ...], commands, dest: str):
    """`commands`, preceded by touching the `pending` markers when there is any,
    and keeping the current `dest` as the previous version.

    A marker that a service must be restarted exists before its config file
    changes, so a run killed between the two cannot lose the restart; the
    previous version is what the restart falls back to (groundwork.changes).
    A previous version already kept is the last one that ran: it stays.
    """
    commands = list(commands)
    if commands and pending:
        dirs = sorted({os.path.dirname(p) for p in pending})
        live, previous, absent = shlex.quote(dest), shlex.quote(previous_copy(dest)), shlex.quote(previous_absence(dest))
        yield (
            f"mkdir -p {' '.join(map(shlex.quote, dirs))} && touch {' '.join(map(shlex.quote, pending))} && "
            f"if [ ! -e {previous} ] && [ ! -e {absent} ]; then "
            f"mkdir -p {shlex.quote(os.path.dirname(previous_copy(dest)))} && "
            f"if [ -e {live} ]; then cp -a {live} {previous}; else touch {absent}; fi; fi"
        )
    yield from commands


@operation()
def put(src: str | IO[Any], dest: str, user: str | None = None, group: str | None = None,
        mode: int | str | None = None, add_deploy_dir: bool = True, create_remote_dir: bool = True,
        force: bool = False, pending: tuple[str, ...] = (), **kwargs):
    """pyinfra's files.put, with its no-op decided by one command; `pending`
    markers are touched before the file changes."""
    local = src
    if not hasattr(src, "read") and add_deploy_dir and state.cwd:
        local = os.path.join(state.cwd, src)
    if not force and not kwargs and mode is not True and (hasattr(local, "read") or os.path.isfile(local)):
        if is_as_wanted(host.get_fact(FileSummary, path=dest), get_file_sha256(local), user, group, mode):
            host.noop(f"file {dest} is already uploaded")
            return
    yield from _touching_first(pending, _pyinfra.put._inner(
        src=src, dest=dest, user=user, group=group, mode=mode, add_deploy_dir=add_deploy_dir,
        create_remote_dir=create_remote_dir, force=force, **kwargs), dest)


@operation()
def template(src: str | IO[Any], dest: str, user: str | None = None, group: str | None = None,
             mode: int | str | None = None, create_remote_dir: bool = True,
             jinja_env_kwargs: dict[str, Any] | None = None, pending: tuple[str, ...] = (), **data):
    """pyinfra's files.template, with its no-op decided by one command; `pending`
    markers are touched before the file changes."""
    path = os.path.join(state.cwd, src) if not hasattr(src, "read") and state.cwd else src
    context = {"host": host, "state": state, "inventory": state.inventory, **data}
    try:
        output = get_template(path, jinja_env_kwargs).render(context)
    except Exception:  # pyinfra's template below reports it, with the template's lines
        output = None
    if output is not None:
        digest = hashlib.sha256(output.encode()).hexdigest()
        if is_as_wanted(host.get_fact(FileSummary, path=dest), digest, user, group, mode):
            host.noop(f"file {dest} is already uploaded")
            return
    yield from _touching_first(pending, _pyinfra.template._inner(
        src=src, dest=dest, user=user, group=group, mode=mode, create_remote_dir=create_remote_dir,
        jinja_env_kwargs=jinja_env_kwargs, **data), dest)


@operation()
def checked_template(src: str, dest: str, check: str, mode: str = "0644", user: str = "root",
                     group: str = "root", pending: tuple[str, ...] = (), **variables):
    """Render `src` to `dest`; if `check` (e.g. `nginx -t`) then fails, put
    the previous file back and fail with the checker's message.

    pyinfra's files.template would leave a broken file in place for the next
    reload or reboot to trip over; here it never stays on disk.
    """
    content = get_template(src).render(**variables)
    digest = hashlib.sha256(content.encode()).hexdigest()
    current = host.get_fact(FileSummary, path=dest)
    if current and current["sha256"] == digest:
        # Modes as octal digits read as a decimal number (644), as pyinfra's File fact has them.
        if current["mode"] != int(mode) or current["user"] != user or current["group"] != group:
            yield from _touching_first(
                pending, [f"chown {user}:{group} {shlex.quote(dest)} && chmod {mode} {shlex.quote(dest)}"], dest)
        return
    yield from _touching_first(pending, _checked_upload(content, dest, check, mode, user, group), dest)


def _checked_upload(content: str, dest: str, check: str, mode: str, user: str, group: str):
    new, prev = shlex.quote(dest + ".groundwork-new"), shlex.quote(dest + ".groundwork-prev")
    live = shlex.quote(dest)
    yield FileUploadCommand(StringIO(content), dest + ".groundwork-new")
    yield f"chown {user}:{group} {new} && chmod {mode} {new}"
    yield (
        f"if [ -e {live} ]; then cp -a {live} {prev}; fi; mv -f {new} {live}; "
        f"if ! out=$({check} 2>&1); then echo \"$out\" >&2; "
        f"if [ -e {prev} ]; then mv -f {prev} {live}; else rm -f {live}; fi; exit 1; fi; rm -f {prev}"
    )
