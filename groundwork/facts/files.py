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

    # groundwork.factcache reads many files with one stat and one sha256sum: first the
    # indexes of the paths that are regular files, then their stat lines, then their digests.
    @staticmethod
    def combined_command(reads: list[dict]) -> str:
        paths = " ".join(shlex.quote(read["path"]) for read in reads)
        return (
            f"set --; i=0; for p in {paths}; do "
            "if [ -f \"$p\" ] && [ ! -L \"$p\" ]; then echo \"$i\"; set -- \"$@\" \"$p\"; fi; i=$((i+1)); done; "
            "echo --; if [ $# -gt 0 ]; then stat -c '%U %G %a' -- \"$@\" && echo -- && "
            "sha256sum -- \"$@\" | cut -d' ' -f1; else echo --; fi"
        )

    @staticmethod
    def split_combined(lines: list[str], reads: list[dict]) -> list[list[str]] | None:
        if lines.count("--") != 2:
            return None
        first, second = lines.index("--"), len(lines) - 1 - lines[::-1].index("--")
        present, stats, digests = lines[:first], lines[first + 1:second], lines[second + 1:]
        if not (len(present) == len(stats) == len(digests)) or not all(i.isdigit() for i in present):
            return None
        outputs: list[list[str]] = [[] for _ in reads]
        for index, stat, digest in zip(present, stats, digests):
            if int(index) >= len(reads):
                return None
            outputs[int(index)] = [stat, digest]
        return outputs


def parse_summary(lines: list[str]) -> dict | None:
    lines = [line.strip() for line in lines if line.strip()]
    if len(lines) != 2 or len(lines[0].split()) != 3:
        return None
    user, group, mode = lines[0].split()
    if not mode.isdigit():
        return None
    return {"user": user, "group": group, "mode": int(mode), "sha256": lines[1]}
