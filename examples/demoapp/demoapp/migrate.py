"""`demoapp-migrate`: bring the database schema to the newest revision.

Alembic is configured here, without an alembic.ini: the scripts ship inside
the package (demoapp/migrations) and the database is DATABASE_URL. Running it
again on an up-to-date database changes nothing. Exits non-zero, with the
reason on stderr, when DATABASE_URL is missing or the upgrade fails.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from . import core

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def sqlalchemy_url(database_url: str) -> str:
    """The libpq URL as an SQLAlchemy URL for psycopg 3."""
    for scheme in ("postgresql://", "postgres://"):
        if database_url.startswith(scheme):
            return "postgresql+psycopg://" + database_url[len(scheme):]
    return database_url  # already has a driver, e.g. postgresql+psycopg://


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Config values go through configparser interpolation: escape the '%' of
    # percent-encoded passwords.
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    return config


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    database_url = os.environ.get("DATABASE_URL", "").strip()
    if not database_url:
        print("demoapp-migrate: DATABASE_URL is not set", file=sys.stderr)
        return 2
    try:
        command.upgrade(alembic_config(database_url), "head")
    except Exception as exc:
        print(f"demoapp-migrate: migration failed: {core.error_text(exc)}", file=sys.stderr)
        return 1
    print("demoapp-migrate: database schema is at head")
    return 0


if __name__ == "__main__":
    sys.exit(main())
