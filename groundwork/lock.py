"""One run at a time against a fleet: an flock that every run takes.

`groundwork converge` takes it before it starts pyinfra and hands it down
(GROUNDWORK_LOCK_FD); a plain `pyinfra ... deploys/full.py` takes it itself
when its deploy starts, before any fact is read (groundwork.runner). A run
that finds it held stops there, changing nothing.
"""

from __future__ import annotations

import fcntl
import os

from pyinfra.api.exceptions import PyinfraError

DEFAULT_LOCK = "/run/lock/groundwork-converge.lock"
LOCK_ENV = "GROUNDWORK_LOCK"  # the lock file a deploy takes (default DEFAULT_LOCK)
HELD_FD_ENV = "GROUNDWORK_LOCK_FD"  # set by groundwork converge: the lock it holds, open on this fd

_held: dict[str, int] = {}  # lock path -> fd this process holds it on, until it exits


def hold_run_lock() -> None:
    """Take the run lock for the rest of this process, or raise naming who holds it."""
    path = os.environ.get(LOCK_ENV) or DEFAULT_LOCK
    if path in _held:
        return
    inherited = os.environ.get(HELD_FD_ENV, "")
    if inherited.isdigit() and _is_open_on(int(inherited), path):
        _held[path] = int(inherited)
        return
    try:
        _held[path] = acquire_lock(path)
    except LockHeld as exc:
        raise PyinfraError(f"{exc}: another converge or deploy is running against the fleet; this run changes nothing") from None


def _is_open_on(fd: int, path: str) -> bool:
    try:
        held, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino)


class LockHeld(Exception):
    pass


def acquire_lock(path: str | os.PathLike) -> int:
    """An exclusive flock on `path`, at once or LockHeld; returns the open fd.

    The holder's pid goes into the file, for the refusal message only: the
    lock itself is the flock, which the kernel drops when the holder dies.
    """
    fd = _open_lock_file(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        raise LockHeld(f"another run holds {path}" + (f" (pid {holder})" if holder.isdigit() else ""))
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:  # opened read-only: the lock holds all the same
        pass
    return fd


def release_lock(fd: int) -> None:
    try:
        os.ftruncate(fd, 0)  # no stale pid for the next refusal message
    except OSError:
        pass
    os.close(fd)


def _open_lock_file(path: str | os.PathLike) -> int:
    """Open, or create, without O_CREAT on a file that exists: in a sticky
    world-writable directory like /run/lock the kernel (protected_regular)
    refuses that even to root when another user made the file."""
    flags = os.O_NOFOLLOW | os.O_CLOEXEC
    while True:
        try:
            return os.open(path, os.O_RDWR | flags)
        except PermissionError:
            return os.open(path, os.O_RDONLY | flags)
        except FileNotFoundError:
            pass
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | flags, 0o644)
        except FileExistsError:
            continue


