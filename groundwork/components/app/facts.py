"""The host's Python, which the release's wheels must fit."""

from __future__ import annotations

from pyinfra.api import FactBase

from .release import Target

# What platform.machine() and platform.libc_ver()[1] give, without importing platform
# (half the run time) unless glibc does not answer; -I -S: no site, no environment.
_SCRIPT = (
    "import os, sys\n"
    "try: p = os.confstr('CS_GNU_LIBC_VERSION').split(maxsplit=1)\n"
    "except Exception: p = []\n"
    "if len(p) != 2: import platform; p = platform.libc_ver()\n"
    "print('%d.%d.%d' % sys.version_info[:3], os.uname().machine, p[1])"
)


class PythonTarget(FactBase):
    """Target(python, machine, glibc, python_full) of /usr/bin/python3, or None without python3."""

    requires_command = "python3"

    def command(self) -> str:
        return f'python3 -I -S -c "{_SCRIPT}"'

    def process(self, output):
        full, machine, glibc = list(output)[0].split()
        return Target(".".join(full.split(".")[:2]), machine, glibc, full)
