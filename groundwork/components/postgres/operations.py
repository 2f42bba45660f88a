"""Run SQL as the postgres superuser without putting it on a command line.

The SQL is uploaded into a root-only directory and fed to psql on stdin, so
neither `ps` on the host nor pyinfra's output shows it (role passwords are in
it, as SCRAM verifiers).
"""

from __future__ import annotations

import hashlib
import shlex
from io import StringIO

from pyinfra.api import FileUploadCommand, operation

from ...paths import HOST_STATE_DIR
from ...secret import Secret
from .facts import psql_binary

PRIVATE_DIR = f"{HOST_STATE_DIR}/private"


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def quote_ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


@operation(is_idempotent=False)
def sql(statements: str | Secret, database: str = "postgres", port: int = 5432, version: int | None = None):
    """Run `statements` in `database`, stopping at the first error.

    Not idempotent by itself: callers plan it only when facts show a
    difference, and write statements that are safe to repeat.
    """
    text = statements.reveal() if isinstance(statements, Secret) else statements
    path = f"{PRIVATE_DIR}/{hashlib.sha256(text.encode()).hexdigest()[:16]}.sql"
    yield f"install -d -m 0700 {PRIVATE_DIR}"
    yield FileUploadCommand(StringIO(text), path)
    yield (
        f"runuser -u postgres -- {psql_binary(version)} -X -q -v ON_ERROR_STOP=1 -p {int(port)} "
        f"-d {shlex.quote(database)} "
        f"< {path}; rc=$?; rm -f {path}; exit $rc"
    )
