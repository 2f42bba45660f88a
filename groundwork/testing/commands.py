"""Remote commands of a pyinfra run, counted from its own `--debug` log.

pyinfra's SSH connector logs each command as it starts it ("Running command
on HOST: ...") and each upload ("Attempting upload of SRC to DEST"); facts
say what they are ("Getting fact: files.File (path=...)"). A command's text
may span lines; only the first line of each entry starts with the marker.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

ANSI = re.compile(r"\x1b\[[0-9;]*m")
COMMAND = re.compile(r"^\s*\[pyinfra\.connectors\.\w+\] Running command on (?P<host>[^:\s]+): ")
UPLOAD = re.compile(r"^\s*\[pyinfra\.connectors\.\w+\] Attempting upload of ")
FACT = re.compile(r"^\s*\[pyinfra\.api\.facts\] Getting fact: (?P<fact>[\w.]+)")


@dataclass
class CommandCount:
    commands: Counter = field(default_factory=Counter)  # host -> remote commands run
    uploads: int = 0  # file uploads (SFTP), over all hosts
    facts: Counter = field(default_factory=Counter)  # fact name -> reads, over all hosts

    @property
    def total(self) -> int:
        return sum(self.commands.values())

    def per_host(self) -> float:
        return self.total / len(self.commands) if self.commands else 0.0


def count_commands(log: str) -> CommandCount:
    """What a `pyinfra --debug` run's stderr says it ran on the hosts."""
    count = CommandCount()
    for raw in log.splitlines():
        line = ANSI.sub("", raw)
        if match := COMMAND.match(line):
            count.commands[match["host"]] += 1
        elif UPLOAD.match(line):
            count.uploads += 1
        elif match := FACT.match(line):
            count.facts[match["fact"]] += 1
    return count
