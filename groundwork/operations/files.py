"""A config file that goes live only if its service's checker accepts it."""

from __future__ import annotations

import hashlib
import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, operation
from pyinfra.api.util import get_template
from pyinfra.facts.files import File, Sha256File


@operation()
def checked_template(src: str, dest: str, check: str, mode: str = "0644", user: str = "root",
                     group: str = "root", **variables):
    """Render `src` to `dest`; if `check` (e.g. `nginx -t`) then fails, put
    the previous file back and fail with the checker's message.

    pyinfra's files.template would leave a broken file in place for the next
    reload or reboot to trip over; here it never stays on disk.
    """
    content = get_template(src).render(**variables)
    digest = hashlib.sha256(content.encode()).hexdigest()
    current = host.get_fact(File, path=dest)
    if current and host.get_fact(Sha256File, path=dest) == digest:
        # pyinfra reports modes as octal digits read as a decimal number (644).
        if current["mode"] != int(mode) or current["user"] != user or current["group"] != group:
            yield f"chown {user}:{group} {shlex.quote(dest)} && chmod {mode} {shlex.quote(dest)}"
        return
    new, prev = shlex.quote(dest + ".groundwork-new"), shlex.quote(dest + ".groundwork-prev")
    live = shlex.quote(dest)
    yield FileUploadCommand(StringIO(content), dest + ".groundwork-new")
    yield f"chown {user}:{group} {new} && chmod {mode} {new}"
    yield (
        f"if [ -e {live} ]; then cp -a {live} {prev}; fi; mv -f {new} {live}; "
        f"if ! out=$({check} 2>&1); then echo \"$out\" >&2; "
        f"if [ -e {prev} ]; then mv -f {prev} {live}; else rm -f {live}; fi; exit 1; fi; rm -f {prev}"
    )
