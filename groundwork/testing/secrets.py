"""Run a command on a verify host with a secret on its standard input.

A password in a command line shows in the host's process list and in logs;
here it travels on stdin and the command reads it into an environment
variable: `with_secret("PGPASSWORD", "psql ...")`.
"""

from __future__ import annotations

import subprocess

from testinfra.backend.base import CommandResult


def with_secret(variable: str, command: str) -> str:
    """`command` with `$variable` set from the first line of stdin."""
    return f"IFS= read -r {variable} && export {variable} && {command}"


def run_with_stdin(host, command: str, stdin: str, timeout: float = 60) -> CommandResult:
    backend = host.backend
    # testinfra builds the ssh argv (config, control socket, sudo); we only
    # add the input it has no way to pass.
    cmd, args = backend._build_ssh_command(backend.get_command(command))
    argv = backend.quote(" ".join(cmd), *args)
    proc = subprocess.run(argv, shell=True, input=stdin.encode() + b"\n", capture_output=True, timeout=timeout)
    if proc.returncode == 255:
        raise RuntimeError(f"ssh to {backend.host.name} failed: {proc.stderr.decode(errors='replace')}")
    return backend.result(proc.returncode, backend.encode(command), proc.stdout, proc.stderr)


def run_with_secret(host, variable: str, secret: str, command: str, timeout: float = 60) -> CommandResult:
    return run_with_stdin(host, with_secret(variable, command), secret, timeout)
