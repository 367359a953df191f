"""Backups of the app's MongoDB database: `vibetuner db backup`, `db restore`, and a scheduled job.

An archive (`.tar.gz`) holds every collection's documents as raw BSON (types kept exactly),
its options and index definitions, and a manifest with the migrations the database had
applied and a SHA-256 for every part (see `_archive`). A restore checks the whole archive
before it touches the database, sets the live collections aside, loads the archive in their
place (putting them back if anything fails), and migrates an older archive forward (see
`_restore`). Stop the app and its workers during a restore.

What "consistent" means (see `_dump.read_mode`):

- Each collection is read in one pass, at one point in time. On a replica set or sharded
  cluster the read is a snapshot read (its own `snapshot=True` session per collection). The
  embedded server (SecantusDB, a single node that reports itself as a replica set) answers
  each collection's cursor from one storage snapshot, so writes during the read are not seen.
  A standalone mongod offers no snapshot reads: its cursors may miss or repeat a document
  that moves during the read.
- Across collections there is no single point in time: collections are read one after
  another, so a write during the backup may show in a collection read later and not in one
  read earlier. Collections are read in name order, and the manifest records when each read
  started and finished. For one point in time across collections, stop writes during the
  backup (or use your provider's snapshots, or mongodump --oplog on a replica set).
- On a replica set a collection whose read outlasts the server's snapshot history
  (`minSnapshotHistoryWindowInSeconds`, 300 s by default) fails with a clear error.
"""

from vibetuner.services.backup._archive import (
    FORMAT_VERSION,
    ArchiveRefused,
    BackupError,
    verify_archive,
)
from vibetuner.services.backup._dump import BackupSummary, Progress, backup_database
from vibetuner.services.backup._restore import RestoreSummary, check_migrations, restore_database
from vibetuner.services.backup._stored import (
    StoredBackup,
    archive_name,
    backup_folder,
    backup_to_storage,
    fetch_backup,
    prune_backups,
    storage_folder,
    stored_backups,
)

__all__ = [
    "FORMAT_VERSION",
    "ArchiveRefused",
    "BackupError",
    "BackupSummary",
    "Progress",
    "RestoreSummary",
    "StoredBackup",
    "archive_name",
    "backup_database",
    "backup_folder",
    "backup_to_storage",
    "check_migrations",
    "fetch_backup",
    "prune_backups",
    "restore_database",
    "storage_folder",
    "stored_backups",
    "verify_archive",
]
