"""One user's passwd entry, groups, home and SSH keys in one command (groundwork.operations.server)."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase


class UserSummary(FactBase):
    """One user as server.user sees it: {'home', 'shell', 'group', 'groups',
    'home_dir': stat of the home, 'ssh_dir', 'keys_file': stat of ~/.ssh and
    its authorized_keys, 'keys': that file's text}; None when there is no such user."""

    def command(self, user: str, home: str | None = None) -> str:
        """`home` None: the home in the passwd entry, as pyinfra keeps it for an existing user."""
        u = shlex.quote(user)
        h = shlex.quote(home) if home else '"$(echo "$entry" | cut -d: -f6)"'
        return (
            f"entry=$(getent passwd {u}) || exit 0; echo \"$entry\"; id -gn {u}; id -Gn {u}; h={h}; "
            # %F's first word: "directory", "regular" (file), "symbolic" (link)
            'for p in "$h" "$h/.ssh" "$h/.ssh/authorized_keys"; do '
            """if [ -e "$p" ] || [ -L "$p" ]; then stat -c '%U %G %a %F' "$p"; else echo -; fi; done; """
            'if [ -f "$h/.ssh/authorized_keys" ]; then cat "$h/.ssh/authorized_keys"; fi'
        )

    def process(self, output):
        return parse_user_summary(list(output))


def _stat(line: str) -> dict | None:
    words = line.split()
    if line.strip() == "-" or len(words) < 4 or not words[2].isdigit():
        return None
    return {"user": words[0], "group": words[1], "mode": int(words[2]), "type": words[3]}


def parse_user_summary(lines: list[str]) -> dict | None:
    if not lines or lines[0].count(":") < 6:
        return None
    fields = lines[0].split(":")
    summary = {"home": fields[5], "shell": fields[6].strip(), "group": lines[1].strip(),
               "groups": lines[2].split(), "home_dir": None, "ssh_dir": None, "keys_file": None, "keys": None}
    if len(lines) >= 6:
        summary["home_dir"], summary["ssh_dir"], summary["keys_file"] = (_stat(x) for x in lines[3:6])
        summary["keys"] = [line.strip() for line in lines[6:] if line.strip()]
    return summary
