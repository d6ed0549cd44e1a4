"""Alembic environment: runs migrations on the connection the store hands over."""

from __future__ import annotations

from alembic import context

from campaigns.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # `alembic` command line with sqlalchemy.url set
        from sqlalchemy import create_engine

        from campaigns.errors import StoreError

        url = config.get_main_option("sqlalchemy.url")
        if url is None:
            raise StoreError("Alembic was run without a database URL.",
                             hint="Set sqlalchemy.url, or let Store.open upgrade the database.")
        engine = create_engine(url)
        with engine.begin() as conn:
            context.configure(connection=conn, target_metadata=target_metadata,
                              render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
