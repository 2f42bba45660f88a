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
        parts = []
        for key in keys:
            path = shlex.quote("/proc/sys/" + key.replace(".", "/"))
            parts.append(
                f"if [ -e {path} ]; then printf '%s %s %s\\n' {shlex.quote(key)} "
                f"\"$([ -w {path} ] && echo rw || echo ro)\" \"$(cat {path} | tr -s '\\t ' ' ')\"; "
                f"else echo {shlex.quote(key)} missing; fi"
            )
        return "; ".join(parts) or "true"

    def default(self) -> dict:
        return {}

    def process(self, output) -> dict:
        result = {}
        for line in output:
            key, access, *value = line.split(" ", 2)
            result[key] = (value[0] if value else None, access == "rw") if access != "missing" else (None, False)
        return result
