"""Data migrations: ordered Python files in the app's `src/app/migrations/`, each applied once.

A migration is a file named `NNNN_what_it_does.py` (`vibetuner db create what it does`
writes the next one) with

    async def up(db: AsyncDatabase) -> None: ...     # required
    async def down(db: AsyncDatabase) -> None: ...   # optional, for `db rollback`

`db` is the app's pymongo async database. Beanie is initialised with the framework's and the
app's models (`app.models.MODELS`) before any migration runs, so a migration may use either
raw collections or models; prefer raw collections for data whose model has since changed.

`vibetuner db migrate` applies pending files in number order and records each one, once it
has succeeded, in the `migrations` collection (`_id`/`name`, `applied_at`, `duration` in
seconds). A migration that raises stops the run: it is not recorded, and later ones do not
run. Make each `up` safe to re-run (it may have done part of its work before failing), or
use a transaction.

Runs take a lease lock (the `migration_lock` collection): when several instances start
together, one applies the migrations and the others wait, then find nothing left to do. A
holder that crashed frees the lock when its lease (30 s, renewed while it works) runs out.
"""

from vibetuner.data.migrations._files import Migration, create, discover, migrations_folder
from vibetuner.data.migrations._indexes import IndexChanges, sync_indexes
from vibetuner.data.migrations._lock import migration_lock
from vibetuner.data.migrations._runner import (
    RECORD_COLLECTION,
    MigrationState,
    migrate,
    migration_status,
    pending_names,
    rollback,
)

__all__ = [
    "RECORD_COLLECTION",
    "IndexChanges",
    "Migration",
    "MigrationState",
    "create",
    "discover",
    "migrate",
    "migration_lock",
    "migration_status",
    "migrations_folder",
    "pending_names",
    "rollback",
    "sync_indexes",
]
