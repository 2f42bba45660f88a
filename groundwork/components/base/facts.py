"""Facts the base component's security baseline reads: container, swap, sysctls."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase


class ContainerType(FactBase[str]):
    """systemd-detect-virt --container: 'none' on a VM or bare metal, else the container kind."""

    def command(self) -> str:
        return "systemd-detect-virt --container 2>/dev/null || true"

    def default(self) -> str:
        return "none"

    def process(self, output) -> str:
        lines = [line.strip() for line in output if line.strip()]
        return lines[0] if lines else "none"


class Swaps(FactBase[dict]):
    """{path: bytes} of the swap areas in use (/proc/swaps)."""

    def command(self) -> str:
        return "tail -n +2 /proc/swaps"

    def default(self) -> dict:
        return {}

    def process(self, output) -> dict:
        return {line.split()[0]: int(line.split()[2]) * 1024 for line in output if line.strip()}


class Sysctls(FactBase[dict]):
    """{key: (current value or None, writable)} for the given sysctl keys."""

    def command(self, keys) -> str:
        # "KEY rw|ro|missing" per key from shell builtins, then every value from one grep
        # ("PATH:VALUE"; none for a file that cannot be read): read on every run, so no
        # process per key. The shell's `read` takes a byte at a time, and a /proc/sys file
        # read from an offset past 0 is empty: it would see the first byte only.
        if not keys:
            return "true"
        paths = {key: shlex.quote(_sysctl_path(key)) for key in keys}
        tests = "; ".join(
            f"if [ -e {path} ]; then if [ -w {path} ]; then echo {shlex.quote(key)} rw; "
            f"else echo {shlex.quote(key)} ro; fi; else echo {shlex.quote(key)} missing; fi"
            for key, path in paths.items()
        )
        return f"{tests}; grep -H -s '' -- {' '.join(paths.values())}; true"

    def default(self) -> dict:
        return {}

    def process(self, output) -> dict:
        access, lines = {}, []
        for line in output:
            if line.startswith("/proc/sys/"):
                lines.append(line)
            elif line.strip():
                key, _, mode = line.partition(" ")
                access[key] = mode
        result = {}
        for key, mode in access.items():
            if mode == "missing":
                result[key] = (None, False)
                continue
            prefix = _sysctl_path(key) + ":"
            # tabs and runs of spaces between a value's fields (tcp_rmem) as single spaces
            value = " ".join(" ".join(line[len(prefix):].split()) for line in lines if line.startswith(prefix))
            result[key] = (value, mode == "rw")
        return result


def _sysctl_path(key: str) -> str:
    return "/proc/sys/" + key.replace(".", "/")
