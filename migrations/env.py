"""Alembic environment for rtrec: always run on a connection handed over by recorder.store.

rtrec opens (and migrates) the database itself, with its async engine, and passes the
synchronous side of that connection here through config.attributes["connection"]. Running
`alembic` by hand is not supported: use `rtrec db upgrade DB`.
"""

from alembic import context

from recorder.store.schema import include_name, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations with `rtrec db upgrade DB`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=metadata,
    include_name=include_name,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
