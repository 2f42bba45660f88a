"""The host's Python, which the release's wheels must fit."""

from __future__ import annotations

from pyinfra.api import FactBase

from .release import Target

_SCRIPT = "import platform, sys; print('%d.%d.%d' % sys.version_info[:3], platform.machine(), platform.libc_ver()[1])"


class PythonTarget(FactBase):
    """Target(python, machine, glibc, python_full) of /usr/bin/python3, or None without python3."""

    requires_command = "python3"

    def command(self) -> str:
        return f'python3 -c "{_SCRIPT}"'

    def process(self, output):
        full, machine, glibc = list(output)[0].split()
        return Target(".".join(full.split(".")[:2]), machine, glibc, full)
