"""items (with a pgvector embedding) and heartbeats

The `vector` extension is created by the deployer (as superuser) before this
runs; the migration only checks that it is there.

Revision ID: 0001
Revises:
"""

from alembic import context, op
from sqlalchemy import text

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if not context.is_offline_mode():
        installed = op.get_bind().execute(
            text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
        ).first()
        if installed is None:
            raise RuntimeError(
                "the pgvector extension is not installed in this database; "
                "a superuser must run CREATE EXTENSION vector first"
            )
    op.execute(
        """
        CREATE TABLE items (
            id serial PRIMARY KEY,
            name text NOT NULL,
            embedding vector(3) NOT NULL,
            created_at timestamptz DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE heartbeats (
            id serial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE heartbeats")
    op.execute("DROP TABLE items")
