"""A regular file's owner, group, mode and SHA-256 in one command (groundwork.operations.files)."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase


class FileSummary(FactBase):
    """{'user', 'group', 'mode' (octal digits as an int, 644), 'sha256'} of a
    regular file; None for anything else (missing, a link, a directory)."""

    def command(self, path: str) -> str:
        q = shlex.quote(path)
        return (
            f"if [ -f {q} ] && [ ! -L {q} ]; then stat -c '%U %G %a' {q} && "
            f"(sha256sum {q} 2>/dev/null || shasum -a 256 {q}) | cut -d' ' -f1; fi"
        )

    def process(self, output):
        return parse_summary(list(output))


def parse_summary(lines: list[str]) -> dict | None:
    lines = [line.strip() for line in lines if line.strip()]
    if len(lines) != 2 or len(lines[0].split()) != 3:
        return None
    user, group, mode = lines[0].split()
    if not mode.isdigit():
        return None
    return {"user": user, "group": group, "mode": int(mode), "sha256": lines[1]}
