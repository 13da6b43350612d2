"""The schema revision this rtrec writes, known without loading Alembic.

Opening a database reads its alembic_version and compares it with HEAD_REVISION; only a
database not at the head loads Alembic (recorder.store.migrate) to upgrade it. A test keeps
this equal to the head of migrations/: a new migration changes it here too.
"""

HEAD_REVISION = "0009"
