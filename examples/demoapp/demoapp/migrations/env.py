"""Alembic environment, configured by demoapp.migrate (there is no alembic.ini)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

# Concurrent `demoapp-migrate` runs (several app hosts converging at once)
# take turns on this transaction-level advisory lock; the later ones then
# find the schema already at head.
LOCK_KEY = 7_246_001

config = context.config
url = config.get_main_option("sqlalchemy.url")


def run_offline() -> None:
    context.configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(url, poolclass=pool.NullPool, connect_args={"connect_timeout": 10})
    try:
        with engine.connect() as connection:
            context.configure(connection=connection)
            with context.begin_transaction():
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
